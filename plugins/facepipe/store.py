"""The database side of the flow: plan, stage, load, index.

Every write is idempotent for its (day, run): staging rows are keyed by run and
shard and replaced on retry; load replaces the day's partitions in one
transaction; index rebuilds only the day's partition.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

import psycopg
from psycopg import sql

from facepipe.db import ensure_partitions, load_sql, partition_name
from facepipe.models import ModelSpec
from facepipe.process import ShardResult
from facepipe.sources import Arrival

log = logging.getLogger(__name__)

_STAGE_TABLES = ("stage_images", "stage_faces", "stage_rejects", "stage_shards")


class IncompleteStaging(RuntimeError):
    pass


def _t(schema: str, table: str) -> sql.Identifier:
    return sql.Identifier(schema, table)


def write_manifest(conn: psycopg.Connection, schema: str, day: dt.date, run_id: str,
                   arrivals: Iterable[Arrival], shard_size: int) -> list[int]:
    """Record what arrived, cut into shards; returns the image count per shard."""
    counts: list[int] = []
    with conn.transaction():
        stale = [r[0] for r in conn.execute(load_sql("purge_stale_staging.sql", schema=schema),
                                            {"day": day, "run_id": run_id})]
        for run in [run_id, *stale]:
            _delete_staging(conn, schema, day, run)
        with conn.cursor().copy(
            sql.SQL("COPY {} (day, run_id, shard, uri, bytes, arrived_at) FROM STDIN (FORMAT BINARY)")
            .format(_t(schema, "stage_manifest"))
        ) as copy:
            copy.set_types(["date", "text", "int4", "text", "int8", "timestamptz"])
            for i, arrival in enumerate(arrivals):
                shard = i // shard_size
                if shard == len(counts):
                    counts.append(0)
                counts[shard] += 1
                copy.write_row((day, run_id, shard, arrival.uri, arrival.bytes, arrival.arrived_at))
    return counts or [0]  # an empty day still has one (empty) shard, so every task runs


def shard_arrivals(conn: psycopg.Connection, schema: str, day: dt.date, run_id: str,
                   shard: int) -> list[Arrival]:
    rows = conn.execute(
        sql.SQL("SELECT uri, bytes, arrived_at FROM {} WHERE day = %s AND run_id = %s AND shard = %s"
                " ORDER BY uri").format(_t(schema, "stage_manifest")),
        (day, run_id, shard)).fetchall()
    return [Arrival(*row) for row in rows]


def seen_before(conn: psycopg.Connection, schema: str, day: dt.date):
    """lookup(sha256s) -> {sha256: URI of the earliest earlier-day copy that was loaded}."""
    query = load_sql("seen_before.sql", schema=schema)

    def lookup(shas: list[str]) -> dict[str, str]:
        return dict(conn.execute(query, {"shas": list(shas), "day": day}).fetchall())

    return lookup


def write_shard(conn: psycopg.Connection, schema: str, model: ModelSpec, *, day: dt.date, run_id: str,
                shard: int, source: str, detector: str, result: ShardResult) -> dict:
    """Binary-COPY a shard's results into staging, replacing an earlier attempt."""
    with conn.transaction():
        for table in _STAGE_TABLES:
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE day = %s AND run_id = %s AND shard = %s").format(_t(schema, table)),
                (day, run_id, shard))
        cur = conn.cursor()
        with cur.copy(sql.SQL(
                "COPY {} (day, run_id, shard, image_id, uri, content_sha256, bytes, width, height,"
                " captured_at, camera, source, arrived_at, status, duplicate_of, face_count)"
                " FROM STDIN (FORMAT BINARY)").format(_t(schema, "stage_images"))) as copy:
            copy.set_types(["date", "text", "int4", "uuid", "text", "text", "int8", "int4", "int4",
                            "timestamp", "text", "text", "timestamptz", "text", "text", "int4"])
            for im in result.images:
                copy.write_row((day, run_id, shard, im.image_id, im.uri, im.content_sha256, im.bytes,
                                im.width, im.height, im.captured_at, im.camera, source, im.arrived_at,
                                im.status, im.duplicate_of, im.face_count))
        with cur.copy(sql.SQL(
                "COPY {} (day, run_id, shard, image_id, face_no, box_x, box_y, box_w, box_h,"
                " img_width, img_height, source, detector, det_score, model, embedding)"
                " FROM STDIN (FORMAT BINARY)").format(_t(schema, "stage_faces"))) as copy:
            copy.set_types(["date", "text", "int4", "uuid", "int2", "int4", "int4", "int4", "int4",
                            "int4", "int4", "text", "text", "float4", "text", model.vector_type])
            for face, vector in zip(result.faces, result.embeddings):
                b = face.box
                copy.write_row((day, run_id, shard, face.image_id, face.face_no, b.x, b.y, b.w, b.h,
                                face.img_width, face.img_height, source, detector, b.score, model.name,
                                vector_value(model, vector)))
        with cur.copy(sql.SQL(
                "COPY {} (day, run_id, shard, uri, reason, detail, bytes, arrived_at, source)"
                " FROM STDIN (FORMAT BINARY)").format(_t(schema, "stage_rejects"))) as copy:
            copy.set_types(["date", "text", "int4", "text", "text", "text", "int8", "timestamptz", "text"])
            for r in result.rejects:
                copy.write_row((day, run_id, shard, r.uri, r.reason, r.detail, r.bytes, r.arrived_at, source))
        counts = {"images": len(result.images), "faces": len(result.faces), "rejects": len(result.rejects)}
        conn.execute(
            sql.SQL("INSERT INTO {} (day, run_id, shard, images, faces, rejects)"
                    " VALUES (%s, %s, %s, %s, %s, %s)").format(_t(schema, "stage_shards")),
            (day, run_id, shard, counts["images"], counts["faces"], counts["rejects"]))
    return counts


