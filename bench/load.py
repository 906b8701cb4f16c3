"""Section 3: loading vectors. Binary COPY against per-row INSERT and executemany,
128 and 768 dimensions, vector and halfvec; bytes per face stored; TOAST and
what it does to sequential scans.

Every table is shaped like facepipe's faces (same columns and primary key);
only the embedding column's type and storage change.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
import uuid

import numpy as np
from common import connect, drop_schema, log, write_text

SCHEMA = "bench_load"
CONFIGS = [  # name, type, dim, storage
    ("vector(128)", "vector", 128, None),
    ("vector(768)", "vector", 768, None),
    ("halfvec(768)", "halfvec", 768, None),
    ("vector(768) STORAGE PLAIN", "vector", 768, "PLAIN"),
]
COLUMNS = "day, image_id, face_no, box_x, box_y, box_w, box_h, source, detector, det_score, model, embedding"


def _vectors(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, dim)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def _rows(vectors: np.ndarray, vtype: str, day: dt.date, start: int):
    from pgvector import HalfVector

    wrap = HalfVector if vtype == "halfvec" else (lambda a: a)
    for i, v in enumerate(vectors):
        yield (day, uuid.UUID(int=start + i), 0, 10, 20, 150, 150, "/photos", "haar", 1.5, "bench", wrap(v))


def _create(conn, table: str, vtype: str, dim: int, storage: str | None) -> None:
    conn.execute(f'DROP TABLE IF EXISTS "{SCHEMA}".{table}')
    conn.execute(
        f'CREATE TABLE "{SCHEMA}".{table} (day date NOT NULL, image_id uuid NOT NULL,'
        f" face_no smallint NOT NULL, box_x integer NOT NULL, box_y integer NOT NULL,"
        f" box_w integer NOT NULL, box_h integer NOT NULL, source text NOT NULL, detector text NOT NULL,"
        f" det_score real NOT NULL, model text NOT NULL, embedding {vtype}({dim}) NOT NULL,"
        f" PRIMARY KEY (day, image_id, face_no))"
    )
    if storage:
        conn.execute(f'ALTER TABLE "{SCHEMA}".{table} ALTER COLUMN embedding SET STORAGE {storage}')


def insert_per_row(uri, table, vectors, vtype, day) -> float:
    """The classic: autocommit, one INSERT per face, the vector as text."""
    import psycopg

    t = time.perf_counter()
    with psycopg.connect(uri, autocommit=True) as conn:
        for i, v in enumerate(vectors):
            text = "[" + ",".join(str(float(x)) for x in v) + "]"
            conn.execute(
                f'INSERT INTO "{SCHEMA}".{table} ({COLUMNS}) VALUES'
                f" (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::{vtype})",
                (day, uuid.UUID(int=i), 0, 10, 20, 150, 150, "/photos", "haar", 1.5, "bench", text),
            )
    return time.perf_counter() - t


def executemany(uri, table, vectors, vtype, day) -> float:
    """psycopg 3 executemany (pipelined), binary vectors, one transaction."""
    t = time.perf_counter()
    with connect(uri) as conn:
        with conn.transaction():
            conn.cursor().executemany(
                f'INSERT INTO "{SCHEMA}".{table} ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)',
                list(_rows(vectors, vtype, day, 0)),
            )
    return time.perf_counter() - t


def copy_binary(uri, table, vectors, vtype, day) -> float:
    """What facepipe does: COPY ... FROM STDIN (FORMAT BINARY), one transaction."""
    t = time.perf_counter()
    with connect(uri) as conn:
        with conn.transaction():
            with conn.cursor().copy(f'COPY "{SCHEMA}".{table} ({COLUMNS}) FROM STDIN (FORMAT BINARY)') as cp:
                cp.set_types(
                    ["date", "uuid", "int2", "int4", "int4", "int4", "int4", "text", "text", "float4", "text", vtype]
                )
                for row in _rows(vectors, vtype, day, 0):
                    cp.write_row(row)
    return time.perf_counter() - t


METHODS = {
    "INSERT per row (text, autocommit)": insert_per_row,
    "executemany (binary, 1 tx)": executemany,
    "COPY BINARY (1 tx)": copy_binary,
}


def sizes(conn, table: str, rows: int) -> dict:
    q = conn.execute(
        "SELECT pg_total_relation_size(c.oid), pg_relation_size(c.oid), pg_indexes_size(c.oid),"
        " coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0), c.reltoastrelid::regclass::text"
        " FROM pg_class c WHERE c.oid = %s::regclass",
        (f'"{SCHEMA}".{table}',),
    ).fetchone()
    total, heap, idx, toast, toast_name = q
    return {
        "rows": rows,
        "total_bytes": total,
        "heap_bytes": heap,
        "toast_bytes": toast,
        "index_bytes": idx,
        "toast_relation": toast_name,
        "bytes_per_face": round(total / rows, 1),
        "heap_bytes_per_face": round(heap / rows, 1),
        "toast_bytes_per_face": round(toast / rows, 1),
    }


def seq_scan(conn, table: str, vtype: str, dim: int, queries: int, seed: int) -> dict:
    from pgvector import HalfVector

    qs = _vectors(queries, dim, seed)
    conn.execute("SET max_parallel_workers_per_gather = 0")  # one core per query, comparable
    conn.execute("SET enable_indexscan = off")
    sql = f'SELECT image_id FROM "{SCHEMA}".{table} ORDER BY embedding <-> %s::{vtype}({dim}) LIMIT 10'
    wrap = HalfVector if vtype == "halfvec" else (lambda a: a)
    conn.execute(sql, (wrap(qs[0]),)).fetchall()  # warm
    times = []
    for q in qs:
        t = time.perf_counter()
        conn.execute(sql, (wrap(q),)).fetchall()
        times.append(time.perf_counter() - t)
    plan = "\n".join(r[0] for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, (wrap(qs[0]),)))
    conn.execute("RESET max_parallel_workers_per_gather")
    conn.execute("RESET enable_indexscan")
    return {"median_ms": round(statistics.median(times) * 1000, 2), "queries": queries, "plan": plan}


def run(uri: str, n_insert: int, n_many: int, n_copy: int, scan_queries: int = 10) -> dict:
    drop_schema(uri, SCHEMA)
    with connect(uri) as conn:
        conn.execute(f'CREATE SCHEMA "{SCHEMA}"')
    day = dt.date(2026, 3, 1)
    out = {
        "rows": {
            "INSERT per row (text, autocommit)": n_insert,
            "executemany (binary, 1 tx)": n_many,
            "COPY BINARY (1 tx)": n_copy,
        },
        "configs": {},
    }
    plans = []
    for name, vtype, dim, storage in CONFIGS:
        entry = {"type": vtype, "dim": dim, "storage": storage or "default (EXTENDED)", "rows_per_s": {}}
        for method, fn in METHODS.items():
            if storage and method != "COPY BINARY (1 tx)":
                continue  # storage only changes how rows are kept; loading speed is shown on the defaults
            n = out["rows"][method]
            vectors = _vectors(n, dim, seed=dim)
            table = f"t_{vtype}{dim}{'_' + storage.lower() if storage else ''}"
            with connect(uri) as conn:
                _create(conn, table, vtype, dim, storage)
            seconds = fn(uri, table, vectors, vtype, day)
            entry["rows_per_s"][method] = round(n / seconds, 1)
            log(f"load {name} {method}: {n} rows in {seconds:.2f}s = {n / seconds:,.0f} rows/s")
        with connect(uri) as conn:
            conn.execute(f'VACUUM ANALYZE "{SCHEMA}".{table}')
            entry["sizes"] = sizes(conn, table, out["rows"]["COPY BINARY (1 tx)"])
            scan = seq_scan(conn, table, vtype, dim, scan_queries, seed=99)
            entry["exact_scan_ms"] = scan["median_ms"]
            entry["scan_queries"] = scan["queries"]
            plans.append(
                f"-- {name}: {entry['sizes']['rows']} rows, exact top-10 (seq scan, no parallel workers)\n"
                f"{scan['plan']}\n"
            )
            log(
                f"load {name}: {entry['sizes']['bytes_per_face']} B/face (toast {entry['sizes']['toast_bytes']:,} B),"
                f" exact scan {scan['median_ms']} ms"
            )
        out["configs"][name] = entry
    c = out["configs"]["vector(128)"]["rows_per_s"]
    out["copy_vs_insert_128"] = round(c["COPY BINARY (1 tx)"] / c["INSERT per row (text, autocommit)"], 1)
    c = out["configs"]["halfvec(768)"]["rows_per_s"]
    out["copy_vs_insert_halfvec768"] = round(c["COPY BINARY (1 tx)"] / c["INSERT per row (text, autocommit)"], 1)
    out["plans_file"] = str(write_text("explain_load_seqscan.txt", "\n".join(plans)))
    drop_schema(uri, SCHEMA)
    return out
