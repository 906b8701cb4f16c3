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


def prepare_photos(source: Path, counts: dict[str, int]) -> dict[str, list[dict]]:
    out = {}
    for kind, n in counts.items():
        t = time.perf_counter()
        out[kind] = photos.lay_out(source, DAYS[kind], kind, n)
        log(f"photos: {n} {kind} ({photos.SIZES[kind][0]}x{photos.SIZES[kind][1]}) ready in"
            f" {time.perf_counter() - t:.1f}s, {sum(len(p['faces']) for p in out[kind])} true faces")
    return out


def _rates(images: int, faces: int, true_found: int, seconds: float) -> dict:
    return {"seconds": round(seconds, 3), "photos_per_s": round(images / seconds, 3),
            "faces_per_s": round(faces / seconds, 3), "true_faces_per_s": round(true_found / seconds, 3)}


def haar_variants(photo_list: list[dict], max_side: int = 1024, min_face: int = 40) -> dict:
    """facepipe's Haar call on facepipe's decoded copy, with three grey-level preparations:
    equalizeHist (what facepipe.detect.HaarDetector does), none, and CLAHE."""
    import cv2

    from facepipe.imaging import decode

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
    prep = {"equalizeHist (facepipe today)": cv2.equalizeHist, "none": lambda g: g, "CLAHE 2.0, 8x8": clahe.apply}
    decoded = [(p["path"], decode(Path(p["path"]).read_bytes(), max_side)) for p in photo_list]
    out = {}
    for name, fn in prep.items():
        found, t = {}, time.perf_counter()
        for path, img in decoded:
            g = fn(cv2.cvtColor(img.rgb, cv2.COLOR_RGB2GRAY))
            # the same call as HaarDetector.detect: only the grey-level preparation differs
            rects, _levels, _weights = cascade.detectMultiScale3(
                g, scaleFactor=1.1, minNeighbors=5, minSize=(min_face, min_face), outputRejectLevels=True)
            s = img.scale
            found[path] = [(round(x * s), round(y * s), round(w * s), round(h * s)) for x, y, w, h in rects]
        ms = (time.perf_counter() - t) / len(decoded) * 1000
        out[name] = {**photos.match(photo_list, found), "ms_per_photo": round(ms, 1)}
    return out


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
            for procs in (1, 2):
                schema = f"bench_tp_{kind}_{procs}p"
                drop_schema(uri, schema)
                envs[procs] = fp.configure(schema, str(source), shard_size)
            with connect(uri) as conn:
                classic.create_table(conn, "bench_tp_classic")
            runs: dict[str, list] = {"classic": [], "facepipe_1p": [], "facepipe_2p": []}
            order = ["classic", "facepipe_1p", "facepipe_2p"]
            for r in range(rounds):
                for name in (order if r % 2 == 0 else order[::-1]):
                    if name == "classic":
                        with connect(uri) as conn:
                            conn.execute('TRUNCATE "bench_tp_classic".faces')
                        res = classic.run(paths, uri, "bench_tp_classic")
                        res["quality"] = photos.match(photo_list, res.pop("found"))
                    else:
                        procs = 1 if name == "facepipe_1p" else 2
                        res = fp.run_day(day, envs[procs], pool=pool if procs == 2 else None, workers=procs)
                        with connect(uri) as conn:
                            res["quality"] = photos.match(photo_list, fp.stored_boxes(
                                conn, envs[procs]["FACEPIPE_DB_SCHEMA"], DAYS[kind]))
                    runs[name].append(res)
                    log(f"throughput {kind} round {r} {name}: {res['total']:.1f}s, {res['images']} photos,"
                        f" {res['faces']} faces, recall {res['quality']['recall']},"
                        f" false positives {res['quality']['false_positives']}")
            summary = {}
            for name, rs in runs.items():
                total = statistics.mean(r["total"] for r in rs)
                q = rs[-1]["quality"]
                cpu = statistics.mean(r["cpu"] for r in rs) if all("cpu" in r for r in rs) else None
                entry = {"rounds_s": [round(r["total"], 3) for r in rs], "images": rs[-1]["images"],
                         "cpu_s": round(cpu, 3) if cpu is not None else None,
                         "cpu_ms_per_photo": round(1000 * cpu / rs[-1]["images"], 1) if cpu is not None else None,
                         "cpu_ms_per_true_face": round(1000 * cpu / max(1, rs[-1]["quality"]["found_true"]), 1)
                         if cpu is not None else None,
                         "faces": rs[-1]["faces"], "quality": q,
                         "end_to_end": _rates(rs[-1]["images"], rs[-1]["faces"], q["found_true"], total)}
                if name == "classic":
                    entry["steps_s"] = {k: round(statistics.mean(r["steps"][k] for r in rs), 3)
                                        for k in rs[0]["steps"]}
                else:
                    entry["stages_s"] = {k: round(statistics.mean(r["stages"][k] for r in rs), 3)
                                         for k in rs[0]["stages"]}
                    proc = statistics.mean(r["processing"] for r in rs)
                    entry["processing"] = _rates(rs[-1]["images"], rs[-1]["faces"], q["found_true"], proc)
                    entry["workers"] = rs[-1]["workers"]
                summary[name] = entry
            c = summary["classic"]["end_to_end"]
            ratios = {}
            for name in ("facepipe_1p", "facepipe_2p"):
                e, p = summary[name]["end_to_end"], summary[name]["processing"]
                ratios[name] = {
                    "faces_per_s_end_to_end": round(e["faces_per_s"] / c["faces_per_s"], 2),
                    "true_faces_per_s_end_to_end": round(e["true_faces_per_s"] / c["true_faces_per_s"], 2),
                    "photos_per_s_end_to_end": round(e["photos_per_s"] / c["photos_per_s"], 2),
                    "faces_per_s_processing_only": round(p["faces_per_s"] / c["faces_per_s"], 2),
                    "photos_per_s_processing_only": round(p["photos_per_s"] / c["photos_per_s"], 2),
                }
            w, h = photos.SIZES[kind]
            variants = haar_variants(photo_list)
            for name, v in variants.items():
                log(f"haar on facepipe's {kind} copy, grey levels {name}: recall {v['recall']},"
                    f" false positives {v['false_positives']}, {v['ms_per_photo']} ms/photo")
            results["kinds"][kind] = {"haar_grey_levels": variants,
                "size": f"{w}x{h}", "photos": len(paths), "true_faces": sum(len(p["faces"]) for p in photo_list),
                "mean_jpeg_bytes": round(statistics.mean(p["bytes"] for p in photo_list)),
                "shard_size": shard_size, "rounds": rounds, "systems": summary, "ratio_to_classic": ratios}
    finally:
        pool.shutdown()
    return results
