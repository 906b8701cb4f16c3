"""The ingest's steps as plain functions: what the DAG's tasks call.

Each takes and returns only small JSON-able values (days as ISO strings, run
ids, counts), so it runs the same from Airflow, a test or a shell.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time

from facepipe.config import ConfigError, check_settings, settings
from facepipe.db import connection, ensure_schema
from facepipe.models import check_detector, model_spec

log = logging.getLogger(__name__)
# Validation's floor for a face box, full-size pixels: a sanity check on what the
# detectors return (their smallest window is 12 px), not the smallest face wanted.
VALID_MIN_FACE = 8


FIRST_DAY = dt.date(1970, 1, 1)


def resolve_day(param_day: str | None, data_interval_start: dt.datetime | None) -> str:
    """The run's partition key: the explicit param first, then the data interval.

    Days run from 1970-01-01 to tomorrow (UTC): a later day has no arrivals yet
    (and 9999-12-31 has no next day to end it)."""
    if param_day:
        try:
            day = dt.date.fromisoformat(str(param_day).strip())
        except ValueError:
            raise ConfigError(f"param day must be a date like 2026-11-24, got {str(param_day)[:40]!r}") from None
    elif data_interval_start is not None:
        day = data_interval_start.date()
    else:
        raise ConfigError("no day to process: pass the param day (YYYY-MM-DD) or run on a schedule")
    last = dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=1)
    if not FIRST_DAY <= day <= last:
        raise ConfigError(f"day {day} is out of range: days run from {FIRST_DAY} to tomorrow ({last})")
    return day.isoformat()


def options(source: str | None = None, detector: str | None = None, model: str | None = None) -> dict:
    """A run's options: its params where given, else the deployment's settings."""
    s = check_settings()
    opts = {"source": source or s.source, "detector": detector or s.detector, "model": model or s.model}
    check_detector(opts["detector"])
    model_spec(opts["model"])
    return opts


def expired(day: dt.date) -> bool:
    """Whether retention (FACEPIPE_RETENTION_DAYS) has expired ``day`` today (UTC)."""
    from facepipe.config import retention_horizon

    horizon = retention_horizon()
    return horizon is not None and day < horizon


def refuse_expired(day: dt.date) -> None:
    """A ConfigError when retention has expired the day: loading it would index again the
    photos still in the folder, which the next retention run drops."""
    from facepipe.config import retention_days, retention_horizon

    if expired(day):
        raise ConfigError(
            f"day {day} is past retention: FACEPIPE_RETENTION_DAYS={retention_days()} keeps the days from"
            f" {retention_horizon()} on, and retention drops older ones. Nothing was loaded. To load this day,"
            " raise FACEPIPE_RETENTION_DAYS first (its faces are then kept that long).")


def max_map_length() -> int:
    """Airflow's limit on a mapped task's instances ([core] max_map_length)."""
    try:
        from airflow.configuration import conf

        return conf.getint("core", "max_map_length", fallback=1024)
    except ImportError:
        return 1024


def plan(day: str, run_id: str, opts: dict) -> list[dict]:
    from facepipe.first_seen import FirstSeenStore
    from facepipe.sources import FolderSource, open_source
    from facepipe.store import write_manifest

    s = settings()
    d = dt.date.fromisoformat(day)
    refuse_expired(d)
    spec = model_spec(opts["model"])
    source = open_source(opts["source"])
    with connection() as conn:
        ensure_schema(conn, s.db_schema, spec)  # refuses a model the tables do not hold
        seen = FirstSeenStore(conn, s.db_schema, source.name) if isinstance(source, FolderSource) else None
        arrivals = source.list_day(d) if seen is None else list(source.list_day(d, seen))
        counts = write_manifest(conn, s.db_schema, d, run_id, source.name, arrivals, s.shard_size,
                                s.staging_keep_days)
        if len(counts) > max_map_length():
            raise ConfigError(
                f"day {day} has {sum(counts)} files: {len(counts)} shards of FACEPIPE_SHARD_SIZE={s.shard_size}"
                f" are more than Airflow's [core] max_map_length of {max_map_length()}. Raise"
                f" FACEPIPE_SHARD_SIZE to at least {-(-sum(counts) // max_map_length())} (or"
                " AIRFLOW__CORE__MAX_MAP_LENGTH), then run the day again.")
        if seen is not None:
            seen.close_day(d)
    log.info("day %s: %d files in %d shards", day, sum(counts), len(counts))
    return [{"day": day, "run_id": run_id, "shard": i, "of": len(counts), "files": n, **opts}
            for i, n in enumerate(counts)]


def process_shard(shard: dict) -> dict:
    from facepipe.detect import FaceSizing, make_detector
    from facepipe.embed import make_embedder
    from facepipe.process import process_images
    from facepipe.sources import open_source
    from facepipe.store import seen_before, shard_arrivals, write_shard

    started = time.monotonic()
    s = settings()
    d = dt.date.fromisoformat(shard["day"])
    spec = model_spec(shard["model"])
    source = open_source(shard["source"])
    with _one_opencv_thread(shard.get("of", 1) > 1), connection() as conn:
        ensure_schema(conn, s.db_schema, spec)
        arrivals = shard_arrivals(conn, s.db_schema, d, shard["run_id"], shard["shard"])
        detector = make_detector(shard["detector"], haar_scale_factor=s.haar_scale_factor)
        embedder = make_embedder(spec.name)
        ready = time.monotonic()
        result = process_images(arrivals, source.read, seen_before(conn, s.db_schema, d),
                                detector, embedder, FaceSizing.of(shard["detector"], s.min_face))
        counts = write_shard(conn, s.db_schema, spec, day=d, run_id=shard["run_id"], shard=shard["shard"],
                             source=source.name, detector=shard["detector"], result=result)
    # what a shard's task spends before its first photo (connect, schema check, models)
    # and on its photos: sizes shards against the task's fixed cost (README "Several machines")
    seconds = {"setup": round(ready - started, 2), "photos": round(time.monotonic() - ready, 2)}
    log.info("day %s shard %d: %s in %s s", shard["day"], shard["shard"], counts, seconds)
    return {**counts, "shard": shard["shard"], "seconds": seconds}


@contextlib.contextmanager
def _one_opencv_thread(enabled: bool):
    """A day's shards run side by side, one per core: OpenCV's own threads would
    only compete with the other shards (bench: 12-15% less wall time)."""
    if not enabled:
        yield
        return
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


def validate(day: str, run_id: str, opts: dict) -> dict:
    from facepipe.db import load_sql
    from facepipe.validate import ValidationFailed, face_frame, run_suite, summarise, write_result

    s = settings()
    spec = model_spec(opts["model"])
    with connection() as conn:
        ensure_schema(conn, s.db_schema, spec)
        cur = conn.execute(load_sql("validation_frame.sql", schema=s.db_schema),
                           {"day": dt.date.fromisoformat(day), "run_id": run_id})
        columns = [c.name for c in cur.description]
        df = face_frame(cur.fetchall(), columns)
    result = run_suite(df, spec, VALID_MIN_FACE)
    path = write_result(result, s.reports_dir / "validation", day, run_id)
    ok, failed = summarise(result)
    if not ok:
        raise ValidationFailed(f"validation of {day} failed ({', '.join(failed)}); nothing was loaded."
                               f" Details: {path}")
    log.info("day %s: %d faces passed validation (%s)", day, len(df), path)
    return {"faces": len(df), "result": str(path)}


def load(day: str, run_id: str, opts: dict, allow_shrink: bool = False) -> dict:
    """Publish the run's staged rows as its source's rows of the day (see store.load_day)."""
    from facepipe.store import load_day

    s = settings()
    spec = model_spec(opts["model"])
    refuse_expired(dt.date.fromisoformat(day))  # retention ran since this run's plan
    with connection() as conn:
        ensure_schema(conn, s.db_schema, spec)
        counts = load_day(conn, s.db_schema, day=dt.date.fromisoformat(day), run_id=run_id,
                          detector=opts["detector"], model=spec, allow_shrink=allow_shrink)
    log.info("day %s loaded: %s", day, {k: v for k, v in counts.items() if k != "source"})
    return {"day": day, **counts}


def index(day: str, opts: dict) -> str:
    from facepipe.store import index_day

    s = settings()
    spec = model_spec(opts["model"])
    with connection() as conn:
        return index_day(conn, s.db_schema, dt.date.fromisoformat(day), spec)


# --- face_report ---------------------------------------------------------------

def report_days(param_day: str | None, event_days: list[str], stale_days: list[str] = ()) -> list[str]:
    """The days a report run covers: the param, else the days its asset events loaded and the
    days whose reports are older than their newest load (see stale_report_days)."""
    if param_day:
        return [resolve_day(param_day, None)]
    days = sorted({resolve_day(d, None) for d in [*event_days, *stale_days] if d})
    if not days:
        raise ValueError("no day to report: pass the param day (YYYY-MM-DD), or let face_ingest trigger the run")
    return days


def stale_report_days() -> list[str]:
    """Days loaded in the last 7 days whose reports did not see their newest load. Airflow
    can drop an Asset event that lands as it creates the report run (two loads finishing at
    once); the next report run builds that day too."""
    from facepipe.db import load_sql

    s = settings()
    with connection() as conn:
        ensure_schema(conn, s.db_schema, model_spec(s.model))
        return [d.isoformat() for (d,) in conn.execute(load_sql("stale_report_days.sql", schema=s.db_schema))]


def enrol(enrol_dir: str | None = None, counts_only: bool = False) -> dict:
    """Enrol the people folder (FACEPIPE_ENROL_DIR) if there is one. ``counts_only``: no
    name or path in the result (a task's return value is stored and logged by Airflow)."""
    from pathlib import Path

    from facepipe.detect import FaceSizing, make_detector
    from facepipe.embed import make_embedder
    from facepipe.enrol import enrol_folder

    s = settings()
    folder = Path(enrol_dir) if enrol_dir else s.enrol_dir
    if folder is None:
        log.info("no enrolment folder configured (FACEPIPE_ENROL_DIR): nobody new to enrol")
        return {"people": 0, "added": 0, "kept": 0, "skipped": 0, "skipped_photos": [], "no_reference": [],
                "forgotten": 0}
    spec = model_spec(s.model)
    with connection() as conn:
        ensure_schema(conn, s.db_schema, spec)
        result = enrol_folder(conn, s.db_schema, folder, spec,
                              make_detector(s.detector, haar_scale_factor=s.haar_scale_factor),
                              make_embedder(spec.name), FaceSizing.of(s.detector, s.min_face))
    counts = {"people": result.people, "added": result.added, "kept": result.kept, "skipped": len(result.skipped),
              "forgotten": result.forgotten}
    if counts_only:
        return {**counts, "no_reference": len(result.no_reference)}
    return {**counts, "skipped_photos": [list(s) for s in result.skipped], "no_reference": result.no_reference}


def assign_people(days: list[str], threshold: float | None = None) -> list[dict]:
    """Give each day's new faces their identities (facepipe.people), days in order."""
    from facepipe.people import PeopleSettings, assign_day

    s = settings()
    spec = model_spec(s.model)
    ps = PeopleSettings.from_env()
    kept = [day for day in sorted(days) if not expired(dt.date.fromisoformat(day))]
    if len(kept) < len(days):
        log.info("%d days are past retention: no identities assigned for them", len(days) - len(kept))
    with connection() as conn:
        ensure_schema(conn, s.db_schema, spec)
        return [assign_day(conn, s.db_schema, dt.date.fromisoformat(day), spec,
                           spec.match_threshold if threshold is None else threshold, ps)
                for day in kept]


def report(day: str, threshold: float | None = None, min_days: int = 2, lookback_days: int = 7,
           range_days: int = 30) -> dict:
    """Build the day's report tables and write its HTML page and CSV files."""
    from facepipe.report import ReportParams, build_reports, fetch_report, read_uri, write_report

    s = settings()
    spec = model_spec(s.model)
    params = ReportParams(threshold=spec.match_threshold if threshold is None else threshold, min_days=min_days,
                          lookback_days=lookback_days, range_days=range_days)
    d = dt.date.fromisoformat(day)
    if expired(d):  # its rows and files are gone: build nothing, write nothing
        log.info("day %s is past retention (FACEPIPE_RETENTION_DAYS): no report", day)
        return {"day": day, "expired": True}
    with connection() as conn:
        ensure_schema(conn, s.db_schema, spec)
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


# --- face_forget ----------------------------------------------------------------

def forget(person: str | None = None, photo: str | None = None, threshold: float | None = None,
           dry_run: bool = False, block_future: bool = False) -> dict:
    """Forget one person (a name or an identity number) or one photo (a URI or a SHA-256)
    everywhere (facepipe.privacy); returns the counts, never the name or the URI."""
    from facepipe.privacy import PrivacyError, forget_person, forget_photo
    from facepipe.report import read_uri

    if bool(person and person.strip()) == bool(photo and photo.strip()):
        raise PrivacyError("give either a person (a name or an identity number) or a photo (a URI or a SHA-256)")
    s = settings()
    spec = model_spec(s.model)
    with connection() as conn:
        ensure_schema(conn, s.db_schema, spec)
        if person and person.strip():
            out = forget_person(conn, s.db_schema, person, spec, threshold, reports_dir=s.reports_dir,
                                read=read_uri, dry_run=dry_run, block_future=block_future)
        else:
            if block_future:
                raise PrivacyError("block_future is for a person: a forgotten photo is never indexed again anyway")
            out = forget_photo(conn, s.db_schema, photo, spec, reports_dir=s.reports_dir, read=read_uri,
                               dry_run=dry_run)
    result = {"op_no": out.op_no, "dry_run": dry_run, "rows": out.rows,
              "report_days": [d.isoformat() for d in out.days], "files": out.files}
    log.info("forget%s: audit op %s, rows %s, reports %srebuilt for %d days, files %s",
             " (dry run, nothing changed)" if dry_run else "", out.op_no, out.rows,
             "would be " if dry_run else "", len(out.days), out.files)
    return result


# --- face_retention --------------------------------------------------------------

def retention(today: str | None = None, dry_run: bool = False) -> dict:
    """Drop the days past FACEPIPE_RETENTION_DAYS, counted back from ``today`` (default and
    latest: today, UTC), with their report files (facepipe.retention)."""
    from facepipe.config import retention_days
    from facepipe.retention import expire

    s = check_settings()
    keep = retention_days()
    now = dt.datetime.now(dt.timezone.utc).date()
    ref = min(dt.date.fromisoformat(today), now) if today else now  # a future date never expires more
    if keep == 0:
        log.info("FACEPIPE_RETENTION_DAYS is 0: every day is kept, nothing is expired")
        return {"keep_days": 0, "before": None, "days": [], "rows": {}, "partitions": 0, "files": 0,
                "dry_run": dry_run}
    with connection() as conn:
        ensure_schema(conn, s.db_schema, model_spec(s.model))
        result = expire(conn, s.db_schema, ref, keep, s.reports_dir, dry_run=dry_run)
    log.info("retention%s: %d days before %s expired (%s); rows %s; %d partitions, %d report files",
             " (dry run)" if dry_run else "", len(result["days"]), result["before"], ", ".join(result["days"]),
             result["rows"], result["partitions"], result["files"])
    return result
