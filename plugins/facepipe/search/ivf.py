"""The search structure over every day: an inverted file (IVF) that facepipe keeps itself.

Every face of ``faces`` has a copy in ``<schema>.search_lists_v<N>`` (key, source, box, vector)
under the *list* of its nearest centroid among all of them (exact: faiss's brute-force k-NN,
``assign``), the list a search's nearest centroids are measured against. The centroids
(``search_centroids``) come from a k-means on a sample of the faces, Lloyd's in numpy with
faiss's nearest centroids, in two levels as VectorChord's
hierarchical k-means does: about sqrt(lists) coarse cells, then each cell's share of the
sample split into lists in proportion to its size. So list ids are contiguous per cell, and
the table is partitioned by list-id range, one partition per cell (at most 256). Each
partition keeps its lists together in a covering btree ``(list_id) INCLUDE (key, source,
vector)``, read by an index-only scan whatever order the rows arrived in. The vector there is
a ``halfvec`` (``search_type``): half the bytes a query reads (BENCHMARKS.md section 14); a
search ranks its candidates by it and re-ranks the best few by the exact vector in ``faces``.

A search (facepipe.search.query) finds the ``probes`` nearest centroids in the client (the
centroids are cached per version), reads those lists' faces of the day range, and ranks them
by their exact distance: the answer is exact within the probed lists (BENCHMARKS.md
section 13). Upkeep is proportional to the change, in the changing transaction:

- a load (a night, a re-run, a Clear) replaces its (day, source)'s rows (``replace_day``);
- a forget deletes its faces (``forget_rows``) and, after its commit, rewrites the few
  partitions that held them (``scrub``: VACUUM FULL), so no file keeps a forgotten vector;
- retention deletes the expired days' rows (``expire_days``); VACUUM reclaims their space.

The one global step is training new centroids (``build``): when no version exists and the
faces reach MIN_FACES, and when the faces have grown by ``search_retrain_growth`` since the
current centroids were trained (a measured drift). It runs online (face_search): the new
version's table is filled day by day, each day in a short transaction under the day's lock
(loads write to the version being built too), then swapped in under the search lock, and the
old table dropped with its files.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import psycopg
from psycopg import sql

from facepipe.core.specs import ModelSpec
from facepipe.core.text import plural

log = logging.getLogger(__name__)

# Searches hold it shared for their transaction; the swap of versions exclusively.
SEARCH_LOCK = "facepipe:search"
# One build at a time (a session lock, held across the build's transactions).
BUILD_LOCK = "facepipe:search_build"

# Below this many faces a search reads every face of its range (a few ms) and no centroids
# are trained; from it, face_search trains the first version.
MIN_FACES = 20_000
# Faces a list, on average, when the lists are chosen for the faces (search_lists 0):
# bench/HISTORY.md section 13, 16,000 lists for 1M faces.
FACES_A_LIST = 64
MAX_LISTS = 65_536
MAX_PARTITIONS = 256
# The k-means sample: this many faces a list, and at most SAMPLE_BYTES of vectors.
SAMPLE_A_LIST = 64
SAMPLE_BYTES = 1 << 29
KMEANS_ITERATIONS = 10


def _t(schema: str, table: str) -> sql.Identifier:
    return sql.Identifier(schema, table)


def lists_table(version: int) -> str:
    return f"search_lists_v{int(version)}"


def partition_table(version: int, part: int) -> str:
    return f"search_lists_v{int(version)}_p{int(part)}"


@dataclass(frozen=True)
class Version:
    version: int
    state: str
    model: str
    lists: int
    bounds: tuple[int, ...]  # each partition's first list id
    cells: tuple[int, ...]  # each coarse cell's first list id (a face's list is looked for in its nearest cells)
    trained_faces: int
    built_at: dt.datetime | None
    # its table's OID: a version number comes again after the schema is dropped and made anew
    # (a downgrade, a restore), with other centroids; the cache below keys on the table
    table_oid: int | None = None
    # its vectors' type, as its table holds them: halfvec(dim) (``search_type``), or the model's
    # own type in a table made before revision 0014 and not converted yet
    vector_type: str | None = None

    @property
    def table(self) -> str:
        return lists_table(self.version)

    def partition_of(self, list_id: int) -> int:
        return int(np.searchsorted(np.asarray(self.bounds), list_id, side="right")) - 1


def has_ivf(conn: psycopg.Connection, schema: str) -> bool:
    found = conn.execute("SELECT to_regclass(%s)", (f"{sql.Identifier(schema).as_string(conn)}.search_ivf",))
    return found.fetchone()[0] is not None


def lock_shared(conn: psycopg.Connection) -> None:
    """In a transaction: the current version stays current (its table in place) until it ends."""
    conn.execute("SELECT pg_advisory_xact_lock_shared(hashtext(%s))", (SEARCH_LOCK,))


def _versions(conn: psycopg.Connection, schema: str, states: tuple[str, ...]) -> list[Version]:
    if not has_ivf(conn, schema):
        return []
    rows = conn.execute(
        sql.SQL(
            "SELECT v.version, v.state, v.model, v.lists, v.bounds, v.cells, v.trained_faces, v.built_at, t.oid,"
            " (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute AS a"
            "  WHERE a.attrelid = t.oid AND a.attname = 'embedding')"
            " FROM {} AS v, LATERAL (SELECT to_regclass(format('%%I.%%I', %s::text, 'search_lists_v' || v.version))::oid"
            " AS oid) AS t WHERE v.state = ANY(%s) ORDER BY v.version"
        ).format(_t(schema, "search_ivf")),
        (schema, list(states)),
    ).fetchall()
    return [Version(v, s, m, n, tuple(b), tuple(c), t, at, o, ty) for v, s, m, n, b, c, t, at, o, ty in rows]


def search_type(model: ModelSpec) -> str:
    """The type of the vectors in the search table: halfvec, whatever the model's (a 128-d
    vector's 516 bytes become 260: the covering btree a query reads is about half)."""
    return f"halfvec({model.dim})"


