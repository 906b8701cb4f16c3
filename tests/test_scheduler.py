"""The real scheduler: face_ingest and face_report driven through the REST API v2 as a person drives the UI.

One Airflow for the module (facepipe.ops.local_airflow.Stack, what ``make airflow`` runs): api-server,
scheduler (LocalExecutor) and dag-processor on 127.0.0.1 and a free port, in an AIRFLOW_HOME of
its own, every process group stopped afterwards. Photos for four recent days (the scheduler's
clock decides which days it runs), two photos a shard, so every day has several shards.

Every scenario ends by comparing the day's rows, row for row, with a ``dag.test()`` load of the
same inputs into a reference schema. The tests run in file order and build on each other.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import time
import uuid
from pathlib import Path

import pytest
from helpers.rows import q, snapshot
from psycopg import sql

from facepipe.ops.local_airflow import Stack, embedded_metadata_url, password_file

pytestmark = pytest.mark.scheduler

TODAY = dt.datetime.now(dt.UTC).date()
DAYS = [TODAY - dt.timedelta(days=n) for n in (4, 3, 2, 1)]  # scheduled: the last two (FACEPIPE_START_DATE)
RUN_TIMEOUT = 300
POLL = 0.5  # seconds between two polls of the REST API (each wait ends on average half a poll late)
ENV = {"FACEPIPE_DETECTOR": "haar", "FACEPIPE_SHARD_SIZE": "2", "FACEPIPE_START_DATE": DAYS[2].isoformat()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    """The REST API v2 with a token from the simple auth manager (POST /auth/token)."""

    def __init__(self, url: str, password: str):
        import httpx

        self.http = httpx.Client(base_url=url, timeout=30)
        resp = self.http.post("/auth/token", json={"username": "admin", "password": password})
        assert resp.status_code == 201, resp.text
        self.http.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"

    def call(self, method: str, path: str, **kw) -> dict:
        resp = self.http.request(method, "/api/v2" + path, **kw)
        assert resp.status_code < 300, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json() if resp.content else {}

    def runs(self, dag_id: str) -> list[dict]:
        return self.call("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100, "order_by": "run_after"})["dag_runs"]

    def trigger(self, dag_id: str, conf: dict) -> str:
        return self.call("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})["dag_run_id"]

    def wait(self, dag_id: str, run_id: str, timeout: float = RUN_TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
            if state in ("success", "failed"):
                return state
            time.sleep(POLL)
        raise AssertionError(f"{dag_id} {run_id} still running after {timeout} s: {self.states(dag_id, run_id)}")

    def wait_all(self, dag_id: str, count: int, timeout: float = RUN_TIMEOUT) -> list[dict]:
        """Until ``dag_id`` has at least ``count`` runs and none is queued or running."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = self.runs(dag_id)
            if len(runs) >= count and all(r["state"] in ("success", "failed") for r in runs):
                return runs
            time.sleep(POLL)
        raise AssertionError(f"{dag_id}: {[(r['dag_run_id'], r['state']) for r in self.runs(dag_id)]}")

    def states(self, dag_id: str, run_id: str) -> dict:
        tis = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
        return {(t["task_id"], t["map_index"]): t["state"] for t in tis["task_instances"]}

    def clear(self, dag_id: str, run_id: str, task_ids: list | None, downstream: bool) -> str:
        body = {
            "dry_run": False,
            "dag_run_id": run_id,
            "only_failed": False,
            "reset_dag_runs": True,
            "include_downstream": downstream,
            "include_upstream": False,
        }
        if task_ids is not None:
            body["task_ids"] = task_ids
        cleared = self.call("POST", f"/dags/{dag_id}/clearTaskInstances", json=body)["task_instances"]
        assert cleared, f"nothing cleared for {task_ids}"
        return self.wait(dag_id, run_id)

    def log(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
        ti = self.call(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}" + (f"/{map_index}" if map_index >= 0 else ""),
        )
        out = self.call(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{ti['try_number']}",
            params={"map_index": map_index},
            headers={"Accept": "application/json"},
        )
        return json.dumps(out["content"])


