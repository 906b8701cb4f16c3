"""Faces are biometric data: least privilege for report readers, and forgetting.

Report readers get the reader views and no internal table (facepipe.privacy.reader,
``facepipe grant-reader``); schema changes keep those grants
(facepipe.core.migrations.reader_grants).

``forget_person`` and ``forget_photo`` remove a person's faces (or a photo) from every
table, staging included, in one transaction; rebuild the report tables of the days
they touched; then rewrite the tables they changed (so no dead row keeps a vector or a
name) and the report files. What they keep so that nothing comes back is a
suppression per face or photo, a photo's SHA-256 and a box, no vector
(``suppressions``), which each shard applies before staging (``drop_suppressed``,
called by facepipe.ingest.store.write_shard); and, only with ``block_future``, one template
vector per person (``forget_templates``). docs/privacy.md says what and why.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import logging
import math
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from facepipe.core import audit
from facepipe.core.days import refresh_tallies
from facepipe.core.db import load_sql
from facepipe.core.specs import ModelSpec
from facepipe.core.suppression import SAME_FACE_IOU, SAME_TRACK_SLACK_S
from facepipe.core.text import plural

log = logging.getLogger(__name__)


# --- forgetting a person or a photo ------------------------------------------------


Box = tuple[int, int, int, int]


PREVIEW_MAX = 500  # faces (and photos) a dry run's preview names


class PrivacyError(ValueError):
    """A forget that cannot be done as asked; nothing was changed."""


@dataclass
class Forgotten:
    """What a forget removed (or, for a dry run, would remove)."""

    op_no: int | None  # its audit row; None for a dry run
    rows: dict[str, int] = field(default_factory=dict)  # per table
    days: list[dt.date] = field(default_factory=list)  # days whose reports were rebuilt
    touched: set[dt.date] = field(default_factory=set, repr=False)  # days whose faces or images changed
    files: dict[str, int] = field(default_factory=dict)  # report and validation files rewritten or deleted
    identifiers: set[str] = field(default_factory=set, repr=False)  # image ids, URIs, hashes, names gone
    search_partitions: dict[str, int] = field(default_factory=dict, repr=False)  # rows deleted, per table
    # a dry run's preview for the Faces view (never in a task's result): who, which faces and photos
    preview: dict = field(default_factory=dict, repr=False)
    # the photos (uri, width, height) whose XMP sidecars may hold regions facepipe wrote for
    # what is forgotten, and the person's name (None: a photo, all of facepipe's regions go)
    sidecar_photos: list[dict] = field(default_factory=list, repr=False)
    sidecar_name: str | None = field(default=None, repr=False)


def _locks(conn: psycopg.Connection) -> None:
    """A forget waits for loads, staged shards, the people assignment and report runs (until
    they have written their files), and they for it."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('facepipe:ddl'))")
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('facepipe:people'))")
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('facepipe:reports'))")


# A forget's threshold may be up to this many times the model's same-person threshold:
# far beyond it, faces of other people are within it (a typo of 50 for 0.5 would
# forget everyone, and with block_future block everyone's future faces).
MAX_THRESHOLD_FACTOR = 1.5


def check_threshold(model: ModelSpec, threshold: float | None) -> float:
    """The forget's threshold: the model's by default; refused when not a number from 0 up
    to MAX_THRESHOLD_FACTOR times the model's."""
    if threshold is None:
        return model.match_threshold
    limit = round(MAX_THRESHOLD_FACTOR * model.match_threshold, 4)
    if not (isinstance(threshold, (int, float)) and math.isfinite(threshold) and 0 <= threshold <= limit):
        raise PrivacyError(
            f"threshold must be from 0 to {limit} for {model.name} (its same-person threshold is"
            f" {model.match_threshold}; further out are other people's faces), got {threshold!r}"
        )
    return float(threshold)