def current(conn: psycopg.Connection, schema: str) -> Version | None:
    found = _versions(conn, schema, ("current",))
    return found[0] if found else None


def writable(conn: psycopg.Connection, schema: str) -> list[Version]:
    """The versions a change must reach: the current one and one being built."""
    return _versions(conn, schema, ("current", "building"))


# --- centroids ---------------------------------------------------------------------------

_CACHE: dict[tuple[str, str, int, int | None], np.ndarray] = {}


def centroids(conn: psycopg.Connection, schema: str, version: Version) -> np.ndarray:
    """A version's centroids (lists x dim, float32), cached per process by its table: a version's
    never change (a version number made again, after its schema was dropped, has a new table)."""
    key = (
        conn.info.dbname + "@" + str(conn.info.host) + ":" + str(conn.info.port),
        schema,
        version.version,
        version.table_oid,
    )
    found = _CACHE.get(key)
    if found is None:
        rows = conn.execute(
            sql.SQL("SELECT list_id, centroid FROM {} WHERE version = %s ORDER BY list_id").format(
                _t(schema, "search_centroids")
            ),
            (version.version,),
        ).fetchall()
        if not rows or [r[0] for r in rows] != list(range(len(rows))):
            raise RuntimeError(f"the centroids of search version {version.version} are incomplete")
        found = np.stack([np.frombuffer(bytes(c), "<f4") for _, c in rows])
        if len(_CACHE) >= 4:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = found
    return found


