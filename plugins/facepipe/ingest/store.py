"""The database side of the flow: plan, stage, load, index.

Every write is idempotent for its (day, run): staging rows are keyed by run and
shard and replaced on retry; load replaces one source's rows of the day in one
transaction; index rebuilds only the day's partition.

A day's rows are owned per (day, source): a run for source S replaces only S's
rows of that day, so several sources (two cameras, a folder and a bucket) load
side by side. A run's plan (stage_plans + stage_manifest) and its staged rows stay
after its load, until a later run of the same (day, source) loads or they are
older than FACEPIPE_STAGING_KEEP_DAYS, so that a Clear of any task (a shard, load
alone, the whole run) redoes just that task against the same plan. load checks
its own invariant rather than trusting staging: what it publishes accounts for
every file the plan listed.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

import psycopg
from psycopg import sql

from facepipe.core.days import refresh_tallies, refuse_expired
from facepipe.core.db import ensure_partitions, load_sql, partition_name, vector_value
from facepipe.core.sources import Arrival
from facepipe.core.specs import ModelSpec
from facepipe.core.text import plural
from facepipe.ingest.process import ShardResult
from facepipe.search import ivf as search_ivf

log = logging.getLogger(__name__)

_STAGE_TABLES = ("stage_images", "stage_faces", "stage_rejects", "stage_shards")
_RUN_TABLES = ("stage_plans", "stage_manifest", *_STAGE_TABLES)
_CLEAR_PLAN = (
    "clear this run's `plan` task with its downstream tasks (Clear -> Downstream), or trigger a new run for the day"
)


class IncompleteStaging(RuntimeError):
    """The staged rows do not account for the run's plan: load refuses to publish them."""


class PlanGone(RuntimeError):
    """The run has no plan any more (superseded by a later load, or purged)."""


class ShrinkRefused(RuntimeError):
    """The load would remove most or all of what a (day, source) holds."""


class OverlappingSources(RuntimeError):
    """Files of the run are already loaded for the day from another source."""


def _t(schema: str, table: str) -> sql.Identifier:
    return sql.Identifier(schema, table)


def write_manifest(
    conn: psycopg.Connection,
    schema: str,
    day: dt.date,
    run_id: str,
    source: str,
    arrivals: Iterable[Arrival],
    shard_size: int,
    keep_days: int = 7,
) -> list[int]:
    """Record the run's plan: what arrived, cut into shards; returns the image count per shard.

    Replaces an earlier plan of the same run (a cleared ``plan``) with its staged rows,
    and purges the staging of runs planned more than ``keep_days`` days ago.
    """
    counts: list[int] = []
    with conn.transaction():
        stale = conn.execute(
            load_sql("purge_stale_staging.sql", schema=schema), {"day": day, "run_id": run_id, "keep_days": keep_days}
        ).fetchall()
        for stale_day, stale_run in [(day, run_id), *stale]:
            _delete_staging(conn, schema, stale_day, stale_run)
        with conn.cursor().copy(
            sql.SQL("COPY {} (day, run_id, shard, uri, bytes, arrived_at) FROM STDIN (FORMAT BINARY)").format(
                _t(schema, "stage_manifest")
            )
        ) as copy:
            copy.set_types(["date", "text", "int4", "text", "int8", "timestamptz"])
            for i, arrival in enumerate(arrivals):
                shard = i // shard_size
                if shard == len(counts):
                    counts.append(0)
                counts[shard] += 1
                copy.write_row((day, run_id, shard, arrival.uri, arrival.bytes, arrival.arrived_at))
        counts = counts or [0]  # an empty day still has one (empty) shard, so every task runs
        conn.execute(
            sql.SQL("INSERT INTO {} (day, run_id, source, files, shards) VALUES (%s, %s, %s, %s, %s)").format(
                _t(schema, "stage_plans")
            ),
            (day, run_id, source, sum(counts), len(counts)),
        )
    return counts


def run_plan(conn: psycopg.Connection, schema: str, day: dt.date, run_id: str) -> dict:
    """The run's plan {source, files, shards}; PlanGone, saying why and what to do, if it has none."""
    row = conn.execute(
        sql.SQL("SELECT source, files, shards FROM {} WHERE day = %s AND run_id = %s").format(
            _t(schema, "stage_plans")
        ),
        (day, run_id),
    ).fetchone()
    if row is not None:
        return dict(zip(("source", "files", "shards"), row))
    later = conn.execute(
        sql.SQL("SELECT run_id, loaded_at FROM {} WHERE day = %s AND run_id <> %s ORDER BY run_no DESC LIMIT 1").format(
            _t(schema, "load_runs")
        ),
        (day, run_id),
    ).fetchone()
    why = (
        f"run {later[0]} loaded {day} since ({later[1]:%Y-%m-%d %H:%M} UTC) and replaced it"
        if later
        else "its staging was purged (FACEPIPE_STAGING_KEEP_DAYS) or it was never planned"
    )
    raise PlanGone(
        f"run {run_id} has no plan for {day} any more: {why}. Nothing was changed. To load the"
        f" day again, {_CLEAR_PLAN}."
    )


