"""Faults injected into real processes: the tables always hold the old day or the new day.

Each test drives facepipe's task functions (what the DAG's tasks call) in real
processes against the real database, kills or restarts something in the middle,
retries as Airflow would, and checks the rows.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers.rows import q, snapshot
from psycopg import sql

from facepipe.ingest import tasks


def ingest(day: str, run_id: str, opts: dict) -> dict:
    shards = tasks.plan(day, run_id, opts)
    for shard in shards:
        tasks.process_shard(shard)
    tasks.validate(day, run_id, opts)
    counts = tasks.load(day, run_id, opts)
    tasks.index(day, opts)
    return counts


def stage(day: str, run_id: str, opts: dict) -> int:
    shards = tasks.plan(day, run_id, opts)
    for shard in shards:
        tasks.process_shard(shard)
    return len(shards)


def inflate_staging(db, schema, day, run_id, images: int = 40_000, faces_per_image: int = 4):
    """Add synthetic staged rows so that the load's INSERT runs long enough to be hit. They are added
    to the run's plan too (manifest and file count), or load would refuse them as unplanned."""
    params = {"day": day, "run": run_id, "n": images, "fpi": faces_per_image}
    db.execute(
        sql.SQL(
            textwrap.dedent("""
        INSERT INTO {s}.stage_images (day, image_id, uri, content_sha256, bytes, width, height, source,
                                      arrived_at, status, face_count, run_id, shard)
        SELECT %(day)s, gen_random_uuid(), '/synthetic/' || g, md5(g::text) || md5((g + 1)::text), 1,
               1000, 1000, p.source, now(), 'loaded', %(fpi)s, %(run)s, 0
        FROM generate_series(1, %(n)s) AS g
        JOIN {s}.stage_plans AS p ON p.day = %(day)s AND p.run_id = %(run)s""")
        ).format(s=sql.Identifier(schema)),
        params,
    )
    db.execute(
        sql.SQL(
            textwrap.dedent("""
        INSERT INTO {s}.stage_manifest (day, run_id, shard, uri, bytes, arrived_at)
        SELECT day, run_id, shard, uri, bytes, arrived_at FROM {s}.stage_images
        WHERE day = %(day)s AND run_id = %(run)s AND uri LIKE '/synthetic/%%'""")
        ).format(s=sql.Identifier(schema)),
        params,
    )
    db.execute(
        sql.SQL("UPDATE {s}.stage_plans SET files = files + %(n)s WHERE day = %(day)s AND run_id = %(run)s").format(
            s=sql.Identifier(schema)
        ),
        params,
    )
    db.execute(
        sql.SQL(
            textwrap.dedent("""
        INSERT INTO {s}.stage_faces (day, image_id, face_no, box_x, box_y, box_w, box_h, source, detector,
                                     det_score, model, embedding, run_id, shard, img_width, img_height)
        SELECT i.day, i.image_id, f, 10, 10, 100, 100, i.source, 'hog', 1, 'dlib-resnet-128',
               (SELECT array_agg(0.088)::vector(128) FROM generate_series(1, 128)), i.run_id, 0, 1000, 1000
        FROM {s}.stage_images i CROSS JOIN generate_series(0, %(fpi)s - 1) AS f
        WHERE i.day = %(day)s AND i.run_id = %(run)s AND i.uri LIKE '/synthetic/%%'""")
        ).format(s=sql.Identifier(schema)),
        params,
    )


def start_task(code: str, app: str) -> subprocess.Popen:
    """A task in a process of its own, as a worker would run it."""
    plugins = str(Path(__file__).resolve().parents[1] / "plugins")
    env = {**os.environ, "PGAPPNAME": app, "PYTHONPATH": plugins}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def wait_for_query(db, app: str, like: str, proc: subprocess.Popen, timeout: float = 60, states=("active",)) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{app} ended before it ran {like}: {proc.stdout.read().decode()[-3000:]}")
        rows = db.execute(
            "SELECT 1 FROM pg_stat_activity WHERE application_name = %s AND state = ANY(%s) AND query ILIKE %s",
            (app, list(states), like),
        ).fetchall()
        if rows:
            return
        time.sleep(0.02)
    raise AssertionError(f"{app} never ran {like}")