def _norms(c: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", c, c)


def nearest_lists(cents: np.ndarray, query: np.ndarray, probes: int) -> list[int]:
    """The ``probes`` lists whose centroids are nearest to the query (L2; the cosine models'
    vectors are unit length, so the order is the same)."""
    q = np.asarray(query, np.float32).reshape(-1)
    d = _norms(cents) - 2.0 * (cents @ q)
    probes = min(probes, len(cents))
    if probes >= len(cents):
        return sorted(range(len(cents)))
    return sorted(int(i) for i in np.argpartition(d, probes - 1)[:probes])


# faiss's threads: the machine's two cores, whatever OMP_NUM_THREADS says (a night's tasks
# share them; BENCHMARKS.md section 14).
FAISS_THREADS = 2


def _faiss():
    """faiss, imported when the structure is trained or filled (not by every search), at most
    FAISS_THREADS threads."""
    import faiss

    if faiss.omp_get_max_threads() > FAISS_THREADS:
        faiss.omp_set_num_threads(FAISS_THREADS)
    return faiss


def assign(vectors: np.ndarray, cents: np.ndarray, chunk: int = 65_536) -> np.ndarray:
    """Each vector's nearest centroid, exact (faiss's brute-force k-NN over all the centroids:
    one matrix product a chunk, 2.5x numpy's at 16,384 lists)."""
    faiss = _faiss()
    vectors = np.ascontiguousarray(vectors, np.float32)
    cents = np.ascontiguousarray(cents, np.float32)
    out = np.empty(len(vectors), np.int32)
    for start in range(0, len(vectors), chunk):
        _, ids = faiss.knn(vectors[start : start + chunk], cents, 1)
        out[start : start + chunk] = ids[:, 0]
    return out


# How a face is given its list, at a load and in a build: "exact", its nearest centroid among all
# of them (``assign``: the list a query's nearest lists are measured against), or "cells", the
# routing before faiss: the nearest centroid among the lists of its nearest eighth of the coarse
# cells (at least 4), faces x (cells + lists / 8) distances instead of faces x lists. "cells" put
# 0.899 of the faces in their nearest list at 1M and 0.488 at 10M (BENCHMARKS.md section 14);
# bench/search_ivf.py --routing compares the two.
ROUTING = "exact"
CELLS_SHARE = 8
CELLS_MIN = 4


def assign_lists(vectors: np.ndarray, cents: np.ndarray, bounds, top: int | None = None) -> np.ndarray:
    """Each vector's list: its nearest centroid (ROUTING "exact"), or with ROUTING "cells" or a
    ``top``, the nearest centroid among the lists of its ``top`` nearest cells (a cell's centre
    is the mean of its lists' centroids; exact when ``top`` covers every cell)."""
    vectors = np.asarray(vectors, np.float32)
    if top is None and ROUTING == "exact":
        return assign(vectors, cents)
    if top is None:
        top = max(CELLS_MIN, math.ceil(len(bounds) / CELLS_SHARE))
    edges = [*bounds, len(cents)]
    if len(bounds) <= top:
        return assign(vectors, cents)
    centres = np.stack([cents[lo:hi].mean(axis=0) for lo, hi in zip(edges, edges[1:])])
    near = np.argpartition(_norms(centres)[None, :] - 2.0 * (vectors @ centres.T), top - 1, axis=1)[:, :top]
    out = np.empty(len(vectors), np.int32)
    best = np.full(len(vectors), np.inf, np.float32)
    cn = _norms(cents)
    for cell in range(len(bounds)):
        rows = np.flatnonzero((near == cell).any(axis=1))
        if not len(rows):
            continue
        lo, hi = edges[cell], edges[cell + 1]
        d = cn[None, lo:hi] - 2.0 * (vectors[rows] @ cents[lo:hi].T)
        arg = np.argmin(d, axis=1)
        dist = d[np.arange(len(rows)), arg]
        better = dist < best[rows]
        out[rows[better]] = lo + arg[better]
        best[rows[better]] = dist[better]
    return out


def _kmeans(x: np.ndarray, k: int, rng: np.random.Generator, iterations: int = KMEANS_ITERATIONS) -> np.ndarray:
    """Lloyd's k-means, initialised on k distinct sample points; an empty list takes a random point."""
    k = max(1, min(k, len(x)))
    cents = x[rng.choice(len(x), k, replace=False)].copy()
    for _ in range(iterations):
        labels = assign(x, cents)
        counts = np.bincount(labels, minlength=k)
        filled = counts > 0
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])[filled]
        # each list's sum: its rows together (a sort), then one reduceat (np.add.at is 10x slower)
        sums = np.add.reduceat(x[np.argsort(labels, kind="stable")], starts, axis=0)
        cents[filled] = sums / counts[filled, None]
        if (~filled).any():
            cents[~filled] = x[rng.choice(len(x), int((~filled).sum()), replace=False)]
    return cents


