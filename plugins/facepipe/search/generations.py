"""The search structure over every day: generations of one ANN index, beside the day partitions.

Day partitions stay the unit of loading, re-runs, retention and exact filtered search, but a
search over many days through them is one graph search per day (a LIMIT prunes no
partition). A *generation* is one table, ``<schema>.search_sealed_g<N>``, holding a copy of
the faces (key, source, box, vector) of every day loaded when it was built, under one ANN
index (an HNSW graph, or IVFFlat lists: ``Policy``). Search (facepipe.search.query) reads:

- the current generation's graph for the range's days it holds *as of their newest load*
  (``search_sealed_days.run_no`` equal to the day's newest ``load_runs.run_no``), with
  pgvector's iterative scan, so rows a forget or retention deleted from it (invisible at
  once: MVCC is the tombstone) and days loaded again since are skipped and k rows still
  come back;
- every other day of the range (loaded since the build: open) in its own partition, through
  its own HNSW index, as before.

So the search costs one graph search plus one per open day, however many days are kept, and
is exactly as consistent as ``faces``: a load (a re-run, a Clear, another source) opens its
day by writing ``load_runs`` in its own transaction (the ingest needs to know nothing of
this); forget and retention delete their rows from the generation in their transaction
(``forget_rows``, ``expire_days``).

``maintain`` (the DAG face_search, daily) rebuilds when too many days are open or too many
of the generation's rows are dead: the new generation is copied day by day (one short
transaction each) and indexed beside the current one, which searches keep using, then
swapped in under a lock searches hold only for their own few milliseconds, and the old
table dropped (its files, with every deleted vector in them, go with it). A forget rebuilds
at once after its commit, so that no file keeps a forgotten vector (docs/privacy.md). A
forget or retention that commits while a generation is building spoils it: it is discarded
at the swap and built again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql

from facepipe.core.config import SQL_DIR, ConfigError
from facepipe.core.db import load_sql
from facepipe.core.specs import ModelSpec
from facepipe.core.text import plural

log = logging.getLogger(__name__)

# Searches hold it shared for their transaction; the swap of generations exclusively.
SEARCH_LOCK = "facepipe:search"
# One build at a time (a session lock: held across the build's transactions).
BUILD_LOCK = "facepipe:search_build"


def sealed_table(gen: int) -> str:
    return f"search_sealed_g{int(gen)}"


def _t(schema: str, table: str) -> sql.Identifier:
    return sql.Identifier(schema, table)


def has_generations(conn: psycopg.Connection, schema: str) -> bool:
    found = conn.execute("SELECT to_regclass(%s)", (f"{sql.Identifier(schema).as_string(conn)}.search_generations",))
    return found.fetchone()[0] is not None


def lock_shared(conn: psycopg.Connection) -> None:
    """In a transaction: the current generation stays current until it ends."""
    conn.execute("SELECT pg_advisory_xact_lock_shared(hashtext(%s))", (SEARCH_LOCK,))


def current(conn: psycopg.Connection, schema: str) -> int | None:
    """The current generation's number (None: none built yet)."""
    row = conn.execute(
        sql.SQL("SELECT gen FROM {} WHERE state = 'current'").format(_t(schema, "search_generations"))
    ).fetchone()
    return row[0] if row else None


def is_half(conn: psycopg.Connection, schema: str, gen: int) -> bool:
    """Whether generation ``gen``'s index is on its vectors as halfvec (``half_column``)."""
    row = conn.execute(
        sql.SQL("SELECT half FROM {} WHERE gen = %s").format(_t(schema, "search_generations")), (gen,)
    ).fetchone()
    return bool(row and row[0])


def half_type(model: ModelSpec) -> sql.Composable:
    """The halfvec type of ``model``'s vectors: the indexed expression of a halfvec generation
    is ``embedding::<this>``, and a search must order by the same expression to use it."""
    return sql.SQL("halfvec({})").format(sql.Literal(int(model.dim)))


