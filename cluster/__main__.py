"""python -m cluster start|stop|status|env: the local Celery cluster (make cluster / make cluster-stop)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cluster.local import PROJECT_ROOT, Cluster
from facepipe.core.text import plural

# what the workers take from the caller's environment (the rest is the cluster's own)
PASSED = (
    "FACEPIPE_DETECTOR",
    "FACEPIPE_MODEL",
    "FACEPIPE_SHARD_SIZE",
    "FACEPIPE_MIN_FACE",
    "FACEPIPE_DB_SCHEMA",
    "FACEPIPE_CLIP_MODEL_PATH",
    "FACEPIPE_MODEL_THREADS",
    "FACEPIPE_HAAR_SCALE_FACTOR",
    "FACEPIPE_ENROL_DIR",
    "FACEPIPE_START_DATE",
    "FACEPIPE_MAX_ACTIVE_SHARDS",
)


def main(argv=None) -> int:
    home = Path(os.environ.get("FACEPIPE_HOME", PROJECT_ROOT / ".facepipe"))
    p = argparse.ArgumentParser(prog="python -m cluster", description=__doc__)
    p.add_argument("command", choices=("start", "stop", "status"))
    p.add_argument(
        "--root", default=str(home / "cluster"), help="the cluster's folder (default $FACEPIPE_HOME/cluster)"
    )
    p.add_argument(
        "--photos",
        default=os.environ.get("FACEPIPE_SOURCE", str(home / "photos")),
        help="the shared photo folder (default FACEPIPE_SOURCE, else $FACEPIPE_HOME/photos)",
    )
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--concurrency", type=int, default=1, help="task slots per worker")
    args = p.parse_args(argv)
    names = tuple(f"worker-{chr(ord('a') + i)}" for i in range(args.workers))
    cluster = Cluster(
        Path(args.root),
        Path(args.photos),
        workers=names,
        concurrency=args.concurrency,
        settings={k: os.environ[k] for k in PASSED if os.environ.get(k)},
    )
    if args.command == "start":
        cluster.start()
        print(f"""facepipe cluster running (state and logs in {cluster.root}):
  Airflow UI and REST API  {cluster.api_url}   user admin, password {cluster.admin_password}
  workers                  {", ".join(names)} ({args.concurrency} task slot(s) each), photos from {cluster.photos}
  facepipe's tables        {cluster.facepipe_uri()}
  stop it with             make cluster-stop
The DAGs start paused: unpause face_report, and face_ingest (it then runs every day from
the deployment's start_date: `facepipe settings`), then Trigger or Backfill.""")
    elif args.command == "stop":
        late = cluster.stop()
        orphans = f" (and {plural(len(late), 'orphaned task process')})" if late else ""
        print(f"stopped{orphans}; nothing of the cluster runs")
    else:
        running = cluster.running()
        print("running: " + (", ".join(running) if running else "nothing"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
