"""Suggestions: what the nightly assignment was not sure of, asked instead of guessed.

kind 'face': "is this face identity X?", for a face within the threshold of X that did
not clearly join it (facepipe.people.identities.Unsure). kind 'merge': "are identities
A and B one person?", for two identities whose centroids are within the threshold and
that a face could not tell apart. Evidence: the distances and counts the night saw.

An answer is one transaction, recorded in ``audit``: "yes" moves the face into X
(identities.move) or merges the pair (identities.merge), in facepipe.people.answers; "no" is kept, so the question
is never asked again, the face never joins X on a later night or a re-cluster, and the
pair is never merged by anything but a person. Nothing is merged or named unasked.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import psycopg
from psycopg import sql

from facepipe.core.db import load_sql
from facepipe.core.text import plural

Box = tuple[int, int, int, int]


class SuggestionError(ValueError):
    """A suggestion that cannot be answered as asked; nothing was changed."""


def _t(schema: str, table: str) -> sql.Identifier:
    return sql.Identifier(schema, table)


def ask_faces(conn, schema: str, unsure) -> int:
    """One 'face' question per unsure face and identity not asked before (whatever its
    answer was). Returns how many were added."""
    if not unsure:
        return 0
    rows = {}
    for u in unsure:
        rows.setdefault(
            (u.day, u.image_id, u.box, u.identity_id),
            {
                "distance": round(u.distance, 4),
                "nearest_member": None if u.nearest_member is None else round(u.nearest_member, 4),
                "next_distance": None if u.next_distance is None else round(u.next_distance, 4),
                "why": u.why,
            },
        )
    keys = list(rows)
    return conn.execute(
        load_sql("suggestions_ask_faces.sql", schema=schema),
        {
            "days": [k[0] for k in keys],
            "image_ids": [k[1] for k in keys],
            "x": [k[2][0] for k in keys],
            "y": [k[2][1] for k in keys],
            "w": [k[2][2] for k in keys],
            "h": [k[2][3] for k in keys],
            "ids": [k[3] for k in keys],
            "evidence": [json.dumps(rows[k]) for k in keys],
        },
    ).rowcount


def ask_merges(conn, schema: str, pairs: dict[tuple[int, int], dict], threshold: float, op: str) -> int:
    """One 'merge' question per pair of identities whose centroids are within ``threshold``,
    not asked before. ``pairs``: (a, b) -> evidence (a < b). Returns how many were added."""
    if not pairs:
        return 0
    keys = sorted(pairs)
    return conn.execute(
        load_sql("suggestions_ask_merges.sql", schema=schema, op=op),
        {
            "a": [k[0] for k in keys],
            "b": [k[1] for k in keys],
            "evidence": [json.dumps(pairs[k]) for k in keys],
            "threshold": threshold,
        },
    ).rowcount


def settle(conn, schema: str) -> int:
    """Open face questions whose face has an identity now (a cluster took it, a person moved
    it) are moot: deleted. Returns how many."""
    return conn.execute(
        sql.SQL(
            "DELETE FROM {s} AS s WHERE s.kind = 'face' AND s.state = 'open' AND EXISTS (SELECT 1 FROM {fi} AS a"
            " WHERE a.day = s.day AND a.image_id = s.image_id"
            " AND (a.box_x, a.box_y, a.box_w, a.box_h) = (s.box_x, s.box_y, s.box_w, s.box_h))"
        ).format(s=_t(schema, "suggestions"), fi=_t(schema, "face_identity"))
    ).rowcount


def refused_faces(conn, schema: str, day: dt.date | None = None) -> set[tuple[dt.date, uuid.UUID, Box, int]]:
    """(day, image_id, box, identity_id) of every face a person said is not that identity."""
    return {
        (d, i, (x, y, w, h), ident)
        for d, i, x, y, w, h, ident in conn.execute(
            sql.SQL(
                "SELECT day, image_id, box_x, box_y, box_w, box_h, identity_id FROM {} WHERE kind = 'face'"
                " AND state = 'no' AND (%s::date IS NULL OR day = %s::date)"
            ).format(_t(schema, "suggestions")),
            (day, day),
        )
    }


def refused_pairs(conn, schema: str) -> set[tuple[int, int]]:
    """(a, b), a < b, of every pair of identities a person said are two people."""
    return {
        (a, b)
        for a, b in conn.execute(
            sql.SQL("SELECT identity_id, other_id FROM {} WHERE kind = 'merge' AND state = 'no'").format(
                _t(schema, "suggestions")
            )
        )
    }


def list_suggestions(
    conn: psycopg.Connection, schema: str, *, state: str | None = "open", limit: int = 200, offset: int = 0
) -> list[dict]:
    """The questions (open ones by default), oldest first, with the face's number and photo
    and each identity's name and face count."""
    cur = conn.execute(
        load_sql("suggestions_list.sql", schema=schema),
        {"state": state, "limit": limit, "offset": offset, "suggestion_id": None},
    )
    names = [c.name for c in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def suggestion(conn, schema: str, suggestion_id: int) -> dict:
    cur = conn.execute(
        load_sql("suggestions_list.sql", schema=schema),
        {"state": None, "limit": 1, "offset": 0, "suggestion_id": suggestion_id},
    )
    row = cur.fetchone()
    if row is None:
        raise SuggestionError(f"no suggestion {suggestion_id} (`facepipe people suggestions` lists the open ones)")
    return dict(zip([c.name for c in cur.description], row))


def _who(identity_id, name) -> str:
    return f"identity {identity_id}" + (f" ({name})" if name else "")


def question(r: dict) -> str:
    """The question a suggestion asks, in words (the command line and the Faces view)."""
    if r["kind"] == "face":
        return f"is this face {_who(r['identity_id'], r['identity_name'])}?"
    return f"are {_who(r['identity_id'], r['identity_name'])} and {_who(r['other_id'], r['other_name'])} one person?"


def evidence_text(r: dict) -> str:
    e = r["evidence"] or {}
    if r["kind"] == "face":
        parts = [f"centroid {e.get('distance')}"]
        if e.get("nearest_member") is not None:
            parts.append(f"nearest face {e['nearest_member']}")
        if e.get("next_distance") is not None:
            parts.append(f"next identity {e['next_distance']}")
        parts.append(f"{plural(e.get('identity_faces'), 'face')}; {e.get('why')}")
        return ", ".join(parts)
    return (
        f"centroids {e.get('centroid_distance')} apart, {e.get('faces')} and {plural(e.get('other_faces'), 'face')},"
        f" {plural(e.get('faces_between'), 'face')} between them"
    )


def suggestion_row(r: dict) -> tuple:
    """(n, state, question, evidence, face, photo): one row of `people suggestions`."""
    face = f"{r['day']} {r['image_id']} #{r['face_no']}" if r["kind"] == "face" and r["face_no"] is not None else ""
    return (r["suggestion_id"], r["state"], question(r), evidence_text(r), face, r["uri"] or "")


def answer_summary(r: dict) -> str:
    """What an answer did, in words."""
    if r["answer"] == "no":
        if r["kind"] == "face":
            return f"remembered: this face never joins identity {r['identity_id']}, and is not asked again"
        return f"remembered: identities {r['identity_id']} and {r['other_id']} are never merged unasked"
    d = r["done"]
    if r["kind"] == "face":
        return f"face moved from identity {d.get('from')} to {d.get('identity_id')}"
    return (
        f"identity {d.get('merged')} merged into {d.get('identity_id')}: {plural(d.get('faces_moved'), 'face')} moved"
    )