def wait_gone(db, app: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while db.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (app,)).fetchone()[0]:
        if time.monotonic() > deadline:
            raise AssertionError(f"{app} still connected")
        time.sleep(0.05)


@pytest.fixture
def opts(photos):
    return tasks.options(str(photos), "hog", "dlib-resnet-128")


def test_load_killed_in_the_middle_then_retried(schema, db, opts, sample_days):
    day = sample_days[0].isoformat()
    ingest(day, "old", opts)
    old = snapshot(db, schema, sample_days[0])
    stage(day, "new", opts)
    inflate_staging(db, schema, day, "new")
    app = "victim-" + uuid.uuid4().hex[:6]
    proc = start_task(
        f"""
        from facepipe.ingest import tasks
        tasks.load({day!r}, "new", {opts!r})
    """,
        app,
    )
    wait_for_query(db, app, "%INSERT INTO%faces_p%", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    wait_gone(db, app)
    assert snapshot(db, schema, sample_days[0]) == old  # the old day, untouched
    counts = tasks.load(day, "new", opts)  # Airflow's retry
    assert counts["images"] == len(old["images"]) + 40_000
    assert counts["faces"] == len(old["faces"]) + 160_000
    assert q(db, schema, "SELECT count(*) FROM {s}.faces WHERE day = %s", sample_days[0]) == [(counts["faces"],)]


def test_database_restarted_during_load_then_retried(schema, db, pg_uri, opts, sample_days):
    from facepipe.core.db import embedded_uri, stop_embedded
    from facepipe.core.deployment import settings

    day = sample_days[1].isoformat()
    ingest(day, "old", opts)
    stage(day, "new", opts)
    inflate_staging(db, schema, day, "new", images=30_000)
    app = "restart-" + uuid.uuid4().hex[:6]
    proc = start_task(
        f"""
        from facepipe.ingest import tasks
        tasks.load({day!r}, "new", {opts!r})
    """,
        app,
    )
    wait_for_query(db, app, "%INSERT INTO%faces_p%", proc)
    db.close()
    stop_embedded(settings().home)  # the server goes away with the load's transaction open
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0, out.decode()
    assert embedded_uri(settings().home) == pg_uri  # back, on the same socket
    import psycopg

    with psycopg.connect(pg_uri, autocommit=True) as conn:
        # staging survived the restart (it is logged), the day is still the old one
        assert q(conn, schema, "SELECT count(*) FROM {s}.images WHERE day = %s", sample_days[1])[0][0] < 30_000
        counts = tasks.load(day, "new", opts)  # the retry
        assert q(conn, schema, "SELECT count(*) FROM {s}.images WHERE day = %s", sample_days[1]) == [
            (counts["images"] + counts["duplicates"],)
        ]
        assert counts["images"] >= 30_000


def test_two_runs_of_the_same_day_at_once_do_not_duplicate(schema, db, opts, sample_days):
    day = sample_days[2].isoformat()
    for run in ("backfill", "manual"):
        stage(day, run, opts)
    barrier = threading.Barrier(2)

    def load(run):
        barrier.wait()
        return tasks.load(day, run, opts)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(load, ["backfill", "manual"]))
    assert results[0] == results[1]
    rows = q(db, schema, "SELECT count(*), count(DISTINCT uri) FROM {s}.images WHERE day = %s", sample_days[2])
    assert rows[0][0] == rows[0][1] == results[0]["images"] + results[0]["duplicates"]
    assert q(db, schema, "SELECT count(*) FROM {s}.faces WHERE day = %s", sample_days[2]) == [(results[0]["faces"],)]
    assert q(db, schema, "SELECT count(*) FROM {s}.load_runs WHERE day = %s", sample_days[2]) == [(2,)]