def _shares(sizes: np.ndarray, total: int) -> np.ndarray:
    """``total`` lists spread over cells in proportion to their sizes, at least one a non-empty cell."""
    sizes = np.asarray(sizes, np.float64)
    share = np.where(sizes > 0, np.maximum(1, np.floor(sizes / sizes.sum() * total)), 0).astype(np.int64)
    share = np.minimum(share, sizes.astype(np.int64))
    while share.sum() < total and (share < sizes).any():
        gap = np.where(share < sizes, sizes / np.maximum(share, 1), -1)
        share[int(np.argmax(gap))] += 1
    return share


def train(sample: np.ndarray, lists: int, seed: int = 0) -> tuple[np.ndarray, tuple[int, ...], tuple[int, ...]]:
    """Centroids for ``lists`` lists from a sample (two levels: coarse cells, then lists within
    each), each cell's first list id, and each cell's share of the sample."""
    sample = np.asarray(sample, np.float32)
    rng = np.random.default_rng(seed)
    lists = max(1, min(int(lists), len(sample)))
    cells = max(1, min(MAX_PARTITIONS, round(math.sqrt(lists))))
    coarse = _kmeans(sample, cells, rng)
    labels = assign(sample, coarse)
    share = _shares(np.bincount(labels, minlength=len(coarse)), lists)
    parts, bounds, sizes, first = [], [], [], 0
    for cell in range(len(coarse)):
        if share[cell] == 0:
            continue
        members = sample[labels == cell]
        parts.append(_kmeans(members, int(share[cell]), rng))
        bounds.append(first)
        sizes.append(len(members))
        first += len(parts[-1])
    return np.vstack(parts), tuple(bounds), tuple(sizes)


# A partition of the search table holds about this many faces (whole coarse cells): a forget
# rewrites the few that held the person's faces (VACUUM FULL: seconds each), and a search
# plans and reads few partitions (BENCHMARKS.md section 14).
PARTITION_FACES = 200_000


def partition_bounds(cells: tuple[int, ...], sizes: tuple[int, ...], faces: int) -> tuple[int, ...]:
    """Consecutive cells grouped into partitions of about PARTITION_FACES faces (by the cells'
    shares of the sample): each partition's first list id."""
    parts = max(1, min(MAX_PARTITIONS, len(cells), round(faces / PARTITION_FACES)))
    if parts == 1:
        return (0,)
    edge = np.cumsum(sizes) / sum(sizes)  # the share of the faces up to each cell's end
    bounds = [0]
    for cell in range(1, len(cells)):
        if edge[cell - 1] >= len(bounds) / parts and len(bounds) < parts:
            bounds.append(cells[cell])
    return tuple(bounds)


def lists_for(faces: int, configured: int = 0) -> int:
    """How many lists a version of ``faces`` faces gets (search_lists; 0: FACES_A_LIST a list)."""
    if configured:
        return configured
    return max(1, min(MAX_LISTS, round(faces / FACES_A_LIST)))


# --- the rows ----------------------------------------------------------------------------


def _vectors(rows) -> np.ndarray:
    def one(v):
        return v.to_numpy() if hasattr(v, "to_numpy") else v

    return np.asarray([one(v) for v in rows], np.float32)


def _insert(
    conn: psycopg.Connection, schema: str, version: Version, cents: np.ndarray, day: dt.date, rows: list
) -> int:
    """One day's rows (day, image_id, face_no, source, embedding) under their lists, in ``version``'s
    table (the vectors come from ``faces`` on the server; only the keys and list ids are sent)."""
    if not rows:
        return 0
    ids = assign_lists(_vectors([r[4] for r in rows]), cents, version.cells)
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (list_id, day, image_id, face_no, source, box_x, box_y, box_w, box_h, embedding)"
            " SELECT l.list_id, f.day, f.image_id, f.face_no, f.source, f.box_x, f.box_y, f.box_w, f.box_h,"
            " f.embedding::{}"
            " FROM unnest(%s::uuid[], %s::smallint[], %s::int[]) AS l(image_id, face_no, list_id)"
            " JOIN {} AS f ON f.day = %s AND f.image_id = l.image_id AND f.face_no = l.face_no"
        ).format(_t(schema, version.table), sql.SQL(version.vector_type or "halfvec"), _t(schema, "faces")),
        ([r[1] for r in rows], [r[2] for r in rows], ids.tolist(), day),
    )
    return len(rows)


