"""facepipe on Celery workers, as on several machines: real processes, driven through the REST API.

One cluster for the module (cluster.local.Cluster, what ``make cluster`` runs): redis, PostgreSQL
over TCP with passwords (facepipe's tables reached by a role that is not a superuser), api-server,
scheduler, dag-processor, triggerer and two Celery workers, each worker in its own folder with its
own FACEPIPE_HOME, sharing only the photo folder. Two photos a shard, so every day has several.
Every day's rows are compared with a ``dag.test()`` load of the same photos (one shard a day) into
a reference schema. The tests run in file order: the second re-runs a day of the first.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from helpers.rows import q, snapshot

from cluster.local import Cluster, _tagged

pytestmark = pytest.mark.cluster

WORKERS = ("worker-a", "worker-b")
SCHEMA, REFERENCE = "cluster_rows", "reference_rows"
RUN_TIMEOUT = 600
YESTERDAY = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()


@pytest.fixture(scope="module")
def cluster(photos):
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing: .ci/run installs it (apt-get install redis-server)")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    # not under pytest's basetemp: another pytest run on the machine resets its mode to 0700,
    # and PostgreSQL (run as its own user) then loses its data directory
    c = Cluster(
        Path(tempfile.mkdtemp(prefix="fp-cluster-")),
        photos,
        workers=WORKERS,
        concurrency=1,
        # the schedule starts yesterday: unpausing face_ingest runs one day (no photos)
        settings={
            "FACEPIPE_SHARD_SIZE": "2",
            "FACEPIPE_DB_SCHEMA": SCHEMA,
            "FACEPIPE_START_DATE": YESTERDAY,
            "FACEPIPE_MAX_ACTIVE_SHARDS": str(len(WORKERS)),
        },
        # a lost worker's running task is failed (then retried) after 30 s without
        # heartbeats instead of Airflow's default 300
        airflow={"AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30"},
    )
    try:
        c.start(timeout=400)
        yield c
    finally:
        c.stop()
        left = [(p.pid, p.name()) for p in _tagged(c.root)]
        shutil.rmtree(c.root, ignore_errors=True)
        assert left == [], f"processes left after stop: {left}"


@pytest.fixture(scope="module")
def db(cluster):
    import psycopg
    from pgvector.psycopg import register_vector

    with psycopg.connect(cluster.facepipe_uri(), autocommit=True) as conn:
        register_vector(conn)
        yield conn


@pytest.fixture(scope="module")
def reference(cluster, airflow_db, photos, sample_days):
    """The same photos loaded by dag.test() in this process, into another schema of the same server."""
    from facepipe.ops.demo import run_day

    mp = pytest.MonkeyPatch()
    mp.setenv("AIRFLOW_CONN_FACEPIPE_DB", cluster.facepipe_uri())
    mp.setenv("FACEPIPE_DB_SCHEMA", REFERENCE)
    try:
        for day in sample_days:
            assert run_day("face_ingest", day.isoformat(), source=str(photos)) == "success"
    finally:
        mp.undo()
    return REFERENCE


def wait_for(check, timeout: float, what: str, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def test_compose_celery_profile_sets_what_the_cluster_sets(tmp_path):
    """docker-compose.yml's workers get every variable the tested cluster's workers get,
    except what compose fixes otherwise (paths in the image, service names, hostnames)."""
    import yaml

    from cluster.local import PROJECT_ROOT

    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    c = Cluster(
        tmp_path / "cluster",
        tmp_path / "photos",
        settings={"FACEPIPE_SHARD_SIZE": "2", "FACEPIPE_START_DATE": "2026-11-01", "FACEPIPE_MAX_ACTIVE_SHARDS": "2"},
    )
    c.state = {
        "ports": {"redis": 1, "postgres": 2, "api": 3},
        "secrets": dict.fromkeys(("postgres", "airflow", "facepipe", "redis", "admin", "jwt", "api", "fernet"), "x"),
    }
    local = set(c.worker_env("worker-a")) - set(c._base_env())
    compose_only = {
        "AIRFLOW_HOME",
        "AIRFLOW__CORE__DAGS_FOLDER",
        "AIRFLOW__CORE__PLUGINS_FOLDER",
        "AIRFLOW__API__HOST",
        "AIRFLOW__API__PORT",
        "AIRFLOW__API__BASE_URL",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS",
        "FACEPIPE_WORKER_NAME",
    }
    worker = compose["services"]["airflow-worker"]
    assert worker["profiles"] == ["celery"] and worker["command"] == "celery worker"
    assert local - compose_only <= set(worker["environment"]), local - compose_only - set(worker["environment"])
    assert "redis" in compose["services"] and compose["services"]["redis"]["profiles"] == ["celery"]
    assert "facepipe-state:/opt/airflow/facepipe-state" not in worker["volumes"]  # no shared state
    parsed = set(c.control_env()) - set(c._base_env()) - compose_only
    assert parsed <= set(compose["services"]["airflow-dag-processor"]["environment"])


def test_max_active_shards_is_a_checked_setting(monkeypatch):
    from facepipe.core.config import ConfigError
    from facepipe.core.deployment import max_active_shards

    monkeypatch.setenv("FACEPIPE_MAX_ACTIVE_SHARDS", "8")
    assert max_active_shards() == 8
    monkeypatch.setenv("FACEPIPE_MAX_ACTIVE_SHARDS", "0")
    with pytest.raises(ConfigError, match="FACEPIPE_MAX_ACTIVE_SHARDS"):
        max_active_shards()
    monkeypatch.delenv("FACEPIPE_MAX_ACTIVE_SHARDS")
    assert max_active_shards() == (os.cpu_count() or 2)


def test_cluster_is_loopback_only_and_facepipe_is_no_superuser(cluster, db):
    import psutil

    listening = set()
    for proc in _tagged(cluster.root):
        try:
            listening |= {
                (c.laddr.ip, proc.name()) for c in proc.net_connections("inet") if c.status == psutil.CONN_LISTEN
            }
        except psutil.Error:
            continue
    assert listening and {ip for ip, _ in listening} == {"127.0.0.1"}, listening
    assert db.execute(
        "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user"
    ).fetchone() == (False, False, False)
    # password authentication over TCP, nothing else
    assert db.info.host == "127.0.0.1" and db.info.user == "facepipe"


def test_without_the_extension_the_role_is_told_what_the_admin_runs(cluster):
    import psycopg

    from facepipe.core.config import ConfigError
    from facepipe.core.schema import require
    from facepipe.core.specs import model_spec

    with psycopg.connect(cluster.admin_uri(), autocommit=True) as admin:
        admin.execute("CREATE DATABASE no_vector")
        admin.execute("GRANT CONNECT, CREATE ON DATABASE no_vector TO facepipe")
    try:
        with psycopg.connect(cluster.facepipe_uri().replace("/facepipe?", "/no_vector?"), autocommit=True) as conn:
            with pytest.raises(ConfigError, match="a superuser runs CREATE EXTENSION vector"):
                require(conn, "facepipe", model_spec("dlib-resnet-128"), may_upgrade=True)
            assert conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'facepipe'").fetchone() == (0,)
    finally:
        with psycopg.connect(cluster.admin_uri(), autocommit=True) as admin:
            admin.execute("DROP DATABASE no_vector")


def test_backfill_through_the_rest_api_runs_shards_on_both_workers(cluster, db, reference, sample_days):
    api = cluster.api()
    # the scheduler runs no backfill of a paused DAG; unpausing also starts the scheduled
    # run of yesterday (FACEPIPE_START_DATE), a day without photos, which the checks leave out
    for dag_id in ("face_report", "face_ingest"):
        api.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
    api.call(
        "POST",
        "/backfills",
        json={
            "dag_id": "face_ingest",
            "from_date": f"{sample_days[0]}T00:00:00Z",
            "to_date": f"{sample_days[-1]}T00:00:00Z",
            "max_active_runs": 3,
        },
    )
    runs = api.wait_runs("face_ingest", len(sample_days), RUN_TIMEOUT, run_type="backfill")
    assert [r["state"] for r in runs] == ["success"] * len(sample_days), runs
    assert sorted(r["logical_date"][:10] for r in runs) == [d.isoformat() for d in sample_days]

    shards_per_run, hosts = [], set()
    for run in runs:
        tis = api.task_instances("face_ingest", run["dag_run_id"])
        process = [ti for ti in tis if ti["task_id"] == "process"]
        shards_per_run.append(len(process))
        hosts |= {ti["hostname"] for ti in process}
        assert {ti["hostname"] for ti in tis} <= set(WORKERS)
    assert max(shards_per_run) > 1, shards_per_run
    assert hosts == set(WORKERS), f"process shards ran on {hosts}"

    for day in sample_days:  # every row as dag.test() wrote it in one process
        got, want = snapshot(db, SCHEMA, day), snapshot(db, reference, day)
        assert got == want, day
        assert got["faces"] and got["images"]

    # face_report ran after the days, triggered by the Asset events their runs published.
    # Airflow may fold (or, as issue 11 found, drop) one of two events that land
    # milliseconds apart, so a day need not have a report run of its own: face_report
    # also builds every day loaded since its last report (report_runs). Each day must be
    # reported, by asset-triggered runs, from events of these runs' publish tasks.
    run_of_day = {r["logical_date"][:10]: r["dag_run_id"] for r in runs}

    def reported():
        reports = api.runs("face_report")
        if not reports or any(r["state"] not in ("success", "failed") for r in reports):
            return None
        days = q(db, SCHEMA, "SELECT DISTINCT day FROM {s}.report_daily_summary WHERE day = ANY(%s)", sample_days)
        return reports if len(days) == len(sample_days) else None

    reports = wait_for(reported, 300, "every day reported by face_report")
    events = []
    for report in reports:
        for e in api.call("GET", f"/dags/face_report/dagRuns/{report['dag_run_id']}/upstreamAssetEvents")[
            "asset_events"
        ]:
            if e["extra"].get("day") in run_of_day:
                assert report["run_type"] == "asset_triggered" and report["state"] == "success", report
                assert e["source_run_id"] == run_of_day[e["extra"]["day"]] and e["source_task_id"] == "publish", e
                assert report["start_date"] >= e["timestamp"], (report, e)
                events.append(e)
    assert events, reports
    summary = q(
        db, SCHEMA, "SELECT DISTINCT day FROM {s}.report_daily_summary WHERE day = ANY(%s) ORDER BY 1", sample_days
    )
    assert [d for (d,) in summary] == sample_days

    # nothing of a worker's own: each has its own FACEPIPE_HOME, and no embedded database in it
    for name in WORKERS:
        assert not (cluster.root / name / "state" / "pgdata").exists()

    # the Faces view on the cluster's api-server: facepipe_db over TCP as the cluster's role
    page = api.http.get("/facepipe/people")
    assert page.status_code == 200, page.text[-400:]
    shown = re.findall(r'data-identity="(\d+)"', page.text)
    (n_identities,) = q(db, SCHEMA, "SELECT count(*) FROM {s}.identities")[0]
    assert shown and len(shown) == min(n_identities, 60), (len(shown), n_identities)
    crop = re.search(r'src="(/facepipe/crop/[^"]+)"', page.text).group(1)
    img = api.http.get(crop)
    assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg" and img.content[:2] == b"\xff\xd8"


# --- one truth for settings: what a shell sets reaches the workers through the database alone ----
# The workers were started with FACEPIPE_SHARD_SIZE=2 and no FACEPIPE_RETENTION_DAYS.


def shell(cluster, home: Path, *args: str, env: dict | None = None) -> str:
    """``python -m facepipe ARGS`` in a new shell beside the cluster: its database and schema, a home
    of its own, none of the workers' FACEPIPE_* settings, plus ``env``. Its output; it must succeed."""
    import subprocess
    import sys

    base = {k: v for k, v in os.environ.items() if not k.startswith("FACEPIPE_") and k != "AIRFLOW_CONN_FACEPIPE_DB"}
    done = subprocess.run(
        [sys.executable, "-m", "facepipe", *args],
        env={
            **base,
            "FACEPIPE_HOME": str(home),
            "FACEPIPE_REPORTS_DIR": str(cluster.root / "reports"),
            "AIRFLOW_CONN_FACEPIPE_DB": cluster.facepipe_uri(),
            "FACEPIPE_DB_SCHEMA": SCHEMA,
            **(env or {}),
        },
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, f"facepipe {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


def trigger_day(api, day: dt.date) -> dict:
    """Trigger with the param day, as the UI does it; the run once it ended."""
    run_id = api.call(
        "POST", "/dags/face_ingest/dagRuns", json={"logical_date": None, "conf": {"day": day.isoformat()}}
    )["dag_run_id"]
    return wait_for(
        lambda: next(
            (r for r in api.runs("face_ingest") if r["dag_run_id"] == run_id and r["state"] in ("success", "failed")),
            None,
        ),
        RUN_TIMEOUT,
        f"the run of {day}",
    )


def worker_log(cluster, ti: dict) -> str:
    """A task's log, read on the worker that ran it (the workers serve no logs: --skip-serve-logs)."""
    assert ti["hostname"] in WORKERS, ti
    folder = (
        cluster.root / ti["hostname"] / "airflow" / "logs" / f"dag_id={ti['dag_id']}" / f"run_id={ti['dag_run_id']}"
    )
    folder /= f"task_id={ti['task_id']}"
    if ti["map_index"] >= 0:
        folder /= f"map_index={ti['map_index']}"
    path = folder / f"attempt={ti['try_number']}.log"
    assert path.is_file(), path
    return path.read_text()


def test_a_setting_set_in_a_shell_reaches_the_workers_without_a_restart(cluster, db, reference, sample_days, tmp_path):
    """`facepipe settings set shard_size 4` in a shell: the next run's plan, on a worker, makes shards
    of 4 photos; every task's log, on either worker, says that worker's FACEPIPE_SHARD_SIZE=2 is not used;
    no worker was restarted; the rows are dag.test()'s; the change and its undoing are audited."""
    import getpass

    api, day = cluster.api(), sample_days[1]
    pids = {name: cluster.state["pids"][name] for name in WORKERS}
    out = shell(cluster, tmp_path, "settings", "set", "shard_size", "4")
    assert "shard_size: (not set) -> 4 for every process" in out, out
    run = trigger_day(api, day)
    assert run["state"] == "success", run
    tis = api.task_instances("face_ingest", run["dag_run_id"])
    shards = api.call(
        "GET", f"/dags/face_ingest/dagRuns/{run['dag_run_id']}/taskInstances/plan/xcomEntries/return_value"
    )["value"]
    shards = json.loads(shards) if isinstance(shards, str) else shards
    process = [ti for ti in tis if ti["task_id"] == "process"]
    files = sum(sh["files"] for sh in shards)
    assert files > 4 and [sh["files"] for sh in shards] == [min(4, files - 4 * i) for i in range(len(process))]
    unused = "FACEPIPE_SHARD_SIZE=2 in this process's environment is not used: the deployment's value is 4"
    for ti in tis:  # each task process reads the settings when it parses the DAG file
        assert unused in worker_log(cluster, ti), (ti["task_id"], ti["map_index"], ti["hostname"])
    print("process shards ran on", sorted({ti["hostname"] for ti in process}))
    assert snapshot(db, SCHEMA, day) == snapshot(db, reference, day)
    assert {name: cluster.state["pids"][name] for name in WORKERS} == pids and set(cluster.running()) >= set(WORKERS)

    out = shell(cluster, tmp_path, "settings", "unset", "shard_size")
    assert "shard_size: 4 removed" in out, out
    me = getpass.getuser()
    assert q(db, SCHEMA, "SELECT who, detail FROM {s}.audit WHERE op = 'setting' ORDER BY op_no") == [
        (me, {"name": "shard_size", "old": None, "new": "4"}),
        (me, {"name": "shard_size", "old": "4", "new": None}),
    ]


def test_a_killed_worker_shard_is_retried_on_the_other(cluster, db, reference, sample_days):
    api = cluster.api()
    day = sample_days[0]
    api.call("PATCH", "/dags/face_ingest", json={"is_paused": False})
    # a re-run of the day, as Trigger with the param day does it in the UI
    run_id = api.call(
        "POST", "/dags/face_ingest/dagRuns", json={"logical_date": None, "conf": {"day": day.isoformat()}}
    )["dag_run_id"]

    def running_shard():
        # the first shard seen running, on either worker: which worker the broker hands the
        # shards to first is up to Celery (once worker-a took all four, one after the other)
        tis = api.task_instances("face_ingest", run_id)
        process = [ti for ti in tis if ti["task_id"] == "process"]
        if process and all(ti["state"] == "success" for ti in process):
            raise AssertionError(f"every shard finished before one was seen running: {process}")
        fresh = [
            ti
            for ti in process
            if ti["state"] == "running"
            and ti["hostname"] in WORKERS
            and ti["start_date"]
            # started under a second ago: a shard takes about 2 s, so it is still running when
            # its worker is killed
            and dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(ti["start_date"]) < dt.timedelta(seconds=1)
        ]
        return fresh[0] if fresh else None

    victim = wait_for(running_shard, 300, "a shard running on a worker", every=0.2)
    dead = victim["hostname"]
    (other,) = set(WORKERS) - {dead}
    cluster.kill_worker(dead)  # the worker and its task processes, as if the machine died

    runs = wait_for(
        lambda: [
            r for r in api.runs("face_ingest") if r["dag_run_id"] == run_id and r["state"] in ("success", "failed")
        ],
        RUN_TIMEOUT,
        "the re-run to finish",
    )
    assert runs[0]["state"] == "success", runs
    tries = api.tries("face_ingest", run_id, "process", victim["map_index"])
    assert [t["hostname"] for t in tries][:1] == [dead] and tries[0]["state"] != "success", tries
    assert tries[-1]["hostname"] == other and tries[-1]["state"] == "success", tries
    assert len(tries) >= 2
    assert snapshot(db, SCHEMA, day) == snapshot(db, reference, day)


def test_an_expired_day_is_refused_on_a_celery_worker(cluster, db, sample_days, tmp_path):
    """Retention set in one shell only (FACEPIPE_RETENTION_DAYS there) expires the first sample day;
    Trigger with the param day of it: the Celery worker, started before and never told, refuses it
    from the horizon recorded in the database; nothing of the day comes back; status agrees."""
    from facepipe.core.config import DEFAULT_START_DATE

    api, expired, kept = cluster.api(), sample_days[0], sample_days[1]
    keep = (dt.datetime.now(dt.UTC).date() - kept).days
    assert q(db, SCHEMA, "SELECT count(*) FROM {s}.images WHERE day = %s", expired)[0][0] > 0
    out = shell(cluster, tmp_path, "retention", env={"FACEPIPE_RETENTION_DAYS": str(keep)})
    assert f"the days before {kept} are expired" in out and f"\n  {expired}\n" in out, out

    run = trigger_day(api, expired)
    assert run["state"] == "failed", run
    tis = {(ti["task_id"], ti["map_index"]): ti for ti in api.task_instances("face_ingest", run["dag_run_id"])}
    assert tis[("plan", -1)]["state"] == "failed" and tis[("load", -1)]["state"] == "upstream_failed", tis
    log = worker_log(cluster, tis[("plan", -1)])
    assert f"day {expired} is past retention: retention dropped the days before {kept}" in log, log[-2000:]
    for table in ("images", "faces", "rejects", "load_runs", "stage_manifest"):
        assert q(db, SCHEMA, f"SELECT count(*) FROM {{s}}.{table} WHERE day = %s", expired) == [(0,)], table
    partitions = db.execute(
        "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE nspname = %s AND relname = ANY(%s)",
        (SCHEMA, [f"images_p{expired:%Y%m%d}", f"faces_p{expired:%Y%m%d}"]),
    ).fetchall()
    assert partitions == []
    assert q(db, SCHEMA, "SELECT count(*) FROM {s}.images WHERE day = %s", kept)[0][0] > 0

    status = json.loads(shell(cluster, tmp_path, "status", "--json"))  # no FACEPIPE_RETENTION_DAYS
    start = dt.date.fromisoformat(DEFAULT_START_DATE)  # the shell's start date: the default
    assert status["horizon"] == kept.isoformat()
    assert status["expired"] == {"from": start.isoformat(), "to": expired.isoformat(), "days": (kept - start).days}