def test_worker_dying_in_a_shard_is_redone_alone(schema, db, photos, sample_days, monkeypatch):
    monkeypatch.setenv("FACEPIPE_SHARD_SIZE", "2")
    day = sample_days[0].isoformat()
    opts = tasks.options(str(photos), "hog", "dlib-resnet-128")
    shards = tasks.plan(day, "run", opts)
    assert len(shards) >= 3
    for shard in shards:
        tasks.process_shard(shard)
    other = q(db, schema, "SELECT shard, image_id, xmin::text FROM {s}.stage_images ORDER BY 1, 2")
    app = "worker-" + uuid.uuid4().hex[:6]
    proc = start_task(
        f"""
        import os
        os.environ["FACEPIPE_SHARD_SIZE"] = "2"
        from facepipe.ingest import tasks
        tasks.process_shard({shards[1]!r})
    """,
        app,
    )
    # connected: the shard's work has begun and is not committed yet
    wait_for_query(db, app, "%", proc, states=("active", "idle", "idle in transaction"))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    wait_gone(db, app)
    tasks.process_shard(shards[1])  # the retry of that map index only
    after = q(db, schema, "SELECT shard, image_id, xmin::text FROM {s}.stage_images ORDER BY 1, 2")
    assert [r for r in after if r[0] != 1] == [r for r in other if r[0] != 1]  # other shards untouched
    assert sorted(r[1] for r in after if r[0] == 1) == sorted(r[1] for r in other if r[0] == 1)
    tasks.validate(day, "run", opts)
    counts = tasks.load(day, "run", opts)
    assert counts["images"] + counts["duplicates"] + counts["rejects"] == sum(s["files"] for s in shards)


def test_backfill_of_seven_days_three_at_once(schema, db, photos, sample_days, tmp_path):
    """Seven days loaded by three worker processes at a time: all complete, no deadlock."""
    import datetime as dt
    import shutil

    days = [dt.date(2026, 10, 1) + dt.timedelta(days=i) for i in range(7)]
    root = tmp_path / "photos"
    group_photos = sorted((photos / sample_days[1].isoformat()).glob("IMG_*.jpg"))
    for i, day in enumerate(days):  # two real photos a day: the point here is the DDL, not the models
        (root / day.isoformat()).mkdir(parents=True)
        for photo in group_photos[i % 3 : i % 3 + 2]:
            shutil.copy(photo, root / day.isoformat() / photo.name)
    opts = tasks.options(str(root), "haar", "dlib-resnet-128")
    running: list[subprocess.Popen] = []
    todo = list(days)
    while todo or running:
        while todo and len(running) < 3:
            d = todo.pop(0).isoformat()
            running.append(
                start_task(
                    f"""
                from facepipe.ingest import tasks
                shards = tasks.plan({d!r}, "backfill", {opts!r})
                for shard in shards:
                    tasks.process_shard(shard)
                tasks.validate({d!r}, "backfill", {opts!r})
                tasks.load({d!r}, "backfill", {opts!r})
                tasks.index({d!r}, {opts!r})
            """,
                    "backfill",
                )
            )
        for proc in list(running):
            if proc.poll() is not None:
                out = proc.stdout.read().decode()
                assert proc.returncode == 0, out[-3000:]
                running.remove(proc)
        time.sleep(0.1)
    parts = q(db, schema, "SELECT count(*) FROM pg_inherits WHERE inhparent = %s::regclass", f"{schema}.faces")
    assert parts == [(7,)]
    loaded = q(db, schema, "SELECT count(DISTINCT day) FROM {s}.load_runs")
    assert loaded == [(7,)]
    per_day = q(db, schema, "SELECT day, count(*) FROM {s}.images GROUP BY day ORDER BY day")
    assert [d for d, _ in per_day] == days and all(n > 0 for _, n in per_day)
