"""The search structure over every day as facepipe runs it (facepipe.search.ivf), end to end
through ``search_faces``, against the exact search over ``faces`` in the same run.

    PYTHONPATH=plugins .venv/bin/python bench/search_ivf.py --faces 1000000 --shapes 100000,50000 \\
        --probes 64,128,256 --queries 200 --out search_ivf_1m

Input: bench/ann.py's synthetic dlib-geometry faces (``Data``: the generator, seed and queries of
bench/search_index.py and bench/ivf_external.py), ``--faces`` drawn from each of ``--shapes``
identities over 365 days and 10 sources, binary COPY'd into facepipe's own tables with a
load_runs row per day. Then, per shape, timed: the first centroids and the fill of the search
table (``ivf.build``, lists as facepipe chooses them for the faces, or ``--lists``); the queries
through ``search_faces`` at each of ``--probes``: every day, one source over every day, and 30
days; recall@10 against numpy's exact answer, the share of the exact top-10's faces of the
query's own identity ("own"), the queries finding none of their own, p50/p95 of the whole
call (centroid search, SQL, photo lookup); the exact path (the baseline, fewer queries: it
reads every face); 4 clients at once; then the upkeep, each step in its own transaction as
facepipe does it: a night of faces/30 new faces (COPY into the day's partition and
``replace_day`` in one transaction), a retention of the oldest day (``expire_days`` + VACUUM),
a forget of the identity with the most faces (``forget_rows`` + the scrub of the partitions that
held them), and the queries again. Results: bench/results/<--out>.json. No timed assertion.

``--routing numpy,faiss`` runs each shape once a routing (ivf.ROUTING "cells": a face's list
among its nearest cells' lists, as before faiss; "exact": faiss's exact nearest centroid), each
from a fresh load, in the same process; ``--skip exact,clients`` leaves out the baseline and the
4 clients. ``--first-pass full,half`` builds the lists with the model's own vectors (as before
revision 0014) and measures them, then converts them to halfvec in place (the revision's
upgrade, timed) and measures again: the two side by side on one build. ``--assignment 200000,65536,500000`` measures the list assignment alone at 10M's
list count: faces/s and the share of faces in their exact nearest list, for numpy, faiss's
brute force and faiss HNSW graphs over the centroids.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ann import DAY0, ID_OFFSET, Data, copy_rows  # noqa: E402, F401  (copy_rows: the slow reference)
from common import RESULTS, connect, log, machine, pct, setup_env, start_db  # noqa: E402

DAYS = 365
SCHEMA = "bench_ivf"
# --routing's names: ivf.ROUTING's values
ROUTINGS = {"faiss": "exact", "numpy": "cells"}
# The first day the exact answer reads: 1 when --reuse queries a state whose upkeep expired day 0
FIRST_DAY = [0]


def _row(image_id) -> int:
    return uuid.UUID(str(image_id)).int - ID_OFFSET


PG_EPOCH = dt.date(2000, 1, 1)
HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8


def _binary_rows(columns: list[tuple[str, np.ndarray]]) -> bytes:
    """PostgreSQL's binary COPY rows (no header) of fixed-width columns, built by numpy: each
    column's values already in their wire format (big-endian), all rows at once."""
    n = len(columns[0][1])
    fields = [("count", ">i2")]
    for j, (_, values) in enumerate(columns):
        fields += [(f"len{j}", ">i4"), (f"val{j}", values.dtype, values.shape[1:])]
    rows = np.empty(n, np.dtype(fields))
    rows["count"] = len(columns)
    for j, (_, values) in enumerate(columns):
        rows[f"len{j}"] = values.dtype.itemsize * int(np.prod(values.shape[1:], dtype=np.int64))
        rows[f"val{j}"] = values
    return rows.tobytes()


def _fixed(texts: list[str]) -> np.ndarray:
    return np.array([t.encode() for t in texts])


