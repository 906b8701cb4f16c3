"""Section 4: HNSW index and top-10 queries at scale, day-partitioned against one table.

Synthetic 128-d vectors clustered like identities: identity centres on the
unit sphere around a common direction (different people ~0.85 apart, as in
dlib's space where "same person" is below 0.6), faces = centre + noise
(~0.28 from the centre, so two faces of one person are ~0.4 apart), norms
0.9-1.1. Faces are spread uniformly over the days and over 10 sources.

The partitioned table is facepipe's own: facepipe.core.schema.require +
ensure_partitions (faces carry ``source``; the older form of the filter,
through a join to images, is measured too). Per-partition indexes are built
with facepipe.ingest.store.index_day, and facepipe.search.query.search_faces (strict
order) is measured beside plain SQL with relaxed order: with the source
filter on both of its paths, exact (through the faces_source btree, what it
chooses here) and HNSW (forced with exact_max_rows=0). Also the faces_source
build and what it adds to store.load_day. The
unpartitioned table has the same columns and one HNSW index.
"""

from __future__ import annotations

import datetime as dt
import re
import statistics
import time
import uuid

import numpy as np
from common import connect, copy_images, drop_schema, log, pct, write_text

SCHEMA = "bench_ann"
DAY0 = dt.date(2026, 1, 1)
DIM = 128
CENTRE_SPREAD, FACE_NOISE = 0.75, 0.28
MATCH_THRESHOLD = 0.6  # dlib-resnet-128: same person below this L2 distance
ID_OFFSET = 1 << 64  # image_id = uuid(int=ID_OFFSET + row)


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=1, keepdims=True)


class Data:
    def __init__(self, n: int, identities: int, days: int, sources: int, seed: int = 5):
        rng = np.random.default_rng(seed)
        self.rng = rng
        self.common = _unit(rng.standard_normal((1, DIM), dtype=np.float32))
        self.centres = _unit(
            self.common + CENTRE_SPREAD * _unit(rng.standard_normal((identities, DIM), dtype=np.float32))
        ).astype(np.float32)
        self.identity = rng.integers(0, identities, n)
        self.day = rng.integers(0, days, n).astype(np.int16)
        self.source = rng.integers(0, sources, n).astype(np.int16)
        order = np.lexsort((self.source, self.day))  # rows go in day order, like nightly loads
        self.identity, self.day, self.source = self.identity[order], self.day[order], self.source[order]
        self.vectors = np.empty((n, DIM), np.float32)
        for i in range(0, n, 100_000):
            ids = self.identity[i : i + 100_000]
            self.vectors[i : i + len(ids)] = self.face(ids)
        self.sq = np.einsum("ij,ij->i", self.vectors, self.vectors)

    def face(self, ids: np.ndarray) -> np.ndarray:
        noise = _unit(self.rng.standard_normal((len(ids), DIM), dtype=np.float32))
        v = _unit(self.centres[ids] + FACE_NOISE * noise)
        return (v * self.rng.uniform(0.9, 1.1, (len(ids), 1))).astype(np.float32)

    def exact(self, q: np.ndarray, lo: int, hi: int, source: int | None, k: int = 10) -> np.ndarray:
        mask = (self.day >= lo) & (self.day < hi)
        if source is not None:
            mask &= self.source == source
        idx = np.flatnonzero(mask)
        d = self.sq[idx] - 2 * (self.vectors[idx] @ q)
        top = np.argpartition(d, k)[:k]
        return idx[top[np.argsort(d[top])]]


def _src(i: int) -> str:
    return f"source-{i:02d}"


def copy_rows(conn, schema: str, data: Data, dates: list[dt.date], model: str) -> tuple[float, float]:
    """``data``'s faces as facepipe rows, one photo each: binary COPY into ``images`` and
    ``faces`` (image_id uuid(ID_OFFSET + row), the day's date from ``dates``, the source
    ``source-NN``), in the caller's transaction. Seconds of each COPY."""
    arrived = [dt.datetime.combine(x, dt.time(12), dt.UTC) for x in dates]
    days = data.day.astype(int).tolist()
    t = time.perf_counter()
    copy_images(
        conn,
        schema,
        (
            (
                dates[d],
                uuid.UUID(int=ID_OFFSET + i),
                f"s3://bench/{i}.jpg",
                f"{i:064x}",
                2_000_000,
                4032,
                3024,
                _src(int(data.source[i])),
                arrived[d],
                "loaded",
                1,
            )
            for i, d in enumerate(days)
        ),
    )
    images_s = time.perf_counter() - t
    t = time.perf_counter()
    with conn.cursor().copy(
        f'COPY "{schema}".faces (day, image_id, face_no, box_x, box_y, box_w, box_h, detector,'
        " det_score, model, embedding, source) FROM STDIN (FORMAT BINARY)"
    ) as cp:
        cp.set_types(
            ["date", "uuid", "int2", "int4", "int4", "int4", "int4", "text", "float4", "text", "vector", "text"]
        )
        for i, d in enumerate(days):
            cp.write_row(
                (
                    dates[d],
                    uuid.UUID(int=ID_OFFSET + i),
                    0,
                    100,
                    100,
                    400,
                    400,
                    "haar",
                    2.0,
                    model,
                    data.vectors[i],
                    _src(int(data.source[i])),
                )
            )
    return images_s, time.perf_counter() - t