def _resolve_person(conn, schema: str, person: str) -> tuple[uuid.UUID | None, int | None, str | None]:
    """(person_id, identity_id, name) of an identity number (ASCII digits, or ``identity:N``)
    or a name (``name:...`` forces a name); a number that is also someone's name is refused."""
    text = person.strip()
    kind, _, rest = text.partition(":")
    if kind in ("identity", "name") and rest.strip():
        text = rest.strip()
    else:
        kind = "identity" if text.isascii() and text.isdigit() else "name"
    if kind == "identity" and not (text.isascii() and text.isdigit()):
        raise PrivacyError("an identity number is a whole number (`facepipe people list` shows them)")
    whole = person.strip()
    named = sql.SQL("SELECT 1 FROM {} WHERE name = %s").format(_t(schema, "people"))
    if whole != text:  # identity:N or name:X, and someone is named that very text (before such names were refused)
        if conn.execute(named, (whole,)).fetchone():
            raise PrivacyError(f"a person is named {whole!r}: forget them by their identity number (people list)")
    elif kind == "identity" and conn.execute(named, (text,)).fetchone():
        raise PrivacyError(f"{text} is both an identity number and a person's name: say identity:{text} or name:{text}")
    if kind == "identity":
        row = conn.execute(
            sql.SQL(
                "SELECT i.person_id, i.identity_id, p.name FROM {i} AS i"
                " LEFT JOIN {p} AS p USING (person_id) WHERE i.identity_id = %s"
            ).format(i=_t(schema, "identities"), p=_t(schema, "people")),
            (int(text),),
        ).fetchone()
        if row is None:
            raise PrivacyError(
                f"no identity {text} (`facepipe people list` and the Faces view's People page show them)"
            )
        return row
    row = conn.execute(
        sql.SQL(
            "SELECT p.person_id, i.identity_id, p.name FROM {p} AS p"
            " LEFT JOIN {i} AS i USING (person_id) WHERE p.name = %s"
        ).format(i=_t(schema, "identities"), p=_t(schema, "people")),
        (text,),
    ).fetchone()
    if row is None:
        raise PrivacyError(
            "no enrolled or named person has this name: give their identity number (`facepipe people list` or the Faces view's People page)"
        )
    return row


def _t(schema: str, table: str) -> sql.Identifier:
    return sql.Identifier(schema, table)


@contextmanager
def _forgetting(
    conn, schema: str, model: ModelSpec, reports_dir: Path | None, read, dry_run: bool
) -> Iterator[Forgotten]:
    """A forget's transaction: its locks and its table of faces to remove; rolled back for a
    dry run; the report files written again and the tables rewritten after the commit."""
    if not conn.autocommit:
        raise PrivacyError(
            "a forget needs a connection in autocommit mode (facepipe.core.db.connection()): it runs"
            " its own transaction, then VACUUM, which cannot run inside one"
        )
    out = Forgotten(op_no=None)
    with conn.transaction() as tx:
        _locks(conn)
        conn.execute(
            "CREATE TEMP TABLE forget_faces (day date, image_id uuid, face_no smallint, content_sha256 text,"
            " box_x integer, box_y integer, box_w integer, box_h integer, frame_s real) ON COMMIT DROP"
        )
        yield out
        if dry_run:
            out.op_no = None
            out.preview["faces"] = [
                tuple(r)
                for r in conn.execute(
                    "SELECT day, image_id, face_no FROM forget_faces WHERE face_no IS NOT NULL"
                    " ORDER BY day, image_id, face_no LIMIT %s",
                    (PREVIEW_MAX,),
                )
            ]
            out.preview["days"] = sorted(out.touched)
            raise psycopg.Rollback(tx)
    if not dry_run:
        _after_commit(conn, schema, out, model, reports_dir, read)


