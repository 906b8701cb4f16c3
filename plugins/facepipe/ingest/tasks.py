"""The ingest's steps as plain functions: what the DAG's tasks call.

Each takes and returns only small JSON-able values (days as ISO strings, run
ids, counts), so it runs the same from Airflow, a test or a shell.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time

from facepipe.core.config import ConfigError
from facepipe.core.days import refuse_expired
from facepipe.core.db import connection
from facepipe.core.deployment import check_settings, settings
from facepipe.core.schema import require
from facepipe.core.specs import check_detector, model_spec
from facepipe.core.text import plural

log = logging.getLogger(__name__)
# Validation's floor for a face box, full-size pixels: a sanity check on what the
# detectors return (their smallest window is 12 px), not the smallest face wanted.
VALID_MIN_FACE = 8


def options(source: str | None = None, detector: str | None = None, model: str | None = None) -> dict:
    """A run's options: its params where given, else the deployment's settings."""
    s = check_settings()
    detector = None if detector == "setting" else detector  # the trigger form's "as the setting says"
    model = None if model == "setting" else model
    opts = {"source": source or s.source, "detector": detector or s.detector, "model": model or s.model}
    check_detector(opts["detector"])
    model_spec(opts["model"])
    return opts


def max_map_length() -> int:
    """Airflow's limit on a mapped task's instances ([core] max_map_length)."""
    try:
        from airflow.configuration import conf

        return conf.getint("core", "max_map_length", fallback=1024)
    except ImportError:
        return 1024


def plan(day: str, run_id: str, opts: dict) -> list[dict]:
    from facepipe.core.sources import FolderSource, open_source
    from facepipe.ingest.first_seen import FirstSeenStore
    from facepipe.ingest.store import write_manifest

    s = settings()
    d = dt.date.fromisoformat(day)
    spec = model_spec(opts["model"])
    source = open_source(opts["source"])
    with connection() as conn:
        require(conn, s.db_schema, spec, may_upgrade=True)  # refuses a model the tables do not hold
        refuse_expired(d, conn, s.db_schema)
        seen = FirstSeenStore(conn, s.db_schema, source.name) if isinstance(source, FolderSource) else None
        arrivals = source.list_day(d) if seen is None else list(source.list_day(d, seen))
        counts = write_manifest(conn, s.db_schema, d, run_id, source.name, arrivals, s.shard_size, s.staging_keep_days)
        if len(counts) > max_map_length():
            raise ConfigError(
                f"day {day} has {plural(sum(counts), 'file')}: {plural(len(counts), 'shard')} of FACEPIPE_SHARD_SIZE={s.shard_size}"
                f" are more than Airflow's [core] max_map_length of {max_map_length()}. Raise"
                f" FACEPIPE_SHARD_SIZE to at least {-(-sum(counts) // max_map_length())} (or"
                " AIRFLOW__CORE__MAX_MAP_LENGTH), then run the day again."
            )
        if seen is not None:
            seen.close_day(d)
    log.info("day %s: %s in %s", day, plural(sum(counts), "file"), plural(len(counts), "shard"))
    return [
        {"day": day, "run_id": run_id, "shard": i, "of": len(counts), "files": n, **opts} for i, n in enumerate(counts)
    ]


def process_shard(shard: dict) -> dict:
    from facepipe.core.sources import open_source
    from facepipe.ingest.process import VideoOptions, process_images
    from facepipe.ingest.store import seen_before, shard_arrivals, write_shard
    from facepipe.models.detect import FaceSizing, make_detector
    from facepipe.models.embed import make_embedder
    from facepipe.models.video import VideoLimits

    started = time.monotonic()
    s = settings()
    d = dt.date.fromisoformat(shard["day"])
    spec = model_spec(shard["model"])
    source = open_source(shard["source"])
    with _one_opencv_thread(shard.get("of", 1) > 1), connection() as conn:
        require(conn, s.db_schema, spec)
        arrivals = shard_arrivals(conn, s.db_schema, d, shard["run_id"], shard["shard"])
        detector = make_detector(shard["detector"], haar_scale_factor=s.haar_scale_factor)
        embedder = make_embedder(spec.name)
        ready = time.monotonic()
        result = process_images(
            arrivals,
            source.read,
            seen_before(conn, s.db_schema, d),
            detector,
            embedder,
            FaceSizing.of(shard["detector"], s.min_face),
            VideoOptions(source, VideoLimits.from_settings(settings()), spec.match_threshold, spec.distance_op),
            getattr(source, "read_sidecars", None),  # an S3 object's sidecars (a folder's are read beside it)
        )
        counts = write_shard(
            conn,
            s.db_schema,
            spec,
            day=d,
            run_id=shard["run_id"],
            shard=shard["shard"],
            source=source.name,
            detector=shard["detector"],
            result=result,
        )
    # what a shard's task spends before its first photo (connect, schema check, models)
    # and on its photos: sizes shards against the task's fixed cost (docs/operating.md "Several machines")
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
    from facepipe.core.db import load_sql
    from facepipe.ingest.validate import ValidationFailed, face_frame, run_suite, summarise, write_result

    s = settings()
    spec = model_spec(opts["model"])
    with connection() as conn:
        require(conn, s.db_schema, spec)
        cur = conn.execute(
            load_sql("validation_frame.sql", schema=s.db_schema), {"day": dt.date.fromisoformat(day), "run_id": run_id}
        )
        columns = [c.name for c in cur.description]
        df = face_frame(cur.fetchall(), columns)
    result = run_suite(df, spec, VALID_MIN_FACE)
    path = write_result(result, s.reports_dir / "validation", day, run_id)
    ok, failed = summarise(result)
    if not ok:
        raise ValidationFailed(f"validation of {day} failed ({', '.join(failed)}); nothing was loaded. Details: {path}")
    log.info("day %s: %s passed validation (%s)", day, plural(len(df), "face"), path)
    return {"faces": len(df), "result": str(path)}


def load(day: str, run_id: str, opts: dict, allow_shrink: bool = False) -> dict:
    """Publish the run's staged rows as its source's rows of the day (see store.load_day)."""
    from facepipe.ingest.store import load_day

    s = settings()
    spec = model_spec(opts["model"])
    with connection() as conn:
        require(conn, s.db_schema, spec)  # load_day refuses a day retention expired since the plan
        counts = load_day(
            conn,
            s.db_schema,
            day=dt.date.fromisoformat(day),
            run_id=run_id,
            detector=opts["detector"],
            model=spec,
            allow_shrink=allow_shrink,
        )
    log.info("day %s loaded: %s", day, {k: v for k, v in counts.items() if k != "source"})
    return {"day": day, **counts}


def index(day: str, opts: dict) -> str:
    from facepipe.ingest.store import index_day

    s = settings()
    spec = model_spec(opts["model"])
    with connection() as conn:
        require(conn, s.db_schema, spec)
        return index_day(conn, s.db_schema, dt.date.fromisoformat(day), spec)
