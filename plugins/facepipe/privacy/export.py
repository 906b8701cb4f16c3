"""A person's data, on request (GDPR art. 15, and art. 20 for a portable copy).

``export_person`` writes one zip of everything facepipe holds about one person (a name or
an identity number, as forget takes them): every face of theirs with its photo (URI, day,
source, capture time), box, detector, model and how it came to be theirs; a crop of each
face as JPEG; their enrolment photos; their sightings, days and recurring-unknown rows in
the day reports; the open and answered questions about them; and the audit rows about
their identity. JSON (``person.json``, the whole) and CSV (one file per kind), with a short
``README.txt`` a person can read. Vectors only when asked (``vectors=True``).

The export is audited (op ``export``: who exported which identity, how many rows, whether
with vectors; never the file's path or the person's name) in the transaction that read
the rows, so the file and the audit row describe one moment. The zip is written beside
its path and renamed into place, readable by its owner only (0600): it holds biometric
data. Nothing of it is logged.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import os
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from facepipe.core import audit
from facepipe.core.db import dict_rows as _rows
from facepipe.core.specs import ModelSpec
from facepipe.core.text import display_name, plural
from facepipe.privacy.forget import PrivacyError, _resolve_person

log = logging.getLogger(__name__)

# how a face came to be theirs (face_identity.how), in a reader's words
HOW = {
    "reference": "matched one of their enrolment photos",
    "identity": "joined by the nightly assignment (nearest to their other faces)",
    "cluster": "grouped by the night with faces like it",
    "manual": "placed by a person (named, moved, merged or answered: see audit.csv)",
}


@dataclass
class Exported:
    path: Path | None
    identity_id: int | None
    name: str | None
    faces: int = 0
    photos: int = 0
    crops: int = 0
    crops_missing: int = 0
    enrolment_photos: int = 0
    sightings: int = 0
    audit_rows: int = 0
    vectors: bool = False
    op_no: int | None = None
    days: list[str] = field(default_factory=list)


def _t(schema: str, table: str) -> sql.Identifier:
    return sql.Identifier(schema, table)


def _vector(v) -> list[float]:
    return [float(x) for x in (v.to_list() if hasattr(v, "to_list") else list(v))]


def _plain(value):
    """A JSON/CSV value: dates as ISO text, UUIDs as text."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _csv(rows: list[dict], columns: list[str]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow(
            [
                json.dumps(r[c], ensure_ascii=False) if isinstance(r.get(c), dict | list) else _plain(r.get(c))
                for c in columns
            ]
        )
    return out.getvalue().encode("utf-8")


def _faces(conn, schema: str, identity_id: int, vectors: bool) -> list[dict]:
    q = sql.SQL(
        "SELECT f.day, f.image_id, f.face_no, i.uri, i.source, i.media, i.captured_at, i.camera,"
        " i.width, i.height, f.box_x, f.box_y, f.box_w, f.box_h, f.frame_s, f.first_s, f.last_s,"
        " f.detector, f.det_score, f.model, a.how, a.distance, a.assigned_at{vec}"
        " FROM {fi} a JOIN {f} f ON f.day = a.day AND f.image_id = a.image_id"
        " AND (f.box_x, f.box_y, f.box_w, f.box_h) = (a.box_x, a.box_y, a.box_w, a.box_h)"
        " JOIN {i} i ON i.day = f.day AND i.image_id = f.image_id"
        " WHERE a.identity_id = %s ORDER BY f.day, i.uri, f.face_no"
    ).format(
        vec=sql.SQL(", f.embedding") if vectors else sql.SQL(""),
        fi=_t(schema, "face_identity"),
        f=_t(schema, "faces"),
        i=_t(schema, "images"),
    )
    return _rows(conn, q, (identity_id,))


def _refs(conn, schema: str, person_id, vectors: bool) -> list[dict]:
    if person_id is None:
        return []
    q = sql.SQL(
        "SELECT content_sha256, uri, box_x, box_y, box_w, box_h, model, enrolled_at{vec}"
        " FROM {r} WHERE person_id = %s ORDER BY enrolled_at, content_sha256"
    ).format(vec=sql.SQL(", embedding") if vectors else sql.SQL(""), r=_t(schema, "person_refs"))
    return _rows(conn, q, (person_id,))


def _report_rows(conn, schema: str, person_id, identity_id) -> dict[str, list[dict]]:
    sightings = _rows(
        conn,
        sql.SQL(
            "SELECT day, image_id, face_no, person_name, distance, uri, source, camera, captured_at,"
            " box_x, box_y, box_w, box_h, ref_sha256 FROM {} WHERE person_id = %s OR identity_id = %s"
            " ORDER BY day, uri, face_no"
        ).format(_t(schema, "report_sightings")),
        (person_id, identity_id),
    )
    person_days = (
        _rows(
            conn,
            sql.SQL(
                "SELECT day, seen_day, source, sightings, best_distance FROM {} WHERE person_id = %s"
                " ORDER BY day, seen_day, source"
            ).format(_t(schema, "report_person_days")),
            (person_id,),
        )
        if person_id is not None
        else []
    )
    unknowns = _rows(
        conn,
        sql.SQL(
            "SELECT day, image_id, face_no, neighbours, days_seen, first_seen, uri, source, captured_at,"
            " box_x, box_y, box_w, box_h FROM {} WHERE identity_id = %s ORDER BY day, uri, face_no"
        ).format(_t(schema, "report_recurring_unknowns")),
        (identity_id,),
    )
    return {"sightings": sightings, "person_days": person_days, "recurring_unknowns": unknowns}