def forget_person(
    conn: psycopg.Connection,
    schema: str,
    person: str,
    model: ModelSpec,
    threshold: float | None = None,
    *,
    reports_dir: Path | None = None,
    read=None,
    dry_run: bool = False,
    block_future: bool = False,
    actor: str | None = None,
) -> Forgotten:
    """Forget one person (a name, or an identity number) everywhere; see docs/privacy.md.

    With ``block_future`` one vector is kept (the mean of their reference photos, else
    their identity's centroid) and later nights drop faces within ``threshold`` of it."""
    threshold = check_threshold(model, threshold)
    with _forgetting(conn, schema, model, reports_dir, read, dry_run) as out:
        person_id, identity_id, name = _resolve_person(conn, schema, person)
        out.preview.update(identity_id=identity_id, name=name, enrolled=_enrolled(conn, schema, person_id))
        conn.execute(
            load_sql("forget_person_faces.sql", schema=schema, op=model.distance_op),
            {"person_id": person_id, "identity_id": identity_id, "threshold": threshold},
        )
        out.op_no = audit.record(
            conn,
            schema,
            "forget_person",
            identity_id=identity_id,
            detail={"threshold": threshold, "block_future": block_future},
            actor=actor,
        )
        if block_future:
            blocked = conn.execute(
                load_sql("forget_template.sql", schema=schema),
                {"op_no": out.op_no, "person_id": person_id, "identity_id": identity_id, "threshold": threshold},
            ).rowcount
            if not blocked:
                raise PrivacyError(
                    "block_future needs a reference photo or an identity with faces to recognise"
                    " the person by; nothing was changed"
                )
            out.rows["forget_templates"] = blocked
        conn.execute(
            load_sql("forget_person_suppress.sql", schema=schema), {"op_no": out.op_no, "person_id": person_id}
        )
        if name:
            out.identifiers.add(name)
            out.sidecar_name = name  # facepipe writes regions of named people only
            out.sidecar_photos = _sidecar_photos(conn, schema)
        _remove(conn, schema, out, model, person_id=person_id, identity_id=identity_id, shas=[], name=name)
    return out


def forget_photo(
    conn: psycopg.Connection,
    schema: str,
    photo: str,
    model: ModelSpec,
    *,
    reports_dir: Path | None = None,
    read=None,
    dry_run: bool = False,
    actor: str | None = None,
) -> Forgotten:
    """Forget a photo (its URI, or its content's SHA-256) everywhere; every copy of the
    same content goes, and the content is never indexed again."""
    text = photo.strip()
    with _forgetting(conn, schema, model, reports_dir, read, dry_run) as out:
        if len(text) == 64 and all(c in "0123456789abcdef" for c in text.lower()):
            shas = [text.lower()]
        else:
            shas = _photo_shas(conn, schema, text)
        conn.execute(load_sql("forget_photo_faces.sql", schema=schema), {"shas": shas})
        out.preview["photos"] = [
            tuple(r)
            for r in conn.execute(
                sql.SQL(
                    "SELECT day, image_id FROM {} WHERE content_sha256 = ANY(%s) ORDER BY day, image_id LIMIT %s"
                ).format(_t(schema, "images")),
                (shas, PREVIEW_MAX),
            )
        ]
        out.op_no = audit.record(conn, schema, "forget_photo", detail={"photos": len(shas)}, actor=actor)
        conn.execute(
            sql.SQL("INSERT INTO {} (content_sha256, op_no) SELECT unnest(%s::text[]), %s").format(
                _t(schema, "suppressions")
            ),
            (shas, out.op_no),
        )
        out.identifiers.update(shas)
        out.sidecar_photos = _sidecar_photos(conn, schema, shas)
        _remove(conn, schema, out, model, person_id=None, identity_id=None, shas=shas, name=None)
    return out


def _sidecar_photos(conn, schema: str, shas: list[str] | None = None) -> list[dict]:
    """The photos of the faces being forgotten (or of the photos ``shas``), before they go: their
    sidecars lose facepipe's regions after the commit (facepipe.people.sidecars)."""
    from facepipe.core.db import dict_rows

    if shas is not None:
        query = sql.SQL(
            "SELECT DISTINCT uri, source, width, height FROM {} WHERE content_sha256 = ANY(%s) AND media = 'photo'"
        ).format(_t(schema, "images"))
        return dict_rows(conn, query, (shas,))
    query = sql.SQL(
        "SELECT i.uri, i.source, i.width, i.height,"
        " array_agg(ARRAY[ff.box_x, ff.box_y, ff.box_w, ff.box_h]) AS boxes"
        " FROM forget_faces AS ff JOIN {} AS i ON i.day = ff.day AND i.image_id = ff.image_id"
        " WHERE i.media = 'photo' GROUP BY i.uri, i.source, i.width, i.height"
    ).format(_t(schema, "images"))
    return dict_rows(conn, query)