def load(uri: str, data: Data, days: int) -> dict:
    from facepipe.core.db import ensure_partitions
    from facepipe.core.schema import require
    from facepipe.core.specs import model_spec

    spec = model_spec("dlib-resnet-128")
    drop_schema(uri, SCHEMA)
    t_all = time.perf_counter()
    with connect(uri) as conn:
        require(conn, SCHEMA, spec, may_upgrade=True)
        conn.execute(f'ALTER TABLE "{SCHEMA}".faces ADD COLUMN IF NOT EXISTS source text')
        for d in range(days):
            ensure_partitions(conn, SCHEMA, DAY0 + dt.timedelta(days=d))
        day_dates = [DAY0 + dt.timedelta(days=d) for d in range(days)]
        with conn.transaction():
            images_s, faces_s = copy_rows(conn, SCHEMA, data, day_dates, spec.name)
        log(f"ann: {len(data.day):,} images rows in {images_s:.0f}s")
        log(f"ann: {len(data.day):,} faces rows in {faces_s:.0f}s ({len(data.day) / faces_s:,.0f} rows/s)")
        t = time.perf_counter()
        conn.execute(
            f'CREATE TABLE "{SCHEMA}".faces_flat (LIKE "{SCHEMA}".faces INCLUDING DEFAULTS,'
            f" PRIMARY KEY (day, image_id, face_no))"
        )
        conn.execute(f'INSERT INTO "{SCHEMA}".faces_flat SELECT * FROM "{SCHEMA}".faces ORDER BY day')
        flat_s = time.perf_counter() - t
        conn.execute(f'VACUUM ANALYZE "{SCHEMA}".faces')
        conn.execute(f'VACUUM ANALYZE "{SCHEMA}".faces_flat')
        conn.execute(f'VACUUM ANALYZE "{SCHEMA}".images')
    return {
        "images_copy_s": round(images_s, 1),
        "faces_copy_s": round(faces_s, 1),
        "faces_copy_rows_per_s": round(len(data.day) / faces_s),
        "flat_copy_s": round(flat_s, 1),
        "load_total_s": round(time.perf_counter() - t_all, 1),
    }


def build_indexes(uri: str, days: int, flat_mem: str, part_mem: str) -> dict:
    from facepipe.core.db import partition_name
    from facepipe.core.specs import model_spec
    from facepipe.ingest.store import index_day

    spec = model_spec("dlib-resnet-128")
    notices: list[str] = []
    per_part = []
    with connect(uri) as conn:
        conn.add_notice_handler(lambda d: notices.append(d.message_primary))
        conn.execute("SET max_parallel_maintenance_workers = 2")
        t_all = time.perf_counter()
        for d in range(days):
            day = DAY0 + dt.timedelta(days=d)
            t = time.perf_counter()
            index_day(conn, SCHEMA, day, spec, maintenance_work_mem=part_mem)
            per_part.append(time.perf_counter() - t)
        part_total = time.perf_counter() - t_all
        log(
            f"ann: {days} partition indexes (index_day) in {part_total:.0f}s,"
            f" median {statistics.median(per_part):.1f}s each"
        )
        conn.execute(f"SET maintenance_work_mem = '{flat_mem}'")
        t = time.perf_counter()
        conn.execute(
            f'CREATE INDEX faces_flat_embedding_hnsw ON "{SCHEMA}".faces_flat'
            f" USING hnsw (embedding vector_l2_ops) WITH (m = 16, ef_construction = 64)"
        )
        flat_s = time.perf_counter() - t
        conn.execute(f'ANALYZE "{SCHEMA}".faces_flat')
        log(f"ann: one HNSW index over the unpartitioned table in {flat_s:.0f}s")
        part_rows = conn.execute(f'SELECT count(*) FROM "{SCHEMA}".{partition_name("faces", DAY0)}').fetchone()[0]
        sizes = conn.execute(
            "SELECT sum(pg_relation_size(i.indexrelid)) FILTER (WHERE c.relname LIKE 'faces_p%%_embedding_hnsw'),"
            " sum(pg_relation_size(i.indexrelid)) FILTER (WHERE c.relname = 'faces_flat_embedding_hnsw')"
            " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s",
            (SCHEMA,),
        ).fetchone()
        tables = conn.execute(
            "SELECT sum(pg_total_relation_size(c.oid)) FILTER (WHERE c.relname LIKE 'faces_p%%' AND c.relkind = 'r'),"
            " sum(pg_total_relation_size(c.oid)) FILTER (WHERE c.relname = 'faces_flat')"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s",
            (SCHEMA,),
        ).fetchone()
    return {
        "partition_index_s": [round(x, 2) for x in per_part],
        "partition_index_total_s": round(part_total, 1),
        "partition_index_median_s": round(statistics.median(per_part), 2),
        "rows_per_partition": part_rows,
        "flat_index_s": round(flat_s, 1),
        "maintenance_work_mem": {"partition": part_mem, "flat": flat_mem},
        "hnsw_bytes_partitioned": int(sizes[0] or 0),
        "hnsw_bytes_flat": int(sizes[1] or 0),
        "table_bytes_partitioned": int(tables[0] or 0),
        "table_bytes_flat": int(tables[1] or 0),
        "notices": sorted(set(notices))[:20],
    }


