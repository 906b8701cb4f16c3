"""An IVF that facepipe runs itself in PostgreSQL (issue 33's design spike), beside today's indexes.

    PYTHONPATH=plugins:/tmp/faiss-target nice -n 10 .venv/bin/python bench/ivf_external.py \\
        --faces 1000000 --shapes 100000,50000 --lists 1000,4000,16000 --probes 8,16,32,64

(faiss-cpu is not a facepipe dependency: ``pip install --no-deps --target /tmp/faiss-target
faiss-cpu==1.15.1``; without it ``--kmeans numpy``.) bench/HISTORY.md section 13 has the figures
and every command. On the same synthetic dlib-geometry faces as bench/search_index.py
(bench/ann.py's ``Data``, the same seed, queries and exact top-10; its ``load``, ``build``,
``measure`` and ``exact_all``), per input shape and number of lists:

- **centroids** from k-means on a sample of ``--sample-per-list`` faces a list, computed outside
  PostgreSQL (faiss-cpu's ``Kmeans`` when it imports, else a numpy Lloyd k-means: ``--kmeans``),
  two-level (``sqrt(lists)`` coarse cells, then each cell split in proportion to its share of
  the sample, as VectorChord's hierarchical k-means), so the cost of an iteration grows with
  sample x 2 sqrt(lists), not sample x lists; kept in ``ivf_centroids (list_id, centroid)``,
  in ``ivf_centroids_hnsw`` under an HNSW index, and as a two-level tree (``ivf_cells``,
  ``ivf_centroids_tree``);
- **a list id per face**: the nearest centroid, exact (faiss ``IndexFlatL2`` or numpy), in
  Python; the faces COPY'd into ``ivf_faces (id, day, list_id, embedding)`` in list order (or
  ``--heap-order day``: as nightly appends leave them), with a btree on ``list_id``, then a
  covering one on ``(list_id) INCLUDE (id, embedding)`` in its place;
- **the query**: the ``probes`` nearest lists (``--centroid-search``: ``exact`` scan of the
  centroid table, ``hnsw`` index on it, ``tree``, or ``client``: numpy over the centroids the
  client holds, timed with the query), then ``WHERE list_id = ANY(...) ORDER BY embedding <->
  q LIMIT k``: the exact distance of every face of those lists, so no re-rank is needed. Read
  two ways (``--reads``): an index scan of the list btree into the heap (``heap``) or an
  index-only scan of the covering btree (a list's rows together in its leaves, whatever the
  heap order: ``covering``).

Recall@10 against numpy's exact answer, own-identity recall, queries that find none of their
identity's faces, p50/p95 over ``--queries`` queries (after 5 warm-up ones), the faces each
query reads (numpy, from the list sizes) and the recall the probed lists allow (numpy: the
share of the exact top-10 inside them). Then the upkeep, on the last lists: a night of
``--night`` new faces (list ids + COPY + VACUUM), the oldest day deleted (+ VACUUM), a forget
of ``--forget`` faces (+ VACUUM), the queries again against the new exact answer; against a
rebuild. Then the baselines, today's indexes on bench/search_index.py's table: IVFFlat on
halfvec with its re-rank and one HNSW graph. ``--no-sql``: the partition alone, in numpy.
Results: bench/results/<--out>.json (``--markdown FILE`` prints its tables). No timed
assertion anywhere.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import re
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ann import DAY0, Data  # noqa: E402
from common import RESULTS, connect, log, machine, pct, run_or_markdown, setup_env, start_db  # noqa: E402
from search_index import DAYS, PeakRss, _server_cpu_s, build, exact_all, load, measure  # noqa: E402

SCHEMA = "bench_ivf"

try:
    import faiss
except ImportError:  # not a dependency of facepipe: pip install faiss-cpu==1.15.1 (see BENCHMARKS.md)
    faiss = None


# -- k-means and assignment, outside PostgreSQL ---------------------------------------------


def _nearest(x: np.ndarray, c: np.ndarray, backend: str, block: int = 65536) -> np.ndarray:
    """Each row of ``x``'s nearest row of ``c`` (L2, exact)."""
    if backend == "faiss":
        index = faiss.IndexFlatL2(c.shape[1])
        index.add(np.ascontiguousarray(c, dtype=np.float32))
        return index.search(np.ascontiguousarray(x, dtype=np.float32), 1)[1][:, 0].astype(np.int64)
    csq = np.einsum("ij,ij->i", c, c)
    out = np.empty(len(x), np.int64)
    for lo in range(0, len(x), block):
        out[lo : lo + block] = np.argmin(csq[None, :] - 2 * (x[lo : lo + block] @ c.T), axis=1)
    return out