def _enrolled(conn, schema: str, person_id) -> bool:
    """Whether the person has reference photos (from the people folder)."""
    if person_id is None:
        return False
    return bool(
        conn.execute(
            sql.SQL("SELECT 1 FROM {} WHERE person_id = %s LIMIT 1").format(_t(schema, "person_refs")), (person_id,)
        ).fetchone()
    )


def _photo_shas(conn, schema: str, text: str) -> list[str]:
    """The contents a photo given by URI or by path stands for: those loaded, staged or
    enrolled at that URI (the path written as the tables write it), else the content of
    the file at that path (a photo not loaded yet)."""
    from facepipe.core.sources import uri_of

    local = Path(text.removeprefix("file://"))
    if "://" in text and not text.startswith("file://"):  # a bucket's URI, as the tables write it
        uris = [text]
    else:  # a path: as given and absolute, bytes that are not UTF-8 written as the tables write them
        uris = [uri_of(local), uri_of(local.absolute())]
    for uri in dict.fromkeys(uris):
        shas = [s for (s,) in conn.execute(load_sql("forget_photo_shas.sql", schema=schema), {"uri": uri})]
        if shas:
            return shas
    if local.is_file():
        return [hashlib.sha256(local.read_bytes()).hexdigest()]
    raise PrivacyError(
        "no loaded, staged or enrolled photo has this URI, and it is not a file here: give the"
        " content's SHA-256 (sha256sum FILE) to forget a photo that is not loaded, or before it arrives"
    )