def fast_copy(conn, schema: str, data: Data, rows: np.ndarray, dates: list[dt.date], model: str) -> None:
    """``rows`` of ``data`` as facepipe's images and faces (as ann.copy_rows makes them: image_id
    uuid(ID_OFFSET + row), one face a photo, source ``source-NN``), by binary COPY built in numpy
    (ann.copy_rows's write_row takes about 0.5 ms a row: 10M faces would take hours)."""
    day_no = np.array([(d - PG_EPOCH).days for d in dates], ">i4")[data.day[rows].astype(int)]
    ids = np.empty((len(rows), 2), ">u8")
    ids[:, 0], ids[:, 1] = ID_OFFSET >> 64, rows.astype(np.uint64)
    ids = ids.view("S16").reshape(-1)
    src = _fixed([f"source-{int(x):02d}" for x in range(10)])[data.source[rows].astype(int)]
    arrived = (day_no.astype(np.int64) * 86400 + 12 * 3600) * 1_000_000
    images = [
        ("day", day_no),
        ("image_id", ids),
        ("uri", _fixed([f"s3://bench/{int(i):012d}.jpg" for i in rows])),
        ("content_sha256", _fixed([f"{int(i):064x}" for i in rows])),
        ("bytes", np.full(len(rows), 2_000_000, ">i8")),
        ("width", np.full(len(rows), 4032, ">i4")),
        ("height", np.full(len(rows), 3024, ">i4")),
        ("source", src),
        ("arrived_at", arrived.astype(">i8")),
        ("status", np.full(len(rows), b"loaded", "S6")),
        ("face_count", np.full(len(rows), 1, ">i4")),
    ]
    vec = np.empty(len(rows), np.dtype([("dim", ">i2"), ("unused", ">i2"), ("x", ">f4", (128,))]))
    vec["dim"], vec["unused"], vec["x"] = 128, 0, data.vectors[rows]
    faces = [
        ("day", day_no),
        ("image_id", ids),
        ("face_no", np.zeros(len(rows), ">i2")),
        ("box_x", np.full(len(rows), 100, ">i4")),
        ("box_y", np.full(len(rows), 100, ">i4")),
        ("box_w", np.full(len(rows), 400, ">i4")),
        ("box_h", np.full(len(rows), 400, ">i4")),
        ("source", src),
        ("detector", np.full(len(rows), b"haar", "S4")),
        ("det_score", np.full(len(rows), 2.0, ">f4")),
        ("model", np.full(len(rows), model.encode(), f"S{len(model)}")),
        ("embedding", vec),
    ]
    for table, columns in (("images", images), ("faces", faces)):
        names = ", ".join(name for name, _ in columns)
        with conn.cursor().copy(f'COPY "{schema}".{table} ({names}) FROM STDIN (FORMAT BINARY)') as cp:
            cp.write(HEADER + _binary_rows(columns) + b"\xff\xff")


def load(uri: str, data: Data, schema: str) -> dict:
    from facepipe.core.db import ensure_partitions
    from facepipe.core.schema import require
    from facepipe.core.specs import model_spec

    spec = model_spec("dlib-resnet-128")
    with connect(uri) as conn:
        for (part,) in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relispartition AND c.relkind = 'r'",
            (schema,),
        ).fetchall():
            conn.execute(f'DROP TABLE IF EXISTS "{schema}"."{part}"')
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        require(conn, schema, spec, may_upgrade=True)
        dates = [DAY0 + dt.timedelta(days=d) for d in range(DAYS)]
        for d in dates:
            ensure_partitions(conn, schema, d)
        t = time.perf_counter()
        with conn.transaction():
            for start in range(0, len(data.day), 500_000):
                fast_copy(conn, schema, data, np.arange(start, min(start + 500_000, len(data.day))), dates, spec.name)
            # a load a (day, source), as facepipe's loads leave them
            counts = np.zeros((DAYS, 10), np.int64)
            np.add.at(counts, (data.day.astype(int), data.source.astype(int)), 1)
            conn.cursor().executemany(
                f'INSERT INTO "{schema}".load_runs (day, run_id, source, detector, model, images, duplicates,'
                " faces, rejects) VALUES (%s, 'bench', %s, 'haar', %s, %s, 0, %s, 0)",
                [
                    (dates[d], f"source-{s:02d}", spec.name, int(counts[d, s]), int(counts[d, s]))
                    for d in range(DAYS)
                    for s in range(10)
                ],
            )
        copied = time.perf_counter() - t
        conn.execute(f'ANALYZE "{schema}".faces, "{schema}".images')
    return {"copy_s": round(copied, 1)}