QUERIES = {
    "partitioned": f'SELECT image_id FROM "{SCHEMA}".faces WHERE day >= %(lo)s AND day < %(hi)s'
    " ORDER BY embedding <-> %(q)s LIMIT 10",
    # "source || ''": the faces_source btree cannot serve this filter, so these rows measure the HNSW scans (with
    # the btree the planner reads it and sorts instead, at ef_search >= 100: the exact path of search_faces)
    "partitioned + source": f'SELECT image_id FROM "{SCHEMA}".faces WHERE day >= %(lo)s AND day < %(hi)s'
    " AND source || '' = %(src)s ORDER BY embedding <-> %(q)s LIMIT 10",
    "partitioned + source via images join (old schema)": f'SELECT f.image_id FROM "{SCHEMA}".faces f JOIN "{SCHEMA}".images i'
    " ON i.day = f.day AND i.image_id = f.image_id WHERE f.day >= %(lo)s AND f.day < %(hi)s"
    " AND i.source = %(src)s ORDER BY f.embedding <-> %(q)s LIMIT 10",
    "unpartitioned": f'SELECT image_id FROM "{SCHEMA}".faces_flat WHERE day >= %(lo)s AND day < %(hi)s'
    " ORDER BY embedding <-> %(q)s LIMIT 10",
    "unpartitioned + source": f'SELECT image_id FROM "{SCHEMA}".faces_flat WHERE day >= %(lo)s AND day < %(hi)s'
    " AND source = %(src)s ORDER BY embedding <-> %(q)s LIMIT 10",
}


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.replace("+", "and")).strip("_").replace("__", "_")


def _ids(rows) -> list[int]:
    return [r[0].int - ID_OFFSET for r in rows]


def _search_faces(conn, qv, srcs, lo, hi, filtered, truth, matches, warm, **options):
    from facepipe.core.specs import model_spec
    from facepipe.search.query import search_faces

    spec = model_spec("dlib-resnet-128")
    until = hi - dt.timedelta(days=1)

    def one(i):
        return search_faces(
            conn,
            SCHEMA,
            spec,
            qv[i],
            k=10,
            since=lo,
            until=until,
            source=_src(int(srcs[i])) if filtered else None,
            **options,
        )

    for i in range(warm):
        one(i)
    lat, recall, found = [], [], 0
    for i in range(len(qv)):
        t = time.perf_counter()
        rows = one(i)
        lat.append(time.perf_counter() - t)
        got = {uuid.UUID(m.image_id).int - ID_OFFSET for m in rows}
        recall.append(len(got & set(truth[i].tolist())) / 10)
        found += len(got & matches[i])
    return lat, recall, found


def _stats(lat: list[float], recall: list[float], found: int, match_sets) -> dict:
    """A results row's figures from per-query latencies and recalls."""
    return {
        "match_recall": round(found / max(1, sum(map(len, match_sets))), 4),
        "recall_at_10": round(float(np.mean(recall)), 4),
        "recall_min": round(float(np.min(recall)), 2),
        "p50_ms": round(pct(lat, 50) * 1000, 2),
        "p95_ms": round(pct(lat, 95) * 1000, 2),
    }


def _time_sql(conn, sql, params, n_queries: int, truth_ids, match_sets) -> dict:
    """Run a raw top-10 query for each test face (after a warm-up) and score it."""
    for i in range(min(20, n_queries)):
        conn.execute(sql, params(i)).fetchall()
    lat, recall, found = [], [], 0
    for i in range(n_queries):
        t = time.perf_counter()
        rows = conn.execute(sql, params(i)).fetchall()
        lat.append(time.perf_counter() - t)
        got = set(_ids(rows))
        recall.append(len(got & set(truth_ids[i].tolist())) / 10)
        found += len(got & match_sets[i])
    return _stats(lat, recall, found, match_sets)