def index_column(model: ModelSpec, half: bool) -> sql.Composable:
    """What a generation's index is on, with its operator class: the vector itself, or (``half``)
    the vector as halfvec: half the bytes per face to read, within about 1e-3 of the distance,
    which the search's re-rank by the full vector makes exact again."""
    if not half:
        return sql.SQL("embedding {}").format(sql.SQL(model.opclass))
    opclass = model.opclass.replace("vector_", "halfvec_", 1)
    return sql.SQL("(embedding::{}) {}").format(half_type(model), sql.SQL(opclass))


INDEX_KINDS = ("auto", "hnsw", "ivfflat")

# FACEPIPE_SEARCH_INDEX=auto: a generation of this many faces or more is indexed by IVFFlat,
# a smaller one by HNSW: where one graph's recall@10 falls below 0.95 on the synthetic dlib
# faces, 20 a person (BENCHMARKS.md section 9, bench/search_index.py). One HNSW graph (m 16):
# 1M faces 0.959 at ef_search 200 (17 ms), 2M 0.922 (14 ms) and 0.936 at 400 (22 ms), 10M
# 0.77 at best; IVFFlat on halfvec at 64 probes: 2M 0.974 (67 ms), 10M 0.934 (109 ms), built
# 4.7x faster than the graph at 10M. Between the measured 1M and 2M: 1.5M.
AUTO_IVFFLAT_FACES = 1_500_000


