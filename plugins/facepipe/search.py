"""Face search: the k faces most like the face in a photo, over a day range.

``python -m facepipe search PHOTO --k 10 --since DAY --until DAY --source NAME``
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg

from facepipe.db import load_sql
from facepipe.models import ModelSpec


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


def query_vector(photo: Path, model: ModelSpec, detector_name: str, min_face: int = 40,
                 max_side: int = 1024) -> np.ndarray:
    """The embedding of the largest face in the photo."""
    from facepipe.detect import make_detector
    from facepipe.embed import make_embedder
    from facepipe.process import embed_largest_face

    found = embed_largest_face(Path(photo).read_bytes(), make_detector(detector_name, min_face),
                               make_embedder(model.name), max_side)
    if found is None:
        raise ValueError(f"no face found in {photo}")
    return found[1]

def search_faces(conn: psycopg.Connection, schema: str, model: ModelSpec, query: np.ndarray, *, k: int = 10,
                 since: dt.date, until: dt.date, source: str | None = None,
                 ef_search: int | None = None) -> list[Match]:
    """k nearest faces; a selective filter still gives k rows when k exist.

    pgvector's iterative index scan (strict order) keeps reading each
    partition's HNSW index until the filter has let k rows through.
    """
    from facepipe.store import vector_value

    if k < 1 or k > 1000:
        raise ValueError("k must be between 1 and 1000")
    if ef_search is None:
        # A selective filter discards most of what the graph search finds:
        # search wider (bench: recall@10 0.73 at ef_search 40, 0.97 at 400).
        ef_search = 400 if source is not None else 100
    with conn.transaction():
        conn.execute("SET LOCAL hnsw.iterative_scan = strict_order")
        # A generic plan cannot prune partitions by the day range and falls back
        # to exact scans of every partition (measured in bench/ann.py).
        conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(max(ef_search, k)),))
        rows = conn.execute(load_sql("search_faces.sql", schema=schema, op=model.distance_op),
                            {"query": vector_value(model, np.asarray(query, np.float32)), "k": k,
                             "since": since, "until": until, "source": source}).fetchall()
    return [Match(r[0], str(r[1]), r[2], r[3], r[4], r[5], r[6], (r[7], r[8], r[9], r[10]), float(r[11]))
            for r in rows]
