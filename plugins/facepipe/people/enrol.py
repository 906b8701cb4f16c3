"""Enrolment: a folder of known people becomes rows in people and person_refs.

Layout: ``<folder>/<person name>/*.jpg`` (any image format), a few photos per
person, one face each (the largest face is taken). Keys come from the name and
the photo's content, so enrolling the same folder again changes nothing, and a
new photo or person adds just that. Photos are never copied: person_refs keeps
the path, the box and the embedding.

Nothing is skipped in silence: every photo that is not enrolled is listed with
the reason (unreadable, not an image, no face, too large, or the same photo
already enrolled under another name: one photo never stands for two people,
which would leave one of them unreachable), and so is every person left with no
reference photo. A folder name that is not UTF-8 is kept with its odd bytes
written ``\\xNN``, as file URIs are.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from facepipe.core.db import load_sql, vector_value
from facepipe.core.sources import FolderSource, Unreadable, uri_of
from facepipe.core.specs import ModelSpec
from facepipe.core.suppression import SAME_FACE_IOU, iou, suppressed_lookup
from facepipe.core.text import plural
from facepipe.models.detect import FaceSizing
from facepipe.models.faces import embed_largest_face
from facepipe.people.names import name_problem, person_id

log = logging.getLogger(__name__)
FORGOTTEN = "forgotten: the photo or its face was forgotten (facepipe forget)"


@dataclass
class EnrolResult:
    people: int = 0  # people in the folder
    added: int = 0  # reference photos added now
    kept: int = 0  # already enrolled
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    no_reference: list[str] = field(default_factory=list)  # people of the folder with no reference photo
    forgotten: int = 0  # person folders with forgotten photos and no other reference (facepipe.privacy.forget)


def enrol_folder(
    conn: psycopg.Connection,
    schema: str,
    folder: Path,
    model: ModelSpec,
    detector,
    embedder,
    sizing: FaceSizing | None = None,
) -> EnrolResult:
    sizing = sizing or FaceSizing.of(detector.name, FaceSizing.min_face)
    result = EnrolResult()
    if not folder.is_dir():
        raise FileNotFoundError(f"enrolment folder {folder} does not exist")
    source = FolderSource(folder)
    suppressed = suppressed_lookup(conn, schema)
    known: set[tuple[str, str]] = set()
    owner: dict[str, str] = {}  # content sha256 -> the name it is enrolled under
    for pid, sha, name in conn.execute(load_sql("enrolled_refs.sql", schema=schema)):
        known.add((str(pid), sha))
        owner.setdefault(sha, name)
    for entry in sorted(p for p in folder.iterdir() if not p.name.startswith(".")):
        if not entry.is_dir():
            result.skipped.append((uri_of(entry), "not in a person's folder (<folder>/<name>/photo.jpg)"))
            continue
        name = uri_of(Path(entry.name))  # printable, storable text even when the name is not UTF-8
        if (why := name_problem(name)) is not None:
            result.skipped.append((uri_of(entry), f"not enrolled: {why}; rename the folder"))
            continue
        pid = person_id(name)
        result.people += 1
        forgotten = 0
        for photo in sorted(p for p in entry.iterdir() if not p.name.startswith(".")):
            uri = uri_of(photo)
            why = _enrol_photo(
                conn,
                schema,
                source,
                uri,
                name,
                pid,
                known,
                owner,
                model,
                detector,
                embedder,
                sizing,
                result,
                suppressed,
            )
            forgotten += why == FORGOTTEN
            if why:
                result.skipped.append((uri, why))
        # A person is stored (people) with their first reference photo, never without one: a
        # folder of no usable photo, or of a forgotten person's photos, stores no name.
        if any(p == str(pid) for p, _sha in known):
            continue
        if forgotten:
            result.forgotten += 1
        else:
            result.no_reference.append(name)
    # Logs carry counts only (no name, no path); the command line lists them (python -m facepipe enrol).
    if result.no_reference:
        log.warning(
            "%s have no reference photo: add a photo of each with one clear face",
            plural(len(result.no_reference), "person", "people"),
            extra={"in_result": True},  # the command line lists them by name
        )
    if result.forgotten:
        log.warning(
            "%s forgotten photos (facepipe forget) and no other reference: not enrolled; remove them",
            plural(result.forgotten, "person folder holds", "person folders hold"),
        )
    log.info(
        "enrolment: %s, %s added, %d already enrolled, %d skipped",
        plural(result.people, "person", "people"),
        plural(result.added, "reference photo"),
        result.kept,
        len(result.skipped),
    )
    return result


def _enrol_photo(
    conn,
    schema,
    source,
    uri,
    name,
    pid,
    known,
    owner,
    model,
    detector,
    embedder,
    sizing: FaceSizing | None,
    result: EnrolResult,
    suppressed,
) -> str | None:
    """Enrol one photo; returns why it was not enrolled (None: enrolled or already there)."""
    try:
        data = source.read(uri)
    except Unreadable as exc:
        return f"{exc.reason}: {exc.detail}"
    sha = hashlib.sha256(data).hexdigest()
    forgotten = suppressed([sha]).get(sha)
    if forgotten and None in forgotten:
        return FORGOTTEN
    if owner.get(sha, name) != name:
        return f"the same photo is already enrolled as {owner[sha]}: one photo cannot stand for two people"
    if (str(pid), sha) in known:
        result.kept += 1
        return None
    try:
        found = embed_largest_face(data, detector, embedder, sizing)
    except Unreadable as exc:
        return f"{exc.reason}: {exc.detail}"
    if found is None:
        return "no face found"
    full, vector = found
    with conn.transaction():
        # Checked again under the lock a forget takes exclusively: a forget that committed
        # while this photo was embedded is seen here, one that starts now waits for this insert.
        conn.execute("SELECT pg_advisory_xact_lock_shared(hashtext('facepipe:ddl'))")
        forgotten = suppressed([sha]).get(sha)
        if forgotten and (
            None in forgotten or any(iou((full.x, full.y, full.w, full.h), box) >= SAME_FACE_IOU for box in forgotten)
        ):
            return FORGOTTEN
        conn.execute(load_sql("enrol_person.sql", schema=schema), {"person_id": pid, "name": name})
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (person_id, content_sha256, uri, box_x, box_y, box_w, box_h, model,"
                " embedding) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT DO NOTHING"
            ).format(sql.Identifier(schema, "person_refs")),
            (pid, sha, uri, full.x, full.y, full.w, full.h, model.name, vector_value(model, vector)),
        )
    known.add((str(pid), sha))
    owner[sha] = name
    result.added += 1
    return None