def _day_rows(conn: psycopg.Connection, schema: str, day: dt.date, source: str | None) -> list:
    query = sql.SQL(
        "SELECT day, image_id, face_no, source, embedding FROM {} WHERE day = %s"
        " AND (%s::text IS NULL OR source = %s::text)"
    ).format(_t(schema, "faces"))
    with conn.cursor(binary=True) as cur:
        return cur.execute(query, (day, source, source)).fetchall()


def replace_day(conn: psycopg.Connection, schema: str, day: dt.date, source: str | None) -> int:
    """In a load's transaction, after its faces are written: the (day, source)'s rows (every
    source's with ``source`` None) replaced in each version a change must reach."""
    versions = writable(conn, schema)
    if not versions:
        return 0
    rows = _day_rows(conn, schema, day, source)
    for version in versions:
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE day = %s AND (%s::text IS NULL OR source = %s::text)").format(
                _t(schema, version.table)
            ),
            (day, source, source),
        )
        _insert(conn, schema, version, centroids(conn, schema, version), day, rows)
    return len(rows)


def forget_rows(conn: psycopg.Connection, schema: str) -> dict[str, int]:
    """In a forget's transaction, after it filled the temp table forget_faces: its faces deleted
    from every version. Returns the rows deleted per partition table: ``scrub`` rewrites those
    after the forget commits."""
    touched: dict[str, int] = {}
    for version in writable(conn, schema):
        for table, n in conn.execute(
            sql.SQL(
                "WITH gone AS (DELETE FROM {} AS s USING forget_faces AS f"
                " WHERE s.day = f.day AND s.image_id = f.image_id AND s.face_no = f.face_no"
                " RETURNING s.tableoid) SELECT c.relname, count(*) FROM gone JOIN pg_class AS c"
                " ON c.oid = gone.tableoid GROUP BY 1"
            ).format(_t(schema, version.table))
        ).fetchall():
            touched[table] = touched.get(table, 0) + int(n)
    return touched


def scrub(conn: psycopg.Connection, schema: str, tables) -> list[str]:
    """After a forget's commit: the partitions that held its faces rewritten (VACUUM FULL: new
    files for the heap and its indexes, the old ones unlinked), so no page keeps a deleted vector.
    Returns the tables rewritten (a table dropped meanwhile by a swap is skipped)."""
    if not conn.autocommit:
        raise ValueError("the scrub of the search structure needs an autocommit connection (VACUUM)")
    done = []
    for table in sorted(set(tables)):
        if conn.execute("SELECT to_regclass(%s)", (f"{sql.Identifier(schema, table).as_string(conn)}",)).fetchone()[0]:
            conn.execute(sql.SQL("VACUUM (FULL, ANALYZE) {}").format(_t(schema, table)))
            # a rewrite leaves no page marked all-visible: without this, every search's
            # index-only scan of the partition visits the heap for each face until the next VACUUM
            conn.execute(sql.SQL("VACUUM {}").format(_t(schema, table)))
            done.append(table)
    return done


def expire_days(conn: psycopg.Connection, schema: str, before: dt.date) -> int:
    """In retention's transaction: the days before ``before`` deleted from every version (VACUUM
    reclaims the space; the bytes go when their pages are reused or rewritten)."""
    n = 0
    for version in writable(conn, schema):
        n += conn.execute(
            sql.SQL("DELETE FROM {} WHERE day < %s").format(_t(schema, version.table)), (before,)
        ).rowcount
    return n


# --- versions: the build and the swap ------------------------------------------------------