def _questions(conn, schema: str, identity_id) -> list[dict]:
    return _rows(
        conn,
        sql.SQL(
            "SELECT suggestion_id, kind, identity_id, other_id, day, image_id, box_x, box_y, box_w, box_h,"
            " evidence, state, asked_at, answered_by, answered_at FROM {}"
            " WHERE identity_id = %s OR other_id = %s ORDER BY suggestion_id"
        ).format(_t(schema, "suggestions")),
        (identity_id, identity_id),
    )


def _audit(conn, schema: str, identity_id) -> list[dict]:
    return _rows(
        conn,
        sql.SQL(
            "SELECT op_no, at, who, op, identity_id, other_id, rows, detail FROM {}"
            " WHERE identity_id = %s OR other_id = %s ORDER BY op_no"
        ).format(_t(schema, "audit")),
        (identity_id, identity_id),
    )


def _crop(face: dict, read) -> bytes | None:
    from facepipe.core.sources import Unreadable
    from facepipe.models.crops import crop_jpeg

    try:
        data = read(face["uri"], face.get("source"), face.get("frame_s"))
        box = (face["box_x"], face["box_y"], face["box_w"], face["box_h"])
        return crop_jpeg(data, box, max(face.get("width") or 0, face.get("height") or 0))
    except (Unreadable, OSError, ValueError) as exc:  # moved, deleted, unreadable now: said in the file
        log.warning("export: a face's photo cannot be read now (%s)", type(exc).__name__)
        return None


def _read(uri: str, source: str | None, frame_s: float | None) -> bytes:
    from facepipe.reports.report import read_uri

    return read_uri(uri, source) if frame_s is None else read_uri(uri, source, frame_s=frame_s)


FACE_COLUMNS = [
    "day",
    "image_id",
    "face_no",
    "uri",
    "source",
    "media",
    "captured_at",
    "camera",
    "box_x",
    "box_y",
    "box_w",
    "box_h",
    "frame_s",
    "first_s",
    "last_s",
    "detector",
    "det_score",
    "model",
    "how",
    "how_in_words",
    "distance",
    "assigned_at",
    "crop",
]


def export_person(
    conn: psycopg.Connection,
    schema: str,
    which: str,
    dest,
    model: ModelSpec,
    *,
    vectors: bool = False,
    actor: str | None = None,
    read=_read,
) -> Exported:
    """Write the zip of one person's data to ``dest``: a path (refused if it exists) or a binary
    file object (the Faces view's download, built in memory); audited."""
    path = None if hasattr(dest, "write") else Path(dest)
    if path is not None and (path.exists() or path.is_symlink()):
        raise PrivacyError(f"{path} exists: give a new file name (an export never overwrites a file)")
    if path is not None and not path.parent.is_dir():
        raise PrivacyError(f"no folder {path.parent} to write the export in")
    with conn.transaction():
        if conn.autocommit:  # one snapshot for every table read (the audit row is the only write)
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        person_id, identity_id, name = _resolve_person(conn, schema, which)
        faces = _faces(conn, schema, identity_id, vectors) if identity_id is not None else []
        refs = _refs(conn, schema, person_id, vectors)
        reports = _report_rows(conn, schema, person_id, identity_id)
        questions = _questions(conn, schema, identity_id) if identity_id is not None else []
        trail = _audit(conn, schema, identity_id) if identity_id is not None else []
        out = Exported(path=path, identity_id=identity_id, name=name, vectors=vectors)
        out.faces = len(faces)
        out.photos = len({(f["day"], f["image_id"]) for f in faces})
        out.enrolment_photos = len(refs)
        out.sightings = len(reports["sightings"])
        out.audit_rows = len(trail)
        out.days = sorted({f["day"].isoformat() for f in faces})
        if path is None:
            _zip(dest, out, model, faces, refs, reports, questions, trail, read)
        else:
            _write(path, out, model, faces, refs, reports, questions, trail, read)
        out.op_no = audit.record(
            conn,
            schema,
            "export",
            identity_id=identity_id,
            rows={
                "faces": out.faces,
                "photos": out.photos,
                "enrolment_photos": out.enrolment_photos,
                "sightings": out.sightings,
            },
            detail={"vectors": vectors},
            actor=actor,
        )
    return out


