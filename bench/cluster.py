"""One day of photos on 1 Celery worker against 2, and where each mapped task's time goes.

    .venv/bin/python bench/cluster.py                            # 400 camera photos, shards of 50
    .venv/bin/python bench/cluster.py --photos 80 --shard-size 20  # a quick look

For each worker count it starts the cluster of ``make cluster`` (cluster/local.py: redis,
PostgreSQL over TCP, api-server, scheduler, dag-processor, triggerer, N workers with one
task slot each) in a fresh folder, runs face_ingest for the day through the REST API and
reads every process task instance back. Per task:

- queue wait: queued (scheduler) -> started (a worker's task process began);
- start and finish: the task's run time minus what facepipe's code measured itself (task
  process, DAG parse, XCom and state calls to the api-server);
- setup: facepipe's code before the first photo (connection, schema check, models);
- photos: decoding, detection, embedding and the staging COPY.

Prints a table and writes bench/results/cluster-shards-of-N.json. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins"), str(ROOT / "bench")]

from common import RESULTS, log, machine, write_result  # noqa: E402

from cluster.local import Cluster  # noqa: E402

DAY = dt.date(2026, 11, 2)


def ts(text: str | None) -> float | None:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else None


def xcom(api, run_id: str, map_index: int) -> dict:
    entry = api.call(
        "GET",
        f"/dags/face_ingest/dagRuns/{run_id}/taskInstances/process/xcomEntries/return_value",
        params={"map_index": map_index, "deserialize": True},
    )
    value = entry["value"]
    return json.loads(value) if isinstance(value, str) else value


def one(photos: Path, workers: int, shard_size: int, timeout: float) -> dict:
    names = tuple(f"worker-{chr(ord('a') + i)}" for i in range(workers))
    yesterday = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    cluster = Cluster(
        Path(tempfile.mkdtemp(prefix="fp-bench-cluster-")),
        photos,
        workers=names,
        concurrency=1,
        settings={"FACEPIPE_SHARD_SIZE": str(shard_size), "FACEPIPE_START_DATE": yesterday},
    )
    try:
        t0 = time.monotonic()
        cluster.start(timeout=600)
        log(f"{workers} worker(s): cluster up in {time.monotonic() - t0:.0f} s")
        api = cluster.api()
        api.call("PATCH", "/dags/face_ingest", json={"is_paused": False})
        time.sleep(10)  # unpausing starts yesterday's scheduled run (no photos): let it finish first
        api.wait_runs("face_ingest", 0, timeout)
        run_id = api.call(
            "POST", "/dags/face_ingest/dagRuns", json={"logical_date": None, "conf": {"day": DAY.isoformat()}}
        )["dag_run_id"]
        run = next(r for r in api.wait_runs("face_ingest", 1, timeout, run_type="manual") if r["dag_run_id"] == run_id)
        tis = api.task_instances("face_ingest", run_id)
        shards = []
        for ti in sorted((t for t in tis if t["task_id"] == "process"), key=lambda t: t["map_index"]):
            got = xcom(api, run_id, ti["map_index"])
            ran = ts(ti["end_date"]) - ts(ti["start_date"])
            shards.append(
                {
                    "map_index": ti["map_index"],
                    "worker": ti["hostname"],
                    "tries": ti["try_number"],
                    "photos": got["images"] + got["rejects"] + got.get("duplicates", 0),
                    "queue_wait": ts(ti["start_date"]) - ts(ti["queued_when"]),
                    "run": ran,
                    "setup": got["seconds"]["setup"],
                    "work": got["seconds"]["photos"],
                    "start_finish": ran - got["seconds"]["setup"] - got["seconds"]["photos"],
                    "queued": ts(ti["queued_when"]),
                    "ended": ts(ti["end_date"]),
                }
            )
        first = min(ts(t["queued_when"]) for t in tis if t["queued_when"])
        last = max(ts(t["end_date"]) for t in tis if t["end_date"])
        stage = max(s["ended"] for s in shards) - min(s["queued"] for s in shards)
        return {
            "workers": workers,
            "state": run["state"],
            "run_seconds": last - first,
            "process_stage_seconds": stage,
            "shards": shards,
        }
    finally:
        cluster.stop()


def summary(result: dict) -> dict:
    sh = result["shards"]
    mean = {k: statistics.mean(s[k] for s in sh) for k in ("queue_wait", "start_finish", "setup", "work")}
    # a worker's idle time between finishing one shard and starting its next one
    gaps = []
    for worker in {s["worker"] for s in sh}:
        mine = sorted((s for s in sh if s["worker"] == worker), key=lambda s: s["ended"])
        gaps += [b["ended"] - b["run"] - a["ended"] for a, b in zip(mine, mine[1:])]
    return {
        **mean,
        "gap": statistics.mean(gaps) if gaps else 0.0,
        "photos_per_s": sum(s["photos"] for s in sh) / result["process_stage_seconds"],
        "workers_used": sorted({s["worker"] for s in sh}),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--photos", type=int, default=400)
    p.add_argument("--shard-size", type=int, default=50)
    p.add_argument("--workers", default="1,2")
    p.add_argument("--timeout", type=float, default=3600)
    p.add_argument("--folder", default=str(RESULTS / "state" / "cluster-photos"))
    args = p.parse_args(argv)
    os.environ.pop("AIRFLOW_CONN_FACEPIPE_DB", None)
    from photos import lay_out

    photos = Path(args.folder)
    lay_out(photos, DAY, "camera", args.photos)
    log(f"{args.photos} camera photos (1920x1080) for {DAY} in {photos}")
    results = [one(photos, int(n), args.shard_size, args.timeout) for n in args.workers.split(",")]
    rows = []
    base = results[0]
    for r in results:
        s = summary(r)
        rows.append(
            {
                "workers": r["workers"],
                "state": r["state"],
                "run_s": round(r["run_seconds"], 1),
                "process_stage_s": round(r["process_stage_seconds"], 1),
                "speed_up": round(base["process_stage_seconds"] / r["process_stage_seconds"], 2),
                "photos_per_s": round(s["photos_per_s"], 2),
                **{f"task_{k}_s": round(s[k], 1) for k in ("queue_wait", "gap", "start_finish", "setup", "work")},
                "workers_used": s["workers_used"],
            }
        )
    header = (
        "| workers | run (s) | process stage (s) | speed-up | photos/s | per task: queue wait | idle gap"
        " before it | start+finish | setup (models) | photos |\n"
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    lines = [header] + [
        f"| {r['workers']} | {r['run_s']} | {r['process_stage_s']} | {r['speed_up']}x |"
        f" {r['photos_per_s']} | {r['task_queue_wait_s']} | {r['task_gap_s']} |"
        f" {r['task_start_finish_s']} | {r['task_setup_s']} | {r['task_work_s']} |"
        for r in rows
    ]
    table = "\n".join(lines)
    print(table)
    path = write_result(
        f"cluster-shards-of-{args.shard_size}",
        {
            "machine": machine(),
            "photos": args.photos,
            "shard_size": args.shard_size,
            "day": DAY.isoformat(),
            "summary": rows,
            "runs": results,
            "table": table,
        },
    )
    log(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
