"""face_report's report steps as plain functions: which days a run covers, and each
day's report tables and files. Small JSON-able values in and out."""

from __future__ import annotations

import datetime as dt
import logging

from facepipe.core.days import expired, resolve_day
from facepipe.core.db import connection
from facepipe.core.deployment import settings
from facepipe.core.schema import require
from facepipe.core.specs import model_spec

log = logging.getLogger(__name__)


def report_days(param_day: str | None, event_days: list[str], stale_days: list[str] = ()) -> list[str]:
    """The days a report run covers: the param, else the days its asset events loaded and the
    days whose reports are older than their newest load (see stale_report_days)."""
    if param_day:
        return [resolve_day(param_day, None)]
    days = sorted({resolve_day(d, None) for d in [*event_days, *stale_days] if d})
    if not days:
        raise ValueError("no day to report: pass the param day (YYYY-MM-DD), or let face_ingest trigger the run")
    return days


def ready() -> None:
    """face_report's first task: the schema at this code's revision (upgraded first where
    FACEPIPE_SCHEMA_UPGRADE=auto), whether the run names its day or not."""
    s = settings()
    with connection() as conn:
        require(conn, s.db_schema, model_spec(s.model), may_upgrade=True)


def stale_report_days() -> list[str]:
    """Days loaded in the last 7 days whose reports did not see their newest load. Airflow
    can drop an Asset event that lands as it creates the report run (two loads finishing at
    once); the next report run builds that day too."""
    from facepipe.core.db import load_sql

    s = settings()
    with connection() as conn:
        require(conn, s.db_schema, model_spec(s.model))
        return [d.isoformat() for (d,) in conn.execute(load_sql("stale_report_days.sql", schema=s.db_schema))]


def report(
    day: str, threshold: float | None = None, min_days: int = 2, lookback_days: int = 7, range_days: int = 30
) -> dict:
    """Build the day's report tables and write its HTML page and CSV files."""
    from facepipe.reports.report import ReportParams, build_reports, fetch_report, read_uri, write_report

    s = settings()
    spec = model_spec(s.model)
    params = ReportParams(
        threshold=spec.match_threshold if threshold is None else threshold,
        min_days=min_days,
        lookback_days=lookback_days,
        range_days=range_days,
    )
    d = dt.date.fromisoformat(day)
    if expired(d):  # its rows and files are gone: build nothing, write nothing
        log.info("day %s is before the retention horizon: no report", day)
        return {"day": day, "expired": True}
    with connection() as conn:
        require(conn, s.db_schema, spec)
        # Held until the files are written: a forget or retention (which take facepipe:reports
        # exclusively) never lands between reading the rows and writing them out.
        conn.execute("SELECT pg_advisory_lock_shared(hashtext('facepipe:reports'))")
        try:
            counts = build_reports(conn, s.db_schema, d, spec, params)
            rows = fetch_report(conn, s.db_schema, d, params.best_crops)
            path = write_report(rows, d, s.reports_dir, read_uri, params, spec)
        finally:
            conn.execute("SELECT pg_advisory_unlock_shared(hashtext('facepipe:reports'))")
    return {"day": day, **counts, "html": str(path)}