def _table_mib(conn, schema: str, table: str) -> int:
    (size,) = conn.execute("SELECT pg_total_relation_size(%s::regclass)", (f'"{schema}".{table}',)).fetchone()
    # per-partition sizes: pg_total_relation_size of a partitioned parent is 0 before PG 18
    (parts,) = conn.execute(
        "SELECT coalesce(sum(pg_total_relation_size(i.inhrelid)), 0) FROM pg_inherits i WHERE i.inhparent = %s::regclass",
        (f'"{schema}".{table}',),
    ).fetchone()
    return round(max(size, parts) / 2**20)


def build(uri: str, schema: str, lists: int, data: Data, first_pass: str = "half") -> dict:
    """ivf.build; with ``first_pass`` "full" the lists hold the model's own vector type, as before
    revision 0014 (the baseline ``convert`` turns into halfvec)."""
    from facepipe.core.specs import model_spec
    from facepipe.search import ivf

    spec = model_spec("dlib-resnet-128")
    kept = ivf.search_type
    if first_pass == "full":
        ivf.search_type = lambda model: model.column_type
    try:
        with connect(uri) as conn:
            t = time.perf_counter()
            built = ivf.build(conn, schema, spec, reason="bench", lists=lists)
            built["total_s"] = round(time.perf_counter() - t, 1)
            v = ivf.current(conn, schema)
            built["vector_type"] = v.vector_type
            built["table_mib"] = _table_mib(conn, schema, v.table)
            cents = ivf.centroids(conn, schema, v)
    finally:
        ivf.search_type = kept
    built["centroids_mib"] = round(cents.nbytes / 2**20, 1)
    # the list a face is put in (ivf.ROUTING) against its exact nearest list, by numpy here
    rows = np.random.default_rng(1).choice(len(data.vectors), min(20_000, len(data.vectors)), replace=False)
    exact = numpy_nearest(data.vectors[rows], cents)
    routed = ivf.assign_lists(data.vectors[rows], cents, v.bounds)
    built["routed_equals_exact"] = round(float((exact == routed).mean()), 4)
    log(f"  built {built}")
    return built


def convert(uri: str, schema: str) -> dict:
    """Revision 0014's upgrade of the current version (its vectors to halfvec, in place), timed,
    then the VACUUM that gives its index-only scans their visibility map (face_search's next run)."""
    from facepipe.core.migrations import compose_file
    from facepipe.core.specs import model_spec
    from facepipe.search import ivf

    with connect(uri) as conn:
        t = time.perf_counter()
        with conn.transaction():
            conn.execute(compose_file("0014_search_halfvec.sql", schema, model_spec("dlib-resnet-128")))
        altered = time.perf_counter()
        v = ivf.current(conn, schema)
        conn.execute(f'VACUUM (ANALYZE) "{schema}"."{v.table}"')
        out = {
            "vector_type": v.vector_type,
            "alter_s": round(altered - t, 1),
            "vacuum_s": round(time.perf_counter() - altered, 1),
            "table_mib": _table_mib(conn, schema, v.table),
        }
    log(f"  converted {out}")
    return out


def prewarm(uri: str, schema: str) -> dict:
    """The current version's covering btree read whole, by the index-only scan a search uses, so
    that a pass measures the warm cache a deployment searching all day has (``--warm``)."""
    from facepipe.search import ivf

    with connect(uri) as conn:
        v = ivf.current(conn, schema)
        t = time.perf_counter()
        with conn.transaction():
            for name, value in (("enable_seqscan", "off"), ("enable_bitmapscan", "off")):
                conn.execute("SELECT set_config(%s, %s, true)", (name, value))
            (n,) = conn.execute(
                f'SELECT count(*) FROM "{schema}"."{v.table}" WHERE list_id >= 0 AND day IS NOT NULL'
            ).fetchone()
    out = {"rows": n, "seconds": round(time.perf_counter() - t, 1)}
    log(f"  prewarmed {out}")
    return out


