"""Face search: the k faces most like the face in a photo, over a day range.

``python -m facepipe search PHOTO --k 10 --since DAY --until DAY --source NAME``
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg
from psycopg import sql

from facepipe.core.days import horizon
from facepipe.core.db import load_sql
from facepipe.core.specs import ModelSpec


@dataclass(frozen=True)
class Match:
    day: dt.date
    image_id: str
    face_no: int
    uri: str
    source: str
    camera: str | None
    captured_at: dt.datetime | None
    box: tuple[int, int, int, int]
    distance: float


def query_vector(photo: Path, model: ModelSpec, detector_name: str, min_face: int = 64) -> np.ndarray:
    """The embedding of the largest face in the photo (faces from ``min_face`` px of the photo)."""
    from facepipe.core.sources import read_limited
    from facepipe.models.detect import FaceSizing, make_detector
    from facepipe.models.embed import make_embedder
    from facepipe.models.faces import embed_largest_face

    found = embed_largest_face(
        read_limited(Path(photo)),
        make_detector(detector_name),
        make_embedder(model.name),
        FaceSizing.of(detector_name, min_face),
    )
    if found is None:
        raise ValueError(f"no face found in {photo}")
    return found[1]


# A source filter that keeps at most this many faces of the day range is searched
# exactly: the source's rows are read through the faces_source btree and every
# distance computed. bench/ann.py, 1,000,000 faces over 30 days on 2 cores: 100,000
# rows in 30 ms (37 ms without parallel workers), 300,000 in 67 ms (100 ms), where
# the 30 per-day HNSW searches take 94-228 ms for recall 0.85-0.97 (ef_search
# 100-400). The exact cost grows with the rows, the HNSW cost with the partitions
# searched: past this, a range of few, large days is cheaper through HNSW.
EXACT_MAX_ROWS = 300_000
# The generation's HNSW search width when the caller gives none (a source filter: 400).
SEALED_EF_SEARCH = 200


def filtered_rows(conn: psycopg.Connection, schema: str, *, since: dt.date, until: dt.date, source: str) -> int:
    """The planner's estimate of the faces from ``source`` in the day range (nothing is counted)."""
    plan = conn.execute(
        sql.SQL("EXPLAIN (FORMAT JSON) ") + load_sql("search_filtered_rows.sql", schema=schema),
        {"since": since, "until": until, "source": source},
    ).fetchone()[0]
    return int(plan[0]["Plan"]["Plan Rows"])


# A search over at least this many days the current generation holds (facepipe.search.
# generations) reads its one index for them instead of one graph per day.
SEALED_MIN_DAYS = 3

# The IVFFlat lists of the generation a search reads (FACEPIPE_SEARCH_PROBES): recall
# against latency, measured in bench/search_index.py (BENCHMARKS.md section 9, lists as
# generations.ivfflat_lists makes them, halfvec): recall@10 0.995 at 1M faces, 0.974 at 2M
# (67 ms), 0.934 at 10M (109 ms; 100 probes: 0.966 at 169 ms). 32 probes: 0.972, 0.916, 0.859.
PROBES = 64


# The memory of an IVFFlat search's sort of the faces its probes read (work_mem, for the
# search's transaction only): at the 4MB default the sort of 64 lists' 130,000 faces spills
# to disk and takes 60 ms where 64MB takes 45 (1M faces, 1,000 lists; BENCHMARKS.md section 9).
IVFFLAT_WORK_MEM = "64MB"

# A halfvec generation's candidates per face asked for, re-ranked by the full vector: the
# halfvec distance is within about 1e-3 of it, so the k nearest are among the first few k.
RERANK = 4


def search_probes() -> int:
    from facepipe.core.deployment import settings

    return settings().search_probes


@dataclass(frozen=True)
class _Plan:
    """What a search runs: its path ("exact", "hnsw": per day, "sealed": the generation's graph
    plus the open days) and its statements, with their settings applied (SET LOCAL)."""

    path: str
    statements: list[tuple[sql.Composed, dict]]
    settings: list[list[tuple[str, str]]]  # per statement: (setting, value), applied before it