def _search_row(conn, name, qv, srcs, lo, hi, filtered, truth, matches, **options) -> dict:
    """One results row for facepipe.search.query.search_faces called with ``options``."""
    from facepipe.core.specs import model_spec
    from facepipe.search.query import explain_search

    path, _ = explain_search(
        conn,
        SCHEMA,
        model_spec("dlib-resnet-128"),
        qv[0],
        since=lo,
        until=hi - dt.timedelta(days=1),
        source=_src(int(srcs[0])) if filtered else None,
        **options,
    )
    lat, recall, found = _search_faces(
        conn, qv, srcs, lo, hi, filtered, truth[filtered], matches[filtered], warm=min(20, len(qv)), **options
    )
    res = {
        "query": name,
        "ef_search": options.get("ef_search"),
        "filtered": filtered,
        "path": path,
        "exact_key": "partitioned" + (" + source" if filtered else ""),
        **_stats(lat, recall, found, matches[filtered]),
    }
    log(
        f"ann ef={res['ef_search']} {name} ({path} path): recall@10 {res['recall_at_10']:.3f},"
        f" p50 {res['p50_ms']} ms, p95 {res['p95_ms']} ms"
    )
    return res


def _search_plan(conn, name, q, src, lo, hi, filtered, **options) -> dict:
    """EXPLAIN ANALYZE of the query search_faces runs for these arguments, summarised; the plan goes to a file."""
    from facepipe.core.specs import model_spec
    from facepipe.search.query import explain_search

    path, plan = explain_search(
        conn,
        SCHEMA,
        model_spec("dlib-resnet-128"),
        q,
        since=lo,
        until=hi - dt.timedelta(days=1),
        source=_src(int(src)) if filtered else None,
        analyze=True,
        **options,
    )
    return {
        "path": path,
        "ef_search": options.get("ef_search"),
        "merge_append": "Merge Append" in plan,
        "index_scans": plan.count("Index Scan using"),
        "hnsw_index_scans": plan.count("_embedding_hnsw"),
        "source_index_scans": plan.count("_source_idx"),
        "seq_scans": plan.count("Seq Scan on faces"),
        "parallel_workers": sum(int(x) for x in re.findall(r"Workers Launched: (\d+)", plan)),
        "file": str(
            write_text(
                f"explain_ann_{_slug(name)}.txt", f"-- {name}: search_faces, {path} path, options {options}\n{plan}\n"
            )
        ),
    }


def _path_choice(conn, qv, srcs, lo, hi) -> dict:
    """What choosing the path costs: facepipe.search.query.filtered_rows (an EXPLAIN) for every filtered query."""
    from facepipe.search.query import EXACT_MAX_ROWS, filtered_rows

    lat, estimates = [], []
    for q_src in srcs:
        with conn.transaction():
            conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")  # as search_faces runs it
            t = time.perf_counter()
            estimates.append(
                filtered_rows(conn, SCHEMA, since=lo, until=hi - dt.timedelta(days=1), source=_src(int(q_src)))
            )
            lat.append(time.perf_counter() - t)
    res = {
        "exact_max_rows": EXACT_MAX_ROWS,
        "estimated_rows_median": int(np.median(estimates)),
        "estimated_rows_min": int(min(estimates)),
        "estimated_rows_max": int(max(estimates)),
        "exact_path_queries": sum(e <= EXACT_MAX_ROWS for e in estimates),
        "queries": len(estimates),
        "estimate_p50_ms": round(pct(lat, 50) * 1000, 2),
        "estimate_p95_ms": round(pct(lat, 95) * 1000, 2),
    }
    log(
        f"ann: path choice: {res['exact_path_queries']}/{res['queries']} exact, estimated rows"
        f" {res['estimated_rows_min']:,}-{res['estimated_rows_max']:,}, estimate p50 {res['estimate_p50_ms']} ms"
    )
    return res