def _write(path: Path, out: Exported, model: ModelSpec, faces, refs, reports, questions, trail, read) -> None:
    part = path.with_name(f".{path.name}.part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # biometric data: the owner's only
    try:
        with os.fdopen(fd, "wb") as fh:
            _zip(fh, out, model, faces, refs, reports, questions, trail, read)
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def _zip(fh, out: Exported, model: ModelSpec, faces, refs, reports, questions, trail, read) -> None:
    with zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as z:
        for f in faces:
            name = f"crops/{f['day']}_{f['image_id']}_{f['face_no']}.jpg"
            jpeg = _crop(f, read)
            f["how_in_words"] = HOW.get(f["how"], f["how"])
            f["crop"] = name if jpeg is not None else None
            if jpeg is not None:
                z.writestr(name, jpeg)
                out.crops += 1
            else:
                out.crops_missing += 1
        for r in refs:
            name = f"enrolment/{r['content_sha256']}.jpg"
            jpeg = _crop({**r, "source": None, "frame_s": None}, read)
            r["crop"] = name if jpeg is not None else None
            if jpeg is not None:
                z.writestr(name, jpeg)
        if out.vectors:
            for row in (*faces, *refs):
                row["embedding"] = _vector(row["embedding"])
        whole = {
            "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "person": {"name": out.name, "identity_id": out.identity_id},
            "model": {"name": model.name, "distance": model.distance_op},
            "counts": {
                "faces": out.faces,
                "photos": out.photos,
                "days": len(out.days),
                "enrolment_photos": out.enrolment_photos,
                "sightings": out.sightings,
                "audit_rows": out.audit_rows,
            },
            "vectors_included": out.vectors,
            "faces": faces,
            "enrolment_photos": refs,
            "sightings": reports["sightings"],
            "person_days": reports["person_days"],
            "recurring_unknowns": reports["recurring_unknowns"],
            "questions": questions,
            "audit": trail,
        }
        z.writestr("person.json", json.dumps(whole, default=_plain, ensure_ascii=False, indent=1))
        z.writestr("faces.csv", _csv(faces, FACE_COLUMNS + (["embedding"] if out.vectors else [])))
        ref_cols = ["content_sha256", "uri", "box_x", "box_y", "box_w", "box_h", "model", "enrolled_at", "crop"]
        z.writestr("enrolment_photos.csv", _csv(refs, ref_cols + (["embedding"] if out.vectors else [])))
        for kind, rows in reports.items():
            z.writestr(f"{kind}.csv", _csv(rows, list(rows[0]) if rows else _REPORT_COLUMNS[kind]))
        z.writestr("questions.csv", _csv(questions, list(questions[0]) if questions else ["suggestion_id"]))
        z.writestr("audit.csv", _csv(trail, ["op_no", "at", "who", "op", "identity_id", "other_id", "rows", "detail"]))
        z.writestr("README.txt", _summary(out, faces).encode("utf-8"))


_REPORT_COLUMNS = {
    "sightings": ["day", "image_id", "face_no", "person_name", "distance", "uri", "source"],
    "person_days": ["day", "seen_day", "source", "sightings", "best_distance"],
    "recurring_unknowns": ["day", "image_id", "face_no", "neighbours", "days_seen", "first_seen", "uri", "source"],
}


def _summary(out: Exported, faces: list[dict]) -> str:
    who = display_name(out.name) if out.name else f"an unnamed identity (#{out.identity_id})"
    lines = [
        f"What facepipe holds about {who}",
        "",
        f"Exported {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.",
        f"{plural(out.faces, 'face')} in {plural(out.photos, 'photo')} on {plural(len(out.days), 'day')}"
        + (f" ({out.days[0]} to {out.days[-1]})" if out.days else "")
        + f"; {plural(out.enrolment_photos, 'enrolment photo')}; {plural(out.sightings, 'sighting')} in the day"
        " reports; " + plural(out.audit_rows, "recorded operation") + ".",
    ]
    if out.crops_missing:
        lines.append(f"{plural(out.crops_missing, 'photo')} could not be read now, so those faces have no crop.")
    how: dict[str, int] = {}
    for f in faces:
        how[f["how"]] = how.get(f["how"], 0) + 1
    if how:
        lines += ["", "How the faces came to be theirs:"]
        lines += [f"  {n:>5}  {HOW.get(k, k)}" for k, n in sorted(how.items(), key=lambda kv: -kv[1])]
    lines += [
        "",
        "Files:",
        "  person.json              everything below in one file",
        "  faces.csv                each face: its photo (uri, day, source, capture time), box in the",
        "                           photo's upright pixels, detector, model, how it came to be theirs",
        "  crops/                   each face as a JPEG (named day_image_face.jpg, as in faces.csv)",
        "  enrolment_photos.csv     the photos they were enrolled from, and enrolment/ their faces",
        "  sightings.csv            where the day reports saw them",
        "  person_days.csv          the reports' days seen, per source",
        "  recurring_unknowns.csv   report rows of their faces while they were not yet known",
        "  questions.csv            questions facepipe asked about them, and the answers",
        "  audit.csv                every recorded operation on their identity (who, when, what)",
        "",
        (
            "Face vectors (the numbers facepipe compares faces by) are included: the embedding column."
            if out.vectors
            else "Face vectors (the numbers facepipe compares faces by) are not included; an operator can"
            " export them with --vectors."
        ),
        "To have all of this removed: `facepipe forget person` (docs/privacy.md).",
        "",
    ]
    return "\n".join(lines)