def _remove(
    conn, schema: str, out: Forgotten, model: ModelSpec, *, person_id, identity_id, shas: list[str], name: str | None
) -> None:
    """Remove what the forget's suppressions and forget_faces name from every table, and
    rebuild the report tables of the days it touched. Counts go to ``out.rows``."""
    from facepipe.people.identities import recompute_identities
    from facepipe.search.ivf import forget_rows

    rows = out.rows
    p = {
        "op_no": out.op_no,
        "min_iou": SAME_FACE_IOU,
        "span_slack": SAME_TRACK_SLACK_S,
        "shas": shas,
        "person_id": person_id,
        "identity_id": identity_id,
        "name": name,
        "detail": f"forgotten (audit op {out.op_no}): not indexed again",
    }
    t = {
        n: _t(schema, n)
        for n in (
            "faces",
            "images",
            "face_identity",
            "identity_pool",
            "identities",
            "people",
            "person_refs",
            "report_sightings",
            "report_recurring_unknowns",
            "report_person_days",
            "audit",
            "suppressions",
            "suggestions",
            "dismissed_faces",
        )
    }
    in_forget = sql.SQL(
        "(a.day, a.image_id, a.box_x, a.box_y, a.box_w, a.box_h) IN"
        " (SELECT day, image_id, box_x, box_y, box_w, box_h FROM forget_faces)"
    )

    def run(query: sql.Composable) -> int:
        return conn.execute(query, p).rowcount

    rows["suppressions"] = conn.execute(
        sql.SQL("SELECT count(*) FROM {suppressions} WHERE op_no = %(op_no)s").format(**t), p
    ).fetchone()[0]
    # what is affected, before it goes: image ids and URIs (to find files), days, identities
    image_ids = []
    for image_id, uri in conn.execute(load_sql("forget_images.sql", schema=schema), p):
        if image_id is not None:
            image_ids.append(str(image_id))
            out.identifiers.add(str(image_id))
        out.identifiers.add(uri)
    p["image_ids"] = image_ids
    # identities that lose a face: every report day showing one of them (its crops may be the
    # face) is rebuilt, as is every day whose sightings matched a forgotten reference photo
    lost = {
        i
        for (i,) in conn.execute(
            sql.SQL("SELECT DISTINCT a.identity_id FROM {face_identity} AS a WHERE ").format(**t)
            + in_forget
            + sql.SQL(" OR a.identity_id = %(identity_id)s"),
            p,
        )
    }
    p["lost"] = sorted(lost)
    out.touched = {
        d
        for (d,) in conn.execute(
            sql.SQL(
                "SELECT day FROM forget_faces UNION SELECT day FROM {images} WHERE content_sha256 = ANY(%(shas)s)"
            ).format(**t),
            p,
        )
    }
    p["touched"] = sorted(out.touched)
    days = {d for (d,) in conn.execute(load_sql("forget_days.sql", schema=schema), p)}
    rows["face_identity"] = run(
        sql.SQL("DELETE FROM {face_identity} AS a WHERE ").format(**t)
        + in_forget
        + sql.SQL(" OR a.identity_id = %(identity_id)s")
    )
    rows["identity_pool"] = run(sql.SQL("DELETE FROM {identity_pool} AS a WHERE ").format(**t) + in_forget)
    rows["dismissed_faces"] = run(sql.SQL("DELETE FROM {dismissed_faces} AS a WHERE ").format(**t) + in_forget)
    # questions about their faces, or about their identity (no row keeps a forgotten face)
    rows["suggestions"] = run(
        sql.SQL("DELETE FROM {suggestions} AS a WHERE (a.kind = 'face' AND ").format(**t)
        + in_forget
        + sql.SQL(") OR a.identity_id = %(identity_id)s OR a.other_id = %(identity_id)s")
    )
    rows["faces"] = run(sql.SQL("DELETE FROM {faces} AS a WHERE ").format(**t) + in_forget)
    # the search structure over every day: the same faces, in this transaction (the partitions
    # that held them are rewritten after it)
    out.search_partitions = forget_rows(conn, schema)
    rows["search_lists"] = sum(out.search_partitions.values())
    rows["images"] = run(sql.SQL("DELETE FROM {images} WHERE content_sha256 = ANY(%(shas)s)").format(**t))
    refresh_tallies(conn, schema, out.touched)  # what Days and status count (revision 0013)
    run(load_sql("forget_face_counts.sql", schema=schema))
    rows["stage_faces"] = run(load_sql("forget_stage_faces.sql", schema=schema))
    run(load_sql("forget_stage_face_counts.sql", schema=schema))
    rows["stage_images"] = run(load_sql("forget_stage_photos.sql", schema=schema))
    for table in ("report_sightings", "report_recurring_unknowns", "report_person_days"):
        rows[table] = run(load_sql(f"forget_{table}.sql", schema=schema))
    rows["identities"] = run(sql.SQL("DELETE FROM {identities} WHERE identity_id = %(identity_id)s").format(**t))
    rows["identities"] += recompute_identities(conn, schema, lost - {identity_id})
    rows["person_refs"] = run(
        sql.SQL("DELETE FROM {person_refs} WHERE person_id = %(person_id)s OR content_sha256 = ANY(%(shas)s)").format(
            **t
        )
    )
    rows["people"] = run(sql.SQL("DELETE FROM {people} WHERE person_id = %(person_id)s").format(**t))
    # earlier audit rows that name the person, or a face or photo of theirs, keep their op and counts only
    rows["audit"] = run(load_sql("forget_audit_scrub.sql", schema=schema))
    for day in sorted(days):
        if _rebuild_report_tables(conn, schema, day, model):
            out.days.append(day)
    conn.execute(
        sql.SQL("UPDATE {audit} SET rows = %(rows)s WHERE op_no = %(op_no)s").format(**t),
        {**p, "rows": json.dumps(rows)},
    )


def _rebuild_report_tables(conn, schema: str, day: dt.date, model: ModelSpec) -> bool:
    """Rebuild a day's report tables with the parameters they were built with (False:
    the day has no reports)."""
    from facepipe.reports.report import build_reports, built_with

    params = built_with(conn, schema, day, model)
    if params is None:
        return False
    build_reports(conn, schema, day, model, params)
    return True


def _forms(ident: str) -> set[str]:
    """How a file may write ``ident``: as is, HTML-escaped (Python's and Jinja's forms),
    CSV-quoted, and inside a JSON string."""
    import markupsafe

    return {ident, html.escape(ident), str(markupsafe.escape(ident)), ident.replace('"', '""'), json.dumps(ident)[1:-1]}


def _mentions(text: str, forms: set[str]) -> bool:
    """Whether a file's text holds one of the forms (``_forms``) of the identifiers."""
    return any(form in text for form in forms)