def _exact_scaling(conn, data: Data, qv, lo_i: int, hi_i: int, n: int) -> list[dict]:
    """What the exact path costs against the rows it reads: search_faces_exact.sql's query over 1 to all sources
    (``source = ANY(...)``), with the server's parallel workers and without; for EXACT_MAX_ROWS."""
    from psycopg import sql

    from facepipe.core.db import load_sql

    text = load_sql("search_faces_exact.sql", schema=SCHEMA, op="<->").as_string(conn)
    assert "f.source = %(source)s" in text
    query = sql.SQL(text.replace("f.source = %(source)s", "f.source = ANY(%(sources)s)"))
    in_range = (data.day >= lo_i) & (data.day < hi_i)
    out = []
    for k in sorted({1, 2, 3, 5, int(data.source.max()) + 1}):
        sources = [_src(i) for i in range(k)]
        row = {"sources": k, "rows": int(np.count_nonzero(in_range & np.isin(data.source, range(k))))}
        for label, workers in (("p50_ms", None), ("p50_ms_no_parallel", 0)):
            conn.execute(
                "RESET max_parallel_workers_per_gather"
                if workers is None
                else f"SET max_parallel_workers_per_gather = {int(workers)}"
            )
            lat = []
            for i in range(n):
                params = {
                    "query": qv[i],
                    "k": 10,
                    "since": DAY0 + dt.timedelta(days=lo_i),
                    "until": DAY0 + dt.timedelta(days=hi_i - 1),
                    "sources": sources,
                }
                t = time.perf_counter()
                conn.execute(query, params).fetchall()
                lat.append(time.perf_counter() - t)
            row[label] = round(pct(lat, 50) * 1000, 1)
        conn.execute("RESET max_parallel_workers_per_gather")
        out.append(row)
        log(
            f"ann: exact over {k} sources ({row['rows']:,} rows): p50 {row['p50_ms']} ms,"
            f" {row['p50_ms_no_parallel']} ms without parallel workers"
        )
    return out


