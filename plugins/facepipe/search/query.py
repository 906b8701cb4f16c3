"""Face search: the k faces most like the face in a photo, over a day range.

``python -m facepipe search PHOTO --k 10 --since DAY --until DAY --source NAME``
"""

from __future__ import annotations

import datetime as dt
import math
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


# A search whose day range and source keep at most this many faces (as the loads counted them)
# reads every one of them and computes every distance: exact, and about as fast as the IVF's
# lists there (bench/ann.py, 1,000,000 faces on 2 cores: 100,000 rows in 30 ms). Past it, the
# IVF (facepipe.search.ivf) reads only the probed lists.
EXACT_MAX_ROWS = 50_000
# What a face costs the IVF path against the exact path, at the filter's widened lists: the
# exact path's scan of a range 0.4-1.2 µs a face (every day 387 ms, a source 123 ms, 30 days 47 ms
# at 1M), the lists' index-only scans about 0.9 µs (bench/search_ivf.py at 1M faces, quiet).
EXACT_COST_RATIO = 2.0
# The IVF's candidates, ranked by the search table's halfvec distance, a search re-ranks by their
# exact vectors: RERANK times k of them (a halfvec's distance is within about 1e-3 of the exact
# one; BENCHMARKS.md section 14 measures the recall against the full vectors').
RERANK = 4


def filtered_rows(
    conn: psycopg.Connection, schema: str, *, since: dt.date, until: dt.date, source: str | None = None
) -> tuple[int, int]:
    """The faces in the day range (of ``source``) and in every day, as the loads counted them."""
    kept, total = conn.execute(
        load_sql("search_filtered_rows.sql", schema=schema), {"since": since, "until": until, "source": source}
    ).fetchone()
    return int(kept), int(total)


def search_probes() -> int:
    from facepipe.core.deployment import settings

    return settings().search_probes


@dataclass(frozen=True)
class _Plan:
    """What a search runs: its path ("exact": every face of the range; "ivf": the probed lists
    of the current version) and its statement, with its settings applied (SET LOCAL)."""

    path: str
    statement: sql.Composed
    params: dict
    settings: list[tuple[str, str]]
    # the IVF's: its candidates re-ranked by their exact vectors in faces (search_rerank.sql)
    rerank: sql.Composed | None = None


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
    exact_max_rows: int,
    probes: int | None = None,
) -> _Plan:
    """Choose the path (call it in a transaction: the search lock and settings are local to it)."""
    from facepipe.core.db import vector_value
    from facepipe.search import ivf

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
    # A generic plan cannot prune partitions by the day range (or the lists) and falls back
    # to scans of every partition (measured in bench/ann.py).
    conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
    exact = _Plan("exact", load_sql("search_faces_exact.sql", schema=schema, op=model.distance_op), params, [])
    ivf.lock_shared(conn)  # the current version's table stays in place until the search ends
    version = ivf.current(conn, schema)
    if version is None or version.model != model.name:
        return exact
    rows, total = filtered_rows(conn, schema, since=since, until=until, source=source)
    if exact_max_rows > 0 and rows <= exact_max_rows:
        return exact
    # A filter (a source, part of the days) keeps a share of each list's faces: read as many more
    # lists, so that about as many faces of the range are compared as without it. That reads
    # probes x (faces a list) / share faces; the exact path reads the range's, each for less:
    # when that is at most EXACT_COST_RATIO times more, read the range (exact, its recall 1.0
    # where the widened lists' is 0.56-0.71; BENCHMARKS.md section 14).
    share = min(1.0, max(rows, 1) / max(total, 1))
    width = math.ceil((probes or search_probes()) / share)
    if exact_max_rows > 0 and rows <= EXACT_COST_RATIO * width * total / version.lists:
        return exact
    lists = ivf.nearest_lists(ivf.centroids(conn, schema, version), query, width)
    approximate = version.vector_type != model.column_type
    return _Plan(
        "ivf",
        load_sql(
            "search_ivf.sql",
            schema=schema,
            table=version.table,
            op=model.distance_op,
            vector_type=version.vector_type or model.column_type,
        ),
        {**params, "lists": lists, "limit": RERANK * k if approximate else k},
        # the lists' rows through their covering btree (an index-only scan), never a bitmap
        # scan of the heap, which reads them in arrival order (bench/HISTORY.md section 13)
        [("enable_bitmapscan", "off"), ("enable_seqscan", "off"), ("max_parallel_workers_per_gather", "0")],
        load_sql("search_rerank.sql", schema=schema, op=model.distance_op) if approximate else None,
    )


