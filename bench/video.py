"""Videos: seconds of decode + detect per minute of 1080p and 4K video, at the default
sampling (FACEPIPE_VIDEO_SAMPLE_SECONDS=1, key frames only where they suffice) against
decoding every frame, and the recall of tracks against a dense-sampling reference.

    .venv/bin/python bench/video.py [--seconds 20] [--fps 30] [--detector mtcnn]

Input: clips made here with libx264 (a key frame every second, as phones write them),
the two sample people of tests/helpers/videos.py entering and leaving (the astronaut
from 10% to 47% of the clip, the visitor from 33% to 87%). Figures per minute are the
clip's scaled to 60 s. "every frame" decodes and converts every frame (measured) and
detects on each (the detector's per-frame time measured on the sampled frames, times the
frame count: extrapolated, marked so). Recall: the reference samples 5 times a second;
a reference track is found when a default-sampling track of the same person (vector
within the model's match distance) overlaps it in time. Writes bench/results/video.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests"))  # the tests' video writer (helpers/videos.py)


def _clip(path: Path, size: tuple[int, int], seconds: float, fps: int) -> None:
    from helpers.videos import Appearance, write_video

    w, h = size
    k = w / 1280  # the people scale with the frame, as when filmed from the same place
    people = [
        Appearance("astronaut", 0.10 * seconds, 0.47 * seconds, round(100 * k), round(150 * k)),
        Appearance("visitor", 0.33 * seconds, 0.87 * seconds, round(700 * k), round(200 * k)),
    ]
    write_video(path, seconds, people, size=size, fps=fps, gop=fps, people_scale=k)


def _run(path: Path, detector, embedder, limits, sizing, spec):
    from facepipe.core.sources import Arrival, FolderSource
    from facepipe.ingest.process import VideoOptions, process_images

    src = FolderSource(path.parent)
    arrivals = [Arrival(str(path), path.stat().st_size, __import__("datetime").datetime.now())]
    t0, c0 = time.perf_counter(), time.process_time()
    result = process_images(
        arrivals,
        src.read,
        lambda shas: {},
        detector,
        embedder,
        sizing,
        VideoOptions(src, limits, spec.match_threshold, spec.distance_op),
    )
    return result, time.perf_counter() - t0, time.process_time() - c0


def _decode_only(path: Path, limits, sizing) -> tuple[int, float, float]:
    """(frames, wall s, CPU s) of decoding and converting the sampled frames."""
    from facepipe.models.video import VideoReader

    t0, c0 = time.perf_counter(), time.process_time()
    n = 0
    with VideoReader(str(path), limits, sizing) as r:
        for _f in r.frames():
            n += 1
    return n, time.perf_counter() - t0, time.process_time() - c0


def _recall(found, reference, embeddings_found, embeddings_ref, threshold: float) -> float:
    hit = 0
    for j, ref in enumerate(reference):
        for i, f in enumerate(found):
            overlap = min(f.last_s, ref.last_s) >= max(f.first_s, ref.first_s)
            if overlap and np.linalg.norm(embeddings_found[i] - embeddings_ref[j]) < threshold:
                hit += 1
                break
    return hit / max(1, len(reference))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--detector", default="mtcnn")
    ap.add_argument("--sizes", default="1080p,4k")
    args = ap.parse_args()

    from facepipe.core.specs import model_spec
    from facepipe.models.detect import FaceSizing, make_detector
    from facepipe.models.embed import make_embedder
    from facepipe.models.video import VideoLimits

    spec = model_spec("dlib-resnet-128")
    detector, embedder = make_detector(args.detector), make_embedder(spec.name)
    sizing = FaceSizing.of(args.detector, 64)
    sizes = {"1080p": (1920, 1080), "4k": (3840, 2160)}
    out = {
        "inputs": f"{args.seconds:g} s clips at {args.fps} fps, libx264 ultrafast crf 28, key frame every second,"
        " two sample people entering and leaving",
        "command": "bench/video.py " + " ".join(sys.argv[1:]),
        "detector": args.detector,
        "model": spec.name,
        "loadavg_before": Path("/proc/loadavg").read_text().split()[:3],
        "cpus": os.cpu_count(),
        "results": {},
    }
    per_minute = 60.0 / args.seconds
    with tempfile.TemporaryDirectory(prefix="bench-video-") as tmp:
        for name in args.sizes.split(","):
            path = Path(tmp) / f"{name}.mp4"
            t0 = time.perf_counter()
            _clip(path, sizes[name], args.seconds, args.fps)
            encode_s = time.perf_counter() - t0
            default = VideoLimits()
            res, wall, cpu = _run(path, detector, embedder, default, sizing, spec)
            n_default, decode_default, decode_default_cpu = _decode_only(path, default, sizing)
            every = VideoLimits(sample_seconds=1.0 / args.fps, max_frames=10**6)
            n_all, decode_all, decode_all_cpu = _decode_only(path, every, sizing)
            detect_per_frame = max(0.0, wall - decode_default) / max(1, n_default)
            detect_cpu_per_frame = max(0.0, cpu - decode_default_cpu) / max(1, n_default)
            dense = VideoLimits(sample_seconds=0.2, max_frames=10**6)
            ref, ref_wall, ref_cpu = _run(path, detector, embedder, dense, sizing, spec)
            recall = _recall(res.faces, ref.faces, res.embeddings, ref.embeddings, spec.match_threshold)
            out["results"][name] = {
                "bytes": path.stat().st_size,
                "encode_s": round(encode_s, 1),
                "default": {
                    "frames": n_default,
                    "decode_detect_embed_track_s_per_min": round(wall * per_minute, 1),
                    "cpu_s_per_min": round(cpu * per_minute, 1),
                    "decode_only_s_per_min": round(decode_default * per_minute, 2),
                    "decode_only_cpu_s_per_min": round(decode_default_cpu * per_minute, 2),
                    "tracks": len(res.faces),
                    "spans": [(round(f.first_s, 1), round(f.last_s, 1)) for f in res.faces],
                },
                "every_frame": {
                    "frames": n_all,
                    "decode_only_s_per_min": round(decode_all * per_minute, 1),
                    "decode_only_cpu_s_per_min": round(decode_all_cpu * per_minute, 1),
                    "decode_detect_s_per_min_extrapolated": round(
                        (decode_all + n_all * detect_per_frame) * per_minute, 1
                    ),
                    "decode_detect_cpu_s_per_min_extrapolated": round(
                        (decode_all_cpu + n_all * detect_cpu_per_frame) * per_minute, 1
                    ),
                },
                "reference_5_per_s": {
                    "frames": round(args.seconds * 5),
                    "tracks": len(ref.faces),
                    "spans": [(round(f.first_s, 1), round(f.last_s, 1)) for f in ref.faces],
                    "s_per_min": round(ref_wall * per_minute, 1),
                    "cpu_s_per_min": round(ref_cpu * per_minute, 1),
                },
                "track_recall_vs_reference": round(recall, 3),
            }
            print(name, json.dumps(out["results"][name]), flush=True)
    out["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
    (BENCH / "results").mkdir(exist_ok=True)
    (BENCH / "results" / "video.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {BENCH / 'results' / 'video.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