def numpy_nearest(vectors: np.ndarray, cents: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Each vector's nearest centroid by numpy's matrix product (the reference, not faiss)."""
    cn = np.einsum("ij,ij->i", cents, cents)
    return np.concatenate(
        [
            np.argmin(cn[None, :] - 2.0 * (vectors[i : i + chunk] @ cents.T), axis=1)
            for i in range(0, len(vectors), chunk)
        ]
    )


def assignment(faces: int, lists: int, identities: int) -> dict:
    """A face's list at 10M's size without the 10M: ``lists`` centroids trained (faiss k-means, 2
    iterations: random-ish) on 2 faces a list of the ``identities``-identity generator, then ``faces`` other
    faces assigned by numpy (exact), faiss's brute force (exact) and faiss HNSW graphs over the
    centroids: faces/s and the share put in their exact nearest list."""
    import faiss

    from facepipe.search import ivf

    ivf._faiss()
    data = Data(2 * lists + faces, identities, DAYS, 10, seed=5)
    train, x = data.vectors[: 2 * lists], data.vectors[2 * lists :]
    t = time.perf_counter()
    km = faiss.Kmeans(train.shape[1], lists, niter=2, seed=1, min_points_per_centroid=1)
    km.train(train)
    out = {"faces": faces, "lists": lists, "identities": identities, "train_s": round(time.perf_counter() - t, 1)}
    cents = km.centroids
    t = time.perf_counter()
    want = numpy_nearest(x[:20_000], cents)
    out["numpy_exact_faces_s"] = round(20_000 / (time.perf_counter() - t))
    t = time.perf_counter()
    exact = ivf.assign(x, cents)
    out["faiss_exact_faces_s"] = round(len(x) / (time.perf_counter() - t))
    out["faiss_exact_equals_numpy"] = round(float((exact[:20_000] == want).mean()), 4)
    out["hnsw"] = []
    for m, ef_construction in ((32, 80), (48, 200)):
        index = faiss.IndexHNSWFlat(cents.shape[1], m)
        index.hnsw.efConstruction = ef_construction
        t = time.perf_counter()
        index.add(cents)
        added = time.perf_counter() - t
        for ef in (64, 128, 256, 512):
            index.hnsw.efSearch = ef
            t = time.perf_counter()
            dist, got = index.search(x, 1)
            took = time.perf_counter() - t
            row = {
                "m": m, "ef_construction": ef_construction, "ef_search": ef, "add_s": round(added, 1),
                "faces_s": round(len(x) / took), "equals_exact": round(float((got[:, 0] == exact).mean()), 4),
            }  # fmt: skip
            out["hnsw"].append(row)
            log(f"  {row}")
    log(f"  assignment {out}")
    return out


def balance(faces: int, identities: int, samples: list[int], lists: int = 65_536, probe: int = 1_000_000) -> dict:
    """The lists' sizes for k-means samples of each size (``ivf.train``; ivf.build takes at most
    SAMPLE_BYTES of vectors, 1M faces of 128-d), ``probe`` other faces assigned exactly, scaled to
    ``faces``: median, 99th percentile, largest, empty, and the mean size of the list a face
    (a query) is in, which is what a probe reads. No database."""
    from facepipe.search import ivf

    data = Data(faces, identities, DAYS, 10, seed=5)
    rng = np.random.default_rng(2)
    rows = rng.choice(len(data.vectors), min(probe, faces), replace=False)
    out = {}
    for size in samples:
        sample = rng.choice(len(data.vectors), size, replace=False)
        t = time.perf_counter()
        cents, _, _ = ivf.train(data.vectors[sample], lists)
        took = time.perf_counter() - t
        n = np.bincount(ivf.assign(data.vectors[rows], cents), minlength=len(cents)) * (faces / len(rows))
        out[str(size)] = {
            "train_s": round(took, 1),
            "mean": round(float(n.mean()), 1),
            "median": float(np.median(n)),
            "p99": float(np.percentile(n, 99)),
            "max": float(n.max()),
            "empty": int((n == 0).sum()),
            "a_query_s_list": round(float((n * n).sum() / n.sum()), 1),
        }
        log(f"  sample {size:,}: {out[str(size)]}")
    return out


def queries(data: Data, n: int):
    ids = data.rng.integers(0, len(data.centres), n)
    return ids, data.face(ids)


_TRUTH: dict = {}


# How measure() lets search_faces choose its path: "ivf" always the IVF, "exact" always every face of
# the range (the baseline), "auto" as facepipe chooses (its default exact_max_rows).
MODES = {"ivf": 0, "exact": 10**12, "auto": None}


def measure(uri: str, schema: str, data: Data, ids, qv, *, probes: int, case: str, mode: str = "ivf") -> dict:
    from facepipe.core.specs import model_spec
    from facepipe.search.query import EXACT_MAX_ROWS, explain_search, search_faces

    spec = model_spec("dlib-resnet-128")
    last = DAY0 + dt.timedelta(days=DAYS - 1)
    lat, rec, own_rec, none = [], [], [], 0
    with connect(uri) as conn:
        from pgvector.psycopg import register_vector

        register_vector(conn)
        for i, (who, q) in enumerate(zip(ids, qv)):
            if case == "all":
                lo, hi, source, since, until = FIRST_DAY[0], DAYS, None, DAY0, last
            elif case == "source":
                s = int(i % 10)
                lo, hi, source, since, until = FIRST_DAY[0], DAYS, s, DAY0, last
            else:  # 30 days
                start = max(FIRST_DAY[0], int(i * 7 % (DAYS - 30)))
                lo, hi, source = start, start + 30, None
                since, until = DAY0 + dt.timedelta(days=lo), DAY0 + dt.timedelta(days=hi - 1)
            limit = EXACT_MAX_ROWS if MODES[mode] is None else MODES[mode]
            args = dict(k=10, since=since, until=until, source=None if source is None else f"source-{source:02d}")
            if i == 0:  # the path taken (the same for every query of a case: their ranges hold as many faces)
                path, _ = explain_search(conn, schema, spec, q, **args, probes=probes, exact_max_rows=limit)
            t0 = time.perf_counter()
            got = search_faces(conn, schema, spec, q, **args, probes=probes, exact_max_rows=limit)
            took = (time.perf_counter() - t0) * 1000
            key = (case, i)
            if key not in _TRUTH:  # the same queries at every width: their exact answer once
                _TRUTH[key] = data.exact(q, lo, hi, source)
            want = _TRUTH[key]
            rows = {_row(m.image_id) for m in got}
            if i >= 3:
                lat.append(took)
                rec.append(len(rows & set(want.tolist())) / 10)
                mine = {int(r) for r in want if data.identity[r] == who}
                if mine:
                    own_rec.append(len(rows & mine) / len(mine))
                    none += len(rows & mine) == 0
    out = {
        "case": case,
        "mode": mode,
        "path": path,
        "probes": None if path == "exact" else probes,
        "queries": len(rec),
        "recall": round(float(np.mean(rec)), 4),
        "min_recall": round(float(np.min(rec)), 2),
        "own": round(float(np.mean(own_rec)), 4) if own_rec else None,
        "none_of_own": none,
        "p50_ms": round(pct(lat, 50), 1),
        "p95_ms": round(pct(lat, 95), 1),
        "loadavg": machine()["loadavg"],
    }
    log(f"  {out}")
    return out


def clients(uri: str, schema: str, qv, probes: int, n: int = 4, seconds: float = 20.0) -> dict:
    from facepipe.core.specs import model_spec
    from facepipe.search.query import search_faces

    spec = model_spec("dlib-resnet-128")
    done = [0] * n
    stop = time.perf_counter() + seconds

    def run(c: int) -> None:
        with connect(uri) as conn:
            i = c
            while time.perf_counter() < stop:
                search_faces(
                    conn, schema, spec, qv[i % len(qv)], k=10, since=DAY0,
                    until=DAY0 + dt.timedelta(days=DAYS - 1), probes=probes, exact_max_rows=0,
                )  # fmt: skip
                done[c] += 1
                i += n

    threads = [threading.Thread(target=run, args=(c,)) for c in range(n)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    out = {"clients": n, "probes": probes, "qps": round(sum(done) / (time.perf_counter() - t), 1)}
    log(f"  {out}")
    return out


def retrain(uri: str, schema: str, qv, probes: int) -> dict:
    """The global step with searches running: new centroids trained and a new version filled and
    swapped in (``ivf.build``, as face_search runs it when the faces have grown) while a client
    searches every day without pause. Its latency before, during and after; every answer must
    have 10 faces. The build's peak allocation in this process (tracemalloc: its sample,
    centroids and a day's rows; the bench's own faces were allocated before) and the disk of both
    versions' tables at once, the old one being dropped only after the swap."""
    import tracemalloc

    from facepipe.core.specs import model_spec
    from facepipe.search import ivf
    from facepipe.search.query import search_faces

    spec = model_spec("dlib-resnet-128")
    phase = ["before"]
    lat: dict[str, list[float]] = {"before": [], "during": [], "after": []}
    short = [0]
    stop = threading.Event()

    def client() -> None:
        with connect(uri) as conn:
            i = 0
            while not stop.is_set():
                t0 = time.perf_counter()
                got = search_faces(
                    conn, schema, spec, qv[i % len(qv)], k=10, since=DAY0,
                    until=DAY0 + dt.timedelta(days=DAYS - 1), probes=probes, exact_max_rows=0,
                )  # fmt: skip
                lat[phase[0]].append((time.perf_counter() - t0) * 1000)
                short[0] += len(got) < 10
                i += 1

    th = threading.Thread(target=client)
    th.start()
    time.sleep(10)
    with connect(uri) as conn:
        old = ivf.current(conn, schema)
        old_mib = _table_mib(conn, schema, old.table)
        phase[0] = "during"
        tracemalloc.start()
        t = time.perf_counter()
        built = ivf.build(conn, schema, spec, reason="bench: retrain with searches running")
        took = time.perf_counter() - t
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        phase[0] = "after"
        new = ivf.current(conn, schema)
        new_mib = _table_mib(conn, schema, new.table)
    time.sleep(10)
    stop.set()
    th.join()
    out = {
        "build": built,
        "total_s": round(took, 1),
        "peak_alloc_mib": round(peak / 2**20),
        "tables_mib_at_swap": old_mib + new_mib,
        "short_answers": short[0],
        **{
            f"{k}_queries": {"n": len(v), "p50_ms": round(pct(v, 50), 1), "p95_ms": round(pct(v, 95), 1)}
            for k, v in lat.items()
            if v
        },
        "loadavg": machine()["loadavg"],
    }
    log(f"  retrain {out}")
    return out