def _kmeans(x: np.ndarray, k: int, niter: int, seed: int, backend: str) -> np.ndarray:
    """``k`` centres of ``x`` (Lloyd's k-means, ``niter`` iterations)."""
    k = min(k, len(x))
    if k <= 1:
        return x.mean(axis=0, keepdims=True).astype(np.float32)
    if backend == "faiss":
        km = faiss.Kmeans(
            x.shape[1], k, niter=niter, seed=seed, max_points_per_centroid=1 << 30, min_points_per_centroid=1
        )
        km.train(np.ascontiguousarray(x, dtype=np.float32))
        return km.centroids.copy()
    rng = np.random.default_rng(seed)
    c = x[rng.choice(len(x), k, replace=False)].copy()
    for _ in range(niter):
        a = _nearest(x, c, "numpy")
        counts = np.bincount(a, minlength=k)
        sums = np.zeros_like(c, dtype=np.float64)
        np.add.at(sums, a, x)
        empty = counts == 0
        c[~empty] = (sums[~empty] / counts[~empty, None]).astype(np.float32)
        c[empty] = x[rng.choice(len(x), int(empty.sum()), replace=False)]
    return c


def train_centroids(
    sample: np.ndarray, lists: int, niter: int, seed: int, backend: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two-level k-means: ``round(sqrt(lists))`` coarse centres (cells), then each cell's share
    of the sample split into lists in proportion to its size (largest remainders; at least
    one). Returns the lists' centres, each list's cell and the cells' centres."""
    top = max(1, round(math.sqrt(lists)))
    coarse = _kmeans(sample, top, niter, seed, backend)
    cell = _nearest(sample, coarse, backend)
    sizes = np.bincount(cell, minlength=top)
    share = sizes / sizes.sum() * lists
    alloc = np.floor(share).astype(int)
    alloc[(sizes > 0) & (alloc == 0)] = 1
    for j in np.argsort(-(share - alloc))[: max(0, lists - int(alloc.sum()))]:
        alloc[j] += 1
    parts, cells = [], []
    for j in range(top):
        if sizes[j] and alloc[j]:
            parts.append(_kmeans(sample[cell == j], int(alloc[j]), niter, seed + 1 + j, backend))
            cells.append(np.full(len(parts[-1]), j))
    return np.concatenate(parts).astype(np.float32), np.concatenate(cells), coarse.astype(np.float32)


# -- the tables -------------------------------------------------------------------------------


def _copy(conn, table: str, types: list[str], rows) -> None:
    with conn.cursor().copy(f"COPY {SCHEMA}.{table} FROM STDIN (FORMAT BINARY)") as cp:
        cp.set_types(types)
        for row in rows:
            cp.write_row(row)


def _sizes(conn, names) -> dict:
    return {
        name: conn.execute("SELECT pg_relation_size(to_regclass(%s))", (f"{SCHEMA}.{name}",)).fetchone()[0]
        for name in names
    }


def partition(data: Data, lists: int, args, backend: str) -> tuple:
    """k-means on a sample, then every face's list id (seconds of each), outside PostgreSQL."""
    rng = np.random.default_rng(11)
    n = len(data.sq)
    sample_n = min(n, lists * args.sample_per_list)
    t = time.perf_counter()
    sample = data.vectors[np.sort(rng.choice(n, sample_n, replace=False))]
    centroids, cell_of, cells = train_centroids(sample, lists, args.niter, 11, backend)
    kmeans_s = time.perf_counter() - t
    del sample
    t = time.perf_counter()
    list_id = _nearest(data.vectors, centroids, backend)
    return centroids, cell_of, cells, list_id, kmeans_s, time.perf_counter() - t, sample_n


def simulate(data: Data, lists: int, args, backend: str, qv, truth, own, probes: list[int]) -> dict:
    """``--no-sql``: the partition alone (numpy): its seconds, list sizes, and per number of
    probes the faces read and the recall the lists allow (what the SQL returned, within
    0.01, in every measured row)."""
    centroids, _, cells, list_id, kmeans_s, assign_s, sample_n = partition(data, lists, args, backend)
    sizes = np.bincount(list_id, minlength=len(centroids))
    out = {
        "lists": int(len(centroids)),
        "cells": int(len(cells)),
        "sample": sample_n,
        "kmeans_s": round(kmeans_s, 1),
        "assign_s": round(assign_s, 1),
        "list_sizes": {"p50": int(np.median(sizes)), "p99": int(np.percentile(sizes, 99)), "max": int(sizes.max())},
        "probed": {str(p): probed(centroids, list_id, qv, truth, p, own) for p in probes if p < len(centroids)},
        "loadavg": machine()["loadavg"],
    }
    log(f"simulated {lists} lists: {out}")
    return out


def build_ivf(
    uri: str, data: Data, lists: int, args, backend: str, state: Path
) -> tuple[dict, np.ndarray, np.ndarray, int]:
    """Centroids (three tables: exact scan, HNSW, and the two-level tree), list ids, the faces
    COPY'd in list order, a btree on list_id; seconds of each. Returns the figures, the
    centroids, each face's list id and the number of cells."""
    centroids, cell_of, cells, list_id, kmeans_s, assign_s, sample_n = partition(data, lists, args, backend)
    sizes = np.bincount(list_id, minlength=len(centroids))
    # list order: a list's rows together in the heap; day order: as nightly appends would leave them
    order = np.argsort(list_id, kind="stable") if args.heap_order == "list" else np.arange(len(list_id))
    dates = [DAY0 + dt.timedelta(days=d) for d in range(DAYS + 1)]
    days = data.day.astype(int)
    cpu0 = _server_cpu_s(state)
    with connect(uri) as conn, PeakRss(state) as rss:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
        conn.execute(f"CREATE TABLE {SCHEMA}.ivf_centroids (list_id int NOT NULL, centroid vector(128) NOT NULL)")
        conn.execute(f"CREATE TABLE {SCHEMA}.ivf_cells (cell_id int NOT NULL, centroid vector(128) NOT NULL)")
        conn.execute(
            f"CREATE TABLE {SCHEMA}.ivf_centroids_tree (list_id int NOT NULL, cell_id int NOT NULL,"
            " centroid vector(128) NOT NULL)"
        )
        conn.execute(
            f"CREATE TABLE {SCHEMA}.ivf_faces (id bigint NOT NULL, day date NOT NULL, list_id int NOT NULL,"
            " embedding vector(128) NOT NULL) WITH (parallel_workers = 2)"
        )
        t = time.perf_counter()
        _copy(conn, "ivf_centroids", ["int4", "vector"], enumerate(centroids))
        _copy(conn, "ivf_cells", ["int4", "vector"], enumerate(cells))
        tree = np.argsort(cell_of, kind="stable")
        _copy(
            conn,
            "ivf_centroids_tree",
            ["int4", "int4", "vector"],
            ((int(i), int(cell_of[i]), centroids[i]) for i in tree.tolist()),
        )
        conn.execute(f"CREATE INDEX ivf_centroids_tree_cell ON {SCHEMA}.ivf_centroids_tree (cell_id)")
        for table in ("ivf_centroids", "ivf_cells", "ivf_centroids_tree"):
            conn.execute(f"VACUUM ANALYZE {SCHEMA}.{table}")
        centroids_s = time.perf_counter() - t
        t = time.perf_counter()
        _copy(
            conn,
            "ivf_faces",
            ["int8", "date", "int4", "vector"],
            ((i, dates[days[i]], int(list_id[i]), data.vectors[i]) for i in order.tolist()),
        )
        copy_s = time.perf_counter() - t
        conn.execute(f"SET maintenance_work_mem = '{args.build_mem}'")
        t = time.perf_counter()
        conn.execute(f"CREATE INDEX ivf_faces_list ON {SCHEMA}.ivf_faces (list_id)")
        list_index_s = time.perf_counter() - t
        t = time.perf_counter()
        conn.execute(f"VACUUM ANALYZE {SCHEMA}.ivf_faces")
        vacuum_s = time.perf_counter() - t
        t = time.perf_counter()
        conn.execute(f"CREATE TABLE {SCHEMA}.ivf_centroids_hnsw AS TABLE {SCHEMA}.ivf_centroids")
        conn.execute(
            f"CREATE INDEX ON {SCHEMA}.ivf_centroids_hnsw USING hnsw (centroid vector_l2_ops)"
            " WITH (m = 16, ef_construction = 64)"
        )
        conn.execute(f"ANALYZE {SCHEMA}.ivf_centroids_hnsw")
        centroid_hnsw_s = time.perf_counter() - t
        size = _sizes(conn, ("ivf_faces", "ivf_faces_list", "ivf_centroids", "ivf_centroids_tree"))
    out = {
        "lists": int(len(centroids)),
        "cells": int(len(cells)),
        "heap_order": args.heap_order,
        "kmeans_backend": backend,
        "sample": sample_n,
        "niter": args.niter,
        "kmeans_s": round(kmeans_s, 1),
        "assign_s": round(assign_s, 1),
        "centroid_tables_s": round(centroids_s, 1),
        "copy_s": round(copy_s, 1),
        "list_index_s": round(list_index_s, 1),
        "vacuum_s": round(vacuum_s, 1),
        "centroid_hnsw_s": round(centroid_hnsw_s, 1),
        "build_server_cpu_s": round(_server_cpu_s(state) - cpu0, 1),
        "peak_postgres_rss_bytes": rss.peak,
        "list_sizes": {
            "min": int(sizes.min()),
            "p50": int(np.median(sizes)),
            "p99": int(np.percentile(sizes, 99)),
            "max": int(sizes.max()),
            "empty": int((sizes == 0).sum()),
        },
        "bytes": size,
        "loadavg": machine()["loadavg"],
    }
    log(f"ivf {lists} lists: {out}")
    return out, centroids, list_id, len(cells)


def to_covering(uri: str, built: dict, build_mem: str) -> None:
    """The covering btree (list_id) INCLUDE (id, embedding) in place of the list btree: a
    list's faces together in its leaves whatever the heap order. Adds its seconds, the
    rebuild's total (k-means, list ids, centroid tables, COPY, covering btree, VACUUM) and sizes."""
    with connect(uri) as conn:
        conn.execute(f"SET maintenance_work_mem = '{build_mem}'")
        t = time.perf_counter()
        conn.execute(f"CREATE INDEX ivf_faces_cover ON {SCHEMA}.ivf_faces (list_id) INCLUDE (id, embedding)")
        built["cover_index_s"] = round(time.perf_counter() - t, 1)
        conn.execute(f"DROP INDEX {SCHEMA}.ivf_faces_list")
        conn.execute(f"VACUUM ANALYZE {SCHEMA}.ivf_faces")
        built["bytes"].update(_sizes(conn, ("ivf_faces_cover",)))
    built["rebuild_s"] = round(
        sum(built[k] for k in ("kmeans_s", "assign_s", "centroid_tables_s", "copy_s", "cover_index_s", "vacuum_s")), 1
    )
    log(f"  covering btree {built['cover_index_s']} s, {built['bytes']['ivf_faces_cover'] / 2**20:.0f} MiB")


# How the faces of the probed lists are read, forced so that the figures are of the layout
# named: an index scan of the list btree into a heap COPY'd in list order (``heap``), or an
# index-only scan of the covering btree (``covering``; measured after ``to_covering``, the
# only index then). The centroid tables ivf_centroids and ivf_cells have no index: their scan
# is exact.
READS = {
    "heap": [("enable_indexonlyscan", "off"), ("enable_bitmapscan", "off"), ("enable_seqscan", "off")],
    "covering": [("enable_bitmapscan", "off"), ("enable_seqscan", "off")],
}

# The probed lists: the nearest ``probes`` centroids, found by an exact scan of them all, by an
# HNSW index on them, by the client (``client``: numpy over the centroids it holds, see
# ``_params``), or through the two-level tree (the nearest ``cells`` cells by an exact
# scan of the cells, then the nearest lists of those cells by an exact scan of their lists)
NEAREST = {
    "exact": "SELECT list_id FROM {schema}.ivf_centroids ORDER BY centroid <-> %(q)s LIMIT %(probes)s",
    "hnsw": "SELECT list_id FROM {schema}.ivf_centroids_hnsw ORDER BY centroid <-> %(q)s LIMIT %(probes)s",
    "tree": "SELECT list_id FROM {schema}.ivf_centroids_tree WHERE cell_id = ANY(ARRAY("
    "SELECT cell_id FROM {schema}.ivf_cells ORDER BY centroid <-> %(q)s LIMIT %(cells)s))"
    " ORDER BY centroid <-> %(q)s LIMIT %(probes)s",
}

QUERY = (
    "SELECT id FROM {schema}.ivf_faces WHERE list_id = ANY(ARRAY({nearest})) ORDER BY embedding <-> %(q)s LIMIT %(k)s"
)


def _settings(read: str, centroids: str, probes: int) -> list[tuple[str, str]]:
    s = list(READS[read])
    if centroids == "hnsw":
        s.append(("hnsw.ef_search", str(max(40, 2 * probes))))
    return s


def _statement(centroids: str) -> str:
    if centroids == "client":  # the nearest lists found by the client, from the centroids it holds
        return QUERY.replace("ANY(ARRAY({nearest}))", "ANY(%(lists)s::int[])").format(schema=SCHEMA)
    return QUERY.format(schema=SCHEMA, nearest=NEAREST[centroids].format(schema=SCHEMA))


def _params(q: np.ndarray, probes: int, cells: int, near: tuple | None) -> dict:
    """The query's parameters; ``near`` (centroids, their squared norms): the client's nearest
    ``probes`` lists (numpy, exact), computed here, inside the time measured."""
    from pgvector import Vector

    params = {"q": Vector(q), "probes": probes, "cells": cells, "k": 10}
    if near is not None:
        c, csq = near
        params["lists"] = np.argpartition(csq - 2 * (c @ q), probes)[:probes].tolist()
    return params


def tree_cells(probes: int, lists: int, cells: int, least: int) -> int:
    """Cells the tree search opens: at least ``least``, and enough to hold about 2 x probes lists."""
    return min(cells, max(least, math.ceil(2 * probes * cells / lists)))


def explain(uri: str, read: str, centroids: str, probes: int, cells: int, q: np.ndarray, near=None) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of one query, the vector literals cut out."""
    with connect(uri) as conn, conn.transaction():
        for name, value in _settings(read, centroids, probes):
            conn.execute("SELECT set_config(%s, %s, true)", (name, value))
        rows = conn.execute(
            "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + _statement(centroids),
            _params(q, probes, cells, near if centroids == "client" else None),
        ).fetchall()
    return [re.sub(r"'\[[^]]*\]'", "'[q]'", r[0]) for r in rows]


def measure_ivf(
    uri: str, read: str, centroids: str, probes: int, cells: int, qv, truth, own, ids_of=None, near=None
) -> dict:
    """As search_index.measure: recall@10, own identity, queries finding none of their own,
    p50/p95 of the SQL alone (with ``client``, the client's search of the centroids too).
    ``ids_of``: the table's id of each row of the exact answer; ``near``: as ``_params``."""
    near = near if centroids == "client" else None
    statement = _statement(centroids)
    settings = _settings(read, centroids, probes)
    lat, rec, rec_own = [], [], []
    with connect(uri) as conn:
        for i, (q, want, mine) in enumerate(zip(qv, truth, own)):
            t0 = time.perf_counter()
            with conn.transaction():
                for name, value in settings:
                    conn.execute("SELECT set_config(%s, %s, true)", (name, value))
                got = {int(r[0]) for r in conn.execute(statement, _params(q, probes, cells, near))}
            if i >= 5:
                lat.append((time.perf_counter() - t0) * 1000)
                want_ids = {int(x) for x in (want if ids_of is None else ids_of[want])}
                rec.append(len(got & want_ids) / 10)
                if mine:
                    rec_own.append(len(got & mine) / len(mine))
    row = {
        "read": read,
        "centroids": centroids,
        "probes": probes,
        "cells": cells if centroids == "tree" else None,
        "queries": len(rec),
        "recall": round(float(np.mean(rec)), 4),
        "min_recall": round(float(np.min(rec)), 2),
        "own_identity_recall": round(float(np.mean(rec_own)), 4) if rec_own else None,
        "own_identity_none": sum(1 for r in rec_own if r == 0),
        "p50_ms": round(pct(lat, 50), 2),
        "p95_ms": round(pct(lat, 95), 2),
        "loadavg": machine()["loadavg"],
    }
    log(f"  {row}")
    return row


def probed(centroids: np.ndarray, list_id: np.ndarray, qv: np.ndarray, truth, probes: int, own=None) -> dict:
    """numpy: the faces the ``probes`` nearest lists hold (median, p95) and the share of the
    exact top-10 inside them (the recall the lists allow; the SQL should equal it); with
    ``own``, the share of the exact top-10's faces of the query's identity inside them."""
    sizes = np.bincount(list_id, minlength=len(centroids))
    d = np.einsum("ij,ij->i", centroids, centroids)[None, :] - 2 * (qv[5:] @ centroids.T)
    near = np.argpartition(d, probes, axis=1)[:, :probes]
    read = sizes[near].sum(axis=1)
    inside = [np.isin(list_id[t], n).mean() for t, n in zip(truth[5:], near)]
    out = {
        "faces_read_p50": int(np.median(read)),
        "faces_read_p95": int(np.percentile(read, 95)),
        "lists_recall": round(float(np.mean(inside)), 4),
    }
    if own is not None:
        mine = [np.isin(list_id[sorted(m)], n).mean() for m, n in zip(own[5:], near) if m]
        out["lists_own_recall"] = round(float(np.mean(mine)), 4)
        out["lists_own_none"] = int(sum(1 for x in mine if x == 0))
    return out


# -- a night, a day deleted -------------------------------------------------------------------


def upkeep(
    uri: str, data: Data, centroids: np.ndarray, list_id: np.ndarray, backend: str, night: int, forget: int, state: Path
) -> tuple[dict, dict]:
    """A night of ``night`` new faces (a new day, 365) given list ids and COPY'd in, then the
    oldest day (0) deleted (a seq scan: the table has no day index), then a forget of about
    ``forget`` faces, each in its own transaction, each followed by a VACUUM (the covering
    btree's index-only scan needs the visibility map). Returns the figures and what the
    exact answer now ranges over (ids, vectors, identities)."""
    n = len(data.sq)
    ident = data.rng.integers(0, len(data.centres), night)
    vec = data.face(ident)
    new_ids = np.arange(n, n + night)
    date = DAY0 + dt.timedelta(days=DAYS)
    out = {"night_faces": night}
    cpu0 = _server_cpu_s(state)
    with connect(uri) as conn:
        t = time.perf_counter()
        lid = _nearest(vec, centroids, backend)
        out["night_assign_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        with conn.transaction(), conn.cursor().copy(f"COPY {SCHEMA}.ivf_faces FROM STDIN (FORMAT BINARY)") as cp:
            cp.set_types(["int8", "date", "int4", "vector"])
            for i in range(night):
                cp.write_row((int(new_ids[i]), date, int(lid[i]), vec[i]))
        out["night_copy_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        conn.execute(f"VACUUM ANALYZE {SCHEMA}.ivf_faces")
        out["night_vacuum_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        out["day_deleted_faces"] = conn.execute(f"DELETE FROM {SCHEMA}.ivf_faces WHERE day = %s", (DAY0,)).rowcount
        out["day_delete_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        conn.execute(f"VACUUM ANALYZE {SCHEMA}.ivf_faces")
        out["day_vacuum_s"] = round(time.perf_counter() - t, 2)
        # a forget: the faces of identities, about ``forget`` of them, found by (list_id, id) through
        # the covering btree (a face's list id is known from where it was put), then a VACUUM
        gone, who = [], data.rng.permutation(len(data.centres))
        by_identity = np.argsort(data.identity, kind="stable")
        starts = np.searchsorted(data.identity[by_identity], np.arange(len(data.centres) + 1))
        for person in who:
            gone.extend(int(i) for i in by_identity[starts[person] : starts[person + 1]] if data.day[i] != 0)
            if len(gone) >= forget:
                break
        t = time.perf_counter()
        out["forget_faces"] = conn.execute(
            f"DELETE FROM {SCHEMA}.ivf_faces WHERE list_id = ANY(%s) AND id = ANY(%s)",
            (sorted({int(list_id[i]) for i in gone}), gone),
        ).rowcount
        out["forget_delete_s"] = round(time.perf_counter() - t, 3)
        t = time.perf_counter()
        conn.execute(f"VACUUM {SCHEMA}.ivf_faces")
        out["forget_vacuum_s"] = round(time.perf_counter() - t, 2)
        out["bytes_after"] = _sizes(conn, ("ivf_faces", "ivf_faces_cover"))
    out["server_cpu_s"] = round(_server_cpu_s(state) - cpu0, 1)
    out["loadavg"] = machine()["loadavg"]
    log(f"upkeep: {out}")
    keep = np.setdiff1d(np.flatnonzero(data.day != 0), np.array(gone, dtype=np.int64))
    now = SimpleNamespace(
        ids=np.concatenate([keep, new_ids]),
        vectors=np.concatenate([data.vectors[keep], vec]),
        identity=np.concatenate([data.identity[keep], ident]),
    )
    now.sq = np.einsum("ij,ij->i", now.vectors, now.vectors)
    return out, now


# -- the run ----------------------------------------------------------------------------------


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--faces", type=int, default=1_000_000)
    p.add_argument("--shapes", default="100000,50000", help="identities per run, comma-separated")
    p.add_argument("--lists", default="1000,4000,16000")
    p.add_argument("--min-per-list", type=int, default=30, help="skip lists with fewer faces a list than this")
    p.add_argument("--probes", default="8,16,32,64")
    p.add_argument("--reads", default="heap,covering", help="how a list's faces are read: heap, covering")
    p.add_argument("--centroid-search", default="exact,tree,hnsw", help="the nearest lists: exact, tree, hnsw, client")
    p.add_argument("--tree-cells", type=int, default=8, help="tree: the fewest cells opened (tree_cells)")
    p.add_argument("--kmeans", default="auto", choices=("auto", "faiss", "numpy"))
    p.add_argument("--sample-per-list", type=int, default=64)
    p.add_argument("--niter", type=int, default=10)
    p.add_argument("--night", type=int, default=33_000, help="faces of the night's insert (0: none)")
    p.add_argument("--forget", type=int, default=200, help="faces of the forget after the night")
    p.add_argument("--night-probes", default="16,32,64", help="probes measured again after the night")
    p.add_argument("--baselines", default="ivfflat-half:1000,hnsw:16:64", help="search_index.py variants ('' none)")
    p.add_argument("--baseline-probes", default="32,64")
    p.add_argument("--ef", default="100,200")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--build-mem", default="2GB")
    p.add_argument(
        "--heap-order", default="list", choices=("list", "day"), help="the faces' COPY order (day: as after nights)"
    )
    p.add_argument("--no-sql", action="store_true", help="numpy only: the partition and the recall its lists allow")
    p.add_argument("--state", default=str(RESULTS / "state_ivf"))
    p.add_argument("--out", default="ivf_external")
    args = p.parse_args(argv)
    backend = ("faiss" if faiss is not None else "numpy") if args.kmeans == "auto" else args.kmeans
    if backend == "faiss" and faiss is None:
        raise SystemExit("--kmeans faiss: faiss does not import (pip install faiss-cpu==1.15.1)")
    setup_env(Path(args.state))
    uri = None if args.no_sql else start_db(Path(args.state))
    state = Path(args.state)
    out = {
        "args": vars(args),
        "machine": machine(),
        "kmeans_backend": backend,
        "faiss": getattr(faiss, "__version__", None),
        "shapes": {},
    }
    path = RESULTS / f"{args.out}.json"
    RESULTS.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        path.write_text(json.dumps(out, indent=2, default=str))

    probes = [int(x) for x in args.probes.split(",")]
    for identities in [int(x) for x in args.shapes.split(",")]:
        log(f"shape {identities:,} identities x {args.faces // identities} faces: generating {args.faces:,}")
        data = Data(args.faces, identities, DAYS, 10, seed=5)
        shape = {"identities": identities, "loadavg_start": machine()["loadavg"], "ivf": [], "queries": []}
        out["shapes"][str(identities)] = shape
        ids = data.rng.integers(0, len(data.centres), args.queries + 5)  # as search_index.py: the same queries
        qv = data.face(ids)
        truth = exact_all(data, qv)
        own = [{int(i) for i in t if data.identity[i] == q} for t, q in zip(truth, ids)]
        lists_all = [x for x in (int(v) for v in args.lists.split(",")) if args.faces / x >= args.min_per_list]
        if args.no_sql:
            shape["simulated"] = [simulate(data, x, args, backend, qv, truth, own, probes) for x in lists_all]
            save()
            continue
        centroids = list_id = None
        reads = [r for r in ("heap", "covering") if r in args.reads.split(",")]  # heap first: see to_covering
        modes = args.centroid_search.split(",")
        for lists in lists_all:
            built, centroids, list_id, cells = build_ivf(uri, data, lists, args, backend, state)
            built["probed"] = {str(pr): probed(centroids, list_id, qv, truth, pr, own) for pr in probes}
            built["plans"] = {}
            shape["ivf"].append(built)
            near = (centroids, np.einsum("ij,ij->i", centroids, centroids))
            for read in reads:
                if read == "covering":
                    to_covering(uri, built, args.build_mem)
                for cs in modes:
                    built["plans"][f"{read}/{cs}"] = explain(
                        uri, read, cs, 32, tree_cells(32, lists, cells, args.tree_cells), qv[0], near
                    )
                    for pr in probes:
                        tc = tree_cells(pr, lists, cells, args.tree_cells)
                        row = measure_ivf(uri, read, cs, pr, tc, qv, truth, own, near=near)
                        row.update(lists=built["lists"], heap_order=args.heap_order, **built["probed"][str(pr)])
                        shape["queries"].append(row)
                        save()
        if args.night and centroids is not None:
            if "covering" not in reads:
                to_covering(uri, shape["ivf"][-1], args.build_mem)
            kept, now = upkeep(uri, data, centroids, list_id, backend, args.night, args.forget, state)
            truth2 = exact_all(now, qv)
            own2 = [{int(now.ids[i]) for i in t if now.identity[i] == q} for t, q in zip(truth2, ids)]
            kept["queries"] = []
            for cs in [m for m in modes if m != "hnsw"]:
                for pr in [int(x) for x in args.night_probes.split(",")]:
                    tc = tree_cells(pr, len(centroids), cells, args.tree_cells)
                    row = measure_ivf(uri, "covering", cs, pr, tc, qv, truth2, own2, ids_of=now.ids, near=near)
                    row["lists"] = int(len(centroids))
                    kept["queries"].append(row)
                    save()
            kept["rebuild_s"] = shape["ivf"][-1]["rebuild_s"]
            shape["upkeep"] = kept
            save()
            del now
        with connect(uri) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")  # the baselines' turn for the cache
        if args.baselines:
            shape["baseline_load"] = load(uri, data)
            shape["baseline_builds"], shape["baseline_queries"] = [], []
            for variant in args.baselines.split(","):
                shape["baseline_builds"].append(build(uri, variant, args.build_mem, state, args.faces))
                variant = shape["baseline_builds"][-1]["variant"]
                widths = args.ef if variant.startswith("hnsw") else args.baseline_probes
                for w in [int(x) for x in widths.split(",")]:
                    shape["baseline_queries"].append(measure(uri, variant, w, qv, truth, 4, own))
                    save()
            with connect(uri) as conn:
                conn.execute("DROP TABLE IF EXISTS bench_index.gen")
        shape["loadavg_end"] = machine()["loadavg"]
        save()
        del data
    log(f"written {path}")
    return 0


def markdown(path: Path) -> str:
    """BENCHMARKS.md's tables from a results file."""
    d = json.loads(path.read_text())
    a = d["args"]
    out = []
    for ids, shape in d["shapes"].items():
        shp = f"{int(ids):,} x {a['faces'] // int(ids)}"
        if "simulated" in shape:
            out += [
                f"**{a['faces']:,} faces, {shp}: the partition alone** (numpy, `--no-sql`)",
                "",
                "| lists | faces a list p50 / max | k-means s | list ids s | probes | faces read p50 | lists allow"
                " recall@10 | own identity | none of their own |",
                "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            ]
            for sim in shape["simulated"]:
                for pr, r in sim["probed"].items():
                    out.append(
                        f"| {sim['lists']:,} | {sim['list_sizes']['p50']} / {sim['list_sizes']['max']}"
                        f" | {sim['kmeans_s']} | {sim['assign_s']} | {pr} | {r['faces_read_p50']:,}"
                        f" | {r['lists_recall']:.3f} | {r['lists_own_recall']:.3f} | {r['lists_own_none']} |"
                    )
            out.append("")
            continue
        out += [
            f"**{shp}: builds** (k-means: {d['kmeans_backend']}, two-level, {a['sample_per_list']} sample faces"
            f" a list, {a['niter']} iterations; list ids exact)",
            "",
            "| lists | cells | faces a list p50 / p99 / max | k-means s | list ids s | centroid tables s | COPY s"
            " | covering btree s | VACUUM s | rebuild s | table MiB | covering btree MiB | load |",
            "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for b in shape["ivf"]:
            s = b["list_sizes"]
            out.append(
                f"| {b['lists']:,} | {b['cells']} | {s['p50']} / {s['p99']} / {s['max']} | {b['kmeans_s']}"
                f" | {b['assign_s']} | {b['centroid_tables_s']} | {b['copy_s']} | {b.get('cover_index_s', '-')}"
                f" | {b['vacuum_s']} | {b.get('rebuild_s', '-')} | {b['bytes']['ivf_faces'] / 2**20:.0f}"
                f" | {(b['bytes'].get('ivf_faces_cover') or 0) / 2**20:.0f} | {b['loadavg'][0]:.1f} |"
            )
        out += [
            "",
            f"**{shp}: queries** ({a['queries']} queries, SQL alone)",
            "",
            "| index | read | nearest lists | width | faces read p50 | lists allow | recall@10 | min | own identity"
            " | none of their own | p50 ms | p95 ms | load |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in shape["queries"]:
            near = r["centroids"] + (f" ({r['cells']} cells)" if r.get("cells") else "")
            read = r["read"] + (" (day order)" if r["read"] == "heap" and r.get("heap_order") == "day" else "")
            out.append(
                f"| external IVF {r['lists']:,} | {read} | {near} | {r['probes']} probes"
                f" | {r['faces_read_p50']:,} | {r['lists_recall']:.3f} | {r['recall']:.3f} | {r['min_recall']}"
                f" | {r['own_identity_recall']:.3f} | {r['own_identity_none']} | {r['p50_ms']} | {r['p95_ms']}"
                f" | {r['loadavg'][0]:.1f} |"
            )
        builds = {b["variant"]: b for b in shape.get("baseline_builds", [])}
        for r in shape.get("baseline_queries", []):
            b = builds[r["variant"]]
            unit = "ef_search" if r["variant"].startswith("hnsw") else "probes"
            out.append(
                f"| {r['variant']} (built in {b['build_s']} s) | - | - | {unit} {r['width']} | - | - | {r['recall']:.3f}"
                f" | {r['min_recall']} | {r['own_identity_recall']:.3f} | {r['own_identity_none']} | {r['p50_ms']}"
                f" | {r['p95_ms']} | {r['loadavg'][0]:.1f} |"
            )
        u = shape.get("upkeep")
        if u:
            out += [
                "",
                f"**{shp}: upkeep** on {u['queries'][0]['lists']:,} lists: a night of {u['night_faces']:,} faces:"
                f" list ids {u['night_assign_s']} s, COPY {u['night_copy_s']} s, VACUUM {u['night_vacuum_s']} s;"
                f" a day deleted ({u['day_deleted_faces']:,} faces) {u['day_delete_s']} s, VACUUM"
                f" {u['day_vacuum_s']} s; a forget of {u['forget_faces']} faces {u['forget_delete_s']} s, VACUUM"
                f" {u['forget_vacuum_s']} s; against a rebuild of {u['rebuild_s']} s (load {u['loadavg'][0]:.1f})."
                " Then, against the new exact answer:",
                "",
                "| read | nearest lists | width | recall@10 | min | own identity | none of their own | p50 ms | p95 ms"
                " | load |",
                "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            ]
            for r in u["queries"]:
                near = r["centroids"] + (f" ({r['cells']} cells)" if r.get("cells") else "")
                out.append(
                    f"| {r['read']} | {near} | {r['probes']} probes | {r['recall']:.3f} | {r['min_recall']}"
                    f" | {r['own_identity_recall']:.3f} | {r['own_identity_none']} | {r['p50_ms']} | {r['p95_ms']}"
                    f" | {r['loadavg'][0]:.1f} |"
                )
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    run_or_markdown(main, markdown)