@pytest.fixture(scope="module")
def photos_root(tmp_path_factory) -> Path:
    from facepipe.ops.samples import lay_out_demo_photos

    root = tmp_path_factory.mktemp("sched") / "photos"
    lay_out_demo_photos(root, DAYS)
    return root


@pytest.fixture(scope="module")
def schemas(pg_uri):
    import psycopg

    names = {"airflow": "sched_" + uuid.uuid4().hex[:8], "reference": "ref_" + uuid.uuid4().hex[:8]}
    yield names
    with psycopg.connect(pg_uri, autocommit=True) as conn:
        for name in names.values():
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def reference(airflow_db, schemas, photos_root):
    """day -> the rows a dag.test() run of face_ingest leaves for it (run oldest day first)."""
    from facepipe.ops.demo import run_day

    saved = {k: os.environ.get(k) for k in (*ENV, "FACEPIPE_DB_SCHEMA")}
    os.environ.update({**ENV, "FACEPIPE_DB_SCHEMA": schemas["reference"]})
    try:
        for day in DAYS:
            assert run_day("face_ingest", day.isoformat(), source=str(photos_root)) == "success"
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return schemas["reference"]


@pytest.fixture(scope="module")
def api(pg_uri, schemas, photos_root, reference, tmp_path_factory):
    from facepipe.core.deployment import settings

    home = tmp_path_factory.mktemp("airflow-sched")
    metadata_db = "airflow_" + uuid.uuid4().hex[:8]
    stack = Stack(
        airflow_home=home,
        port=free_port(),
        components=("api-server", "scheduler", "dag-processor"),
        metadata_url=embedded_metadata_url(settings().home, metadata_db),
        env={
            **ENV,
            "FACEPIPE_DB_SCHEMA": schemas["airflow"],
            "FACEPIPE_SOURCE": str(photos_root),
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        },
    )
    stack.migrate()
    stack.start()
    started: list = []
    try:
        stack.wait_ready(timeout=240)
        started = listening_only_on_loopback(stack)
        client = Api(stack.url, json.loads(password_file(home).read_text())["admin"])
        deadline = time.monotonic() + 180
        while not {"face_ingest", "face_report"} <= {d["dag_id"] for d in client.call("GET", "/dags")["dags"]}:
            assert time.monotonic() < deadline, "the dag-processor never parsed the DAGs"
            time.sleep(POLL)
        yield client
    finally:
        stack.stop()
        assert not stack.procs
        left = [p.pid for p in started if p.is_running() and p.status() != "zombie"]
        import psycopg

        with psycopg.connect(pg_uri, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(metadata_db)))
        assert not left, f"processes left running after stop: {left}"


def listening_only_on_loopback(stack: Stack) -> list:
    """What make airflow promises: every socket the components listen on is 127.0.0.1 (no log servers)."""
    import psutil

    procs = []
    for p in stack.procs.values():
        leader = psutil.Process(p.pid)
        procs += [leader, *leader.children(recursive=True)]
    listening = {
        (c.laddr.ip, c.laddr.port)
        for proc in procs
        for c in proc.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    }
    assert listening and all(ip == "127.0.0.1" for ip, _ in listening), listening
    assert ("127.0.0.1", stack.port) in listening
    return procs