def _create(conn: psycopg.Connection, schema: str, model: ModelSpec, version: int, bounds, lists: int) -> None:
    parent = _t(schema, lists_table(version))
    conn.execute(
        sql.SQL(
            "CREATE TABLE {} (list_id integer NOT NULL, day date NOT NULL, image_id uuid NOT NULL,"
            " face_no smallint NOT NULL, source text NOT NULL, box_x integer NOT NULL, box_y integer NOT NULL,"
            " box_w integer NOT NULL, box_h integer NOT NULL, embedding {} NOT NULL) PARTITION BY RANGE (list_id)"
        ).format(parent, sql.SQL(search_type(model)))
    )
    edges = [*bounds, lists]
    for part, (lo, hi) in enumerate(zip(edges, edges[1:])):
        conn.execute(
            sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
                _t(schema, partition_table(version, part)), parent, sql.Literal(lo), sql.Literal(hi)
            )
        )
    # no statistics of the vectors (pg_statistic would keep some: a forget could not scrub them)
    conn.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN embedding SET STATISTICS 0").format(parent))
    # the lists, read by an index-only scan; page room for a night's inserts into every list
    conn.execute(
        sql.SQL(
            "CREATE INDEX {} ON {} (list_id) INCLUDE (day, image_id, face_no, source, box_x, box_y, box_w, box_h,"
            " embedding) WITH (fillfactor = 80)"
        ).format(sql.Identifier(lists_table(version) + "_lists"), parent)
    )
    # a re-run's, retention's and a forget's rows
    conn.execute(
        sql.SQL("CREATE INDEX {} ON {} (day, image_id, face_no)").format(
            sql.Identifier(lists_table(version) + "_key"), parent
        )
    )


def estimate(conn: psycopg.Connection, schema: str, table: str) -> int:
    (n,) = conn.execute(
        "SELECT coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint FROM pg_inherits AS i"
        " JOIN pg_class AS c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
        (f"{sql.Identifier(schema, table).as_string(conn)}",),
    ).fetchone()
    return int(n)


def face_count(conn: psycopg.Connection, schema: str) -> int:
    """The faces the planner's statistics count (no scan), or a count when there are few."""
    n = estimate(conn, schema, "faces")
    if n < 100_000:
        (n,) = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(_t(schema, "faces"))).fetchone()
    return int(n)


def _sample(conn: psycopg.Connection, schema: str, faces: int, size: int) -> np.ndarray:
    pct = min(100.0, 100.0 * size * 1.2 / max(faces, 1))
    with conn.cursor(binary=True) as cur:
        if pct >= 100.0:
            rows = cur.execute(sql.SQL("SELECT embedding FROM {}").format(_t(schema, "faces"))).fetchall()
        else:
            rows = cur.execute(
                sql.SQL("SELECT embedding FROM {} TABLESAMPLE BERNOULLI (%s) REPEATABLE (7)").format(
                    _t(schema, "faces")
                ),
                (pct,),
            ).fetchall()
    return _vectors([r[0] for r in rows[:size]])


def _days(conn: psycopg.Connection, schema: str) -> list[dt.date]:
    return [
        d for (d,) in conn.execute(sql.SQL("SELECT DISTINCT day FROM {} ORDER BY day").format(_t(schema, "load_runs")))
    ]


def _swap_lock(conn: psycopg.Connection, wait_s: float = 600.0) -> None:
    """The search lock, exclusively, in the current transaction. Tried, not queued for: a
    queued exclusive request would make every new search wait behind it."""
    deadline = time.monotonic() + wait_s
    while not conn.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", (SEARCH_LOCK,)).fetchone()[0]:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the search lock was not free for {wait_s:.0f} s: the new version was not swapped in")
        time.sleep(0.05)


def _drop(conn: psycopg.Connection, schema: str, version: int, state: str) -> None:
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_t(schema, lists_table(version))))
    with conn.transaction():
        conn.execute(
            sql.SQL("UPDATE {} SET state = %s, retired_at = now() WHERE version = %s").format(_t(schema, "search_ivf")),
            (state, version),
        )
        conn.execute(sql.SQL("DELETE FROM {} WHERE version = %s").format(_t(schema, "search_centroids")), (version,))