def _search_plan(
    conn: psycopg.Connection,
    schema: str,
    model: ModelSpec,
    query: np.ndarray,
    *,
    k: int,
    since: dt.date,
    until: dt.date,
    source: str | None,
    ef_search: int | None,
    exact_max_rows: int,
    probes: int | None = None,
) -> _Plan:
    """Choose the path (call it in a transaction: the search lock and settings are local to it)."""
    from facepipe.core.db import vector_value
    from facepipe.search import generations

    if not conn.autocommit:
        # Inside a caller's transaction the SET LOCALs below would outlive the search.
        raise ValueError(
            "face search needs an autocommit connection (its planner settings are local to its own transaction)"
        )
    if k < 1 or k > 1000:
        raise ValueError("k must be between 1 and 1000")
    params = {
        "query": vector_value(model, np.asarray(query, np.float32)),
        "k": k,
        "since": since,
        "until": until,
        "source": source,
    }
    # A generic plan cannot prune partitions by the day range and falls back
    # to exact scans of every partition (measured in bench/ann.py).
    conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
    if source is not None and exact_max_rows > 0:
        if filtered_rows(conn, schema, since=since, until=until, source=source) <= exact_max_rows:
            statement = load_sql("search_faces_exact.sql", schema=schema, op=model.distance_op)
            return _Plan("exact", [(statement, params)], [[]])
    requested = ef_search
    if ef_search is None:
        # A filter discards part of what the graph search finds: search wider
        # (bench: recall@10 0.73 at ef_search 40, 0.97 at 400 with a 10% filter).
        ef_search = 400 if source is not None else 100
    ef = ("hnsw.ef_search", str(max(ef_search, k)))
    # The HNSW scans return rows in distance order. Without sorts the planner
    # cannot trade them for reading the filtered rows and sorting them (at high
    # ef_search it would, through faces_source or a seq scan): the exact path does
    # that, chosen above by row count.
    strict = [("hnsw.iterative_scan", "strict_order"), ef, ("enable_sort", "off")]
    generations.lock_shared(conn)  # the current generation stays current until the search ends
    gen = generations.current(conn, schema) if generations.has_generations(conn, schema) else None
    if gen is not None:
        days = conn.execute(
            load_sql("search_days.sql", schema=schema), {"since": since, "until": until, "gen": gen}
        ).fetchall()
        sealed = [d for d, _, is_sealed, _ in days if is_sealed]
        opened = [d for d, _, is_sealed, _ in days if not is_sealed]
        if len(sealed) >= SEALED_MIN_DAYS:
            # One graph for the sealed days, relaxed order (the outer query sorts): the
            # iterative scan skips deleted rows and other days until k rows pass; the open
            # days (few: maintenance keeps them so) in their partitions, strictly ordered
            # (their scans are merged by Merge Append).
            table = generations.sealed_table(gen)
            if generations.is_half(conn, schema, gen):
                # its index is on the vectors as halfvec: RERANK x k candidates by that
                # distance, re-ranked by the full vector's
                statement = load_sql(
                    "search_on_days_half.sql", schema=schema, table=table, op=model.distance_op, half=model.dim
                )
            else:
                statement = load_sql("search_on_days.sql", schema=schema, table=table, op=model.distance_op)
            statements = [(statement, {**params, "days": sealed, "candidates": RERANK * k})]
            # The generation's index is IVFFlat or HNSW (generations.Policy): the settings
            # of both, the other's are ignored.
            # One graph whatever the days, so it can afford a wider search than each of 30
            # or 365 per-day graphs (BENCHMARKS.md section 9, 1M faces of 50,000 people:
            # recall@10 0.942 at ef_search 100, 0.959 at 200, p50 17 ms at load 5.8).
            wide = (
                "hnsw.ef_search",
                str(max(ef_search if requested is not None else max(ef_search, SEALED_EF_SEARCH), k)),
            )
            settings = [
                [
                    ("hnsw.iterative_scan", "relaxed_order"),
                    wide,
                    ("hnsw.max_scan_tuples", "50000"),
                    ("ivfflat.iterative_scan", "relaxed_order"),
                    ("ivfflat.probes", str(probes or search_probes())),
                    ("work_mem", IVFFLAT_WORK_MEM),
                    ("enable_sort", "off"),
                ]
            ]
            if opened:
                statements.append(
                    (
                        load_sql("search_on_days.sql", schema=schema, table="faces", op=model.distance_op),
                        {**params, "days": opened},
                    )
                )
                settings.append(strict)
            return _Plan("sealed", statements, settings)
    return _Plan("hnsw", [(load_sql("search_faces.sql", schema=schema, op=model.distance_op), params)], [strict])


def _apply(conn: psycopg.Connection, settings: list[tuple[str, str]]) -> None:
    for name, value in settings:
        conn.execute("SELECT set_config(%s, %s, true)", (name, value))