def mem_bytes(setting: str) -> int:
    """A PostgreSQL memory setting (``512MB``, ``2GB``, ``64kB``, a bare number: kB) in bytes."""
    units = {"B": 1, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
    digits = setting.rstrip("kMGTB")
    return int(digits) * units.get(setting[len(digits) :], 1 << 10)


def kmeans_bytes(lists: int, dim: int, half: bool) -> int:
    """The memory pgvector's IVFFlat build asks of maintenance_work_mem for its k-means (it
    refuses to start with less: "memory required is N MB"): a sample of 50 faces a list, and
    a float per sample and list for Elkan's bounds, so it grows with lists squared: 1,000
    lists need 0.2 GB, 3,162 2.1 GB, 7,071 9.6 GB, 10,000 19 GB (pgvector's ivfkmeans.c)."""
    item = 8 + (2 if half else 4) * dim
    samples = max(50 * lists, 10_000)  # pgvector samples at least 10,000 rows (fewer if the table has fewer)
    return samples * (item + 8) + lists * (item + 4 * dim + 12) + 4 * lists * (samples + lists)


def ivfflat_lists(faces: int, build_mem: str = "1GB", dim: int = 128, half: bool = True) -> int:
    """IVFFlat lists for a generation of ``faces`` rows when FACEPIPE_SEARCH_LISTS is 0: a list
    per 1,000 faces (pgvector's advice up to 1M rows), as many as the build's k-means fits in
    ``build_mem`` (FACEPIPE_SEARCH_BUILD_MEM, with 5% to spare) beyond that; at least 1.
    More lists, shorter ones: at 10M faces recall at a given number of probes hardly moves
    from 3,162 lists to 5,000 (0.875 / 0.878 at 32 probes), while the faces a probe reads
    fall with the lists (BENCHMARKS.md section 9); the build's time grows with faces x lists."""
    budget = 0.95 * mem_bytes(build_mem)
    lists = max(1, min(faces // 1000, 32768))
    while lists > 1 and kmeans_bytes(lists, dim, half) > budget:
        lists = int(lists * 0.97)
    return lists


@dataclass(frozen=True)
class Policy:
    """When maintenance rebuilds: FACEPIPE_SEARCH_MAX_OPEN_DAYS days loaded since the last
    build (each is one more graph search per query), or FACEPIPE_SEARCH_MAX_STALE of the
    generation's rows that no search reads (deleted, or of a day loaded again). The build
    uses at most FACEPIPE_SEARCH_BUILD_MEM of maintenance_work_mem (it spills, slower,
    beyond it).

    How the generation is indexed: FACEPIPE_SEARCH_INDEX ``hnsw`` with FACEPIPE_SEARCH_HNSW_M
    and FACEPIPE_SEARCH_HNSW_EF_CONSTRUCTION, searched at the query's ef_search; ``ivfflat``
    on the vectors as halfvec with FACEPIPE_SEARCH_LISTS lists (0: ``ivfflat_lists``),
    searched with FACEPIPE_SEARCH_PROBES (facepipe.search.query); or ``auto`` (the default):
    HNSW below AUTO_IVFFLAT_FACES faces, IVFFlat from there (``for_faces``)."""

    max_open_days: int = 4
    max_stale: float = 0.10
    build_mem: str = "1GB"
    index: str = "auto"
    lists: int = 0
    hnsw_m: int = 16
    hnsw_ef_construction: int = 64

    @classmethod
    def from_env(cls) -> Policy:
        """The deployment's search_* settings (facepipe.core.config checks each)."""
        from facepipe.core.deployment import settings

        s = settings()
        return cls(**{f.name: getattr(s, f"search_{f.name}") for f in dataclasses.fields(cls)})

    def for_faces(self, faces: int) -> Policy:
        """This policy for a generation of ``faces``: ``auto`` made ``hnsw`` or ``ivfflat``."""
        if self.index != "auto":
            return self
        return dataclasses.replace(self, index="ivfflat" if faces >= AUTO_IVFFLAT_FACES else "hnsw")

    def half(self, model: ModelSpec) -> bool:
        """Whether a generation of ``model``'s vectors is indexed on them as halfvec: IVFFlat on
        a ``vector`` column (BENCHMARKS.md section 9: at 1M faces its recall at 16 / 32 / 64
        probes 0.930 / 0.972 / 0.995 against 0.889 / 0.954 / 0.983 on the vector, with the
        re-rank). HNSW stays on the vector: halfvec graphs were not measured."""
        return self.index == "ivfflat" and model.vector_type == "vector"

    def lists_for(self, faces: int, model: ModelSpec) -> int:
        """The IVFFlat lists of a generation of ``faces`` of ``model``'s vectors: FACEPIPE_SEARCH_LISTS,
        or ``ivfflat_lists`` when it is 0. Lists whose k-means needs more than
        FACEPIPE_SEARCH_BUILD_MEM are refused here, naming both settings, not an hour into a build."""
        half = self.half(model) or model.vector_type == "halfvec"
        if not self.lists:
            return ivfflat_lists(faces, self.build_mem, model.dim, half)
        lists = min(self.lists, max(1, faces))  # no more lists than faces
        need = kmeans_bytes(lists, model.dim, half)
        if need > mem_bytes(self.build_mem):
            raise ConfigError(
                f"FACEPIPE_SEARCH_LISTS={self.lists} needs FACEPIPE_SEARCH_BUILD_MEM of at least"
                f" {math.ceil(need / 2**20)}MB for the build's k-means (it is {self.build_mem});"
                " raise it, or set FACEPIPE_SEARCH_LISTS=0 to take as many lists as it allows"
            )
        return lists

    def index_sql(self, column: sql.Composable, faces: int, model: ModelSpec) -> sql.Composable:
        """The index method, ``column`` (with its operator class) and options of a generation
        of ``faces`` of ``model``'s vectors."""
        if self.index == "hnsw":
            return sql.SQL("hnsw ({}) WITH (m = {}, ef_construction = {})").format(
                column, sql.Literal(self.hnsw_m), sql.Literal(self.hnsw_ef_construction)
            )
        return sql.SQL("ivfflat ({}) WITH (lists = {})").format(column, sql.Literal(self.lists_for(faces, model)))


@dataclass(frozen=True)
class Lag:
    """How far the search structure is behind the day partitions."""

    gen: int | None
    built_at: dt.datetime | None
    sealed_faces: int  # rows copied into the current generation
    removed: int  # of them, deleted since by forget and retention
    open_days: int  # days loaded since it was built: searched one graph each
    open_faces: int
    shadowed: int  # its rows of days loaded again since (no search reads them)
    oldest_open: dt.date | None
    building: int  # generations being built now
    index: str = ""  # the current generation's index, as ``describe_index`` says it

    def as_dict(self) -> dict:
        return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in dataclasses.asdict(self).items()}

    @property
    def stale(self) -> float:
        return (self.removed + self.shadowed) / self.sealed_faces if self.sealed_faces else 0.0

    def due(self, policy: Policy) -> str | None:
        """Why a rebuild is due now (None: it is not)."""
        if self.gen is None:
            return "first generation" if self.open_days or policy.max_open_days < 0 else None
        if policy.max_open_days < 0:
            return "asked for"
        if self.open_days > policy.max_open_days:
            return f"{plural(self.open_days, 'open day')} > {policy.max_open_days}"
        if self.stale > policy.max_stale:
            return f"{self.stale:.1%} stale rows > {policy.max_stale:.0%}"
        return None

    def summary(self) -> str:
        if self.gen is None:
            return (
                f"off (opt-in: unpause the DAG face_search, or run `facepipe search-maintain`, to build it):"
                f" {plural(self.open_days, 'day')} ({plural(self.open_faces, 'face')}) searched day by day"
                + (f"; {self.building} generation building" if self.building else "")
            )
        return (
            f"generation {self.gen}"
            + (f" ({self.index})" if self.index else "")
            + f" built {str(self.built_at)[:16]} UTC holds {plural(self.sealed_faces, 'face')}"
            f" ({self.removed} deleted since, {self.shadowed} of days loaded again);"
            f" {plural(self.open_days, 'day')} loaded since ({plural(self.open_faces, 'face')}"
            + (f", oldest {self.oldest_open}" if self.oldest_open else "")
            + f") searched day by day; {self.stale:.1%} stale"
            + (f"; {self.building} generation building" if self.building else "")
        )


def describe_index(indexdef: str) -> str:
    """A generation's index from its definition (pg_indexes.indexdef), for ``status``:
    ``hnsw, m 16, ef_construction 64`` or ``ivfflat, 6934 lists, on halfvec``."""
    method = re.search(r"\bUSING (\w+)", indexdef)
    options = dict(re.findall(r"(\w+)='?(\d+)'?", indexdef.rpartition("WITH")[2]))
    if method is None:
        return ""
    if method[1] == "ivfflat":
        lists = options.get("lists", "?")
        return f"ivfflat, {lists} list{'' if lists == '1' else 's'}" + (
            ", on halfvec" if "::halfvec" in indexdef else ""
        )
    return f"{method[1]}, " + ", ".join(f"{k} {v}" for k, v in options.items())


def lag(conn: psycopg.Connection, schema: str) -> Lag:
    if not has_generations(conn, schema):
        return Lag(None, None, 0, 0, 0, 0, 0, None, 0)
    row = conn.execute(load_sql("search_lag.sql", schema=schema)).fetchone()
    gen, built_at, faces, removed, open_days, open_faces, shadowed, oldest, building = row
    index = ""
    if gen is not None:
        found = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s"
            " AND indexdef ~ ' USING (hnsw|ivfflat) '",
            (schema, sealed_table(gen)),
        ).fetchone()
        index = describe_index(found[0]) if found else ""
    return Lag(
        gen,
        built_at,
        int(faces),
        int(removed),
        int(open_days),
        int(open_faces),
        int(shadowed),
        oldest,
        int(building),
        index,
    )


def _spoil_building(conn: psycopg.Connection, schema: str) -> None:
    conn.execute(
        sql.SQL("UPDATE {} SET spoiled = true WHERE state = 'building'").format(_t(schema, "search_generations"))
    )


def forget_rows(conn: psycopg.Connection, schema: str) -> int:
    """In a forget's transaction, after it filled the temp table forget_faces: its faces
    deleted from the current generation (a generation being built is spoiled). Returns the
    rows deleted; facepipe.privacy.forget rebuilds after its commit (``rebuild``)."""
    if not has_generations(conn, schema):
        return 0
    lock_shared(conn)
    _spoil_building(conn, schema)
    gen = current(conn, schema)
    if gen is None:
        return 0
    n = conn.execute(load_sql("search_gen_forget.sql", schema=schema, sealed=sealed_table(gen))).rowcount
    conn.execute(
        sql.SQL("UPDATE {} SET removed = removed + %s WHERE gen = %s").format(_t(schema, "search_generations")),
        (n, gen),
    )
    return n


def expire_days(conn: psycopg.Connection, schema: str, before: dt.date) -> int:
    """In retention's transaction: the days before ``before`` deleted from the current
    generation (a generation being built is spoiled). Their bytes stay in its files, as dead
    rows, until the next rebuild drops the table."""
    if not has_generations(conn, schema):
        return 0
    lock_shared(conn)
    _spoil_building(conn, schema)
    gen = current(conn, schema)
    if gen is None:
        return 0
    n = conn.execute(sql.SQL("DELETE FROM {} WHERE day < %s").format(_t(schema, sealed_table(gen))), (before,)).rowcount
    conn.execute(
        sql.SQL("DELETE FROM {} WHERE gen = %s AND day < %s").format(_t(schema, "search_sealed_days")), (gen, before)
    )
    conn.execute(
        sql.SQL("UPDATE {} SET removed = removed + %s WHERE gen = %s").format(_t(schema, "search_generations")),
        (n, gen),
    )
    return n


def _drop_generation(conn: psycopg.Connection, schema: str, gen: int, state: str) -> None:
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_t(schema, sealed_table(gen))))
    with conn.transaction():
        conn.execute(
            sql.SQL("UPDATE {} SET state = %s, retired_at = now() WHERE gen = %s").format(
                _t(schema, "search_generations")
            ),
            (state, gen),
        )
        conn.execute(sql.SQL("DELETE FROM {} WHERE gen = %s").format(_t(schema, "search_sealed_days")), (gen,))


