"""Section 2: where facepipe's time goes, stage by stage, and the share outside the two models.

The day runs through facepipe's own functions: tasks.plan, then what
tasks.process_shard does (store.shard_arrivals, process.process_images with
detect.HaarDetector and embed.DlibResnetEmbedder, store.write_shard), then
tasks.validate, tasks.load, tasks.index. Timing wrappers sit around the
callables process_images is given (read, seen_before, detector, embedder) and
around facepipe.ingest.process.decode; nothing of facepipe is copied. The detector
and the embedder are then timed again alone, on the same decoded images and
the same aligned chips.
"""

from __future__ import annotations

import cProfile
import math
import os
import time
import uuid
from collections import defaultdict

import fp
from common import drop_schema, log, profile_summary, write_text
from throughput import DAYS, prepare_photos


class _Clock:
    def __init__(self):
        self.s = defaultdict(float)
        self.n = defaultdict(int)

    def wrap(self, name, fn):
        def timed(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.s[name] += time.perf_counter() - t
                self.n[name] += 1

        return timed


class _Detector:
    def __init__(self, inner, clock, keep):
        self.inner, self.clock, self.keep, self.name = inner, clock, keep, inner.name

    def detect(self, rgb, min_face=None):
        self.keep.append((rgb, min_face))
        t = time.perf_counter()
        boxes = self.inner.detect(rgb, min_face)
        self.clock.s["detect"] += time.perf_counter() - t
        return boxes


class _Embedder:
    def __init__(self, inner, clock, keep):
        self.inner, self.clock, self.keep, self.spec = inner, clock, keep, inner.spec

    def prepare(self, rgb, box):
        t = time.perf_counter()
        chip = self.inner.prepare(rgb, box)
        self.clock.s["align_crop"] += time.perf_counter() - t
        self.keep.append(chip)
        return chip

    def embed(self, chips):
        t = time.perf_counter()
        out = self.inner.embed(chips)
        self.clock.s["embed"] += time.perf_counter() - t
        return out


def _dlib_native():
    """facepipe's embedder with the network run by dlib itself (compute_face_descriptor),
    as facepipe did before the onnxruntime port (bench what-if only)."""
    import dlib
    import face_recognition_models as frm
    import numpy as np

    from facepipe.models.embed import DlibResnetEmbedder

    class DlibNative(DlibResnetEmbedder):
        def __init__(self):
            super().__init__()
            self._net = dlib.face_recognition_model_v1(frm.face_recognition_model_location())

        def embed(self, chips):
            if not chips:
                return np.zeros((0, 128), np.float32)
            return np.asarray(self._net.compute_face_descriptor(chips), np.float32)

    return DlibNative()


def instrumented_day(day: str, env: dict, what_if: bool = False) -> tuple[dict, dict]:
    import datetime as dt

    import facepipe.ingest.process as process
    from facepipe.core.db import connect
    from facepipe.core.deployment import settings
    from facepipe.core.schema import require
    from facepipe.core.sources import open_source
    from facepipe.core.specs import model_spec
    from facepipe.ingest import tasks
    from facepipe.ingest.store import seen_before, shard_arrivals, write_shard
    from facepipe.models.detect import FaceSizing, HaarDetector
    from facepipe.models.embed import DlibResnetEmbedder

    os.environ.update(env)
    clock = _Clock()
    images, chips = [], []
    run_id = f"bench__{uuid.uuid4().hex[:10]}"
    opts = tasks.options()
    t_all = time.perf_counter()
    t = time.perf_counter()
    shards = tasks.plan(day, run_id, opts)
    clock.s["plan (list, manifest)"] = time.perf_counter() - t
    s = settings()
    spec = model_spec(opts["model"])
    d = dt.date.fromisoformat(day)
    source = open_source(opts["source"])
    original_decode = process.decode
    process.decode = clock.wrap("decode", original_decode)
    faces = 0
    try:
        for shard in shards:
            t = time.perf_counter()
            conn = connect()
            require(conn, s.db_schema, spec, may_upgrade=True)
            arrivals = shard_arrivals(conn, s.db_schema, d, run_id, shard["shard"])
            clock.s["connect, schema, manifest"] += time.perf_counter() - t
            t = time.perf_counter()
            detector = HaarDetector()
            embedder = _dlib_native() if what_if else DlibResnetEmbedder()
            clock.s["model load"] += time.perf_counter() - t
            t = time.perf_counter()
            result = process.process_images(
                arrivals,
                clock.wrap("read file", source.read),
                clock.wrap("hash lookup (seen_before)", seen_before(conn, s.db_schema, d)),
                _Detector(detector, clock, images),
                _Embedder(embedder, clock, chips),
                FaceSizing.of("haar", s.min_face),
            )
            clock.s["process_images"] += time.perf_counter() - t
            faces += len(result.faces)
            t = time.perf_counter()
            write_shard(
                conn,
                s.db_schema,
                spec,
                day=d,
                run_id=run_id,
                shard=shard["shard"],
                source=source.name,
                detector="haar",
                result=result,
            )
            clock.s["COPY to staging (write_shard)"] += time.perf_counter() - t
            conn.close()
    finally:
        process.decode = original_decode
    for name, fn in (
        ("validate (GX)", lambda: tasks.validate(day, run_id, opts)),
        ("load (load_day)", lambda: tasks.load(day, run_id, opts)),
        ("index (index_day)", lambda: tasks.index(day, opts)),
    ):
        t = time.perf_counter()
        fn()
        clock.s[name] = time.perf_counter() - t
    total = time.perf_counter() - t_all
    inner = sum(
        clock.s[k] for k in ("read file", "hash lookup (seen_before)", "decode", "detect", "align_crop", "embed")
    )
    clock.s["process_images other (sha256, records)"] = clock.s.pop("process_images") - inner

    # the two models alone, on the same decoded images and the same chips
    detector = HaarDetector()
    t = time.perf_counter()
    for rgb, min_face in images:
        detector.detect(rgb, min_face)
    detect_alone = time.perf_counter() - t
    embedder = _dlib_native() if what_if else DlibResnetEmbedder()
    t = time.perf_counter()
    embedder.embed(chips)
    embed_alone = time.perf_counter() - t
    stages = {k: round(v, 4) for k, v in clock.s.items()}
    return {
        "stages_s": stages,
        "total_s": round(total, 3),
        "images": len(images),
        "faces": faces,
        "detect_alone_s": round(detect_alone, 3),
        "embed_alone_s": round(embed_alone, 3),
        "outside_models_s": round(total - detect_alone - embed_alone, 3),
        "outside_models_share": round(1 - (detect_alone + embed_alone) / total, 4),
        "outside_models_share_in_run": round(1 - (clock.s["detect"] + clock.s["embed"]) / total, 4),
    }, {"chips": len(chips)}


ORDER = [
    "plan (list, manifest)",
    "connect, schema, manifest",
    "model load",
    "read file",
    "hash lookup (seen_before)",
    "decode",
    "detect",
    "align_crop",
    "embed",
    "process_images other (sha256, records)",
    "COPY to staging (write_shard)",
    "validate (GX)",
    "load (load_day)",
    "index (index_day)",
]


def decode_variants(photo_list: list[dict], max_side: int = 1024, reps: int = 2) -> dict:
    """ms per photo: facepipe.models.imaging.decode against plain cv2.imdecode at each JPEG scale."""
    from pathlib import Path

    import cv2
    import numpy as np

    from facepipe.models.imaging import decode

    datas = [Path(p["path"]).read_bytes() for p in photo_list]
    out = {}

    def timed(fn):
        t = time.perf_counter()
        for _ in range(reps):
            for d in datas:
                fn(d)
        return round((time.perf_counter() - t) / (reps * len(datas)) * 1000, 2)

    out["facepipe.models.imaging.decode(max_side=1024)"] = timed(lambda d: decode(d, max_side))
    for name, flag in (
        ("full", cv2.IMREAD_COLOR),
        ("1/2", cv2.IMREAD_REDUCED_COLOR_2),
        ("1/4", cv2.IMREAD_REDUCED_COLOR_4),
        ("1/8", cv2.IMREAD_REDUCED_COLOR_8),
    ):
        shape = cv2.imdecode(np.frombuffer(datas[0], np.uint8), flag).shape
        out[f"cv2.imdecode {name} ({shape[1]}x{shape[0]})"] = timed(
            lambda d, f=flag: cv2.imdecode(np.frombuffer(d, np.uint8), f)
        )
    return out


def run(uri: str, source, counts: dict[str, int], profile: bool = True) -> dict:
    import cv2

    # One OpenCV thread, as each shard task of a multi-shard day runs (tasks.process_shard).
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        return _run(uri, source, counts, profile)
    finally:
        cv2.setNumThreads(threads)


def _run(uri: str, source, counts: dict[str, int], profile: bool) -> dict:
    truth = prepare_photos(source, counts)
    out = {"kinds": {}, "opencv_threads": 1}
    for kind, photo_list in truth.items():
        day = DAYS[kind].isoformat()
        schema = f"bench_stages_{kind}"
        drop_schema(uri, schema)
        env = fp.configure(schema, str(source), max(1, math.ceil(len(photo_list))))
        instrumented_day(day, env)  # warm-up: schema, partitions, caches
        res, _ = instrumented_day(day, env)
        log(f"stages {kind}: total {res['total_s']}s, outside the models {res['outside_models_share']:.1%}")
        if profile:
            prof = cProfile.Profile()
            prof.enable()
            instrumented_day(day, env)
            prof.disable()
            path = write_text(
                f"profile_stages_{kind}.txt",
                "# sorted by tottime\n"
                + profile_summary(prof, 30, "tottime")
                + "\n# sorted by cumulative\n"
                + profile_summary(prof, 45, "cumulative"),
            )
            res["profile"] = str(path)
            res["profile_top"] = _top(prof)
        res["stage_order"] = [k for k in ORDER if k in res["stages_s"]]
        out["kinds"][kind] = res
        out.setdefault("decode_ms_per_photo", {})[kind] = decode_variants(photo_list)
        log(f"decode {kind}: {out['decode_ms_per_photo'][kind]}")
        # what-if (facepipe before the onnxruntime port): the network run by dlib itself
        instrumented_day(day, env, what_if=True)
        alt, _ = instrumented_day(day, env, what_if=True)
        alt["stage_order"] = res["stage_order"]
        alt["what_if"] = "the dlib ResNet run by dlib (compute_face_descriptor) instead of onnxruntime"
        log(
            f"stages {kind} what-if dlib runtime: total {alt['total_s']}s, {alt['faces']} faces,"
            f" outside the models {alt['outside_models_share']:.1%}"
        )
        out["kinds"][f"{kind}, what-if: dlib runtime"] = alt
    return out


def _top(prof: cProfile.Profile, n: int = 12) -> list[dict]:
    import pstats

    st = pstats.Stats(prof)
    rows = []
    for (file, line, func), (cc, nc, tt, ct, _callers) in st.stats.items():
        rows.append(
            {
                "function": f"{file.split('site-packages/')[-1].split('/work/main/')[-1]}:{line}({func})",
                "calls": nc,
                "tottime_s": round(tt, 3),
                "cumtime_s": round(ct, 3),
            }
        )
    rows.sort(key=lambda r: -r["tottime_s"])
    return rows[:n]
