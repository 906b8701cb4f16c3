"""Benchmark photos: camera frames and phone photos with 0-4 real faces each.

Built from facepipe.ops.samples' public helpers (``render_photo`` of a face-less
plan gives a blurred scene background; ``lfw_face`` an upscaled LFW face that
both detectors find; ``jpeg_bytes`` the EXIF-tagged JPEG). The background is
cropped to the target aspect ratio and resized; faces are placed at the same
proportion of the frame as in the demo (150-260 px in a 1600 px frame, i.e.
9.4-16% of the long side), so they are detectable at full size and after
facepipe's 1024 px downscale. Seeded: the same arguments give the same files.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

SIZES = {"camera": (1920, 1080), "phone": (4032, 3024)}
FACE_FRACTION = (150 / 1600, 260 / 1600)  # of the long side, as in facepipe.ops.samples
FACE_COUNT_P = (0.15, 0.35, 0.25, 0.15, 0.10)  # 0, 1, 2, 3, 4 faces


@dataclass(frozen=True)
class TruthBox:
    x: int
    y: int
    w: int
    h: int
    lfw_index: int


def _place(n: int, width: int, height: int, rng: np.random.Generator) -> list[tuple[int, int, int]]:
    lo, hi = (round(f * max(width, height)) for f in FACE_FRACTION)
    margin = round(0.025 * max(width, height))
    placed: list[tuple[int, int, int]] = []
    for _ in range(n):
        for _try in range(1000):
            s = int(rng.integers(lo, hi + 1))
            x = int(rng.integers(margin, width - s - margin))
            y = int(rng.integers(margin, height - s - margin))
            if all(
                x + s + margin <= px or px + ps + margin <= x or y + s + margin <= py or py + ps + margin <= y
                for px, py, ps in placed
            ):
                placed.append((x, y, s))
                break
    return placed


def render(kind: str, seed: int) -> tuple[np.ndarray, list[TruthBox]]:
    """RGB pixels of one photo of ``kind`` (camera | phone) and its true face boxes."""
    from facepipe.ops import samples

    width, height = SIZES[kind]
    rng = np.random.default_rng(seed)
    plan = samples.PhotoPlan(
        name="bg",
        kind="group",
        camera=1,
        taken=dt.datetime(2026, 1, 1),
        scene=str(rng.choice(samples.BACKGROUND_SCENES)),
        noise_seed=int(rng.integers(2**31)),
    )
    bg = samples.render_photo(plan)  # FRAME_W x FRAME_H, blurred, no faces
    bh, bw = bg.shape[:2]
    aspect = width / height
    if bw / bh > aspect:
        cw, ch = round(bh * aspect), bh
    else:
        cw, ch = bw, round(bw / aspect)
    x0, y0 = (bw - cw) // 2, (bh - ch) // 2
    canvas = cv2.resize(bg[y0 : y0 + ch, x0 : x0 + cw], (width, height), interpolation=cv2.INTER_LINEAR)
    canvas = canvas.astype(np.float32)
    n = int(rng.choice(len(FACE_COUNT_P), p=FACE_COUNT_P))
    pool = list(samples.DETECTABLE_LFW_FACES)
    truth = []
    for x, y, s in _place(n, width, height, rng):
        index = int(rng.choice(pool))
        tint = rng.uniform(0.92, 1.08, 3).astype(np.float32)
        canvas[y : y + s, x : x + s] = samples.lfw_face(index, s).astype(np.float32) * tint
        truth.append(TruthBox(x, y, s, s, index))
    # sensor-like noise, so the JPEG carries some entropy like a real photo
    canvas += rng.normal(0, 3.0, canvas.shape).astype(np.float32)
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8), truth


def lay_out(dest: Path, day: dt.date, kind: str, count: int, seed: int = 11, prefix: str | None = None) -> list[dict]:
    """Write ``count`` photos of ``kind`` to ``dest/YYYY-MM-DD/``; return their truth.

    Files already there with the same name and seed are reused (truth is kept
    next to them in a JSON sidecar outside the dated folder). Any other file in
    the folder (from a run with another count) is removed: facepipe reads the
    whole day folder, and the classic loop only the listed photos.
    """
    from facepipe.ops.samples import jpeg_bytes

    folder = Path(dest) / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    prefix = prefix or kind
    sidecar = Path(dest) / f".truth-{day.isoformat()}-{prefix}-{count}-{seed}.json"
    if sidecar.exists():
        truth = json.loads(sidecar.read_text())
        if all(Path(t["path"]).exists() for t in truth):
            _remove_others(folder, {Path(t["path"]).name for t in truth})
            return truth
    _remove_others(folder, set())
    out = []
    start = dt.datetime.combine(day, dt.time(8, 0))
    for i in range(count):
        rgb, boxes = render(kind, seed * 100_003 + i)
        taken = start + dt.timedelta(seconds=37 * i)
        path = folder / f"{prefix}_{i:04d}.jpg"
        path.write_bytes(jpeg_bytes(rgb, taken=taken, camera=1 + i % 3))
        ts = taken.replace(tzinfo=dt.UTC).timestamp()
        os.utime(path, (ts, ts))
        out.append(
            {
                "path": str(path),
                "kind": kind,
                "width": rgb.shape[1],
                "height": rgb.shape[0],
                "bytes": path.stat().st_size,
                "faces": [asdict(b) for b in boxes],
            }
        )
    sidecar.write_text(json.dumps(out))
    return out


def _remove_others(folder: Path, keep: set[str]) -> None:
    for path in folder.iterdir():
        if path.is_file() and path.name not in keep:
            path.unlink()


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ax0, ay0, aw, ah = a
    bx0, by0, bw, bh = b
    ix = max(0, min(ax0 + aw, bx0 + bw) - max(ax0, bx0))
    iy = max(0, min(ay0 + ah, by0 + bh) - max(ay0, by0))
    inter = ix * iy
    return inter / float(aw * ah + bw * bh - inter) if inter else 0.0


def match(truth: list[dict], found: dict[str, list[tuple[int, int, int, int]]], min_iou: float = 0.3) -> dict:
    """Detected boxes against the true faces: true positives, misses, false positives."""
    tp = fp = fn = 0
    for photo in truth:
        boxes = list(found.get(photo["path"], []))
        for t in photo["faces"]:
            tb = (t["x"], t["y"], t["w"], t["h"])
            best = max(range(len(boxes)), key=lambda k: iou(tb, boxes[k]), default=None)
            if best is not None and iou(tb, boxes[best]) >= min_iou:
                tp += 1
                boxes.pop(best)
            else:
                fn += 1
        fp += len(boxes)
    total = tp + fn
    return {
        "true_faces": total,
        "found_true": tp,
        "missed": fn,
        "false_positives": fp,
        "recall": round(tp / total, 3) if total else None,
    }