def _swap_lock(conn: psycopg.Connection, wait_s: float = 600.0) -> None:
    """The search lock, exclusively, in the current transaction. Tried, not queued for: a
    queued exclusive request would make every new search wait behind it."""
    deadline = time.monotonic() + wait_s
    while not conn.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", (SEARCH_LOCK,)).fetchone()[0]:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the search lock was not free for {wait_s:.0f} s: the new generation was not swapped in"
            )
        time.sleep(0.05)


@contextmanager
def _spills(conn: psycopg.Connection) -> Iterator[list[str]]:
    """pgvector's notice that the graph being built no longer fits in maintenance_work_mem
    (a count of tuples, nothing else), collected while the block runs."""
    said: list[str] = []

    def notice(diag) -> None:
        if "maintenance_work_mem" in (diag.message_primary or ""):
            said.append(diag.message_primary)

    conn.add_notice_handler(notice)
    try:
        yield said
    finally:
        conn.remove_notice_handler(notice)


def rebuild(
    conn: psycopg.Connection, schema: str, model: ModelSpec, *, reason: str, policy: Policy | None = None
) -> dict:
    """Build a new generation from every loaded day and swap it in (see the module's doc),
    indexed and with the memory ``policy`` says (default: Policy.from_env()).
    Returns {gen, faces, days, seconds, discarded, dropped}. Needs an autocommit connection;
    the schema must hold ``model``'s vectors (facepipe.core.schema.require)."""
    policy = policy or Policy.from_env()
    if not conn.autocommit:
        raise ValueError("a search rebuild needs an autocommit connection: it runs many short transactions")
    started = time.monotonic()
    _check_settings(conn, policy, model)
    conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (BUILD_LOCK,))
    try:
        gens = _t(schema, "search_generations")
        # a build that died (its process killed) left its table: nobody else builds now
        for (old,) in conn.execute(sql.SQL("SELECT gen FROM {} WHERE state = 'building'").format(gens)).fetchall():
            _drop_generation(conn, schema, old, "discarded")
        (gen,) = conn.execute(
            sql.SQL("INSERT INTO {} (state, reason) VALUES ('building', %s) RETURNING gen").format(gens), (reason,)
        ).fetchone()
        try:
            return _build(conn, schema, model, gen, reason, policy, started)
        except BaseException:
            # a build that fails leaves no table: it holds a copy of every face (a forget
            # after it would not know of it)
            try:
                conn.execute("RESET maintenance_work_mem")
                state = conn.execute(sql.SQL("SELECT state FROM {} WHERE gen = %s").format(gens), (gen,)).fetchone()
                if state and state[0] == "building":
                    _drop_generation(conn, schema, gen, "discarded")
            except Exception:
                log.warning("search generation %s: the failed build's table is left; the next rebuild drops it", gen)
            raise
    finally:
        conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (BUILD_LOCK,))


