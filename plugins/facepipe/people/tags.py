"""Face tags from photo managers (facepipe.models.xmp) applied to a day's faces.

After a day's assignment (face_report's ``assign`` task, facepipe.people.tasks), each photo
of a folder source is read for face regions (its sidecars ``IMG.JPG.xmp`` / ``IMG.xmp`` and
its embedded XMP). A named region is matched to the detected face it overlaps most (IoU at
least ``MATCH_IOU``; each face takes one region). Then, as a person deciding:

* the face is in the tag's person's identity already: it stays, now marked ``manual`` (a
  person's decision: the nightly assignment never moves it back);
* the face is in an unnamed identity: that identity is named (``identities.name``: a name
  that is already a person's merges it into theirs);
* the face belongs to no identity: it is moved into the person's identity, or into a new
  one that is then named (``identities.move`` and ``identities.name``);
* the face is another named person's: nothing is overridden; a question is asked
  (a face suggestion for the tag's person, evidence ``why: tag`` with the tag's name and
  file), which the Suggestions page shows as "the photo's tag says ...".

Each change is audited by the ordinary operation, its actor naming the tag (format and
file). Re-reading a day (a re-run, or the next night of its photo's day) applies only what
changed. A named region with no detected face was made a face of its own at the load
(facepipe.ingest.regions), so it is matched here like any other. The regions facepipe wrote
itself (setting ``xmp_write``, facepipe.people.sidecars; marked ``facepipe:Writer``) are
counted as ``own_regions`` and never applied: what facepipe already decided is not a photo
manager's decision. An S3 photo's sidecars are its neighbouring objects (``IMG.JPG.xmp``,
``IMG.xmp``), and its embedded XMP is read from its first HEAD_BYTES.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter

import psycopg
from psycopg import sql

from facepipe.core import audit
from facepipe.core.db import dict_rows
from facepipe.core.specs import ModelSpec
from facepipe.ingest.regions import MATCH_IOU  # one rule for the load's faces made from regions and this

log = logging.getLogger(__name__)


def _t(schema: str, table: str) -> sql.Identifier:
    return sql.Identifier(schema, table)


def _iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def match(tags, faces) -> list[tuple[object, dict]]:
    """(tag, face) pairs: each named tag with the face it overlaps most, best pairs first,
    each face and tag used once, IoU at least MATCH_IOU."""
    pairs = []
    for ti, t in enumerate(tags):
        for fi, f in enumerate(faces):
            iou = _iou((t.box.x, t.box.y, t.box.w, t.box.h), (f["box_x"], f["box_y"], f["box_w"], f["box_h"]))
            if iou >= MATCH_IOU:
                pairs.append((iou, ti, fi))
    used_t, used_f, out = set(), set(), []
    for _score, ti, fi in sorted(pairs, reverse=True):
        if ti in used_t or fi in used_f:
            continue
        used_t.add(ti)
        used_f.add(fi)
        out.append((tags[ti], faces[fi]))
    return out


def _photos(conn, schema: str, day: dt.date) -> list[dict]:
    return dict_rows(
        conn,
        sql.SQL(
            "SELECT image_id, uri, source, width, height FROM {} WHERE day = %s AND status = 'loaded'"
            " AND media = 'photo'"
            " AND face_count > 0 ORDER BY uri"
        ).format(_t(schema, "images")),
        (day,),
    )


def _faces(conn, schema: str, day: dt.date, image_id) -> list[dict]:
    return dict_rows(
        conn,
        sql.SQL(
            "SELECT f.face_no, f.box_x, f.box_y, f.box_w, f.box_h, a.identity_id, a.how, p.name AS person"
            " FROM {f} f LEFT JOIN {fi} a ON a.day = f.day AND a.image_id = f.image_id"
            " AND (a.box_x, a.box_y, a.box_w, a.box_h) = (f.box_x, f.box_y, f.box_w, f.box_h)"
            " LEFT JOIN {i} i ON i.identity_id = a.identity_id LEFT JOIN {p} p ON p.person_id = i.person_id"
            " WHERE f.day = %s AND f.image_id = %s ORDER BY f.face_no"
        ).format(
            f=_t(schema, "faces"), fi=_t(schema, "face_identity"), i=_t(schema, "identities"), p=_t(schema, "people")
        ),
        (day, image_id),
    )


def _identity_of(conn, schema: str, name: str) -> int | None:
    row = conn.execute(
        sql.SQL("SELECT i.identity_id FROM {i} i JOIN {p} p USING (person_id) WHERE p.name = %s").format(
            i=_t(schema, "identities"), p=_t(schema, "people")
        ),
        (name,),
    ).fetchone()
    return row[0] if row else None


def _mark_manual(conn, schema: str, day: dt.date, image_id, f: dict) -> None:
    conn.execute(
        sql.SQL(
            "UPDATE {} SET how = 'manual' WHERE day = %s AND image_id = %s"
            " AND (box_x, box_y, box_w, box_h) = (%s, %s, %s, %s)"
        ).format(_t(schema, "face_identity")),
        (day, image_id, f["box_x"], f["box_y"], f["box_w"], f["box_h"]),
    )


def _ask(conn, schema: str, day: dt.date, image_id, f: dict, identity_id: int, tag) -> bool:
    """A face question for the tag's person's identity: "the photo's tag says NAME"."""
    evidence = {"why": "tag", "tag": tag.name, "format": tag.format, "file": tag.source}
    n = conn.execute(
        sql.SQL(
            "INSERT INTO {} (kind, identity_id, day, image_id, box_x, box_y, box_w, box_h, evidence)"
            " VALUES ('face', %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
        ).format(_t(schema, "suggestions")),
        (identity_id, day, image_id, f["box_x"], f["box_y"], f["box_w"], f["box_h"], json.dumps(evidence)),
    ).rowcount
    return n > 0


def apply_tags(conn: psycopg.Connection, schema: str, days, model: ModelSpec, read=None) -> dict[str, dict]:
    """Read the days' photos' face tags and apply them (see the module's doc); counts per day.
    Disagreements are asked last, so that a person a tag of these days makes is known to them."""
    if read is None:
        from facepipe.models.xmp import read_regions as read
    per_day: dict[str, Counter] = {}
    later: list = []
    who = audit.who()
    opened: dict = {}  # the S3 sources of the photos, opened once
    for day in days:
        counts = per_day.setdefault(day.isoformat(), Counter())
        for photo in _photos(conn, schema, day):
            _photo(conn, schema, day, photo, counts, later, read, who, opened)
    for day, photo, f, tag in later:  # another person's face: asked, never overridden
        counts = per_day[day.isoformat()]
        target = _identity_of(conn, schema, tag.name.strip())
        if target is None:  # the tag's person has no identity: nothing to ask about
            counts["disagree_unknown"] += 1
        elif _ask(conn, schema, day, photo["image_id"], f, target, tag):
            counts["asked"] += 1
        else:
            counts["asked_before"] += 1
    out = {d: {"day": d, **{k: v for k, v in sorted(c.items()) if v}} for d, c in per_day.items()}
    for d, c in out.items():
        log.info("face tags of %s: %s", d, c)
    return out


def _read_object(photo: dict, read, opened: dict):
    """The regions of an S3 photo: its sidecar objects, and the XMP and orientation in its
    first HEAD_BYTES (libexiv2 reads a JPEG's metadata from its head; a HEIC whose metadata
    lies further in has its sidecars only). ``opened``: the sources opened so far this run."""
    from facepipe.core.sources import open_source

    if photo["source"] not in opened:
        opened[photo["source"]] = open_source(photo["source"])
    source = opened[photo["source"]]
    from facepipe.models.xmp import HEAD_BYTES

    head = source.head(photo["uri"], HEAD_BYTES)
    return read(
        head, sidecars=(), sidecar_data=source.read_sidecars(photo["uri"]), width=photo["width"], height=photo["height"]
    )


def _photo(
    conn, schema: str, day: dt.date, photo: dict, counts: Counter, later: list, read, who: str, opened: dict
) -> None:
    from facepipe.core.sources import path_of
    from facepipe.people.identities import PeopleError, move, name
    from facepipe.people.names import name_problem

    try:
        if "://" in photo["uri"]:  # an S3 object: its sidecars, and its head for the embedded XMP
            regions = _read_object(photo, read, opened)
        else:
            regions = read(path_of(photo["uri"]), width=photo["width"], height=photo["height"])
    except Exception as exc:  # one photo's metadata never stops the night
        log.warning("face tags: a photo's XMP could not be read (%s)", type(exc).__name__)
        counts["unreadable"] += 1
        return
    counts["skipped_regions"] += len(regions.skipped)
    theirs = [t for t in regions.named if not t.ours]  # facepipe's own regions (xmp_write) decide nothing
    counts["own_regions"] += len(regions.named) - len(theirs)
    named = [t for t in theirs if name_problem(t.name.strip()) is None]
    counts["refused_names"] += len(theirs) - len(named)
    if not named:
        return
    counts["photos_tagged"] += 1
    faces = _faces(conn, schema, day, photo["image_id"])
    pairs = match(named, faces)
    counts["no_face"] += len(named) - len(pairs)
    for tag, f in pairs:
        tname = tag.name.strip()
        actor = f"{who} (face tag: {tag.format} in {tag.source})"
        try:
            if f["person"] == tname:
                if f["how"] != "manual":
                    with conn.transaction():
                        _mark_manual(conn, schema, day, photo["image_id"], f)
                counts["agreed"] += 1
            elif f["person"] is not None:  # another person's: asked after the others
                later.append((day, photo, f, tag))
            elif f["identity_id"] is not None:  # an unnamed identity: the tag names it
                r = name(conn, schema, f["identity_id"], tname, actor=actor)
                with conn.transaction():
                    _mark_manual(conn, schema, day, photo["image_id"], f)
                counts["named"] += 1 if r.get("changed", True) else 0
            else:  # no identity: into the person's, or a new one named for them
                target = _identity_of(conn, schema, tname)
                r = move(conn, schema, day, photo["image_id"], f["face_no"], to=target, actor=actor)
                if target is None:
                    name(conn, schema, r["identity_id"], tname, actor=actor)
                counts["added"] += 1
        except PeopleError as exc:  # two faces of one photo for one person, ...
            log.info("face tags: a tag was not applied (%s)", str(exc)[:200])
            counts["refused"] += 1
