"""What the nightly path and the people and privacy operations both need to know of
forgotten faces: the suppressions (a photo's SHA-256 and a box, no vector) and the
block_future templates, and how boxes overlap. Below both sides, so the ingest never
imports the forget."""

from __future__ import annotations

import numpy as np
import psycopg
from psycopg import sql

from facepipe.core.db import load_sql

Box = tuple[int, int, int, int]


def _t(schema: str, table: str) -> sql.Identifier:
    return sql.Identifier(schema, table)


def iou(a: Box, b: Box) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = min(ax + aw, bx + bw) - max(ax, bx)
    h = min(ay + ah, by + bh) - max(ay, by)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / (aw * ah + bw * bh - inter)


# A re-run's box is the suppressed face when it overlaps the forgotten box this much.
# The same detector at the same settings draws the same box again (IoU 1). On the
# sample photos, MTCNN at another smallest face draws it 0.92-0.99 apart, HOG 0.66-0.85
# and Haar 0.63-0.80 (tests/test_forget.py re-runs a day with HOG), while two faces of
# one photo overlap far less.
SAME_FACE_IOU = 0.4
# A video's forgotten face is its track's box at its frame time: a re-run's track is that
# face when it overlaps the box and its span holds the frame time, give or take a sample
# (another person at the same place at another time is not).
SAME_TRACK_SLACK_S = 1.0


def same_face(box: Box, first_s: float | None, last_s: float | None, forgotten: Box, frame_s: float | None) -> bool:
    """Whether a face (a photo's, or a video's track with its span) is a forgotten one."""
    if iou(box, forgotten) < SAME_FACE_IOU:
        return False
    if frame_s is None or first_s is None:
        return True
    return first_s - SAME_TRACK_SLACK_S <= frame_s <= (last_s if last_s is not None else first_s) + SAME_TRACK_SLACK_S


FORGOTTEN = "forgotten"  # the reject reason of a forgotten photo that arrives again


def suppressed_lookup(conn: psycopg.Connection, schema: str, times: bool = False):
    """lookup(sha256s) -> {sha256: [box, or None for the whole photo]} for the suppressed
    ones; with ``times``, each box as (box, frame_s): a video face's frame time, else None."""
    query = load_sql("suppressed_boxes.sql", schema=schema)

    def lookup(shas: list[str]) -> dict:
        out: dict[str, list] = {}
        for sha, x, y, w, h, frame_s in conn.execute(query, {"shas": list(shas)}):
            box = None if x is None else (x, y, w, h)
            out.setdefault(sha, []).append((box, frame_s) if times and box is not None else box)
        return out

    return lookup


def distances(op: str, vectors: np.ndarray, template: np.ndarray) -> np.ndarray:
    """pgvector's distance ``op`` from each row of ``vectors`` to ``template``: (n,) for one
    template, (n, m) for m of them (rows)."""
    v, t = np.asarray(vectors, np.float64), np.asarray(template, np.float64)
    if t.ndim == 2:
        dot = v @ t.T
        if op == "<->":
            return np.sqrt(np.maximum((v * v).sum(axis=1)[:, None] + (t * t).sum(axis=1) - 2 * dot, 0.0))
        if op == "<=>":
            return 1 - dot / np.maximum(np.linalg.norm(v, axis=1)[:, None] * np.linalg.norm(t, axis=1), 1e-12)
        if op == "<#>":
            return -dot
    elif op == "<->":
        return np.linalg.norm(v - t, axis=1)
    elif op == "<=>":
        return 1 - v @ t / np.maximum(np.linalg.norm(v, axis=1) * np.linalg.norm(t), 1e-12)
    elif op == "<#>":
        return -(v @ t)
    raise ValueError(f"not a pgvector distance operator: {op!r}")


def blocked_templates(conn: psycopg.Connection, schema: str) -> list[tuple[np.ndarray, float]]:
    """The templates of the people forgotten with block_future, with their thresholds."""
    return [
        (np.asarray(v.to_numpy() if hasattr(v, "to_numpy") else v, np.float64), th)
        for v, th in conn.execute(sql.SQL("SELECT template, threshold FROM {}").format(_t(schema, "forget_templates")))
    ]