def query_bench(
    uri: str, data: Data, days: int, range_days: int, n_queries: int, efs: list[int], exact_queries: int
) -> dict:
    rng = np.random.default_rng(17)
    ident = rng.choice(np.unique(data.identity), n_queries, replace=False)
    qv = data.face(ident)
    srcs = rng.integers(0, int(data.source.max()) + 1, n_queries)
    lo_i, hi_i = days - range_days, days
    lo, hi = DAY0 + dt.timedelta(days=lo_i), DAY0 + dt.timedelta(days=hi_i)
    t = time.perf_counter()
    truth = {
        False: [data.exact(q, lo_i, hi_i, None) for q in qv],
        True: [data.exact(q, lo_i, hi_i, int(s)) for q, s in zip(qv, srcs)],
    }
    numpy_ms = (time.perf_counter() - t) / (2 * n_queries) * 1000
    # the exact top-10 rows that are the same person by the model's threshold (L2 < 0.6)
    matches = {
        f: [
            set(ids[np.linalg.norm(data.vectors[ids] - q, axis=1) < MATCH_THRESHOLD].tolist())
            for ids, q in zip(truth[f], qv)
        ]
        for f in (False, True)
    }
    out = {
        "queries": n_queries,
        "range": f"{lo} .. {hi - dt.timedelta(days=1)} ({range_days} days)",
        "matches_in_exact_top10": {
            "unfiltered": round(sum(map(len, matches[False])) / n_queries, 2),
            "filtered": round(sum(map(len, matches[True])) / n_queries, 2),
        },
        "numpy_exact_ms_per_query": round(numpy_ms, 1),
        "results": [],
        "exact_sql": {},
        "plans": {},
    }

    def params(i):
        return {"lo": lo, "hi": hi, "q": qv[i], "src": _src(int(srcs[i]))}

    with connect(uri) as conn:
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
            for (rel,) in conn.execute(
                "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s AND c.relkind IN ('r', 'i') AND c.relname NOT LIKE 'stage%%'",
                (SCHEMA,),
            ).fetchall():
                conn.execute("SELECT pg_prewarm(%s::regclass)", (rel,))
            out["prewarm"] = True
        except Exception as exc:  # contrib not shipped: the warm-up queries below do it
            out["prewarm"] = f"unavailable: {type(exc).__name__}"
        conn.execute("SET hnsw.iterative_scan = relaxed_order")
        for ef in efs:
            conn.execute(f"SET hnsw.ef_search = {int(ef)}")
            # psycopg prepares a statement after 5 executions and PostgreSQL may then switch to a
            # generic plan, which over partitions is an exact Append + Sort (no HNSW): the raw SQL
            # below is measured with custom plans, then once more with the default plan cache
            # (search_faces forces custom plans itself).
            conn.execute("SET plan_cache_mode = force_custom_plan")
            for name, sql in QUERIES.items():
                filtered = "source" in name
                if "join" in name and ef != efs[0]:
                    continue  # slow and not facepipe's form any more: first ef_search only
                res = {
                    "query": name,
                    "ef_search": ef,
                    "filtered": filtered,
                    "exact_key": name,
                    **_time_sql(conn, sql, params, n_queries, truth[filtered], matches[filtered]),
                }
                out["results"].append(res)
                log(
                    f"ann ef={ef} {name}: recall@10 {res['recall_at_10']:.3f}, p50 {res['p50_ms']} ms,"
                    f" p95 {res['p95_ms']} ms"
                )
                if ef == efs[0]:
                    plan = "\n".join(
                        r[0] for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params(0))
                    )
                    out["plans"][name] = {
                        "merge_append": "Merge Append" in plan,
                        "index_scans": plan.count("Index Scan using"),
                        "hnsw_index_scans": plan.count("_embedding_hnsw"),
                        "seq_scans": plan.count("Seq Scan"),
                        "file": str(
                            write_text(
                                f"explain_ann_{_slug(name)}.txt",
                                f"-- SET hnsw.iterative_scan = relaxed_order;"
                                f" SET hnsw.ef_search = {ef};\n-- {sql}\n{plan}\n",
                            )
                        ),
                    }
            # the raw filtered query once more under the default plan cache (psycopg prepares it)
            conn.execute("SET plan_cache_mode = auto")
            name, sql = "partitioned + source [plan cache auto]", QUERIES["partitioned + source"]
            res = {
                "query": name,
                "ef_search": ef,
                "filtered": True,
                "exact_key": "partitioned + source",
                **_time_sql(conn, sql, params, n_queries, truth[True], matches[True]),
            }
            out["results"].append(res)
            log(f"ann ef={ef} {name}: recall@10 {res['recall_at_10']:.3f}, p50 {res['p50_ms']} ms")
            # facepipe's own function (its own settings: strict order, custom plans): without a filter, and with
            # the source filter on the HNSW path (exact_max_rows=0), for comparison with its exact path below
            for name, filtered, options in (
                ("facepipe search_faces", False, {}),
                ("facepipe search_faces + source [HNSW path]", True, {"exact_max_rows": 0}),
            ):
                res = _search_row(conn, name, qv, srcs, lo, hi, filtered, truth, matches, ef_search=ef, **options)
                out["results"].append(res)
                if ef == efs[-1]:
                    out["plans"][name] = _search_plan(
                        conn, name, qv[0], srcs[0], lo, hi, filtered, ef_search=ef, **options
                    )
            conn.execute("SET hnsw.iterative_scan = relaxed_order")
        # with a source filter search_faces takes the exact path here: ef_search plays no part, measured once
        conn.execute("RESET plan_cache_mode")
        out["exact_path_choice"] = _path_choice(conn, qv, srcs, lo, hi)
        for name, workers in (
            ("facepipe search_faces + source", None),
            ("facepipe search_faces + source [exact path, no parallel workers]", 0),
        ):
            if workers is not None:
                conn.execute(f"SET max_parallel_workers_per_gather = {int(workers)}")
            out["results"].append(_search_row(conn, name, qv, srcs, lo, hi, True, truth, matches))
            out["plans"][name] = _search_plan(conn, name, qv[0], srcs[0], lo, hi, True)
            conn.execute("RESET max_parallel_workers_per_gather")
        out["exact_scaling"] = _exact_scaling(conn, data, qv, lo_i, hi_i, min(20, n_queries))
        conn.execute("RESET plan_cache_mode")
        # the exact answer through SQL: same queries with the index scans switched off
        conn.execute("RESET hnsw.ef_search")
        conn.execute("SET enable_indexscan = off")
        for name, sql in QUERIES.items():
            filtered = "source" in name
            lat, recall = [], []
            for i in range(exact_queries):
                t = time.perf_counter()
                rows = conn.execute(sql, params(i)).fetchall()
                lat.append(time.perf_counter() - t)
                recall.append(len(set(_ids(rows)) & set(truth[filtered][i].tolist())) / 10)
            out["exact_sql"][name] = {
                "p50_ms": round(pct(lat, 50) * 1000, 1),
                "p95_ms": round(pct(lat, 95) * 1000, 1),
                "queries": exact_queries,
                "agrees_with_numpy": round(float(np.mean(recall)), 4),
            }
            log(
                f"ann exact (enable_indexscan=off) {name}: p50 {out['exact_sql'][name]['p50_ms']} ms,"
                f" agrees with numpy {out['exact_sql'][name]['agrees_with_numpy']}"
            )
            if name == "partitioned + source":
                plan = "\n".join(r[0] for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params(0)))
                write_text(
                    "explain_ann_exact_partitioned_and_source.txt",
                    f"-- SET enable_indexscan = off;\n-- {sql}\n{plan}\n",
                )
        conn.execute("RESET enable_indexscan")
    for r in out["results"]:
        ex = out["exact_sql"][r["exact_key"]]["p50_ms"]
        r["speedup_vs_exact_p50"] = round(ex / r["p50_ms"], 1) if r["p50_ms"] else None
    return out