def shard_arrivals(conn: psycopg.Connection, schema: str, day: dt.date, run_id: str, shard: int) -> list[Arrival]:
    plan = run_plan(conn, schema, day, run_id)
    if not 0 <= shard < plan["shards"]:
        raise PlanGone(
            f"run {run_id}'s plan for {day} has {plural(plan['shards'], 'shard')}, not shard {shard}"
            f" (it was planned again since). Nothing was changed. To load the day, {_CLEAR_PLAN}."
        )
    rows = conn.execute(
        sql.SQL(
            "SELECT uri, bytes, arrived_at FROM {} WHERE day = %s AND run_id = %s AND shard = %s ORDER BY uri"
        ).format(_t(schema, "stage_manifest")),
        (day, run_id, shard),
    ).fetchall()
    return [Arrival(*row) for row in rows]


def seen_before(conn: psycopg.Connection, schema: str, day: dt.date):
    """lookup(sha256s) -> {sha256: URI of the earliest earlier-day copy that was loaded}."""
    query = load_sql("seen_before.sql", schema=schema)

    def lookup(shas: list[str]) -> dict[str, str]:
        return dict(conn.execute(query, {"shas": list(shas), "day": day}).fetchall())

    return lookup


def write_shard(
    conn: psycopg.Connection,
    schema: str,
    model: ModelSpec,
    *,
    day: dt.date,
    run_id: str,
    shard: int,
    source: str,
    detector: str,
    result: ShardResult,
) -> dict:
    """Binary-COPY a shard's results into staging, replacing an earlier attempt.

    Forgotten photos and faces (facepipe.privacy.forget) are dropped here, under the lock a
    forget takes exclusively, so no forgotten vector reaches staging: a forget either
    ran before (and its suppressions are seen) or waits for this shard (and removes
    what it staged).
    """
    from facepipe.core.suppression import blocked_templates, suppressed_lookup
    from facepipe.ingest.suppress import drop_suppressed

    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock_shared(hashtext('facepipe:ddl'))")
        result = drop_suppressed(
            result,
            suppressed_lookup(conn, schema, times=True)(sorted({im.content_sha256 for im in result.images})),
            blocked_templates(conn, schema),
            model.distance_op,
        )
        for table in _STAGE_TABLES:
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE day = %s AND run_id = %s AND shard = %s").format(_t(schema, table)),
                (day, run_id, shard),
            )
        cur = conn.cursor()
        with cur.copy(
            sql.SQL(
                "COPY {} (day, run_id, shard, image_id, uri, content_sha256, bytes, width, height,"
                " captured_at, camera, source, arrived_at, status, duplicate_of, face_count, media, duration_s)"
                " FROM STDIN (FORMAT BINARY)"
            ).format(_t(schema, "stage_images"))
        ) as copy:
            copy.set_types(
                [
                    "date",
                    "text",
                    "int4",
                    "uuid",
                    "text",
                    "text",
                    "int8",
                    "int4",
                    "int4",
                    "timestamp",
                    "text",
                    "text",
                    "timestamptz",
                    "text",
                    "text",
                    "int4",
                    "text",
                    "float4",
                ]
            )
            for im in result.images:
                copy.write_row(
                    (
                        day,
                        run_id,
                        shard,
                        im.image_id,
                        im.uri,
                        im.content_sha256,
                        im.bytes,
                        im.width,
                        im.height,
                        im.captured_at,
                        im.camera,
                        source,
                        im.arrived_at,
                        im.status,
                        im.duplicate_of,
                        im.face_count,
                        im.media,
                        im.duration_s,
                    )
                )
        with cur.copy(
            sql.SQL(
                "COPY {} (day, run_id, shard, image_id, face_no, box_x, box_y, box_w, box_h,"
                " img_width, img_height, source, detector, det_score, model, embedding, frame_s, first_s, last_s)"
                " FROM STDIN (FORMAT BINARY)"
            ).format(_t(schema, "stage_faces"))
        ) as copy:
            copy.set_types(
                [
                    "date",
                    "text",
                    "int4",
                    "uuid",
                    "int2",
                    "int4",
                    "int4",
                    "int4",
                    "int4",
                    "int4",
                    "int4",
                    "text",
                    "text",
                    "float4",
                    "text",
                    model.vector_type,
                    "float4",
                    "float4",
                    "float4",
                ]
            )
            for face, vector in zip(result.faces, result.embeddings):
                b = face.box
                copy.write_row(
                    (
                        day,
                        run_id,
                        shard,
                        face.image_id,
                        face.face_no,
                        b.x,
                        b.y,
                        b.w,
                        b.h,
                        face.img_width,
                        face.img_height,
                        source,
                        face.detector or detector,
                        b.score,
                        model.name,
                        vector_value(model, vector),
                        face.frame_s,
                        face.first_s,
                        face.last_s,
                    )
                )
        with cur.copy(
            sql.SQL(
                "COPY {} (day, run_id, shard, uri, reason, detail, bytes, arrived_at, source)"
                " FROM STDIN (FORMAT BINARY)"
            ).format(_t(schema, "stage_rejects"))
        ) as copy:
            copy.set_types(["date", "text", "int4", "text", "text", "text", "int8", "timestamptz", "text"])
            for r in result.rejects:
                copy.write_row((day, run_id, shard, r.uri, r.reason, r.detail, r.bytes, r.arrived_at, source))
        counts = {"images": len(result.images), "faces": len(result.faces), "rejects": len(result.rejects)}
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (day, run_id, shard, images, faces, rejects) VALUES (%s, %s, %s, %s, %s, %s)"
            ).format(_t(schema, "stage_shards")),
            (day, run_id, shard, counts["images"], counts["faces"], counts["rejects"]),
        )
    return counts