def build(
    conn: psycopg.Connection, schema: str, model: ModelSpec, *, reason: str, lists: int = 0, seed: int = 0
) -> dict:
    """Train centroids on a sample of the faces, fill a new version day by day, swap it in and
    drop the old one (see the module's doc). Needs an autocommit connection. Returns {version,
    lists, partitions, faces, days, seconds: {train, fill, swap}, dropped}."""
    if not conn.autocommit:
        raise ValueError("a search build needs an autocommit connection: it runs many short transactions")
    started = time.monotonic()
    conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (BUILD_LOCK,))
    version = None
    try:
        for left in _versions(conn, schema, ("building",)):  # a build whose process died
            _drop(conn, schema, left.version, "discarded")
        faces = face_count(conn, schema)
        n_lists = lists_for(faces, lists)
        size = max(n_lists, min(SAMPLE_A_LIST * n_lists, SAMPLE_BYTES // (4 * model.dim)))
        sample = _sample(conn, schema, faces, size)
        if len(sample) == 0:
            raise ValueError("there are no faces to train the search's centroids on")
        cents, cells, sizes = train(sample, n_lists, seed)
        bounds = partition_bounds(cells, sizes, faces)
        del sample
        trained = time.monotonic()
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock_shared(hashtext('facepipe:ddl'))")
            (version,) = conn.execute(
                sql.SQL(
                    "INSERT INTO {} (state, model, lists, bounds, cells, trained_faces, reason)"
                    " VALUES ('building', %s, %s, %s, %s, %s, %s) RETURNING version"
                ).format(_t(schema, "search_ivf")),
                (model.name, len(cents), list(bounds), list(cells), faces, reason),
            ).fetchone()
            with conn.cursor() as cur:
                cur.executemany(
                    sql.SQL("INSERT INTO {} (version, list_id, centroid) VALUES (%s, %s, %s)").format(
                        _t(schema, "search_centroids")
                    ),
                    [(version, i, c.astype("<f4").tobytes()) for i, c in enumerate(cents)],
                )
            _create(conn, schema, model, version, bounds, len(cents))
        new = _versions(conn, schema, ("building",))[0]
        copied = 0
        days = _days(conn, schema)
        for day in days:
            with conn.transaction():
                # as a load does: no schema change and no other load of the day meanwhile
                conn.execute("SELECT pg_advisory_xact_lock_shared(hashtext('facepipe:ddl'))")
                conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext('facepipe:day'), %s)", (int(day.strftime("%Y%m%d")),)
                )
                conn.execute(sql.SQL("DELETE FROM {} WHERE day = %s").format(_t(schema, new.table)), (day,))
                # forget and retention take the ddl lock exclusively: none runs during this copy,
                # and one after it deletes from this version too
                copied += _insert(conn, schema, new, cents, day, _day_rows(conn, schema, day, None))
        filled = time.monotonic()
        conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(_t(schema, new.table)))
        old = None
        with conn.transaction():
            _swap_lock(conn)
            old = current(conn, schema)
            if old is not None:
                conn.execute(
                    sql.SQL("UPDATE {} SET state = 'retiring' WHERE version = %s").format(_t(schema, "search_ivf")),
                    (old.version,),
                )
            conn.execute(
                sql.SQL(
                    "UPDATE {} SET state = 'current', built_at = now(), build_seconds = %s WHERE version = %s"
                ).format(_t(schema, "search_ivf")),
                (time.monotonic() - started, version),
            )
        if old is not None:
            _drop(conn, schema, old.version, "retired")
        swapped = time.monotonic()
        log.info(
            "search: version %s built (%s): %s of %s in %s (%s)",
            version,
            reason,
            plural(copied, "face"),
            plural(len(days), "day"),
            plural(len(cents), "list"),
            plural(len(bounds), "partition"),
        )
        return {
            "version": version,
            "lists": len(cents),
            "partitions": len(bounds),
            "faces": copied,
            "days": len(days),
            "seconds": {
                "train": round(trained - started, 2),
                "fill": round(filled - trained, 2),
                "swap": round(swapped - filled, 2),
            },
            "dropped": old.version if old is not None else None,
        }
    except BaseException:
        if version is not None:
            try:
                conn.rollback() if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE else None
                _drop(conn, schema, version, "discarded")
            except psycopg.Error:
                log.warning("search: the table of the failed build %s was not dropped", version)
        raise
    finally:
        if not conn.closed:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (BUILD_LOCK,))


def discard_leftovers(conn: psycopg.Connection, schema: str) -> int:
    """A version a build left 'building' when its process died may hold faces a forget has
    deleted since (its copy ran before): after a forget's commit, waits for a running build (it
    saw the forget: loads and forgets reach a version being built) and drops what a dead one left.
    Returns the tables dropped."""
    if not _versions(conn, schema, ("building", "retiring")):
        return 0
    got = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (BUILD_LOCK,)).fetchone()[0]
    if not got:
        return 0  # a live build: forget_rows reached its table, and scrub rewrites it
    try:
        left = _versions(conn, schema, ("building", "retiring"))
        for v in left:
            _drop(conn, schema, v.version, "discarded" if v.state == "building" else "retired")
        return len(left)
    finally:
        conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (BUILD_LOCK,))


