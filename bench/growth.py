"""Section 5: does one night cost more when more days are already loaded?

Three schemas hold 1, 30 and 90 synthetic prior days (images and faces rows
COPYed into real day partitions made by facepipe.core.db.ensure_partitions). The
same day's photos then go through facepipe.ingest.tasks plan -> process_shard ->
validate -> load -> index in each schema, interleaved round by round so that
load from other users of the machine hits all three alike.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import statistics
import time
import uuid

import fp
import numpy as np
import photos
from common import connect, copy_images, drop_schema, log, write_text

DAY = dt.date(2026, 6, 1)


def fill_prior_days(uri: str, schema: str, n_days: int, images_per_day: int, seed: int) -> dict:
    from facepipe.core.db import ensure_partitions
    from facepipe.core.schema import require
    from facepipe.core.specs import model_spec

    spec = model_spec("dlib-resnet-128")
    rng = np.random.default_rng(seed)
    drop_schema(uri, schema)
    t = time.perf_counter()
    n_images = n_faces = 0
    with connect(uri) as conn:
        require(conn, schema, spec, may_upgrade=True)
        for k in range(n_days, 0, -1):
            day = DAY - dt.timedelta(days=k)
            ensure_partitions(conn, schema, day)
            arrived = dt.datetime.combine(day, dt.time(12), dt.UTC)
            per_image = rng.integers(1, 3, images_per_day)  # 1 or 2 faces, 1.5 on average
            ids = [uuid.uuid5(uuid.NAMESPACE_URL, f"{schema}/{day}/{i}") for i in range(images_per_day)]
            with conn.transaction():
                copy_images(
                    conn,
                    schema,
                    (
                        (
                            day,
                            iid,
                            f"/photos/{day}/IMG_{i:05d}.jpg",
                            hashlib.sha256(iid.bytes).hexdigest(),
                            2_000_000,
                            1920,
                            1080,
                            "/photos",
                            arrived,
                            "loaded",
                            int(per_image[i]),
                        )
                        for i, iid in enumerate(ids)
                    ),
                )
                nf = int(per_image.sum())
                vec = rng.standard_normal((nf, 128)).astype(np.float32)
                vec /= np.linalg.norm(vec, axis=1, keepdims=True)
                with conn.cursor().copy(
                    f'COPY "{schema}".faces (day, image_id, face_no, box_x, box_y, box_w, box_h, source, detector,'
                    f" det_score, model, embedding) FROM STDIN (FORMAT BINARY)"
                ) as cp:
                    cp.set_types(
                        [
                            "date",
                            "uuid",
                            "int2",
                            "int4",
                            "int4",
                            "int4",
                            "int4",
                            "text",
                            "text",
                            "float4",
                            "text",
                            "vector",
                        ]
                    )
                    j = 0
                    for i, iid in enumerate(ids):
                        for face_no in range(int(per_image[i])):
                            cp.write_row(
                                (day, iid, face_no, 100, 100, 200, 200, "/photos", "haar", 2.0, spec.name, vec[j])
                            )
                            j += 1
                conn.execute(
                    f'INSERT INTO "{schema}".load_runs (day, run_id, source, detector, model, images,'
                    f" duplicates, faces, rejects) VALUES (%s, %s, %s, %s, %s, %s, 0, %s, 0)",
                    (day, "synthetic", "/photos", "haar", spec.name, images_per_day, nf),
                )
            n_images += images_per_day
            n_faces += nf
        conn.execute(f'ANALYZE "{schema}".images')
        conn.execute(f'ANALYZE "{schema}".faces')
    return {"prior_days": n_days, "images": n_images, "faces": n_faces, "fill_s": round(time.perf_counter() - t, 1)}


def seen_before_cost(uri: str, schema: str, calls: int) -> dict:
    """facepipe.ingest.store.seen_before, the one query that reads earlier days: asked once per
    batch of facepipe.ingest.process.LOOKUP_BATCH photos, as process_images does; cost per photo."""
    from facepipe.core.db import load_sql
    from facepipe.ingest.process import LOOKUP_BATCH
    from facepipe.ingest.store import seen_before

    with connect(uri) as conn:
        lookup = seen_before(conn, schema, DAY)
        shas = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(calls)]
        batches = [shas[i : i + LOOKUP_BATCH] for i in range(0, calls, LOOKUP_BATCH)]
        for b in batches[:5]:
            lookup(b)
        t = time.perf_counter()
        for b in batches:
            lookup(b)
        per_photo = (time.perf_counter() - t) / calls
        q = load_sql("seen_before.sql", schema=schema).as_string(conn)
        plan = "\n".join(
            r[0] for r in conn.execute("EXPLAIN (ANALYZE, SUMMARY) " + q, {"shas": batches[0], "day": DAY})
        )
    return {"ms_per_call": round(per_photo * 1000, 3), "batch": LOOKUP_BATCH, "plan": plan}


def run(uri: str, source, photos_n: int, images_per_day: int, rounds: int, prior=(1, 30, 90)) -> dict:
    truth = photos.lay_out(source, DAY, "camera", photos_n, seed=23)
    log(f"growth: {len(truth)} camera frames for {DAY}, {sum(len(p['faces']) for p in truth)} true faces")
    out = {"day": str(DAY), "photos": len(truth), "images_per_prior_day": images_per_day, "schemas": {}}
    envs = {}
    for n in prior:
        schema = f"bench_growth_{n}d"
        filled = fill_prior_days(uri, schema, n, images_per_day, seed=n)
        log(
            f"growth: {schema}: {filled['images']:,} images, {filled['faces']:,} faces in prior days"
            f" ({filled['fill_s']}s)"
        )
        envs[n] = dict(fp.configure(schema, str(source), 200))
        out["schemas"][n] = {"prior": filled, "runs": []}
    for n in prior:  # warm-up: the day's partitions, caches
        fp.run_day(DAY.isoformat(), envs[n])
    for r in range(rounds):
        for n in prior if r % 2 == 0 else prior[::-1]:
            res = fp.run_day(DAY.isoformat(), envs[n])
            out["schemas"][n]["runs"].append(
                {"total": res["total"], "stages": res["stages"], "faces": res["faces"], "images": res["images"]}
            )
            log(
                f"growth round {r}: {n} prior days: {res['total']:.2f}s "
                + ", ".join(f"{k} {v:.2f}" for k, v in res["stages"].items())
            )
    plans = []
    for n in prior:
        s = out["schemas"][n]
        s["median_total_s"] = round(statistics.median(x["total"] for x in s["runs"]), 3)
        s["median_stages_s"] = {
            k: round(statistics.median(x["stages"][k] for x in s["runs"]), 3) for k in s["runs"][0]["stages"]
        }
        sb = seen_before_cost(uri, f"bench_growth_{n}d", 300)
        s["seen_before_ms_per_call"] = sb["ms_per_call"]
        plans.append(f"-- {n} prior days\n{sb['plan']}\n")
    base = out["schemas"][prior[0]]["median_total_s"]
    for n in prior:
        out["schemas"][n]["vs_1_day"] = round(out["schemas"][n]["median_total_s"] / base, 3)
    out["seen_before_plans"] = str(write_text("explain_growth_seen_before.txt", "\n".join(plans)))
    return out