def upkeep(uri: str, schema: str, data: Data) -> dict:
    """A night, a day's retention and a forget, each timed as facepipe runs it."""
    from facepipe.core.db import ensure_partitions
    from facepipe.core.specs import model_spec
    from facepipe.search import ivf

    spec = model_spec("dlib-resnet-128")
    out = {}
    night = DAY0 + dt.timedelta(days=DAYS)
    n = len(data.day) // 30
    rng = np.random.default_rng(11)
    who = rng.integers(0, len(data.centres), n)
    vectors = data.face(who)
    with connect(uri) as conn:
        ensure_partitions(conn, schema, night)
        t = time.perf_counter()
        with conn.transaction():
            _copy_faces(conn, schema, [(night, uuid.UUID(int=(2 << 64) + i)) for i in range(n)], vectors, spec.name)
            copied = time.perf_counter()
            ivf.replace_day(conn, schema, night, None)
        done = time.perf_counter()
        out["night"] = {"faces": n, "copy_s": round(copied - t, 2), "search_upkeep_s": round(done - copied, 2)}
        log(f"  night {out['night']}")
        t = time.perf_counter()
        with conn.transaction():
            gone = ivf.expire_days(conn, schema, DAY0 + dt.timedelta(days=1))
        deleted = time.perf_counter()
        for v in ivf.writable(conn, schema):
            conn.execute(f'VACUUM "{schema}"."{v.table}"')
        out["retention_one_day"] = {
            "rows": gone,
            "delete_s": round(deleted - t, 2),
            "vacuum_s": round(time.perf_counter() - deleted, 2),
        }
        log(f"  retention {out['retention_one_day']}")
        biggest = int(np.bincount(data.identity).argmax())
        rows = np.flatnonzero(data.identity == biggest)
        keys = [(DAY0 + dt.timedelta(days=int(data.day[r])), uuid.UUID(int=ID_OFFSET + int(r))) for r in rows]
        out["forget"] = _forget(conn, schema, keys)
        log(f"  forget {out['forget']}")
        # the case: a person with 200 faces over 50 days, loaded as their nights would
        # have (faces and every version's lists), then forgotten
        person = rng.integers(0, len(data.centres))
        keys = [(DAY0 + dt.timedelta(days=100 + i // 4), uuid.UUID(int=(3 << 64) + i)) for i in range(200)]
        vectors = data.face(np.full(200, person))
        with conn.transaction():
            _copy_faces(conn, schema, keys, vectors, spec.name)
            for version in ivf.writable(conn, schema):
                cents = ivf.centroids(conn, schema, version)
                for d in sorted({day for day, _ in keys}):
                    mine = [(day, i, 0, "source-00", v) for (day, i), v in zip(keys, vectors) if day == d]
                    ivf._insert(conn, schema, version, cents, d, mine)
        out["forget_200"] = _forget(conn, schema, keys)
        log(f"  forget of 200 faces over 50 days {out['forget_200']}")
    return out


def _copy_faces(conn, schema: str, keys: list, vectors: np.ndarray, model: str) -> None:
    """Faces of source-00 at these (day, image_id) keys, one a photo, by binary COPY (in the caller's
    transaction)."""
    with conn.cursor().copy(
        f'COPY "{schema}".faces (day, image_id, face_no, box_x, box_y, box_w, box_h, source, detector,'
        " det_score, model, embedding) FROM STDIN (FORMAT BINARY)"
    ) as cp:
        cp.set_types(
            ["date", "uuid", "int2", "int4", "int4", "int4", "int4", "text", "text", "float4", "text", "vector"]
        )
        for (day, image_id), v in zip(keys, vectors):
            cp.write_row((day, image_id, 0, 0, 0, 50, 50, "source-00", "haar", 1.0, model, v))


def _forget(conn, schema: str, keys: list) -> dict:
    """A forget of these (day, image_id) faces as facepipe's forget changes the search structure:
    deleted from faces and every version in one transaction, then the partitions scrubbed."""
    from facepipe.search import ivf

    t = time.perf_counter()
    with conn.transaction():
        conn.execute("CREATE TEMP TABLE forget_faces (day date, image_id uuid, face_no smallint) ON COMMIT DROP")
        conn.cursor().executemany("INSERT INTO forget_faces VALUES (%s, %s, 0)", keys)
        conn.execute(
            f'DELETE FROM "{schema}".faces f USING forget_faces g WHERE f.day = g.day AND f.image_id = g.image_id'
        )
        touched = ivf.forget_rows(conn, schema)
    deleted = time.perf_counter()
    rewritten = ivf.scrub(conn, schema, touched)
    return {
        "faces": len(keys),
        "days": len({d for d, _ in keys}),
        "rows_deleted": sum(touched.values()),
        "delete_s": round(deleted - t, 2),
        "partitions_rewritten": len(rewritten),
        "scrub_s": round(time.perf_counter() - deleted, 2),
        "total_s": round(time.perf_counter() - t, 2),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--faces", type=int, default=1_000_000)
    p.add_argument("--shapes", default="100000,50000", help="identities, one run each")
    p.add_argument("--probes", default="64,128,256")
    p.add_argument("--lists", type=int, default=0, help="0: as facepipe chooses for the faces")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--exact-queries", type=int, default=20)
    p.add_argument("--state", default=None, help="the bench's own embedded PostgreSQL folder")
    p.add_argument(
        "--routing", default="faiss", help="how faces get their lists, one run each: faiss (exact), numpy (cells)"
    )
    p.add_argument(
        "--skip",
        default="",
        help="steps not run: exact (the baseline), clients, forced (the filters on the IVF), retrain, upkeep",
    )
    p.add_argument(
        "--first-pass",
        default="half",
        help="the lists' vectors, measured in turn on one build: full (the model's type, as before revision 0014),"
        " half (halfvec, re-ranked; converted in place after full)",
    )
    p.add_argument(
        "--assignment", default="", help="faces,lists,identities: list assignment alone (faiss HNSW against exact)"
    )
    p.add_argument("--warm", action="store_true", help="read the lists' btree whole before each pass's queries")
    p.add_argument(
        "--reuse", action="store_true", help="query the faces and version an earlier run left in --state (no load)"
    )
    p.add_argument(
        "--balance", default="", help="faces,identities,sample,...: the lists' sizes for each k-means sample size"
    )
    p.add_argument("--out", default="search_ivf")
    args = p.parse_args(argv)
    from facepipe.search import ivf

    state = Path(args.state or "/tmp/facepipe-bench-ivf")
    setup_env(state)
    uri = start_db(state)
    out = {"args": vars(args), "machine": machine(), "started": dt.datetime.now(dt.UTC).isoformat(), "shapes": {}}
    path = RESULTS / f"{args.out}.json"

    def save():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out, indent=2, default=str))

    if args.balance:
        faces, identities, *samples = (int(x) for x in args.balance.split(","))
        out["balance"] = balance(faces, identities, samples)
        save()
    if args.assignment:
        faces, lists, identities = (int(x) for x in args.assignment.split(","))
        out["assignment"] = assignment(faces, lists, identities)
        save()
    probes = [int(x) for x in args.probes.split(",")]
    skip = set(filter(None, args.skip.split(",")))
    for identities in [int(x) for x in args.shapes.split(",") if x]:
        log(f"shape {identities:,} identities x {args.faces // identities} faces: {args.faces:,} faces")
        data = Data(args.faces, identities, DAYS, 10, seed=5)
        ids, qv = queries(data, args.queries + 3)
        for routing in args.routing.split(","):
            ivf.ROUTING = ROUTINGS[routing]
            log(f"routing {routing} (ivf.ROUTING {ivf.ROUTING!r})")
            _TRUTH.clear()
            shape = out["shapes"].setdefault(str(identities), {})[routing] = {"loadavg_start": machine()["loadavg"]}
            passes = args.first_pass.split(",")
            if args.reuse:  # the faces and the version an earlier run left in --state
                FIRST_DAY[0] = 1  # its upkeep's retention expired the first day
                with connect(uri) as conn:
                    v = ivf.current(conn, SCHEMA)
                    shape["build"] = {"reused": v.version, "vector_type": v.vector_type}
            else:
                shape["load"] = load(uri, data, SCHEMA)  # afresh: the last routing's upkeep changed the faces
                shape["build"] = build(uri, SCHEMA, args.lists, data, passes[0])
            shape["queries"] = []
            for first in passes:
                if first == "half" and shape["build"]["vector_type"] != "halfvec(128)":
                    shape["convert"] = convert(uri, SCHEMA)
                if args.warm:
                    shape.setdefault("prewarm", {})[first] = prewarm(uri, SCHEMA)
                save()
                for pr in probes:
                    # every day on the IVF; the filters as facepipe chooses, and on the IVF at the middle width
                    for case, mode in (("all", "ivf"), ("source", "auto"), ("30 days", "auto")):
                        got = measure(uri, SCHEMA, data, ids, qv, probes=pr, case=case, mode=mode)
                        shape["queries"].append({**got, "first_pass": first})
                    if pr == probes[len(probes) // 2] and "forced" not in skip:
                        for case in ("source", "30 days"):
                            got = measure(uri, SCHEMA, data, ids, qv, probes=pr, case=case)
                            shape["queries"].append({**got, "first_pass": first})
                    save()
                if "clients" not in skip:
                    shape.setdefault("clients", {})[first] = clients(uri, SCHEMA, qv, probes[len(probes) // 2])
            if "exact" not in skip:
                for case in ("all", "source", "30 days"):
                    n = args.exact_queries + 3
                    shape["queries"].append(
                        measure(uri, SCHEMA, data, ids[:n], qv[:n], probes=0, case=case, mode="exact")
                    )  # the baseline: every face of the range
            if "retrain" not in skip:
                shape["retrain"] = retrain(uri, SCHEMA, qv, probes[len(probes) // 2])
                save()
            if "upkeep" not in skip:
                shape["upkeep"] = upkeep(uri, SCHEMA, data)
            save()
    out["finished"] = dt.datetime.now(dt.UTC).isoformat()
    save()
    log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