class FilesLeft(RuntimeError):
    """The forget is done in the database, but a step after its commit (rewriting a table,
    clearing statistics, writing or deleting report files) did not finish."""


REPORT_FILES = ("report.html", "daily_summary.csv", "sightings.csv", "recurring_unknowns.csv", "person_days.csv")


def _after_commit(conn, schema: str, out: Forgotten, model: ModelSpec, reports_dir: Path | None, read) -> None:
    """What a forget does once its transaction committed: the report files, then every table
    it changed is rewritten (VACUUM FULL) and analyzed, so that no dead row, free page space,
    index entry or column statistic of facepipe's keeps a vector or a name (a plain VACUUM
    frees the space but leaves the bytes; ANALYZE of a table left empty keeps its old
    statistics, which are cleared). The touched days' partitions are rewritten with their
    HNSW index, and are locked while that runs: a forget costs about a re-index of each day
    it touches (BENCHMARKS.md section 8). When the search structure over every day held one
    of the faces, it is rebuilt without them and swapped in (searches go on meanwhile). A step that fails does not stop the others; what
    is left is recorded in the audit row and raised as FilesLeft, saying what to run."""
    from facepipe.core.db import partition_name

    problems = _rewrite_files(conn, schema, out, model, reports_dir, read)
    if out.sidecar_photos:  # the regions facepipe wrote into photo managers' sidecars (xmp_write)
        from facepipe.people.sidecars import forget_in_sidecars

        done, left = forget_in_sidecars(out.sidecar_photos, out.sidecar_name)
        out.files.update({f"sidecars_{k}": v for k, v in done.items()})
        problems += left
    tables = [
        "stage_faces",
        "stage_images",
        "stage_rejects",
        "identity_pool",
        "identities",
        "face_identity",
        "person_refs",
        "people",
        "report_sightings",
        "report_recurring_unknowns",
        "report_person_days",
        "report_daily_summary",
        "audit",
    ]
    for day in sorted(out.touched):
        tables += [partition_name("faces", day), partition_name("images", day)]
    present = {
        n
        for (n,) in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = ANY(%s)",
            (schema, tables),
        )
    }
    clear = conn.execute("SELECT to_regproc('pg_catalog.pg_clear_attribute_stats') IS NOT NULL").fetchone()[0]
    for table in (t for t in tables if t in present):
        try:
            conn.execute(sql.SQL("VACUUM (FULL, ANALYZE) {}").format(_t(schema, table)))
            if clear:
                _clear_stats_if_empty(conn, schema, table)
        except psycopg.Error as exc:
            problems.append(
                f"table {table} was not rewritten ({type(exc).__name__}): run VACUUM (FULL, ANALYZE)"
                f" {schema}.{table} when nothing holds it"
            )
    problems += _analyze_parents(conn, schema, clear)
    if not clear:
        log.warning(
            "this PostgreSQL has no pg_clear_attribute_stats (before 18): the statistics of a table a forget"
            " left empty keep their old values until rows come back and ANALYZE runs"
        )
    from facepipe.search.ivf import discard_leftovers, scrub

    try:
        # a version a dead build left may hold the faces too
        discard_leftovers(conn, schema)
    except psycopg.Error as exc:
        problems.append(
            f"a search version left by a build was not dropped ({type(exc).__name__}): run `facepipe"
            " search-maintain --rebuild` when the database is free"
        )
    if out.search_partitions:
        # the partitions' files hold the deleted rows (heap and btrees): rewritten without them
        try:
            out.files["search_partitions_rewritten"] = len(scrub(conn, schema, out.search_partitions))
        except psycopg.Error as exc:
            problems.append(
                f"the search structure's partitions were not rewritten ({type(exc).__name__}): run VACUUM (FULL)"
                f" on {', '.join(sorted(out.search_partitions))} when nothing holds them"
            )
    out.files["problems"] = len(problems)
    with conn.transaction():
        conn.execute(
            sql.SQL("UPDATE {} SET detail = detail || jsonb_build_object('files', %s::jsonb) WHERE op_no = %s").format(
                _t(schema, "audit")
            ),
            (json.dumps(out.files), out.op_no),
        )
    if problems:
        raise FilesLeft(
            f"the forget is done in the database (audit op {out.op_no}), but"
            f" {plural(len(problems), 'step after it is', 'steps after it are')} left: " + "; ".join(problems)
        )