def source_index(uri: str) -> dict:
    """(Re)build the faces_source btree that facepipe's first schema revision declares, timed, and its size."""
    with connect(uri) as conn:
        conn.execute(f'DROP INDEX IF EXISTS "{SCHEMA}".faces_source')
        t = time.perf_counter()
        conn.execute(f'CREATE INDEX faces_source ON "{SCHEMA}".faces (source)')
        build_s = time.perf_counter() - t
        size, parts = conn.execute(
            "SELECT sum(pg_relation_size(i.indexrelid)), count(*) FROM pg_inherits h"
            " JOIN pg_index i ON i.indrelid = h.inhrelid JOIN pg_class c ON c.oid = i.indexrelid"
            f" WHERE h.inhparent = '\"{SCHEMA}\".faces'::regclass AND c.relname LIKE '%%source%%'"
        ).fetchone()
    log(f"ann: faces_source btree over {parts} partitions in {build_s:.1f}s, {int(size) / 2**20:.1f} MiB")
    return {"build_s": round(build_s, 2), "bytes": int(size), "partitions": int(parts)}


def load_day_cost(uri: str, data: Data, rounds: int = 5, shard_size: int = 200) -> dict:
    """What the faces_source btree adds to a night's load: facepipe.ingest.store.load_day of one
    day (a median day's faces, one per image, planned by write_manifest and staged by write_shard in shards of
    ``shard_size`` photos; a run loads one source) as facepipe does it, and without the btree. Variants alternate
    (A B, B A, ...); only load_day is timed."""
    from facepipe.core.schema import require
    from facepipe.core.sources import Arrival
    from facepipe.core.specs import model_spec
    from facepipe.ingest import store
    from facepipe.ingest.process import FaceRecord, ImageRecord, ShardResult
    from facepipe.models.detect import Box

    spec = model_spec("dlib-resnet-128")
    schema, day = SCHEMA + "_load", DAY0
    n = int(np.median(np.bincount(data.day)))
    vectors = data.face(np.random.default_rng(7).choice(np.unique(data.identity), n))
    arrived = dt.datetime.combine(day, dt.time(12), dt.UTC)
    variants = {"facepipe (faces_source btree)": True, "no btree": False}
    times: dict[str, list[float]] = {v: [] for v in variants}
    source_runs: dict[str, int] = {}
    drop_schema(uri, schema)
    with connect(uri) as conn:
        require(conn, schema, spec, may_upgrade=True)
        for r in range(rounds):
            for name in list(variants) if r % 2 == 0 else list(reversed(variants)):
                btree = variants[name]
                conn.execute(
                    f'CREATE INDEX IF NOT EXISTS faces_source ON "{schema}".faces (source)'
                    if btree
                    else f'DROP INDEX IF EXISTS "{schema}".faces_source'
                )
                run_id = f"bench-{r}-{len(times[name])}-{btree}"
                store.write_manifest(
                    conn,
                    schema,
                    day,
                    run_id,
                    "bench",
                    [Arrival(f"s3://bench/{i}.jpg", 2_000_000, arrived) for i in range(n)],
                    shard_size,
                )
                for shard, lo_i in enumerate(range(0, n, shard_size)):
                    hi_i = min(n, lo_i + shard_size)
                    images = [
                        ImageRecord(
                            uuid.UUID(int=ID_OFFSET + i),
                            f"s3://bench/{i}.jpg",
                            f"{i:064x}",
                            2_000_000,
                            4032,
                            3024,
                            None,
                            None,
                            arrived,
                            "loaded",
                            None,
                            1,
                        )
                        for i in range(lo_i, hi_i)
                    ]
                    faces = [FaceRecord(im.image_id, 0, Box(100, 100, 400, 400, 2.0), 4032, 3024) for im in images]
                    store.write_shard(
                        conn,
                        schema,
                        spec,
                        day=day,
                        run_id=run_id,
                        shard=shard,
                        source="bench",
                        detector="haar",
                        result=ShardResult(images, faces, vectors[lo_i:hi_i]),
                    )
                t = time.perf_counter()
                store.load_day(conn, schema, day=day, run_id=run_id, detector="haar", model=spec)
                times[name].append(time.perf_counter() - t)
                # runs of one source in the partition's physical order
                source_runs[name] = conn.execute(
                    f"SELECT count(*) FROM (SELECT source, lag(source) OVER (ORDER BY ctid) AS prev"
                    f' FROM "{schema}".faces) s WHERE source IS DISTINCT FROM prev'
                ).fetchone()[0]
    drop_schema(uri, schema)
    out = {
        "rows": n,
        "shard_size": shard_size,
        "rounds": rounds,
        "median_s": {k: round(statistics.median(v), 3) for k, v in times.items()},
        "all_s": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "source_runs": source_runs,
    }
    log(f"ann: load_day of {n:,} faces, median s: " + ", ".join(f"{k} {v}" for k, v in out["median_s"].items()))
    return out


