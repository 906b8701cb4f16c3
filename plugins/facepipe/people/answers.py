"""Answering a suggestion: "yes" runs the people operations, "no" is remembered.

Apart from facepipe.people.suggestions (which the nightly assignment in
facepipe.people.identities writes through) so that the two do not import each other.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from facepipe.core import audit
from facepipe.people import identities as people
from facepipe.people.suggestions import SuggestionError, _t, suggestion


def answer(conn: psycopg.Connection, schema: str, suggestion_id: int, yes: bool, actor: str | None = None) -> dict:
    """Answer one open question; "yes" moves the face or merges the pair (the people
    operations, with their own checks and audit rows), "no" is remembered. One transaction."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('facepipe:people'))")
        s = suggestion(conn, schema, suggestion_id)
        if s["state"] != "open":
            raise SuggestionError(
                f"suggestion {suggestion_id} was answered {s['state']} by {s['answered_by']} at {s['answered_at']}"
            )
        done: dict = {}
        touched = [s["identity_id"], s["other_id"]]
        if yes and s["kind"] == "face":
            if s["face_no"] is None:
                raise SuggestionError(f"the face of suggestion {suggestion_id} is no longer loaded")
            done = people.move(conn, schema, s["day"], s["image_id"], s["face_no"], to=s["identity_id"], actor=actor)
            touched.append(done["from"])
        elif yes:
            # into the named one (merge keeps a name), else the one with more faces
            a, b = s["identity_id"], s["other_id"]
            into, other = (b, a) if (s["other_name"] and not s["identity_name"]) else (a, b)
            if not (s["other_name"] or s["identity_name"]) and (s["other_faces"] or 0) > (s["identity_faces"] or 0):
                into, other = b, a
            moved = conn.execute(
                sql.SQL("SELECT day, image_id, box_x, box_y, box_w, box_h FROM {} WHERE identity_id = %s").format(
                    _t(schema, "face_identity")
                ),
                (other,),
            ).fetchall()
            done = people.merge(conn, schema, into, other, actor=actor)
            # a person decided: a re-cluster keeps these faces where the answer put them
            with conn.cursor() as cur:
                cur.executemany(
                    sql.SQL(
                        "UPDATE {} SET how = 'manual' WHERE day = %s AND image_id = %s"
                        " AND (box_x, box_y, box_w, box_h) = (%s, %s, %s, %s)"
                    ).format(_t(schema, "face_identity")),
                    moved,
                )
        conn.execute(
            sql.SQL("UPDATE {} SET state = %s, answered_by = %s, answered_at = now() WHERE suggestion_id = %s").format(
                _t(schema, "suggestions")
            ),
            ("yes" if yes else "no", actor or audit.who(), suggestion_id),
        )
        detail = {
            "suggestion_id": suggestion_id,
            "kind": s["kind"],
            "answer": "yes" if yes else "no",
            "evidence": s["evidence"],
        }
        if s["kind"] == "face":
            detail |= {"day": s["day"], "image_id": str(s["image_id"]), "face_no": s["face_no"]}
        audit.record(
            conn, schema, "answer", identity_id=s["identity_id"], other_id=s["other_id"], detail=detail, actor=actor
        )
    return {**detail, "identity_id": s["identity_id"], "other_id": s["other_id"], "done": done, "touched": touched}