def _apply(conn: psycopg.Connection, settings: list[tuple[str, str]]) -> None:
    for name, value in settings:
        conn.execute("SELECT set_config(%s, %s, true)", (name, value))


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
    exact_max_rows: int = EXACT_MAX_ROWS,
    probes: int | None = None,
) -> list[Match]:
    """The k nearest faces in the day range (of ``source``), nearest first.

    Where the planner expects the range and source to keep at most ``exact_max_rows`` faces
    (0: never), or no centroids are trained yet, every face of them is compared: the answer is
    exact. Otherwise the current version of the IVF (facepipe.search.ivf) is read: the faces
    of the ``probes`` lists nearest to the query (default: the setting search_probes), ranked by
    their exact distance. When those lists hold fewer than k faces of the range, the search
    reads every face of the range instead, so k faces come back whenever k exist.
    """
    with conn.transaction():
        since = _after_horizon(conn, schema, since)
        if since > until:
            return []
        plan = _search_plan(
            conn,
            schema,
            model,
            query,
            k=k,
            since=since,
            until=until,
            source=source,
            exact_max_rows=exact_max_rows,
            probes=probes,
        )
        _apply(conn, plan.settings)
        rows = conn.execute(plan.statement, plan.params).fetchall()
        if plan.path == "ivf" and len(rows) < k:  # the probed lists hold fewer than k faces of the range
            exact = load_sql("search_faces_exact.sql", schema=schema, op=model.distance_op)
            rows = conn.execute(exact, plan.params).fetchall()
        elif plan.rerank is not None:
            rows = _reranked(conn, plan, rows)
        rows = _with_photos(conn, schema, rows)
    return [Match(r[0], str(r[1]), r[2], r[3], r[4], r[5], r[6], (r[7], r[8], r[9], r[10]), float(r[11])) for r in rows]


def _reranked(conn: psycopg.Connection, plan: _Plan, candidates: list) -> list:
    """The IVF's candidates (ranked by their halfvec distance) ranked by their exact vectors in
    ``faces``: the k nearest, with their exact distances."""
    return conn.execute(
        plan.rerank,
        {
            **plan.params,
            "c_days": [r[0] for r in candidates],
            "c_images": [r[1] for r in candidates],
            "c_faces": [r[2] for r in candidates],
            "days": sorted({r[0] for r in candidates}),
        },
    ).fetchall()


def _with_photos(conn: psycopg.Connection, schema: str, found: list) -> list:
    """Either path's (day, image_id, face_no, source, box, distance) rows with their photos (a
    face's photo goes with it: never a half-made row)."""
    if not found:
        return []
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
        if photo is not None:
            uri, camera, captured_at = photo
            out.append((day, image_id, face_no, uri, source, camera, captured_at, bx, by, bw, bh, distance))
    return out


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
    exact_max_rows: int = EXACT_MAX_ROWS,
    probes: int | None = None,
    analyze: bool = False,
) -> tuple[str, str]:
    """The path search_faces takes for these arguments ("exact" or "ivf") and its query's plan.

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
            exact_max_rows=exact_max_rows,
            probes=probes,
        )
        explain = sql.SQL("EXPLAIN (ANALYZE, BUFFERS) " if analyze else "EXPLAIN ")
        _apply(conn, plan.settings)
        text = "\n".join(r[0] for r in conn.execute(explain + plan.statement, plan.params))
    return plan.path, text
