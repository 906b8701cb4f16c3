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

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1):
        """A task's return value, as the UI's XCom tab reads it."""
        value = self.call(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
            params={"map_index": map_index},
        )["value"]
        return json.loads(value) if isinstance(value, str) else value


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
        client.stack = stack  # its processes: a test checks that none was restarted
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


# --- one truth for settings: a deployment setting and retention, each set in one shell -----------
# The Airflow processes were started with ENV only: no FACEPIPE_RETENTION_DAYS, FACEPIPE_SHARD_SIZE=2,
# FACEPIPE_START_DATE=DAYS[2]. What a shell sets reaches them through facepipe's database alone.


def shell(schemas, *args: str, env: dict | None = None) -> str:
    """``python -m facepipe ARGS`` as a person runs it in a new shell on this machine: its environment
    (FACEPIPE_HOME, the reports folder, as the Airflow processes') with the Airflow schema, none of
    ENV nor FACEPIPE_RETENTION_DAYS, plus ``env``. Its output; it must succeed."""
    import subprocess
    import sys

    base = {k: v for k, v in os.environ.items() if k not in ENV and k != "FACEPIPE_RETENTION_DAYS"}
    done = subprocess.run(
        [sys.executable, "-m", "facepipe", *args],
        env={**base, "FACEPIPE_DB_SCHEMA": schemas["airflow"], **(env or {})},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, f"facepipe {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


def component_pids(api) -> dict:
    procs = api.stack.procs
    assert procs and all(p.poll() is None for p in procs.values()), {n: p.poll() for n, p in procs.items()}
    return {name: p.pid for name, p in procs.items()}


def setting_audit(db, schema: str) -> list:
    return q(db, schema, "SELECT who, detail FROM {s}.audit WHERE op = 'setting' ORDER BY op_no")


def test_a_setting_set_in_a_shell_is_used_by_the_next_task_without_a_restart(api, db, schemas, tmp_path):
    """`facepipe settings set shard_size 4` in a shell: the next run's plan (a task process of the
    scheduler started long before, with FACEPIPE_SHARD_SIZE=2) makes shards of 4 photos, its log
    says the process's 2 is not used; `settings set reports_dir` reaches the api-server's Faces view;
    nothing was restarted, and each change and its undoing are audited."""
    import getpass

    s, day = schemas["airflow"], DAYS[1]
    # the reference's dag.test() runs left no task context in this process (a shell started from
    # it would be audited as that task: facepipe.ops.demo.run_day)
    assert not [k for k in os.environ if k.startswith("AIRFLOW_CTX_")]
    pids = component_pids(api)
    before = api.xcom("face_ingest", ingest_run(api, day), "plan")  # a run with the processes' 2
    files = sum(sh["files"] for sh in before)
    assert [sh["files"] for sh in before] == [min(2, files - 2 * i) for i in range(len(before))] and files > 4

    out = shell(schemas, "settings", "set", "shard_size", "4")
    assert "shard_size: (not set) -> 4 for every process" in out, out
    run = api.trigger("face_ingest", {"day": day.isoformat()})
    assert api.wait("face_ingest", run) == "success"
    shards = api.xcom("face_ingest", run, "plan")
    want = [min(4, files - 4 * i) for i in range(-(-files // 4))]
    assert [sh["files"] for sh in shards] == want and {sh["of"] for sh in shards} == {len(want)}
    assert len([k for k in api.states("face_ingest", run) if k[0] == "process"]) == len(want)
    assert "FACEPIPE_SHARD_SIZE=2 in this process's environment is not used: the deployment's value is 4" in api.log(
        "face_ingest", run, "plan"
    )
    same_as_reference(db, schemas, day)  # the shard size changes the tasks, not the rows
    assert component_pids(api) == pids

    out = shell(schemas, "settings", "unset", "shard_size")
    assert "shard_size: 4 removed" in out, out

    # the api-server, a long-lived process with FACEPIPE_REPORTS_DIR in its environment: its Faces
    # view serves a day's report files from the deployment's reports_dir (read again every 5 s)
    pages, marker = tmp_path / "reports", "a file from the deployment's reports_dir"
    (pages / DAYS[2].isoformat()).mkdir(parents=True)
    (pages / DAYS[2].isoformat() / "sightings.csv").write_text(f"day,note\n{DAYS[2]},{marker}\n")
    page = f"/facepipe/days/{DAYS[2]}/report/sightings.csv"
    assert marker not in api.http.get(page).text
    shell(schemas, "settings", "set", "reports_dir", str(pages))
    wait_until("the api-server reads the new reports_dir", lambda: marker in api.http.get(page).text, timeout=30)
    shell(schemas, "settings", "unset", "reports_dir")
    wait_until("the api-server reads its own again", lambda: marker not in api.http.get(page).text, timeout=30)
    assert component_pids(api) == pids

    me = getpass.getuser()
    assert setting_audit(db, s) == [
        (me, {"name": "shard_size", "old": None, "new": "4"}),
        (me, {"name": "shard_size", "old": "4", "new": None}),
        (me, {"name": "reports_dir", "old": None, "new": str(pages)}),
        (me, {"name": "reports_dir", "old": str(pages), "new": None}),
    ]
    assert q(db, s, "SELECT count(*) FROM {s}.settings") == [(0,)]


def partitions_of(db, schema: str, day: dt.date) -> list:
    names = [f"images_p{day:%Y%m%d}", f"faces_p{day:%Y%m%d}"]
    return db.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = ANY(%s) ORDER BY 1",
        (schema, names),
    ).fetchall()


def nothing_of(db, schema: str, day: dt.date) -> None:
    """Nothing of ``day`` in the tables: no rows, no partition, no load, nothing staged."""
    for table in ("images", "faces", "rejects", "load_runs", "stage_manifest", "stage_images"):
        assert q(db, schema, f"SELECT count(*) FROM {{s}}.{table} WHERE day = %s", day) == [(0,)], table
    assert partitions_of(db, schema, day) == []


def refused(api, run_id: str, day: dt.date) -> None:
    """The run failed at plan, whose log says the day is past retention, and nothing after it ran."""
    states = api.states("face_ingest", run_id)
    assert states[("resolve", -1)] == "success" and states[("plan", -1)] == "failed", states
    assert {v for k, v in states.items() if k[0] in ("load", "index", "publish")} == {"upstream_failed"}, states
    log = api.log("face_ingest", run_id, "plan")
    assert f"day {day} is past retention: retention dropped the days before {DAYS[1]}" in log, log[-2000:]


def test_retention_set_in_one_shell_expires_the_oldest_day(api, db, schemas):
    s = schemas["airflow"]
    assert q(db, s, "SELECT count(*) FROM {s}.images WHERE day = %s", DAYS[0])[0][0] > 0
    assert partitions_of(db, s, DAYS[0])
    out = shell(schemas, "retention", env={"FACEPIPE_RETENTION_DAYS": "3"})
    assert f"retention 3 days: the days before {DAYS[1]} are expired" in out and f"\n  {DAYS[0]}\n" in out, out
    nothing_of(db, s, DAYS[0])
    assert q(db, s, "SELECT before, keep_days FROM {s}.retention_horizon") == [(DAYS[1], 3)]
    assert q(db, s, "SELECT count(*) FROM {s}.settings") == [(0,)]  # the setting stayed in the shell
    assert q(db, s, "SELECT count(*) FROM {s}.images WHERE day = %s", DAYS[1])[0][0] > 0


def test_the_expired_day_is_refused_by_a_trigger_a_clear_and_a_backfill(api, db, schemas):
    """The scheduler and its task processes, started without FACEPIPE_RETENTION_DAYS, refuse the
    expired day however a run of it comes: Trigger with the param day, a Clear of a run that loaded
    it, a backfill over it and the next day (All Runs: the next day loads again)."""
    s, day = schemas["airflow"], DAYS[0]
    old = ingest_run(api, day)  # a run that loaded the day before retention

    trigger = api.trigger("face_ingest", {"day": day.isoformat()})
    assert api.wait("face_ingest", trigger) == "failed"
    refused(api, trigger, day)
    nothing_of(db, s, day)

    assert api.clear("face_ingest", old, None, False) == "failed"  # the UI's Clear of the whole run
    refused(api, old, day)
    nothing_of(db, s, day)

    backfill = api.call(
        "POST",
        "/backfills",
        json={
            "dag_id": "face_ingest",
            "from_date": f"{DAYS[0]}T00:00:00Z",
            "to_date": f"{DAYS[1]}T00:00:00Z",
            "reprocess_behavior": "completed",
            "max_active_runs": 2,
        },
    )
    wait_until("the backfill completed", lambda: api.call("GET", f"/backfills/{backfill['id']}")["completed_at"])
    created = dt.datetime.fromisoformat(backfill["created_at"])
    runs = {  # All Runs: the days' existing runs (of the first backfill) run again in place
        r["logical_date"][:10]: r
        for r in api.runs("face_ingest")
        if r["run_type"] == "backfill" and r["logical_date"][:10] in (DAYS[0].isoformat(), DAYS[1].isoformat())
    }
    assert len(runs) == 2 and all(dt.datetime.fromisoformat(r["start_date"]) > created for r in runs.values()), runs
    assert runs[DAYS[1].isoformat()]["state"] == "success" and runs[DAYS[0].isoformat()]["state"] == "failed"
    refused(api, runs[DAYS[0].isoformat()]["dag_run_id"], day)
    nothing_of(db, s, day)
    same_as_reference(db, schemas, DAYS[1])


def test_a_catch_up_refuses_the_expired_day_and_loads_the_others(api, db, schemas):
    """The deployment's start_date moved back to the expired day (`facepipe settings set` in a shell):
    the dag-processor, never restarted, gives face_ingest that start date; with no automated run left
    (deleted in the UI: a deployment whose ingest stood still while retention ran), the scheduler
    catches up from it: the expired day's scheduled run is refused, the later days load."""
    s = schemas["airflow"]
    pids = component_pids(api)
    api.call("PATCH", "/dags/face_ingest", json={"is_paused": True})
    out = shell(schemas, "settings", "set", "start_date", DAYS[0].isoformat())
    assert f"start_date: (not set) -> {DAYS[0]} for every process" in out, out
    assert setting_audit(db, s)[-1][1] == {"name": "start_date", "old": None, "new": DAYS[0].isoformat()}
    for r in api.runs("face_ingest"):
        if r["logical_date"]:  # the scheduled and backfill runs (the catch-up starts after the newest)
            api.call("DELETE", f"/dags/face_ingest/dagRuns/{r['dag_run_id']}")
    api.call("PUT", f"/parseDagFile/{api.call('GET', '/dags/face_ingest/details')['file_token']}")  # Reparse Dag
    wait_until(
        "face_ingest's next run is the new start date",
        lambda: (api.call("GET", "/dags/face_ingest")["next_dagrun_logical_date"] or "")[:10] == DAYS[0].isoformat(),
        timeout=120,
    )
    api.call("PATCH", "/dags/face_ingest", json={"is_paused": False})

    def caught_up():  # max_active_runs 3: the last day's run is created when one of them ends
        runs = {
            r["logical_date"][:10]: r
            for r in api.runs("face_ingest")
            if r["run_type"] == "scheduled" and r["logical_date"][:10] <= DAYS[3].isoformat()
        }
        done = len(runs) == len(DAYS) and all(r["state"] in ("success", "failed") for r in runs.values())
        return runs if done else None

    runs = wait_until("the catch-up ran every day from the start date", caught_up)
    assert {d: r["state"] for d, r in runs.items()} == {
        DAYS[0].isoformat(): "failed",
        **{d.isoformat(): "success" for d in DAYS[1:]},
    }
    refused(api, runs[DAYS[0].isoformat()]["dag_run_id"], DAYS[0])
    nothing_of(db, s, DAYS[0])
    for day in DAYS[1:3]:
        same_as_reference(db, schemas, day)
    # the unset shard_size of an earlier test: the processes' own FACEPIPE_SHARD_SIZE=2 again
    assert max(sh["files"] for sh in api.xcom("face_ingest", runs[DAYS[1].isoformat()]["dag_run_id"], "plan")) == 2
    assert component_pids(api) == pids


def test_status_in_a_new_shell_shows_the_expired_day(api, schemas):
    """`facepipe status` in a shell without FACEPIPE_RETENTION_DAYS: the recorded horizon."""
    out = shell(schemas, "status")
    assert f"\nexpired, 1 day from the start date {DAYS[0]}: {DAYS[0]}\n" in out, out
    assert f"retention dropped the days before {DAYS[1]}" in out, out
    assert f"every day from {DAYS[1]} to {DAYS[3]} has been loaded" in out, out
    status = json.loads(shell(schemas, "status", "--json"))
    assert status["horizon"] == DAYS[1].isoformat() and status["start_date"] == DAYS[0].isoformat()
    assert status["expired"] == {"from": DAYS[0].isoformat(), "to": DAYS[0].isoformat(), "days": 1}
    assert status["never_loaded"] == []
    assert DAYS[0].isoformat() not in {str(r["day"]) for r in status["days"]}


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
