"""facepipe's own nightly path, called through facepipe.ingest.tasks, timed per task.

``run_day`` runs plan -> process_shard (every shard, in this process or on a
pool of spawned workers) -> validate -> load -> index for one day, exactly the
functions the DAG's tasks call, and returns wall seconds per task.
"""

from __future__ import annotations

import os
import time
import uuid


def configure(
    schema: str, source: str, shard_size: int, detector: str = "haar", model: str = "dlib-resnet-128", **extra: str
) -> dict:
    env = {
        "FACEPIPE_DB_SCHEMA": schema,
        "FACEPIPE_SOURCE": source,
        "FACEPIPE_SHARD_SIZE": str(shard_size),
        "FACEPIPE_DETECTOR": detector,
        "FACEPIPE_MODEL": model,
        "FACEPIPE_HAAR_SCALE_FACTOR": "1.1",
        **extra,
    }
    os.environ.update(env)
    return env


def warm() -> int:
    """Import what a worker needs (runs once per spawned worker, untimed)."""
    import cv2  # noqa: F401
    import dlib  # noqa: F401

    import facepipe.ingest.process  # noqa: F401
    import facepipe.ingest.store  # noqa: F401
    import facepipe.ingest.tasks  # noqa: F401

    return os.getpid()


def process_shards(shards: list[dict], env: dict) -> dict:
    """A worker's share: process_shard on each of its shards, one after another."""
    os.environ.update(env)
    from facepipe.ingest import tasks

    t0 = time.perf_counter()
    cpu0 = time.process_time()
    out = [tasks.process_shard(s) for s in shards]
    return {
        "pid": os.getpid(),
        "wall": time.perf_counter() - t0,
        "cpu": time.process_time() - cpu0,
        "shards": [s["shard"] for s in shards],
        "faces": sum(o["faces"] for o in out),
        "images": sum(o["images"] for o in out),
    }


def run_day(day: str, env: dict, pool=None, workers: int = 1) -> dict:
    """One day's run; ``pool`` (a spawn ProcessPoolExecutor) runs the shards when given."""
    from facepipe.ingest import tasks

    os.environ.update(env)
    run_id = f"bench__{uuid.uuid4().hex[:10]}"
    opts = tasks.options()
    stages: dict[str, float] = {}
    t_all = time.perf_counter()
    cpu0 = time.process_time()

    t = time.perf_counter()
    shards = tasks.plan(day, run_id, opts)
    stages["plan"] = time.perf_counter() - t

    t = time.perf_counter()
    if pool is None:
        parts = [process_shards(shards, env)]
    else:
        futures = [pool.submit(process_shards, shards[i::workers], env) for i in range(workers) if shards[i::workers]]
        parts = [f.result() for f in futures]
    stages["process"] = time.perf_counter() - t

    t = time.perf_counter()
    tasks.validate(day, run_id, opts)
    stages["validate"] = time.perf_counter() - t

    t = time.perf_counter()
    counts = tasks.load(day, run_id, opts)
    stages["load"] = time.perf_counter() - t

    t = time.perf_counter()
    tasks.index(day, opts)
    stages["index"] = time.perf_counter() - t

    total = time.perf_counter() - t_all
    cpu = time.process_time() - cpu0 + (sum(p["cpu"] for p in parts) if pool is not None else 0.0)
    return {
        "run_id": run_id,
        "cpu": cpu,
        "shards": len(shards),
        "workers": parts,
        "stages": stages,
        "total": total,
        "processing": stages["plan"] + stages["process"],
        "images": counts["images"],
        "faces": counts["faces"],
        "rejects": counts["rejects"],
    }


def stored_boxes(conn, schema: str, day) -> dict[str, list[tuple[int, int, int, int]]]:
    rows = conn.execute(
        f'SELECT i.uri, f.box_x, f.box_y, f.box_w, f.box_h FROM "{schema}".faces f'
        f' JOIN "{schema}".images i ON i.day = f.day AND i.image_id = f.image_id WHERE f.day = %s',
        (day,),
    ).fetchall()
    out: dict[str, list] = {}
    for uri, x, y, w, h in rows:
        out.setdefault(uri, []).append((x, y, w, h))
    return out