def load_day(
    conn: psycopg.Connection,
    schema: str,
    *,
    day: dt.date,
    run_id: str,
    detector: str,
    model: ModelSpec,
    allow_shrink: bool = False,
) -> dict:
    """Replace the run's source's rows of the day with the run's staged rows, in one transaction.

    Refuses (and changes nothing) when the staged rows do not account for every file
    of the run's plan, when files of the run are loaded for the day from another
    source, unless ``allow_shrink``, when it would remove most or all of the images the
    (day, source) holds, and when retention has expired the day (its horizon is read in this
    transaction, after the lock retention takes exclusively: no retention run slips between).
    """
    refuse_expired(day, conn, schema)  # before a partition is made for it
    ensure_partitions(conn, schema, day)
    images_part, faces_part = partition_name("images", day), partition_name("faces", day)
    ids = {"schema": schema, "images_part": images_part, "faces_part": faces_part}
    with conn.transaction():
        # Never interleaved with a schema upgrade (it holds this lock exclusively): a load
        # reads staging and then takes partitions' exclusive locks, which deadlocked against
        # a concurrent task's schema DDL under the real scheduler. Loads share it.
        conn.execute("SELECT pg_advisory_xact_lock_shared(hashtext('facepipe:ddl'))")
        # Two loads of the same day (a backfill and a manual run, two sources) take turns here.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('facepipe:day'), %s)", (int(day.strftime("%Y%m%d")),))
        refuse_expired(day, conn, schema)
        plan = run_plan(conn, schema, day, run_id)
        source = plan["source"]
        params = {"day": day, "run_id": run_id, "source": source}
        _check_staging(conn, schema, day, run_id, plan)
        _check_overlap(conn, schema, params)
        if not allow_shrink:
            _check_shrink(conn, schema, params, plan)
        others = conn.execute(
            sql.SQL(
                "SELECT EXISTS (SELECT 1 FROM {} WHERE source <> %(source)s)"
                " OR EXISTS (SELECT 1 FROM {} WHERE day = %(day)s"
                " AND source IS DISTINCT FROM %(source)s)"
            ).format(_t(schema, images_part), _t(schema, "rejects")),
            params,
        ).fetchone()[0]
        if others:  # the day holds other sources' rows too: remove only this source's
            for table in (faces_part, images_part):
                conn.execute(sql.SQL("DELETE FROM {} WHERE source = %(source)s").format(_t(schema, table)), params)
        else:
            conn.execute(sql.SQL("TRUNCATE {}, {}").format(_t(schema, faces_part), _t(schema, images_part)))
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE day = %(day)s AND source = %(source)s").format(_t(schema, "rejects")), params
        )
        conn.execute(load_sql("load_images.sql", **ids), params)
        conn.execute(load_sql("load_faces.sql", **ids), params)
        conn.execute(load_sql("load_rejects.sql", **ids), params)
        refresh_tallies(conn, schema, [day])  # what Days and status count (revision 0013)
        # the search structure over every day: the same faces, in this transaction
        search_ivf.replace_day(conn, schema, day, None if not others else source)
        counts = day_counts(conn, schema, day, source)
        if (
            counts["images"] + counts["duplicates"] + counts["rejects"] != plan["files"]
        ):  # cannot happen after the checks
            raise IncompleteStaging(
                f"the load of {day} from {source} would hold {counts} for the {plan['files']}"
                f" files run {run_id} planned; nothing was loaded."
            )
        for (old_run,) in conn.execute(load_sql("superseded_staging.sql", schema=schema), params).fetchall():
            _delete_staging(conn, schema, day, old_run)
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (day, run_id, source, detector, model, images, duplicates, faces, rejects)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            ).format(_t(schema, "load_runs")),
            (
                day,
                run_id,
                source,
                detector,
                model.name,
                counts["images"],
                counts["duplicates"],
                counts["faces"],
                counts["rejects"],
            ),
        )
    return {"source": source, **counts}