# --- drift and maintenance -----------------------------------------------------------------


@dataclass(frozen=True)
class State:
    """The search structure as status shows it."""

    version: int | None
    built_at: dt.datetime | None
    lists: int
    partitions: int
    trained_faces: int
    faces: int  # rows now
    faces_now: int  # faces in ``faces`` now
    largest_list: int
    median_list: float
    building: int

    def as_dict(self) -> dict:
        return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in dataclasses.asdict(self).items()}

    @property
    def growth(self) -> float:
        return self.faces_now / self.trained_faces if self.trained_faces else 0.0

    def due(self, growth: float, min_faces: int = MIN_FACES) -> str | None:
        """Why new centroids are due now (None: they are not)."""
        if self.version is None:
            return "first version" if self.faces_now >= min_faces else None
        if self.growth >= growth:
            return f"the faces grew {self.growth:.1f}x since its centroids were trained (>= {growth:g}x)"
        return None

    def summary(self) -> str:
        if self.version is None:
            return (
                f"no centroids yet: searches read every face of their range ({plural(self.faces_now, 'face')};"
                f" face_search trains them from {MIN_FACES:,} faces)"
                + (f"; {self.building} version building" if self.building else "")
            )
        return (
            f"version {self.version} built {str(self.built_at)[:16]} UTC: {plural(self.faces, 'face')} in"
            f" {plural(self.lists, 'list')} ({plural(self.partitions, 'partition')}"
            + (f"; largest list {self.largest_list}, median {self.median_list:g}" if self.largest_list else "")
            + f"), trained on {plural(self.trained_faces, 'face')}"
            f" ({self.growth:.2f}x since)" + (f"; {self.building} version building" if self.building else "")
        )


def state(conn: psycopg.Connection, schema: str, *, exact: bool = True) -> State:
    building = len(_versions(conn, schema, ("building",)))
    v = current(conn, schema)
    faces_now = face_count(conn, schema)
    if v is None:
        return State(None, None, 0, 0, 0, 0, faces_now, 0, 0.0, building)
    if exact:  # a scan of both (seconds at 10M faces): face_search's log, not status
        rows, largest, median = conn.execute(
            sql.SQL(
                "SELECT coalesce(sum(n), 0)::bigint, coalesce(max(n), 0), coalesce(percentile_cont(0.5) WITHIN GROUP"
                " (ORDER BY n), 0) FROM (SELECT count(*) AS n FROM {} GROUP BY list_id) AS l"
            ).format(_t(schema, v.table))
        ).fetchone()
        (faces_now,) = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(_t(schema, "faces"))).fetchone()
    else:  # the planner's counts
        rows, largest, median = estimate(conn, schema, v.table), 0, 0.0
    return State(
        v.version,
        v.built_at,
        v.lists,
        len(v.bounds),
        v.trained_faces,
        int(rows),
        int(faces_now),
        int(largest),
        float(median),
        building,
    )


def maintain(
    conn: psycopg.Connection, schema: str, model: ModelSpec, *, growth: float, lists: int = 0, force: bool = False
) -> dict:
    """face_search's daily step: log the state, train new centroids when due (or ``force``),
    VACUUM the current version (index-only scans need its visibility map), log the state after."""
    before = state(conn, schema)
    log.info("search before: %s", before.summary())
    reason = "asked for" if force else before.due(growth)
    result: dict = {"before": before.as_dict(), "reason": reason, "built": False}
    if reason is None:
        log.info("search: no new centroids due")
    elif before.faces_now == 0:
        log.info("search: no faces to train on")
        reason = None
    else:
        result.update(built=True, build=build(conn, schema, model, reason=reason, lists=lists))
    v = current(conn, schema)
    if v is not None and reason is None:
        conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(_t(schema, v.table)))
    after = state(conn, schema)
    log.info("search after: %s", after.summary())
    result["after"] = after.as_dict()
    return result
