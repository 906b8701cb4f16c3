"""Section 1: facepipe against the classic per-photo loop, camera frames and phone photos."""

from __future__ import annotations

import datetime as dt
import math
import multiprocessing as mp
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import classic
import fp
import photos
from common import connect, drop_schema, log

DAYS = {"camera": dt.date(2026, 3, 2), "phone": dt.date(2026, 3, 3)}
# name -> (worker processes, extra facepipe settings); the last one is a what-if, not the default
FACEPIPE_SYSTEMS = {
    "facepipe_1p": (1, {}),
    "facepipe_2p": (2, {}),
    "facepipe_2p_sf1.2": (2, {"FACEPIPE_HAAR_SCALE_FACTOR": "1.2"}),
}


def prepare_photos(source: Path, counts: dict[str, int]) -> dict[str, list[dict]]:
    out = {}
    for kind, n in counts.items():
        t = time.perf_counter()
        out[kind] = photos.lay_out(source, DAYS[kind], kind, n)
        log(
            f"photos: {n} {kind} ({photos.SIZES[kind][0]}x{photos.SIZES[kind][1]}) ready in"
            f" {time.perf_counter() - t:.1f}s, {sum(len(p['faces']) for p in out[kind])} true faces"
        )
    return out


def _rates(images: int, faces: int, true_found: int, seconds: float) -> dict:
    return {
        "seconds": round(seconds, 3),
        "photos_per_s": round(images / seconds, 3),
        "faces_per_s": round(faces / seconds, 3),
        "true_faces_per_s": round(true_found / seconds, 3),
    }


def haar_settings(photo_list: list[dict], max_side: int = 1024, min_face: int = 40) -> dict:
    """facepipe.models.detect.HaarDetector on facepipe's decoded copy, one OpenCV thread (as in a
    multi-shard day), at its default scaleFactor 1.1 and coarser ones (what-ifs)."""
    import cv2

    from facepipe.models.detect import HaarDetector
    from facepipe.models.imaging import decode

    decoded = [(p["path"], decode(Path(p["path"]).read_bytes(), max_side)) for p in photo_list]
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    out = {}
    try:
        for sf in (1.1, 1.2, 1.3):
            detector = HaarDetector(min_face, scale_factor=sf)
            found, t = {}, time.perf_counter()
            for path, img in decoded:
                found[path] = [
                    (b.x, b.y, b.w, b.h)
                    for b in (b.scaled(img.scale, img.width, img.height) for b in detector.detect(img.rgb))
                ]
            ms = (time.perf_counter() - t) / len(decoded) * 1000
            name = f"scaleFactor {sf}" + (" (facepipe default)" if sf == 1.1 else "")
            out[name] = {
                **photos.match(photo_list, found),
                "ms_per_photo": round(ms, 1),
                "size": "x".join(map(str, decoded[0][1].rgb.shape[1::-1])),
            }
    finally:
        cv2.setNumThreads(threads)
    return out


def embedding_runtimes(photo_list: list[dict], max_side: int = 1024, min_face: int = 40) -> dict:
    """The same aligned chips through dlib's own ResNet code (compute_face_descriptor, what
    the classic loop calls) and through facepipe's embedder (the same weights on onnxruntime)."""
    import dlib
    import face_recognition_models as frm
    import numpy as np

    from facepipe.models.detect import HaarDetector
    from facepipe.models.embed import DlibResnetEmbedder
    from facepipe.models.imaging import decode

    detector, embedder = HaarDetector(min_face), DlibResnetEmbedder()
    chips = []
    for p in photo_list:
        img = decode(Path(p["path"]).read_bytes(), max_side)
        chips += [embedder.prepare(img.rgb, b) for b in detector.detect(img.rgb)]
    net = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    t = time.perf_counter()
    theirs = np.asarray([net.compute_face_descriptor(c) for c in chips], np.float32)
    dlib_s = time.perf_counter() - t
    t = time.perf_counter()
    ours = embedder.embed(chips)
    onnx_s = time.perf_counter() - t
    return {
        "chips": len(chips),
        "dlib_ms_per_face": round(1000 * dlib_s / len(chips), 2),
        "facepipe_ms_per_face": round(1000 * onnx_s / len(chips), 2),
        "speedup": round(dlib_s / onnx_s, 1),
        "max_abs_diff": float(np.abs(ours - theirs).max()),
    }