def _run_sealed(conn: psycopg.Connection, schema: str, plan: _Plan, k: int) -> list[Match] | None:
    """The sealed path: the generation's and the open days' candidates merged, then their photos.
    None when fewer than k came back (the scan's cap met a very selective filter): the caller
    searches day by day instead, which is complete."""
    found = []
    for (statement, params), settings in zip(plan.statements, plan.settings):
        _apply(conn, settings)
        found += conn.execute(statement, params).fetchall()
    found.sort(key=lambda r: (r[8], r[0], str(r[1]), r[2]))
    found = found[:k]
    if len(found) < k:
        return None
    photos = {
        (day, image_id): rest
        for day, image_id, *rest in conn.execute(
            load_sql("search_images.sql", schema=schema),
            {"days": sorted({r[0] for r in found}), "image_ids": sorted({r[1] for r in found})},
        )
    }
    out = []
    for day, image_id, face_no, source, bx, by, bw, bh, distance in found:
        photo = photos.get((day, image_id))
        if photo is not None:  # always (a face's photo goes with it); never a half-made row
            uri, camera, captured_at = photo
            out.append(
                Match(day, str(image_id), face_no, uri, source, camera, captured_at, (bx, by, bw, bh), float(distance))
            )
    return out


def _after_horizon(conn: psycopg.Connection, schema: str, since: dt.date) -> dt.date:
    """``since``, or the retention horizon when it is later: no search reaches an expired day."""
    first = horizon(conn, schema).before
    return first if first is not None and since < first else since


def search_faces(
    conn: psycopg.Connection,
    schema: str,
    model: ModelSpec,
    query: np.ndarray,
    *,
    k: int = 10,
    since: dt.date,
    until: dt.date,
    source: str | None = None,
    ef_search: int | None = None,
    exact_max_rows: int = EXACT_MAX_ROWS,
    probes: int | None = None,
) -> list[Match]:
    """The k nearest faces in the day range, nearest first.

    With a source filter that the planner expects to keep at most
    ``exact_max_rows`` faces (0: never), the answer is exact: every face of the
    source in the range is compared. Otherwise, when the current search generation
    (facepipe.search.generations) holds at least SEALED_MIN_DAYS of the range's days,
    its one index is searched for them (IVFFlat: ``probes`` lists, default
    FACEPIPE_SEARCH_PROBES; HNSW: ``ef_search``) and each day loaded since in its own
    partition; else each day's HNSW index is searched (``ef_search``). Every index
    search is pgvector's iterative index scan, so a filter still gives k rows when k
    exist.
    """
    with conn.transaction():
        since = _after_horizon(conn, schema, since)
        if since > until:
            return []
        args = dict(
            k=k,
            since=since,
            until=until,
            source=source,
            ef_search=ef_search,
            exact_max_rows=exact_max_rows,
            probes=probes,
        )
        plan = _search_plan(conn, schema, model, query, **args)
        if plan.path == "sealed":
            found = _run_sealed(conn, schema, plan, k)
            if found is not None:
                return found
            plan = _Plan(
                "hnsw",
                [(load_sql("search_faces.sql", schema=schema, op=model.distance_op), plan.statements[0][1])],
                [[("hnsw.iterative_scan", "strict_order"), *plan.settings[0][1:2], ("enable_sort", "off")]],
            )
        (statement, params), settings = plan.statements[0], plan.settings[0]
        _apply(conn, settings)
        rows = conn.execute(statement, params).fetchall()
    return [Match(r[0], str(r[1]), r[2], r[3], r[4], r[5], r[6], (r[7], r[8], r[9], r[10]), float(r[11])) for r in rows]


def explain_search(
    conn: psycopg.Connection,
    schema: str,
    model: ModelSpec,
    query: np.ndarray,
    *,
    k: int = 10,
    since: dt.date,
    until: dt.date,
    source: str | None = None,
    ef_search: int | None = None,
    exact_max_rows: int = EXACT_MAX_ROWS,
    probes: int | None = None,
    analyze: bool = False,
) -> tuple[str, str]:
    """The path search_faces takes for these arguments ("exact", "hnsw" or "sealed") and its
    queries' plans (the sealed path: the generation's, then the open days').

    The plan text holds the query vector as a literal: it is biometric data, keep it
    out of logs (facepipe only calls this from tests and bench/, on synthetic vectors).
    """
    with conn.transaction():
        since = _after_horizon(conn, schema, since)
        plan = _search_plan(
            conn,
            schema,
            model,
            query,
            k=k,
            since=since,
            until=until,
            source=source,
            ef_search=ef_search,
            exact_max_rows=exact_max_rows,
            probes=probes,
        )
        explain = sql.SQL("EXPLAIN (ANALYZE, BUFFERS) " if analyze else "EXPLAIN ")
        plans = []
        for (statement, params), settings in zip(plan.statements, plan.settings):
            _apply(conn, settings)
            plans.append("\n".join(r[0] for r in conn.execute(explain + statement, params)))
    return plan.path, "\n".join(plans)