def _check_settings(conn: psycopg.Connection, policy: Policy, model: ModelSpec) -> None:
    """What would fail a build after its copy, refused before it: a build memory PostgreSQL
    does not take, and IVFFlat lists it cannot hold."""
    try:
        with conn.transaction():
            conn.execute(sql.SQL("SET LOCAL maintenance_work_mem = {}").format(sql.Literal(policy.build_mem)))
    except psycopg.errors.DataError as exc:  # out of range, or not a memory size
        raise ConfigError(f"FACEPIPE_SEARCH_BUILD_MEM={policy.build_mem[:20]}: {exc.diag.message_primary}") from None
    if policy.lists and policy.index != "hnsw":
        policy.lists_for(policy.lists, model)


def _build(
    conn: psycopg.Connection, schema: str, model: ModelSpec, gen: int, reason: str, policy: Policy, started: float
) -> dict:
    """``rebuild`` once generation ``gen`` is registered as building: copy, index, swap."""
    gens = _t(schema, "search_generations")
    table = sealed_table(gen)
    conn.execute(
        sql.SQL((SQL_DIR / "search_gen_table.sql").read_text()).format(
            schema=sql.Identifier(schema), sealed=sql.Identifier(table), vector_type=sql.SQL(model.column_type)
        )
    )
    days = [
        d
        for (d,) in conn.execute(
            sql.SQL("SELECT DISTINCT day FROM {} ORDER BY day").format(_t(schema, "load_runs"))
        ).fetchall()
    ]
    copy = load_sql("search_gen_copy_day.sql", schema=schema, sealed=table)
    faces, spoiled = 0, False
    for day in days:
        with conn.transaction():
            row = conn.execute(copy, {"gen": gen, "day": day}).fetchone()
            faces += row[0] if row else 0
        spoiled = conn.execute(sql.SQL("SELECT spoiled FROM {} WHERE gen = %s").format(gens), (gen,)).fetchone()[0]
        if spoiled:
            break
    copied = time.monotonic()
    policy = policy.for_faces(faces)
    spilled: list[str] = []
    if not spoiled:
        conn.execute(sql.SQL("SET maintenance_work_mem = {}").format(sql.Literal(policy.build_mem)))
        half = policy.half(model)
        method = policy.index_sql(index_column(model, half), faces, model)
        with _spills(conn) as spilled:
            conn.execute(
                sql.SQL("CREATE INDEX {} ON {} USING {}").format(
                    sql.Identifier(f"{table}_embedding_{policy.index}"), _t(schema, table), method
                )
            )
        if spilled:
            log.warning(
                "search generation %s: %s; the build went on on disk, many times slower:"
                " FACEPIPE_SEARCH_BUILD_MEM=%s is too small for %s (HNSW at m 16 needs about"
                " 1.2 kB a face, BENCHMARKS.md section 9)",
                gen,
                spilled[0],
                policy.build_mem,
                plural(faces, "face"),
            )
        conn.execute(
            sql.SQL("CREATE INDEX {} ON {} (day, image_id)").format(
                sql.Identifier(table + "_day_image"), _t(schema, table)
            )
        )
        conn.execute(sql.SQL("ANALYZE {}").format(_t(schema, table)))
        conn.execute("RESET maintenance_work_mem")
    indexed = time.monotonic()
    old = None
    with conn.transaction():
        _swap_lock(conn)
        spoiled = conn.execute(
            sql.SQL("SELECT spoiled FROM {} WHERE gen = %s FOR UPDATE").format(gens), (gen,)
        ).fetchone()[0]
        if not spoiled:
            old = current(conn, schema)
            if old is not None:
                conn.execute(
                    sql.SQL("UPDATE {} SET state = 'retired', retired_at = now() WHERE gen = %s").format(gens),
                    (old,),
                )
            conn.execute(
                sql.SQL(
                    "UPDATE {} SET state = 'current', built_at = now(), faces = %s, build_seconds = %s,"
                    " half = %s WHERE gen = %s"
                ).format(gens),
                (faces, time.monotonic() - started, policy.half(model), gen),
            )
    if spoiled:
        _drop_generation(conn, schema, gen, "discarded")
        log.info("search generation %s discarded: a forget or retention committed while it was built", gen)
    elif old is not None:
        _drop_generation(conn, schema, old, "retired")
    result = {
        "gen": gen,
        "faces": faces,
        "days": len(days),
        "copy_seconds": round(copied - started, 2),
        "index_seconds": round(indexed - copied, 2),
        "seconds": round(time.monotonic() - started, 2),
        "discarded": spoiled,
        "spilled": bool(spilled),
        "dropped": old,
        "reason": reason,
        "index": policy.index,
        "lists": policy.lists_for(faces, model) if policy.index == "ivfflat" else None,
        "half": policy.half(model),
    }
    log.info("search rebuild: %s", result)
    return result


