"""Retention: days older than FACEPIPE_RETENTION_DAYS leave the database and the report folder.

For a run whose reference day is D and a setting of N days, the horizon is D - N:
every day before it is expired, the horizon itself and later days are kept
(N=30 on 2026-12-31 keeps 2026-12-01 .. 2026-12-31).

``expire`` does the database side in one transaction, under the DDL advisory lock
(exclusive: no load runs meanwhile) and the people lock (no assignment or people
operation runs meanwhile):

- the expired days' partitions of images and faces are dropped (with their HNSW
  indexes); they are found from the catalog by their bounds;
- the expired days' rows of every other table keyed by day are deleted: rejects,
  load_runs, the report tables (and the per-person rows of later reports whose
  seen_day expired), report_runs, staging, face_identity and identity_pool;
  planned_days keeps only each source's latest day (facepipe.ingest.first_seen needs it);
- identities that lost faces get their count and centroid again from the faces
  they keep; unnamed ones left without a face are deleted;
- the horizon is recorded (table retention_horizon; it only moves forward): no load,
  assignment, report or search touches a day before it again, whatever a process's
  settings say (facepipe.core.days.horizon);
- one audit row records the counts, the horizon and the days.

Kept: enrolled people and their reference photos (until forgotten), suppressions
(what a forget keeps so that a forgotten photo never comes back), first_seen
(file names and arrival times, no faces: it stops an old loose file still in the
folder from being dated again and re-indexed), the audit trail.

After the commit, the expired days' report folders (``REPORTS/YYYY-MM-DD/``) and
validation results (``REPORTS/validation/YYYY-MM-DD_*.json``) are deleted, only
entries with exactly those names, never through a symbolic link; then the tables
that lost rows are vacuumed. A second run finds nothing more to remove and still
records an audit row (zeros), so the trail shows that retention ran.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import shutil
from pathlib import Path

import psycopg
from psycopg import sql

from facepipe.core import audit
from facepipe.core.db import load_sql
from facepipe.core.deployment import retention_horizon
from facepipe.people.identities import recompute_identities
from facepipe.search.ivf import expire_days

log = logging.getLogger(__name__)

# Tables whose rows are keyed by the day they belong to, in the order they are emptied.
DAY_TABLES = (
    "suggestions",  # face questions about expired faces (merge questions have no day)
    "rejects",
    "load_runs",
    "report_daily_summary",
    "report_sightings",
    "report_recurring_unknowns",
    "report_person_days",
    "report_runs",
    "stage_plans",
    "stage_manifest",
    "stage_shards",
    "stage_images",
    "stage_faces",
    "stage_rejects",
    "identity_pool",  # its unassigned_members rows go with it (ON DELETE CASCADE)
    "dismissed_faces",
)
_BOUND = re.compile(r"^FOR VALUES FROM \('(\d{4}-\d{2}-\d{2})'\) TO \('(\d{4}-\d{2}-\d{2})'\)$")
_DAY_FOLDER = re.compile(r"^(\d{4}-\d{2}-\d{2})$")
_VALIDATION_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})_[^/]+\.json$")


def _t(schema: str, table: str) -> sql.Identifier:
    return sql.Identifier(schema, table)


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def expired_partitions(conn: psycopg.Connection, schema: str, before: dt.date) -> list[tuple[str, str, str, dt.date]]:
    """(parent, partition schema, partition, first day) of the images and faces partitions whose
    every day is before ``before``. A partition whose bound does not parse (a DEFAULT one) is kept."""
    out = []
    for parent, part_schema, part, bound in conn.execute(load_sql("retention_partitions.sql"), {"schema": schema}):
        m = _BOUND.match(bound or "")
        lo, hi = (_date(m.group(1)), _date(m.group(2))) if m else (None, None)
        if lo is None or hi is None:
            log.warning("retention: a partition of %s has bounds it does not read; kept", parent)
            continue
        if hi <= before:  # upper bound exclusive: its last day is hi - 1 < before
            out.append((parent, part_schema, part, lo))
    return out


def expired_files(reports_dir: Path, before: dt.date) -> list[tuple[dt.date, Path]]:
    """The report folders and validation files of days before ``before``: only entries named
    YYYY-MM-DD (a folder) and validation/YYYY-MM-DD_*.json (a file), never a symbolic link."""
    found: list[tuple[dt.date, Path]] = []
    if not reports_dir.is_dir():
        return found
    for entry in sorted(reports_dir.iterdir()):
        m = _DAY_FOLDER.match(entry.name)
        day = _date(m.group(1)) if m else None
        if day is not None and day < before:
            if entry.is_symlink() or not entry.is_dir():
                log.warning("retention: %s in the report folder is not a folder (a link?); kept", day)
                continue
            found.append((day, entry))
    validation = reports_dir / "validation"
    if validation.is_dir() and not validation.is_symlink():
        for entry in sorted(validation.iterdir()):
            m = _VALIDATION_FILE.match(entry.name)
            day = _date(m.group(1)) if m else None
            if day is not None and day < before:
                if entry.is_symlink() or not entry.is_file():
                    log.warning("retention: a validation result of %s is not a plain file (a link?); kept", day)
                    continue
                found.append((day, entry))
    return found


def _delete_rows(conn: psycopg.Connection, schema: str, table: str, before: dt.date) -> dict[dt.date, int]:
    cond = sql.SQL("day < %(before)s")
    if table == "report_person_days":  # a later report's rows about an expired day go too
        cond = sql.SQL("day < %(before)s OR seen_day < %(before)s")
    rows = conn.execute(
        sql.SQL(
            "WITH gone AS (DELETE FROM {} WHERE {} RETURNING day) SELECT day, count(*) FROM gone GROUP BY day"
        ).format(_t(schema, table), cond),
        {"before": before},
    ).fetchall()
    return dict(rows)


def expire(
    conn: psycopg.Connection, schema: str, today: dt.date, keep_days: int, reports_dir: Path, dry_run: bool = False
) -> dict:
    """Drop everything of the days before ``today - keep_days`` (see the module's doc).

    ``dry_run``: the same work in a transaction that is rolled back, and no file deleted;
    the result says what a real run would remove. Returns {keep_days, before, days, rows (per
    table, "identities" for those deleted), partitions, files, identities_recomputed, dry_run}
    and, after a real run, files_deleted. Files are deleted after the commit: a run that dies
    between the two leaves them to the next run, which finds them by their names again.
    """
    before = retention_horizon(today, keep_days)
    if before is None:
        raise ValueError("retention needs keep_days of 1 or more (0 keeps every day)")
    rows: dict[str, int] = {}
    days: set[dt.date] = set()
    files: list[tuple[dt.date, Path]] = []
    result: dict = {}
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('facepipe:ddl'))")
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('facepipe:people'))")
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext('facepipe:reports'))"
        )  # report runs write no file meanwhile
        conn.execute("SET LOCAL DateStyle = 'ISO, YMD'")  # the partition bounds as 2026-11-20
        conn.execute(
            load_sql("retention_horizon_advance.sql", schema=schema),
            {"before": before, "keep_days": keep_days, "who": audit.who()},
        )
        partitions = expired_partitions(conn, schema, before)
        for parent, part_schema, part, first in partitions:
            (n,) = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(part_schema, part))).fetchone()
            rows[parent] = rows.get(parent, 0) + n
            days.add(first)
        for _parent, part_schema, part, _ in partitions:
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(part_schema, part)))
        # the search structure over every day: their rows go from it too (VACUUM reclaims
        # their space, facepipe.search.ivf)
        searched = expire_days(conn, schema, before)
        if searched:
            rows["search_lists"] = searched
        touched: set[int] = set()
        gone = conn.execute(
            sql.SQL(
                "WITH gone AS (DELETE FROM {} WHERE day < %(before)s"
                " RETURNING day, identity_id)"
                " SELECT day, identity_id, count(*) FROM gone GROUP BY 1, 2"
            ).format(_t(schema, "face_identity")),
            {"before": before},
        ).fetchall()
        for day, identity_id, n in gone:
            rows["face_identity"] = rows.get("face_identity", 0) + n
            days.add(day)
            touched.add(identity_id)
        for table in DAY_TABLES:
            per_day = _delete_rows(conn, schema, table, before)
            if per_day:
                rows[table] = sum(per_day.values())
                days |= {d for d in per_day if d < before}
        conn.execute(  # what Days and status count (revision 0013): derived, not counted as removed
            sql.SQL("DELETE FROM {} WHERE day < %s").format(_t(schema, "day_tallies")), (before,)
        )
        planned = dict(
            conn.execute(load_sql("retention_planned_days.sql", schema=schema), {"before": before}).fetchall()
        )
        if planned:
            rows["planned_days"] = sum(planned.values())
        # named identities stay (people are kept until forgotten); unnamed ones left empty go
        removed = recompute_identities(conn, schema, touched)
        if removed:
            rows["identities"] = removed
        files = expired_files(reports_dir, before)
        days |= {d for d, _ in files}
        result = {
            "keep_days": keep_days,
            "before": before.isoformat(),
            "days": sorted(d.isoformat() for d in days),
            "rows": rows,
            "partitions": len(partitions),
            "files": len(files),
            "identities_recomputed": len(touched),
            "dry_run": dry_run,
        }
        audit.record(
            conn,
            schema,
            "retention",
            rows=rows,
            detail={
                k: result[k] for k in ("before", "keep_days", "days", "partitions", "files", "identities_recomputed")
            },
        )
        if dry_run:
            raise psycopg.Rollback()  # the transaction's block ends here, rolled back
    if dry_run:
        return result
    deleted = 0
    for day, path in files:
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            deleted += 1
        except OSError as exc:
            log.warning("retention: a report file of %s could not be deleted: %s", day, type(exc).__name__)
    result["files_deleted"] = deleted
    for table in sorted({t for t in rows if t not in ("images", "faces", "search_lists")} if conn.autocommit else ()):
        conn.execute(sql.SQL("VACUUM {}").format(_t(schema, table)))
    if rows.get("search_lists") and conn.autocommit:
        from facepipe.search.ivf import writable

        for version in writable(conn, schema):
            conn.execute(sql.SQL("VACUUM {}").format(_t(schema, version.table)))
    return result


def reopen(conn: psycopg.Connection, schema: str, day: dt.date) -> dt.date | None:
    """Set the recorded horizon back to ``day``: the days from ``day`` on may be loaded again (the
    explicit way to keep more days again). One audit row; returns the horizon it had, or None
    when it was not after ``day`` (nothing changed)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('facepipe:ddl'))")
        row = conn.execute(load_sql("retention_horizon_get.sql", schema=schema)).fetchone()
        if row is None or row[0] <= day:
            return None
        conn.execute(load_sql("retention_horizon_reopen.sql", schema=schema), {"before": day, "who": audit.who()})
        audit.record(conn, schema, "retention_reopen", detail={"before": row[0].isoformat(), "after": day.isoformat()})
        return row[0]