def run(uri: str, source: Path, counts: dict[str, int], rounds: int = 2) -> dict:
    truth = prepare_photos(source, counts)
    ctx = mp.get_context("spawn")
    t = time.perf_counter()
    pool = ProcessPoolExecutor(max_workers=2, mp_context=ctx)
    pids = {f.result() for f in [pool.submit(fp.warm) for _ in range(4)]}
    pool_start = time.perf_counter() - t
    log(f"throughput: 2 spawned workers ready in {pool_start:.1f}s (pids {sorted(pids)})")
    results: dict = {"pool_start_s": round(pool_start, 2), "kinds": {}}
    try:
        for kind, photo_list in truth.items():
            day = DAYS[kind].isoformat()
            paths = sorted(p["path"] for p in photo_list)
            shard_size = math.ceil(len(paths) / 2)
            envs = {}
            for name in FACEPIPE_SYSTEMS:
                schema = f"bench_tp_{kind}_{name.split('_', 1)[1].replace('.', '')}"
                drop_schema(uri, schema)
                envs[name] = fp.configure(schema, str(source), shard_size, **FACEPIPE_SYSTEMS[name][1])
            with connect(uri) as conn:
                classic.create_table(conn, "bench_tp_classic")
            order = ["classic", *FACEPIPE_SYSTEMS]
            runs: dict[str, list] = {name: [] for name in order}
            for r in range(rounds):
                for name in order if r % 2 == 0 else order[::-1]:
                    if name == "classic":
                        with connect(uri) as conn:
                            conn.execute('TRUNCATE "bench_tp_classic".faces')
                        res = classic.run(paths, uri, "bench_tp_classic")
                        res["quality"] = photos.match(photo_list, res.pop("found"))
                    else:
                        procs = FACEPIPE_SYSTEMS[name][0]
                        res = fp.run_day(day, envs[name], pool=pool if procs == 2 else None, workers=procs)
                        with connect(uri) as conn:
                            res["quality"] = photos.match(
                                photo_list, fp.stored_boxes(conn, envs[name]["FACEPIPE_DB_SCHEMA"], DAYS[kind])
                            )
                    runs[name].append(res)
                    log(
                        f"throughput {kind} round {r} {name}: {res['total']:.1f}s, {res['images']} photos,"
                        f" {res['faces']} faces, recall {res['quality']['recall']},"
                        f" false positives {res['quality']['false_positives']}"
                    )
            summary = {}
            for name, rs in runs.items():
                total = statistics.mean(r["total"] for r in rs)
                q = rs[-1]["quality"]
                cpu = statistics.mean(r["cpu"] for r in rs) if all("cpu" in r for r in rs) else None
                entry = {
                    "rounds_s": [round(r["total"], 3) for r in rs],
                    "images": rs[-1]["images"],
                    "cpu_s": round(cpu, 3) if cpu is not None else None,
                    "cpu_ms_per_photo": round(1000 * cpu / rs[-1]["images"], 1) if cpu is not None else None,
                    "cpu_ms_per_true_face": round(1000 * cpu / max(1, rs[-1]["quality"]["found_true"]), 1)
                    if cpu is not None
                    else None,
                    "faces": rs[-1]["faces"],
                    "quality": q,
                    "end_to_end": _rates(rs[-1]["images"], rs[-1]["faces"], q["found_true"], total),
                }
                if name == "classic":
                    entry["steps_s"] = {k: round(statistics.mean(r["steps"][k] for r in rs), 3) for k in rs[0]["steps"]}
                else:
                    entry["stages_s"] = {
                        k: round(statistics.mean(r["stages"][k] for r in rs), 3) for k in rs[0]["stages"]
                    }
                    proc = statistics.mean(r["processing"] for r in rs)
                    entry["processing"] = _rates(rs[-1]["images"], rs[-1]["faces"], q["found_true"], proc)
                    entry["workers"] = rs[-1]["workers"]
                summary[name] = entry
            c = summary["classic"]["end_to_end"]
            ratios = {}
            for name in FACEPIPE_SYSTEMS:
                e, p = summary[name]["end_to_end"], summary[name]["processing"]
                ratios[name] = {
                    "faces_per_s_end_to_end": round(e["faces_per_s"] / c["faces_per_s"], 2),
                    "true_faces_per_s_end_to_end": round(e["true_faces_per_s"] / c["true_faces_per_s"], 2),
                    "photos_per_s_end_to_end": round(e["photos_per_s"] / c["photos_per_s"], 2),
                    "faces_per_s_processing_only": round(p["faces_per_s"] / c["faces_per_s"], 2),
                    "photos_per_s_processing_only": round(p["photos_per_s"] / c["photos_per_s"], 2),
                }
            w, h = photos.SIZES[kind]
            variants = haar_settings(photo_list)
            for name, v in variants.items():
                log(
                    f"haar on facepipe's {kind} copy, {name}: recall {v['recall']},"
                    f" false positives {v['false_positives']}, {v['ms_per_photo']} ms/photo"
                )
            runtimes = embedding_runtimes(photo_list)
            log(f"embedding {kind}: {runtimes}")
            results["kinds"][kind] = {
                "haar_settings": variants,
                "embedding_runtimes": runtimes,
                "size": f"{w}x{h}",
                "photos": len(paths),
                "true_faces": sum(len(p["faces"]) for p in photo_list),
                "mean_jpeg_bytes": round(statistics.mean(p["bytes"] for p in photo_list)),
                "shard_size": shard_size,
                "rounds": rounds,
                "systems": summary,
                "ratio_to_classic": ratios,
            }
    finally:
        pool.shutdown()
    return results
