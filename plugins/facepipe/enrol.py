"""Enrolment: a folder of known people becomes rows in people and person_refs.

Layout: ``<folder>/<person name>/*.jpg`` (any image format), a few photos per
person, one face each (the largest face is taken). Keys come from the name and
the photo's content, so enrolling the same folder again changes nothing, and a
new photo or person adds just that. Photos are never copied: person_refs keeps
the path, the box and the embedding.
"""
from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from facepipe.db import load_sql
from facepipe.detect import FaceSizing
from facepipe.models import ModelSpec
from facepipe.process import embed_largest_face
from facepipe.sources import Unreadable
from facepipe.store import vector_value

log = logging.getLogger(__name__)
_PERSON_NS = uuid.UUID("0c9b7f7e-37b4-4d7e-9d3c-8a1f6f1f2b10")


def person_id(name: str) -> uuid.UUID:
    return uuid.uuid5(_PERSON_NS, name)


@dataclass
class EnrolResult:
    people: int = 0  # people in the folder
    added: int = 0  # reference photos added now
    kept: int = 0  # already enrolled
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)


def enrol_folder(conn: psycopg.Connection, schema: str, folder: Path, model: ModelSpec,
                 detector, embedder, sizing: FaceSizing | None = None) -> EnrolResult:
    sizing = sizing or FaceSizing.of(detector.name, FaceSizing.min_face)
    result = EnrolResult()
    if not folder.is_dir():
        raise FileNotFoundError(f"enrolment folder {folder} does not exist")
    known = {(str(p), s) for p, s in conn.execute(load_sql("known_refs.sql", schema=schema))}
    for person_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        name = person_dir.name
        pid = person_id(name)
        result.people += 1
        conn.execute(load_sql("enrol_person.sql", schema=schema), {"person_id": pid, "name": name})
        for photo in sorted(p for p in person_dir.iterdir() if p.is_file() and not p.name.startswith(".")):
            data = photo.read_bytes()
            sha = hashlib.sha256(data).hexdigest()
            if (str(pid), sha) in known:
                result.kept += 1
                continue
            try:
                found = embed_largest_face(data, detector, embedder, sizing)
            except Unreadable as exc:
                result.skipped.append((str(photo), exc.detail))
                continue
            if found is None:
                result.skipped.append((str(photo), "no face found"))
                continue
            full, vector = found
            conn.execute(
                sql.SQL("INSERT INTO {} (person_id, content_sha256, uri, box_x, box_y, box_w, box_h, model,"
                        " embedding) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                        " ON CONFLICT DO NOTHING").format(sql.Identifier(schema, "person_refs")),
                (pid, sha, str(photo), full.x, full.y, full.w, full.h, model.name, vector_value(model, vector)))
            known.add((str(pid), sha))
            result.added += 1
    log.info("enrolment: %d people, %d reference photos added, %d already enrolled, %d skipped",
             result.people, result.added, result.kept, len(result.skipped))
    return result