def incremental_day(uri: str, data: Data, days: int) -> dict:
    """What a month-partitioned layout would pay each night: one more day's faces INSERTed into a
    table whose HNSW index already holds ``faces`` rows, against index_day's build of a fresh
    day partition (the figures above). The rows are removed again afterwards."""
    n = int(np.median(np.bincount(data.day)))
    rng = np.random.default_rng(99)
    ids = rng.choice(np.unique(data.identity), n)
    vectors = data.face(ids)
    day = DAY0 + dt.timedelta(days=days)
    with connect(uri) as conn:
        conn.execute(f'CREATE TEMP TABLE new_day (LIKE "{SCHEMA}".faces_flat)')
        with conn.cursor().copy(
            "COPY new_day (day, image_id, face_no, box_x, box_y, box_w, box_h, source,"
            " detector, det_score, model, embedding) FROM STDIN (FORMAT BINARY)"
        ) as cp:
            cp.set_types(
                ["date", "uuid", "int2", "int4", "int4", "int4", "int4", "text", "text", "float4", "text", "vector"]
            )
            for i, v in enumerate(vectors):
                cp.write_row(
                    (
                        day,
                        uuid.UUID(int=(2 << 64) + i),
                        0,
                        100,
                        100,
                        400,
                        400,
                        _src(i % 10),
                        "haar",
                        2.0,
                        "dlib-resnet-128",
                        v,
                    )
                )
        t = time.perf_counter()
        conn.execute(f'INSERT INTO "{SCHEMA}".faces_flat SELECT * FROM new_day')
        insert_s = time.perf_counter() - t
        log(f"ann: INSERT of one more day ({n:,} rows) into the indexed unpartitioned table: {insert_s:.1f}s")
        t = time.perf_counter()
        conn.execute(f'DELETE FROM "{SCHEMA}".faces_flat WHERE day = %s', (day,))
        conn.execute(f'VACUUM "{SCHEMA}".faces_flat')
        vacuum_s = time.perf_counter() - t
    log(f"ann: DELETE of that day + VACUUM (what re-running a day would cost there): {vacuum_s:.1f}s")
    return {
        "rows": n,
        "insert_into_indexed_s": round(insert_s, 1),
        "delete_vacuum_s": round(vacuum_s, 1),
        "rows_in_index": int(len(data.day)),
    }


def run(
    uri: str,
    faces: int,
    days: int,
    range_days: int,
    identities: int,
    sources: int,
    n_queries: int,
    efs: list[int],
    exact_queries: int,
    reuse: bool = False,
) -> dict:
    t_all = time.perf_counter()
    t = time.perf_counter()
    data = Data(faces, identities, days, sources)
    gen_s = time.perf_counter() - t
    log(f"ann: {faces:,} synthetic faces of {identities:,} identities over {days} days in {gen_s:.0f}s")
    out = {
        "faces": faces,
        "days": days,
        "identities": identities,
        "sources": sources,
        "dim": DIM,
        "generate_s": round(gen_s, 1),
    }
    existing, old = 0, {}
    if reuse:
        try:
            with connect(uri) as conn:
                existing = conn.execute(f'SELECT count(*) FROM "{SCHEMA}".faces_flat').fetchone()[0]
        except Exception:
            existing = 0
    if reuse and existing == faces:
        log("ann: reusing the loaded and indexed tables")
        out["reused"] = True
        import json

        import common

        previous = common.RESULTS / "ann.json"  # the run that built them, if its figures are still there
        if previous.exists():
            old = json.loads(previous.read_text())
            if old.get("faces") == faces and "index" in old:
                out["load"], out["index"] = old["load"], old["index"]
                out["built_by"] = old.get("built_by") or old.get("command")
            else:
                old = {}
    else:
        out["load"] = load(uri, data, days)
        out["index"] = build_indexes(uri, days, flat_mem="2GB", part_mem="1GB")
    out["source_index"] = source_index(uri)
    out["load_day"] = load_day_cost(uri, data)
    if n_queries:
        out["query"] = query_bench(uri, data, days, range_days, n_queries, efs, exact_queries)
    if out.get("reused") and "incremental" in old:
        # ~20 minutes of INSERT, DELETE and VACUUM that the queries do not depend on: kept from the run that
        # built the tables (a run without --reuse-ann measures it again)
        out["incremental"] = old["incremental"]
        out["incremental_from"] = old.get("incremental_from") or old.get("command")
    else:
        out["incremental"] = incremental_day(uri, data, days)
    out["total_s"] = round(time.perf_counter() - t_all, 1)
    return out