def vector_value(model: ModelSpec, vector):
    """The value to bind or COPY for a vector column of this model."""
    if model.vector_type == "halfvec":
        from pgvector import HalfVector

        return HalfVector(vector)
    return vector


def load_day(conn: psycopg.Connection, schema: str, *, day: dt.date, run_id: str, shards: int,
             source: str, detector: str, model: ModelSpec) -> dict:
    """Replace the day's rows with the run's staged rows, in one transaction."""
    ensure_partitions(conn, schema, day)
    images_part, faces_part = partition_name("images", day), partition_name("faces", day)
    ids = {"schema": schema, "images_part": images_part, "faces_part": faces_part}
    params = {"day": day, "run_id": run_id}
    with conn.transaction():
        # Two loads of the same day (a backfill and a manual run) take turns here.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('facepipe:day'), %s)",
                     (int(day.strftime("%Y%m%d")),))
        staged = {r[0] for r in conn.execute(
            sql.SQL("SELECT shard FROM {} WHERE day = %s AND run_id = %s").format(_t(schema, "stage_shards")),
            (day, run_id))}
        missing = sorted(set(range(shards)) - staged)
        if missing:
            raise IncompleteStaging(
                f"shards {missing} of {day} have no staged results for run {run_id}; clear their"
                " process tasks to run them again. Nothing was loaded.")
        conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(_t(schema, faces_part + "_embedding_hnsw")))
        conn.execute(sql.SQL("TRUNCATE {}, {}").format(_t(schema, faces_part), _t(schema, images_part)))
        conn.execute(load_sql("load_images.sql", **ids), params)
        conn.execute(load_sql("load_faces.sql", **ids), params)
        conn.execute(sql.SQL("DELETE FROM {} WHERE day = %s").format(_t(schema, "rejects")), (day,))
        conn.execute(load_sql("load_rejects.sql", **ids), params)
        counts = day_counts(conn, schema, day)
        conn.execute(
            sql.SQL("INSERT INTO {} (day, run_id, source, detector, model, images, duplicates, faces, rejects)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)").format(_t(schema, "load_runs")),
            (day, run_id, source, detector, model.name, counts["images"], counts["duplicates"],
             counts["faces"], counts["rejects"]))
        _delete_staging(conn, schema, day, run_id)
    return counts


def _delete_staging(conn: psycopg.Connection, schema: str, day: dt.date, run_id: str) -> None:
    for table in ("stage_manifest", *_STAGE_TABLES):
        conn.execute(sql.SQL("DELETE FROM {} WHERE day = %s AND run_id = %s").format(_t(schema, table)),
                     (day, run_id))


def day_counts(conn: psycopg.Connection, schema: str, day: dt.date) -> dict:
    row = conn.execute(load_sql("day_counts.sql", schema=schema), {"day": day}).fetchone()
    return dict(zip(("images", "duplicates", "faces", "rejects"), row))


def index_day(conn: psycopg.Connection, schema: str, day: dt.date, model: ModelSpec,
              maintenance_work_mem: str = "512MB") -> str:
    """Build the day's HNSW index (only this partition) and ANALYZE it."""
    faces_part = partition_name("faces", day)
    index = faces_part + "_embedding_hnsw"
    conn.execute(sql.SQL("SET maintenance_work_mem = {}").format(sql.Literal(maintenance_work_mem)))
    conn.execute(sql.SQL(
        "CREATE INDEX IF NOT EXISTS {} ON {} USING hnsw (embedding {}) WITH (m = 16, ef_construction = 64)"
    ).format(sql.Identifier(index), _t(schema, faces_part), sql.SQL(model.opclass)))
    conn.execute(sql.SQL("ANALYZE {}, {}").format(_t(schema, faces_part),
                                                 _t(schema, partition_name("images", day))))
    return index