def discard_leftovers(conn: psycopg.Connection, schema: str) -> int:
    """After a forget's commit: a generation being built may hold the forgotten faces (copied
    before the forget), and so may the table of a build whose process died. Waits for a
    running build (the forget spoiled it: it drops its own table at its end) and drops what a
    dead one left. Returns the tables dropped."""
    if not has_generations(conn, schema):
        return 0
    building = sql.SQL("SELECT gen FROM {} WHERE state = 'building'").format(_t(schema, "search_generations"))
    if conn.execute(building).fetchone() is None:
        return 0
    conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (BUILD_LOCK,))
    try:
        left = [gen for (gen,) in conn.execute(building).fetchall()]
        for gen in left:
            _drop_generation(conn, schema, gen, "discarded")
        return len(left)
    finally:
        conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (BUILD_LOCK,))


def maintain(conn: psycopg.Connection, schema: str, model: ModelSpec, policy: Policy | None = None) -> dict:
    """What the daily maintenance task does: log the lag, rebuild if due (twice at most: a
    build a forget or retention spoiled is built again), log the lag after."""
    policy = policy or Policy.from_env()
    before = lag(conn, schema)
    log.info("search lag before: %s", before.summary())
    reason = before.due(policy)
    result: dict = {"lag_before": before.as_dict(), "reason": reason, "rebuilt": False}
    if reason is None:
        log.info("search: no rebuild due (policy %s)", policy)
    else:
        for _ in range(2):
            built = rebuild(conn, schema, model, reason=reason, policy=policy)
            if not built["discarded"]:
                result.update(rebuilt=True, build=built)
                break
            result["discarded"] = result.get("discarded", 0) + 1
    after = lag(conn, schema)
    log.info("search lag after: %s", after.summary())
    result["lag_after"] = after.as_dict()
    return result