def _clear_stats_if_empty(conn, schema: str, table: str) -> None:
    """ANALYZE of a table with no row keeps its old statistics (names, vectors): cleared."""
    if conn.execute(sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(_t(schema, table))).fetchone()[0]:
        conn.execute(load_sql("clear_column_stats.sql"), {"schema": schema, "table": table})


def _analyze_parents(conn, schema: str, clear: bool) -> list[str]:
    """A partitioned table (faces, images) has statistics of its own only when someone
    analyzed it by name (``ANALYZE``, ``vacuumdb --analyze-only``; autovacuum never does):
    a sample of every partition, which can hold her vectors. Those are sampled again from
    what is left (or cleared when nothing is). Returns what failed."""
    parents = [
        n
        for (n,) in conn.execute(
            "SELECT DISTINCT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname AND s.inherited"
            " WHERE n.nspname = %s AND c.relkind = 'p'",
            (schema,),
        )
    ]
    problems = []
    for table in parents:
        try:
            conn.execute(sql.SQL("ANALYZE {}").format(_t(schema, table)))
            if clear:
                _clear_stats_if_empty(conn, schema, table)
        except psycopg.Error as exc:
            problems.append(
                f"the statistics of {table} were not sampled again ({type(exc).__name__}): run ANALYZE {schema}.{table}"
            )
    return problems


def _rewrite_files(conn, schema: str, out: Forgotten, model: ModelSpec, reports_dir: Path | None, read) -> list[str]:
    """The report folder after a forget: the report files of every day whose tables were
    rebuilt are written again, and so are those of any report day with a file that names a
    touched photo (its id or URI), a forgotten photo's hash or the person's name (a page
    written before, say, retention removed a day it showed); any other file that names
    one (validation results, copies, a day without report tables) is deleted. A day whose
    files cannot be written again loses them. Returns what is left to do."""
    from facepipe.reports.report import built_with, fetch_report, read_uri, write_report

    out.files = {"rewritten": 0, "deleted": 0}
    problems: list[str] = []
    if reports_dir is None or not reports_dir.is_dir():
        return problems
    days, named = set(out.days), []
    forms = {form for ident in out.identifiers if ident for form in _forms(ident)}
    for path in sorted(reports_dir.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        try:
            if not _mentions(path.read_text(encoding="utf-8", errors="replace"), forms):
                continue
        except OSError as exc:
            problems.append(f"{path} could not be read ({exc.strerror or type(exc).__name__}): check it by hand")
            continue
        day = _report_day(reports_dir, path)
        if day is not None and built_with(conn, schema, day, model) is not None:
            days.add(day)  # its tables no longer name them: written again below
        else:
            named.append(path)
    for day in sorted(days):
        try:
            params = built_with(conn, schema, day, model)
            write_report(
                fetch_report(conn, schema, day, params.best_crops), day, reports_dir, read or read_uri, params, model
            )
            out.files["rewritten"] += 1
        except Exception as exc:  # noqa: BLE001  (any failure: the day's files must not stay as they were)
            problems.append(f"{day}: not written again ({type(exc).__name__}); run python -m facepipe report {day}")
            named += [reports_dir / day.isoformat() / name for name in REPORT_FILES]
    for path in named:
        try:
            if path.is_file() and not path.is_symlink():
                path.unlink()
                out.files["deleted"] += 1
        except OSError as exc:
            problems.append(f"{path} could not be deleted ({exc.strerror or type(exc).__name__}): delete it by hand")
    return problems


def _report_day(reports_dir: Path, path: Path) -> dt.date | None:
    """The day of a report file facepipe writes (REPORTS/YYYY-MM-DD/report.html and its CSVs)."""
    if path.parent.parent != reports_dir or path.name not in REPORT_FILES:
        return None
    try:
        return dt.date.fromisoformat(path.parent.name)
    except ValueError:
        return None
