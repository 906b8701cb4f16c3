"""RAW photos: the embedded preview against demosaicing the raw data; time and recall.

Inputs: ``--count`` 24 MP group photos (facepipe.ops.samples.group_photo, 6000x4000,
10-20 real faces of 64-400 px on real textures, seeded), each written as a DNG by
facepipe.ops.sample_raws: 12-bit RGGB mosaic, uncompressed, a 256 px thumbnail,
and (for the preview path) a full-size baseline JPEG preview, as Canon and Nikon
embed one. The same photo as a JPEG (quality 90) is the reference.

Each path is decoded, then MTCNN detects at facepipe's default sizing (smallest
face 64 px: a 3000x2000 copy, smallest face 32 px in it), one thread, as one shard
runs. Paths:

* jpeg: the same photo as a JPEG, facepipe's JPEG path (reference);
* preview: facepipe.models.imaging.decode of the DNG with its JPEG preview;
* demosaic half: decode of the DNG without a preview (LibRaw half_size: each 2x2
  Bayer block one pixel, no interpolation);
* demosaic full, linear: LibRaw's bilinear demosaic at full size, then reduced to
  the same 3000 px (what facepipe does when the detector needs every pixel);
* demosaic full, AHD: LibRaw's default (rawpy.postprocess() with no arguments),
  reduced to 3000 px: what a straightforward RAW loader would do.

A face is found when a box overlaps it with IoU >= 0.3. Time is wall-clock per file,
decode and detect apart.

    .venv/bin/python bench/raw.py [--count 6]

writes bench/results/raw.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one shard per core
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent / "plugins"))

import photos  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
WIDTH, HEIGHT = 6000, 4000
FACE_PX = (64, 400)
FACE_COUNTS = (10, 14, 20)
BANDS = ((64, 100), (100, 200), (200, 401))
PATHS = ("jpeg", "preview", "demosaic half", "demosaic full, linear", "demosaic full, AHD")


def make_inputs(count: int) -> list[dict]:
    from facepipe.ops.sample_raws import dng_bytes
    from facepipe.ops.samples import group_photo, jpeg_bytes

    out = []
    for i in range(count):
        rgb, faces = group_photo(WIDTH, HEIGHT, FACE_COUNTS[i % len(FACE_COUNTS)], FACE_PX, seed=900 + i)
        out.append(
            {
                "jpeg": jpeg_bytes(rgb),
                "dng_preview": dng_bytes(rgb, preview=WIDTH),
                "dng": dng_bytes(rgb),
                "faces": [(f.x, f.y, f.size, f.size) for f in faces],
            }
        )
    return out


def _full(data: bytes, algorithm) -> tuple:
    import io

    import cv2
    import rawpy

    with rawpy.imread(io.BytesIO(data)) as raw:
        rgb = raw.postprocess(use_camera_wb=True, output_bps=8, demosaic_algorithm=algorithm)
    side = WIDTH // 2
    f = side / max(rgb.shape[:2])
    small = cv2.resize(rgb, (round(rgb.shape[1] * f), round(rgb.shape[0] * f)), interpolation=cv2.INTER_AREA)
    return small, 1 / f, 32.0


def decode_path(path: str, item: dict):
    """(rgb, full-size pixels per rgb pixel, smallest face in rgb pixels)"""
    import rawpy

    from facepipe.models.detect import FaceSizing
    from facepipe.models.imaging import decode

    sizing = FaceSizing.of("mtcnn", 64)
    if path == "demosaic full, linear":
        return _full(item["dng"], rawpy.DemosaicAlgorithm.LINEAR)
    if path == "demosaic full, AHD":
        return _full(item["dng"], None)
    data = {"jpeg": item["jpeg"], "preview": item["dng_preview"], "demosaic half": item["dng"]}[path]
    img = decode(data, sizing=sizing)
    return img.rgb, img.scale, img.min_face


def run(count: int) -> dict:
    import cv2

    from facepipe.models.detect import make_detector

    cv2.setNumThreads(1)
    t = time.perf_counter()
    inputs = make_inputs(count)
    print(f"raw: {count} photos of {WIDTH}x{HEIGHT} ready in {time.perf_counter() - t:.0f}s", flush=True)
    detector = make_detector("mtcnn")
    out: dict = {
        "photos": count,
        "size": f"{WIDTH}x{HEIGHT}",
        "faces": sum(len(i["faces"]) for i in inputs),
        "bytes": {
            "jpeg": round(sum(len(i["jpeg"]) for i in inputs) / count),
            "dng_preview": round(sum(len(i["dng_preview"]) for i in inputs) / count),
            "dng": round(sum(len(i["dng"]) for i in inputs) / count),
        },
        "loadavg_before": Path("/proc/loadavg").read_text().split()[:3],
        "paths": {},
    }
    for path in PATHS:
        decode_s = detect_s = 0.0
        hits = {b: [0, 0] for b in BANDS}
        false_pos = 0
        for item in inputs:
            t0 = time.perf_counter()
            rgb, scale, min_face = decode_path(path, item)
            t1 = time.perf_counter()
            boxes = detector.detect(rgb, min_face)
            t2 = time.perf_counter()
            decode_s, detect_s = decode_s + t1 - t0, detect_s + t2 - t1
            found = [(round(b.x * scale), round(b.y * scale), round(b.w * scale), round(b.h * scale)) for b in boxes]
            for face in item["faces"]:
                band = next(b for b in BANDS if b[0] <= face[2] < b[1])
                hits[band][1] += 1
                best = max(range(len(found)), key=lambda k: photos.iou(face, found[k]), default=None)
                if best is not None and photos.iou(face, found[best]) >= 0.3:
                    hits[band][0] += 1
                    found.pop(best)
            false_pos += len(found)
        total = [sum(v[0] for v in hits.values()), sum(v[1] for v in hits.values())]
        res = {
            "decode_ms_per_file": round(1000 * decode_s / count),
            "detect_ms_per_file": round(1000 * detect_s / count),
            "recall": round(total[0] / total[1], 3),
            "recall_by_face_px": {f"{lo}-{hi - 1}": f"{f}/{n}" for (lo, hi), (f, n) in hits.items()},
            "false_positives": false_pos,
        }
        out["paths"][path] = res
        print(f"raw {path}: {res}", flush=True)
    base = out["paths"]["preview"]["decode_ms_per_file"]
    for res in out["paths"].values():
        res["decode_vs_preview"] = round(res["decode_ms_per_file"] / max(1, base), 1)
    out["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--count", type=int, default=6)
    args = ap.parse_args()
    out = run(args.count)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "raw.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS / 'raw.json'}")


if __name__ == "__main__":
    main()