def wait_until(what: str, check, timeout: float = RUN_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(POLL)
    raise AssertionError(f"not after {timeout} s: {what}")


def reported_days(db, schemas) -> list:
    return [d for (d,) in q(db, schemas["airflow"], "SELECT DISTINCT day FROM {s}.report_daily_summary ORDER BY 1")]


def rows(db, schema: str, day: dt.date) -> dict:
    return snapshot(db, schema, day)


def same_as_reference(db, schemas, day: dt.date) -> None:
    got, want = rows(db, schemas["airflow"], day), rows(db, schemas["reference"], day)
    assert want["images"], "the reference day is empty"
    assert got == want


def ingest_run(api, day: dt.date) -> str:
    """The id of the newest successful face_ingest run of ``day`` (scheduled, manual or backfill).
    A backfill with "All Runs" re-runs a day's existing run in place (same run id)."""
    ok = [
        r
        for r in api.runs("face_ingest")
        if r["state"] == "success"
        and (
            (r.get("conf") or {}).get("day") == day.isoformat()
            or (
                not (r.get("conf") or {}).get("day")
                and r["data_interval_start"]
                and r["data_interval_start"][:10] == day.isoformat()
            )
        )
    ]
    assert ok, f"no successful run of {day}"
    return ok[-1]["dag_run_id"]


def test_unpause_runs_every_day_since_the_start_and_the_reports_follow(api, db, schemas):
    api.call("PATCH", "/dags/face_report", json={"is_paused": False})
    api.call("PATCH", "/dags/face_ingest", json={"is_paused": False})
    runs = api.wait_all("face_ingest", 2)
    # (past midnight UTC since this module was imported, the scheduler also runs the day that just ended)
    assert sorted(
        (r["data_interval_start"][:10], r["run_type"], r["state"])
        for r in runs
        if r["data_interval_start"][:10] <= DAYS[3].isoformat()
    ) == [(DAYS[2].isoformat(), "scheduled", "success"), (DAYS[3].isoformat(), "scheduled", "success")]
    assert all(r["state"] == "success" for r in runs)
    for day in DAYS[2:]:
        same_as_reference(db, schemas, day)
    # face_report follows through the Asset. Two loads that finish at the same instant can lose one
    # event in Airflow (it creates the report run between them); that day is then reported by the
    # next report run (stale_report_days), which the next test triggers and checks.
    wait_until("face_report reported a day", lambda: reported_days(db, schemas))
    assert all(r["state"] == "success" for r in api.wait_all("face_report", 1))


def test_manual_run_with_params(api, db, schemas, photos_root):
    run = api.trigger("face_ingest", {"day": DAYS[1].isoformat(), "source": str(photos_root), "detector": "haar"})
    assert api.wait("face_ingest", run) == "success"
    same_as_reference(db, schemas, DAYS[1])
    wait_until("face_report reported every loaded day", lambda: set(DAYS[1:]) <= set(reported_days(db, schemas)))
    assert all(r["state"] == "success" for r in api.wait_all("face_report", 1))


def test_backfill_all_runs_reprocesses_completed_days(api, db, schemas):
    """Trigger -> Backfill, "All Runs": a day that already ran runs again, a new day runs; same rows."""
    before = {r["dag_run_id"] for r in api.runs("face_ingest")}
    api.call(
        "POST",
        "/backfills",
        json={
            "dag_id": "face_ingest",
            "from_date": f"{DAYS[0]}T00:00:00Z",
            "to_date": f"{DAYS[2]}T00:00:00Z",
            "reprocess_behavior": "completed",
            "max_active_runs": 3,
        },
    )
    runs = api.wait_all("face_ingest", len(before) + 2)
    backfilled = [r for r in runs if r["run_type"] == "backfill"]
    assert sorted(r["data_interval_start"][:10] for r in backfilled) == [d.isoformat() for d in DAYS[:3]]
    assert all(r["state"] == "success" for r in backfilled)
    for day in DAYS[:3]:
        same_as_reference(db, schemas, day)


CLEARS = [  # (what the person clears, with Downstream?, how the run ends, how load ends)
    ("one shard", [["process", 1]], False, "success", "success"),
    ("one shard with downstream", [["process", 1]], True, "success", "success"),
    ("validate alone", ["validate"], False, "success", "success"),
    ("load alone", ["load"], False, "success", "success"),
    ("index alone", ["index"], False, "success", "success"),
    ("plan alone", ["plan"], False, "success", "success"),  # re-plans; the loaded rows stay
    # the new plan has no staged shards: load refuses. The run stays green in Airflow's eyes (it rates a
    # run by its last tasks, index and publish, which were not cleared); the tables hold the earlier load
    ("load after plan alone", ["load"], False, "success", "failed"),
    ("two shards with downstream", [["process", 0], ["process", 2]], True, "failed", "failed"),  # still not all
    ("plan with downstream", ["plan"], True, "success", "success"),
    ("the whole run", None, False, "success", "success"),
]


def test_every_clear_of_a_multi_shard_day(api, db, schemas):
    day = DAYS[3]
    run = ingest_run(api, day)
    assert len([k for k in api.states("face_ingest", run) if k[0] == "process"]) >= 3
    outcomes = []
    for name, task_ids, downstream, _, _ in CLEARS:
        state = api.clear("face_ingest", run, task_ids, downstream)
        load_state = api.states("face_ingest", run)[("load", -1)]
        outcomes.append((name, state, load_state))
        same_as_reference(db, schemas, day)  # a green end or a refusal: the day's rows as a fresh run leaves them
        if load_state == "failed":
            assert "Nothing was loaded. Clear the `process` tasks of those shards" in api.log(
                "face_ingest", run, "load"
            ), name
    assert outcomes == [(name, run_state, load_state) for name, _, _, run_state, load_state in CLEARS]


def test_a_cleared_shard_of_a_superseded_run_fails_and_changes_nothing(api, db, schemas):
    day = DAYS[2]
    older = ingest_run(api, day)  # the scheduled run (the backfill re-ran it in place)
    newer = api.trigger("face_ingest", {"day": day.isoformat()})
    assert api.wait("face_ingest", newer) == "success"  # loads the day again: the older run's plan goes
    assert api.clear("face_ingest", older, [["process", 0]], True) == "failed"
    assert "no plan for" in api.log("face_ingest", older, "process", 0)
    same_as_reference(db, schemas, day)


def test_two_runs_of_one_day_at_once(api, db, schemas):
    day = DAYS[0]
    runs = [api.trigger("face_ingest", {"day": day.isoformat()}) for _ in range(2)]
    assert [api.wait("face_ingest", r) for r in runs] == ["success", "success"]
    same_as_reference(db, schemas, day)


def test_a_wrong_source_leaves_the_day_and_a_second_camera_adds_to_it(api, db, schemas, photos_root, tmp_path):
    day = DAYS[3]
    wrong = api.trigger("face_ingest", {"day": day.isoformat(), "source": str(photos_root / day.isoformat())})
    assert api.wait("face_ingest", wrong) == "failed"
    assert "already loaded for the day from another source" in api.log("face_ingest", wrong, "load")
    same_as_reference(db, schemas, day)

    camera2 = tmp_path / "camera2"
    shutil.copytree(photos_root / DAYS[0].isoformat(), camera2 / day.isoformat())
    reports_before = len(api.runs("face_report"))
    second = api.trigger("face_ingest", {"day": day.isoformat(), "source": str(camera2)})
    assert api.wait("face_ingest", second) == "success"
    got = rows(db, schemas["airflow"], day)
    want = rows(db, schemas["reference"], day)
    assert [r for r in got["images"] if r[9] == str(photos_root)] == want["images"]
    assert {r[9] for r in got["images"]} == {str(photos_root), str(camera2)}
    wait_until(
        "face_report reported both sources of the day",
        lambda: (
            {
                s
                for (s,) in q(
                    db, schemas["airflow"], "SELECT DISTINCT source FROM {s}.report_daily_summary WHERE day = %s", day
                )
            }
            == {str(photos_root), str(camera2)}
        ),
    )
    assert len(api.wait_all("face_report", reports_before + 1)) > reports_before


def test_forget_from_the_ui_is_a_dry_run_until_unticked_and_a_clear_does_not_bring_it_back(
    api, db, schemas, photos_root
):
    """face_forget as the UI triggers it: the form's defaults with the photo filled in only count;
    with dry_run unticked the photo goes, and a Clear of the day's whole face_ingest run (which
    reads the photo again) makes it a reject, reason forgotten, not an image."""
    s, day = schemas["airflow"], DAYS[3]
    uri, image_id = q(
        db,
        s,
        "SELECT uri, image_id FROM {s}.images WHERE day = %s AND face_count > 0 AND source = %s ORDER BY uri LIMIT 1",
        day,
        str(photos_root),
    )[0]
    faces_before = q(db, s, "SELECT count(*) FROM {s}.faces WHERE day = %s", day)[0][0]
    api.call("PATCH", "/dags/face_forget", json={"is_paused": False})
    dry = api.trigger(
        "face_forget", {"person": "", "photo": uri, "threshold": None, "dry_run": True, "block_future": False}
    )  # what the form sends with its defaults
    assert api.wait("face_forget", dry) == "success"
    assert q(db, s, "SELECT count(*) FROM {s}.faces WHERE day = %s", day) == [(faces_before,)]
    assert q(db, s, "SELECT count(*) FROM {s}.audit WHERE op = 'forget_photo'") == [(0,)]

    run = api.trigger("face_forget", {"photo": uri, "dry_run": False})
    assert api.wait("face_forget", run) == "success"
    assert q(db, s, "SELECT count(*) FROM {s}.images WHERE image_id = %s", image_id) == [(0,)]
    faces_after = q(db, s, "SELECT count(*) FROM {s}.faces WHERE day = %s", day)[0][0]
    assert faces_after < faces_before
    ((who,),) = q(db, s, "SELECT who FROM {s}.audit WHERE op = 'forget_photo'")
    assert who == f"airflow:face_forget/{run}"
    assert uri not in api.log("face_forget", run, "forget")  # counts only in the task log

    # the day's newest run from the main source (the previous test added a second camera's run)
    main_run = [
        r["dag_run_id"]
        for r in api.runs("face_ingest")
        if r["state"] == "success"
        and (r.get("conf") or {}).get("source") in (None, "", str(photos_root))
        and ((r.get("conf") or {}).get("day") or (r["data_interval_start"] or "")[:10]) == day.isoformat()
    ][-1]
    assert api.clear("face_ingest", main_run, None, False) == "success"
    assert q(db, s, "SELECT count(*) FROM {s}.images WHERE uri = %s", uri) == [(0,)]
    assert q(db, s, "SELECT reason FROM {s}.rejects WHERE day = %s AND uri = %s", day, uri) == [("forgotten",)]
    assert q(db, s, "SELECT count(*) FROM {s}.faces WHERE day = %s", day) == [(faces_after,)]


def test_make_airflow_prints_the_password_and_ctrl_c_stops_everything(tmp_path):
    """`make airflow`'s command: up on 127.0.0.1, the password's place printed, Ctrl+C (SIGINT) stops it all."""
    import signal
    import subprocess
    import sys

    import psutil

    home, port = tmp_path / "airflow", free_port()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "FACEPIPE_AIRFLOW_PORT": str(port),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    }
    env.pop("FACEPIPE_AIRFLOW_HOST", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "facepipe", "airflow"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    out: list[str] = []
    descendants: list = []
    try:
        deadline = time.monotonic() + 300
        while not any("Ctrl+C stops all of them" in line for line in out):
            assert time.monotonic() < deadline and proc.poll() is None, "".join(out)[-3000:]
            out.append(proc.stdout.readline())
        text = "".join(out)
        where = home / "simple_auth_manager_passwords.json.generated"
        assert f"http://127.0.0.1:{port}" in text and f"127.0.0.1:{port} only" in text
        assert f"password in {where}" in text
        assert json.loads(where.read_text())["admin"] in text
        descendants = psutil.Process(proc.pid).children(recursive=True)
        assert len(descendants) >= 4
        proc.send_signal(signal.SIGINT)  # what the terminal sends on Ctrl+C
        assert proc.wait(timeout=90) == 0
        gone, alive = psutil.wait_procs(descendants, timeout=10)
        assert not [p for p in alive if p.status() != "zombie"], alive
    finally:
        if proc.poll() is None:  # the test failed half-way: stop it the way a person would, then for sure
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for p in descendants:
            if p.is_running():
                p.kill()
