"""Section "groups": group photos as phones take them; recall by face size, and
facepipe against the classic loop on them.

Photos: facepipe.ops.samples.group_photo, 4032x3024 (12 MP phone) and 6000x4000
(24 MP), 6-100 real faces each (the LFW faces dlib finds at 150-260 px, and the
astronaut's), drawn log-uniformly between 48 and 400 px, on a mosaic of real,
unblurred textures from scikit-image. Seeded; nothing hand-picked per photo.

1. Recall by face size: per detector and setting, decode + detect exactly as
   facepipe.ingest.process does (facepipe.models.imaging.decode with the FaceSizing, then the
   detector with the photo's smallest face), one thread, as a shard runs. A face
   is found when a box overlaps it with IoU >= 0.3 (one box per face); every
   other box is a false positive. The classic loop's detector (Haar at full size,
   scaleFactor 1.05, minNeighbors 2, minSize 100) is measured the same way.
2. Throughput: facepipe's nightly path at its defaults (2 processes) against the
   classic loop (bench/classic.py) on the same phone group photos, with recall.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import classic
import fp
import photos
from common import connect, drop_schema, log

KINDS = {"phone_12mp": (4032, 3024), "phone_24mp": (6000, 4000)}
FACE_PX = (48, 400)
FACE_COUNTS = (6, 10, 20, 40, 60, 100)
BANDS = ((48, 64), (64, 100), (100, 150), (150, 250), (250, 401))
DAY = dt.date(2026, 3, 4)

# name -> (detector, smallest face in px of the photo, or None for the old fixed 1024 px copy)
SETTINGS = {
    "mtcnn, min face 64 (default)": ("mtcnn", 64),
    "mtcnn, min face 48": ("mtcnn", 48),
    "mtcnn, min face 100": ("mtcnn", 100),
    "hog, min face 64 (full-size copy)": ("hog", 64),
    "hog, 1024 px copy (old default)": ("hog", None),
    "haar, min face 64": ("haar", 64),
    "haar, 1024 px copy (old)": ("haar", None),
    "classic loop: haar at full size": ("classic", None),
}


def lay_out(dest: Path, kind: str, count: int, seed: int = 5, day: dt.date = DAY) -> list[dict]:
    """Write ``count`` group photos of ``kind`` to ``dest/YYYY-MM-DD/``; return their truth
    (cached beside the folder: the same arguments reuse the files)."""
    from facepipe.ops.samples import group_photo, jpeg_bytes

    folder = Path(dest) / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    sidecar = Path(dest) / f".truth-groups-{day.isoformat()}-{kind}-{count}-{seed}.json"
    if sidecar.exists():
        truth = json.loads(sidecar.read_text())
        if all(Path(t["path"]).exists() for t in truth):
            photos._remove_others(folder, {Path(t["path"]).name for t in truth})
            return truth
    photos._remove_others(folder, set())
    width, height = KINDS[kind]
    out = []
    for i in range(count):
        n = FACE_COUNTS[i % len(FACE_COUNTS)]
        rgb, faces = group_photo(width, height, n, FACE_PX, seed=seed * 1000 + i)
        taken = dt.datetime.combine(day, dt.time(9)) + dt.timedelta(minutes=i)
        path = folder / f"{kind}_{i:03d}.jpg"
        path.write_bytes(jpeg_bytes(rgb, taken=taken, camera=1))
        ts = taken.replace(tzinfo=dt.UTC).timestamp()
        os.utime(path, (ts, ts))
        out.append(
            {
                "path": str(path),
                "width": width,
                "height": height,
                "bytes": path.stat().st_size,
                "faces": [{"x": f.x, "y": f.y, "w": f.size, "h": f.size, "face": f.face} for f in faces],
            }
        )
    sidecar.write_text(json.dumps(out))
    return out


def by_band(
    truth: list[dict], found: dict[str, list[tuple[int, int, int, int]]], seconds: float, cpu_seconds: float
) -> dict:
    """Recall per size band, false positives, and wall and CPU ms per photo."""
    hits = {b: [0, 0] for b in BANDS}
    fp_count = 0
    for photo in truth:
        boxes = list(found.get(photo["path"], []))
        for t in photo["faces"]:
            band = next(b for b in BANDS if b[0] <= t["w"] < b[1])
            hits[band][1] += 1
            tb = (t["x"], t["y"], t["w"], t["h"])
            best = max(range(len(boxes)), key=lambda k: photos.iou(tb, boxes[k]), default=None)
            if best is not None and photos.iou(tb, boxes[best]) >= 0.3:
                hits[band][0] += 1
                boxes.pop(best)
        fp_count += len(boxes)
    return {
        "photos": len(truth),
        "faces": sum(v[1] for v in hits.values()),
        "ms_per_photo": round(1000 * seconds / len(truth), 1),
        "cpu_ms_per_photo": round(1000 * cpu_seconds / len(truth), 1),
        "false_positives_per_photo": round(fp_count / len(truth), 3),
        "recall": {
            f"{lo}-{hi - 1 if hi == 401 else hi}": (round(f / n, 3) if n else None) for (lo, hi), (f, n) in hits.items()
        },
        "counts": {f"{lo}-{hi - 1 if hi == 401 else hi}": [f, n] for (lo, hi), (f, n) in hits.items()},
    }


def _detect_all(name: str, truth: list[dict]) -> tuple[dict, float, float]:
    import cv2

    from facepipe.models.detect import FaceSizing, make_detector
    from facepipe.models.imaging import decode

    detector_name, min_face = SETTINGS[name]
    found: dict[str, list] = {}
    seconds = 0.0
    cpu0 = time.process_time()  # one thread: CPU time is what the work costs, whatever else runs
    if detector_name == "classic":
        cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        for p in truth:
            t = time.perf_counter()
            gray = cv2.cvtColor(cv2.imread(p["path"]), cv2.COLOR_BGR2GRAY)
            rects = cascade.detectMultiScale(gray, scaleFactor=1.05, minNeighbors=2, minSize=(100, 100))
            seconds += time.perf_counter() - t
            found[p["path"]] = [tuple(int(v) for v in r) for r in rects]
        return found, seconds, time.process_time() - cpu0
    detector = make_detector(detector_name)
    sizing = FaceSizing.of(detector_name, min_face) if min_face else None
    for p in truth:
        data = Path(p["path"]).read_bytes()
        t = time.perf_counter()
        img = decode(data, sizing=sizing) if sizing else decode(data, 1024)
        boxes = detector.detect(img.rgb, img.min_face)
        seconds += time.perf_counter() - t
        found[p["path"]] = [(b.x, b.y, b.w, b.h) for b in (b.scaled(img.scale, img.width, img.height) for b in boxes)]
    return found, seconds, time.process_time() - cpu0


def recall_table(source: Path, counts: dict[str, int], settings: list[str] | None = None) -> dict:
    import cv2

    cv2.setNumThreads(1)  # shards run one per core
    out: dict = {}
    for kind, n in counts.items():
        t = time.perf_counter()
        truth = lay_out(source / "groups" / kind, kind, n)
        log(
            f"groups: {n} {kind} photos, {sum(len(p['faces']) for p in truth)} true faces,"
            f" ready in {time.perf_counter() - t:.0f}s"
        )
        out[kind] = {
            "size": "x".join(map(str, KINDS[kind])),
            "photos": n,
            "true_faces": sum(len(p["faces"]) for p in truth),
            "settings": {},
        }
        for name in settings or SETTINGS:
            found, seconds, cpu = _detect_all(name, truth)
            res = by_band(truth, found, seconds, cpu)
            out[kind]["settings"][name] = res
            log(
                f"groups {kind} {name}: {res['cpu_ms_per_photo']} CPU ms/photo ({res['ms_per_photo']} wall),"
                f" fp/photo {res['false_positives_per_photo']},"
                f" recall {res['recall']}"
            )
    return out


def throughput(uri: str, source: Path, count: int, rounds: int = 1) -> dict:
    """facepipe at its defaults (2 processes) against the classic loop, phone group photos."""
    root = source / "groups_tp"
    truth = lay_out(root, "phone_12mp", count, seed=9)
    paths = sorted(p["path"] for p in truth)
    day = DAY.isoformat()
    schema = "bench_groups_fp"
    drop_schema(uri, schema)
    env = fp.configure(schema, str(root), math.ceil(len(paths) / 2), detector="mtcnn", FACEPIPE_MIN_FACE="64")
    with connect(uri) as conn:
        classic.create_table(conn, "bench_groups_classic")
    pool = ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("spawn"))
    runs: dict[str, list] = {"classic": [], "facepipe_2p": []}
    try:
        [f.result() for f in [pool.submit(fp.warm) for _ in range(4)]]
        for r in range(rounds):
            for name in ("classic", "facepipe_2p") if r % 2 == 0 else ("facepipe_2p", "classic"):
                if name == "classic":
                    with connect(uri) as conn:
                        conn.execute('TRUNCATE "bench_groups_classic".faces')
                    res = classic.run(paths, uri, "bench_groups_classic")
                    res["quality"] = photos.match(truth, res.pop("found"))
                else:
                    res = fp.run_day(day, env, pool=pool, workers=2)
                    with connect(uri) as conn:
                        res["quality"] = photos.match(truth, fp.stored_boxes(conn, schema, DAY))
                    res.pop("workers", None)
                runs[name].append(res)
                log(
                    f"groups throughput round {r} {name}: {res['total']:.1f}s, {res['faces']} faces,"
                    f" recall {res['quality']['recall']}, false positives {res['quality']['false_positives']}"
                )
    finally:
        pool.shutdown()
    summary = {}
    for name, rs in runs.items():
        total = sum(r["total"] for r in rs) / len(rs)
        q = rs[-1]["quality"]
        summary[name] = {
            "seconds": round(total, 2),
            "photos": len(paths),
            "faces": rs[-1]["faces"],
            "faces_per_s": round(rs[-1]["faces"] / total, 2),
            "true_faces_per_s": round(q["found_true"] / total, 2),
            "quality": q,
        }
    c = summary["classic"]
    f = summary["facepipe_2p"]
    return {
        "photos": len(paths),
        "true_faces": sum(len(p["faces"]) for p in truth),
        "rounds": rounds,
        "systems": summary,
        "ratio_faces_per_s": round(f["faces_per_s"] / c["faces_per_s"], 2) if c["faces_per_s"] else None,
        "ratio_true_faces_per_s": round(f["true_faces_per_s"] / c["true_faces_per_s"], 2)
        if c["true_faces_per_s"]
        else None,
    }


def run(
    uri: str, source: Path, counts: dict[str, int], tp_photos: int, rounds: int = 1, previous: dict | None = None
) -> dict:
    """Both parts; with ``tp_photos`` 0 the throughput part is carried over from ``previous``."""
    out = {"recall": recall_table(source, counts)}
    if tp_photos:
        out["throughput"] = throughput(uri, source, tp_photos, rounds)
    elif previous and previous.get("throughput"):
        out["throughput"] = {**previous["throughput"], "carried_over_from": previous.get("finished_at")}
    return out


if __name__ == "__main__":  # quick look: python bench/groups.py [photos per kind]
    import sys

    sys.path.insert(1, str(Path(__file__).resolve().parent.parent / "plugins"))
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    print(json.dumps(recall_table(Path("/tmp/fp-groups"), {"phone_12mp": n}), indent=1))