def _check_staging(conn: psycopg.Connection, schema: str, day: dt.date, run_id: str, plan: dict) -> None:
    listed, unstaged_shards, unstaged, unplanned, twice, other_source, missing_shards = conn.execute(
        load_sql("check_staging.sql", schema=schema),
        {"day": day, "run_id": run_id, "source": plan["source"], "shards": plan["shards"]},
    ).fetchone()
    shards = sorted(set(unstaged_shards) | set(missing_shards))
    if shards or unstaged or listed != plan["files"]:
        raise IncompleteStaging(
            f"run {run_id}'s plan for {day} lists {plural(plan['files'], 'file')} in {plural(plan['shards'], 'shard')};"
            f" shards {shards} have no staged results ({plural(unstaged, 'file')} unaccounted for). Nothing was loaded. Clear the"
            f" `process` tasks of those shards with their downstream tasks, or {_CLEAR_PLAN}."
        )
    if unplanned or twice or other_source:
        raise IncompleteStaging(
            f"run {run_id}'s staging for {day} does not match its plan ({plural(unplanned, 'file')} not in the plan,"
            f" {twice} staged twice, {other_source} from another source). Nothing was loaded. {_CLEAR_PLAN[0].upper()}"
            f"{_CLEAR_PLAN[1:]}."
        )


def _check_overlap(conn: psycopg.Connection, schema: str, params: dict) -> None:
    rows = conn.execute(load_sql("source_overlap.sql", schema=schema), params).fetchall()
    if rows:
        others = ", ".join(f"{n} from {src}" for src, n in rows)
        raise OverlappingSources(
            f"{params['day']}: files of source {params['source']} are already loaded for the day from another"
            f" source ({others}): the sources overlap (one is inside the other?). A file belongs to one source."
            " Nothing was changed. Run the day with the source that holds these files."
        )


def _check_shrink(conn: psycopg.Connection, schema: str, params: dict, plan: dict) -> None:
    held, removed = conn.execute(load_sql("source_shrink.sql", schema=schema), params).fetchone()
    if held and 2 * removed > held:
        raise ShrinkRefused(
            f"run {params['run_id']} would remove {removed} of the {plural(held, 'image')} loaded for {params['day']} from"
            f" {params['source']} (its plan lists {plural(plan['files'], 'file')}). Nothing was changed. If the photos"
            " really are gone, trigger the day again with the param allow_shrink = true; otherwise check the"
            " source (a mistyped folder, an unmounted disk, another bucket prefix) and run the day again."
        )


def _delete_staging(conn: psycopg.Connection, schema: str, day: dt.date, run_id: str) -> None:
    for table in _RUN_TABLES:
        conn.execute(sql.SQL("DELETE FROM {} WHERE day = %s AND run_id = %s").format(_t(schema, table)), (day, run_id))


def day_counts(conn: psycopg.Connection, schema: str, day: dt.date, source: str) -> dict:
    row = conn.execute(load_sql("day_counts.sql", schema=schema), {"day": day, "source": source}).fetchone()
    return dict(zip(("images", "duplicates", "faces", "rejects"), row))


def index_day(conn: psycopg.Connection, schema: str, day: dt.date, model: ModelSpec) -> str:
    """ANALYZE the day's partitions: the planner's counts, which choose a search's path
    (facepipe.search.query). The day's faces are searched through the search structure over
    every day (facepipe.search.ivf), written in the load's own transaction: no index is built."""
    faces_part = partition_name("faces", day)
    conn.execute(sql.SQL("ANALYZE {}, {}").format(_t(schema, faces_part), _t(schema, partition_name("images", day))))
    return faces_part
