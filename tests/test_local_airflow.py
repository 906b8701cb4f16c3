"""`make airflow` / `facepipe airflow` before it starts anything: its defaults outside make, a
bad FACEPIPE_AIRFLOW_PORT, and a port another process holds (real processes holding real
sockets; Airflow itself is started by tests/test_scheduler.py)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from facepipe.core.config import PROJECT_ROOT


def plain_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A shell's environment with no Airflow setting at all (what `.venv/bin/facepipe airflow`
    sees outside make), facepipe's state folder in ``tmp_path``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "FACEPIPE_"))}
    env.update(PYTHONPATH=str(PROJECT_ROOT / "plugins"), FACEPIPE_HOME=str(tmp_path / "state"), **extra)
    return env


def facepipe_airflow(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "facepipe", "airflow"], env=env, capture_output=True, text=True, timeout=120
    )


HOLD = """
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
print(s.getsockname()[1], flush=True)
time.sleep(300)
"""


def holding(tmp_path: Path, *argv: str, stdout=subprocess.PIPE) -> tuple[subprocess.Popen, int]:
    """Another program (tmp_path/holder.py ARGV) listening on a free port of 127.0.0.1, and the port."""
    script = tmp_path / "holder.py"
    script.write_text(HOLD)
    proc = subprocess.Popen([sys.executable, str(script), *argv], stdout=stdout, stderr=subprocess.DEVNULL, text=True)
    return proc, (int(proc.stdout.readline()) if stdout == subprocess.PIPE else wait_for_listener(proc.pid))


def test_defaults_outside_make_are_facepipes(tmp_path):
    """Run with no AIRFLOW_* variable, Airflow itself (its own configuration) sees facepipe's
    home, DAGs and plugins, and no example DAGs; an operator's own settings win."""
    code = (
        "import json, os\n"
        "from facepipe.ops.local_airflow import apply_airflow_defaults\n"
        "apply_airflow_defaults()\n"
        "from airflow.configuration import conf\n"
        "print(json.dumps({'home': os.environ['AIRFLOW_HOME'], 'dags': conf.get('core', 'dags_folder'),"
        " 'plugins': conf.get('core', 'plugins_folder'), 'examples': conf.getboolean('core', 'load_examples')}))\n"
    )

    def seen(env):
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    state = tmp_path / "state"
    assert seen(plain_env(tmp_path)) == {
        "home": str(state / "airflow"),
        "dags": str(PROJECT_ROOT / "dags"),
        "plugins": str(PROJECT_ROOT / "plugins"),
        "examples": False,
    }

    # an operator's explicit settings still win; an airflow.cfg that Airflow wrote with its
    # own defaults (as `airflow db migrate` does) does not bring the example DAGs back
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "airflow.cfg").write_text(f"[core]\ndags_folder = {theirs / 'dags'}\nload_examples = True\n")
    got = seen(plain_env(tmp_path, AIRFLOW_HOME=str(theirs), AIRFLOW__CORE__PLUGINS_FOLDER=str(tmp_path / "p")))
    assert got == {
        "home": str(theirs),
        "dags": str(PROJECT_ROOT / "dags"),
        "plugins": str(tmp_path / "p"),
        "examples": False,
    }


def test_airflow_defaults_keep_what_the_operator_set(tmp_path):
    from facepipe.ops.local_airflow import airflow_defaults

    home = tmp_path / "state"
    defaults = airflow_defaults({}, home)
    assert defaults["AIRFLOW_HOME"] == str(home / "airflow")
    assert defaults["AIRFLOW__CORE__DAGS_FOLDER"] == str(PROJECT_ROOT / "dags")
    assert defaults["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert "AIRFLOW_HOME" not in airflow_defaults({"AIRFLOW_HOME": "/srv/airflow"}, home)
    kept = airflow_defaults({"AIRFLOW__CORE__DAGS_FOLDER_CMD": "echo /srv/dags"}, home)
    assert "AIRFLOW__CORE__DAGS_FOLDER" not in kept and kept["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"


@pytest.mark.parametrize("port", ["abc", "0", "65536", "-1", "8080.5", "99999999999999999999"])
def test_a_bad_port_is_refused_in_one_line(tmp_path, port):
    done = facepipe_airflow(plain_env(tmp_path, FACEPIPE_AIRFLOW_PORT=port))
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"error: FACEPIPE_AIRFLOW_PORT must be a TCP port, a whole number from 1 to 65535, got {port!r}"
    ]
    assert done.stdout == ""
    assert not (tmp_path / "state").exists()  # nothing started, not even the embedded database


def test_a_port_in_use_is_refused_naming_its_holder(tmp_path):
    holder, port = holding(tmp_path, "held-by-test")
    try:
        started = time.monotonic()
        done = facepipe_airflow(plain_env(tmp_path, FACEPIPE_AIRFLOW_PORT=str(port)))
        assert done.returncode == 2, done.stderr
        (line,) = done.stderr.splitlines()
        assert line.startswith(f"error: 127.0.0.1:{port} is in use by pid {holder.pid} (")
        assert "held-by-test" in line and "set FACEPIPE_AIRFLOW_PORT to a free port" in line
        assert "Airflow is up" not in done.stdout and "preparing" not in done.stdout
        assert not (tmp_path / "state").exists()  # refused before anything started
        assert time.monotonic() - started < 60
        assert holder.poll() is None  # left alone
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # and still listening
    finally:
        holder.kill()
        holder.wait()


def test_a_running_facepipe_airflow_is_named_and_left_alone(tmp_path):
    """What a second `make airflow` meets: an api-server that facepipe started (its process
    title `airflow api-server`, its output in AIRFLOW_HOME/logs/components/api-server.log)
    of this AIRFLOW_HOME, here the default $FACEPIPE_HOME/airflow."""
    log = tmp_path / "state" / "airflow" / "logs" / "components" / "api-server.log"
    log.parent.mkdir(parents=True)
    with open(log, "ab") as out:
        proc, port = holding(tmp_path, "airflow", "api-server", stdout=out)
    try:
        done = facepipe_airflow(plain_env(tmp_path, FACEPIPE_AIRFLOW_PORT=str(port)))
        assert done.returncode == 2, done.stderr
        assert done.stderr.splitlines() == [
            f"error: facepipe's Airflow is already running at http://127.0.0.1:{port}, pid {proc.pid}"
            f" (AIRFLOW_HOME {tmp_path / 'state' / 'airflow'}); left alone: Ctrl+C in its terminal stops it"
        ]
        assert "Airflow is up" not in done.stdout
        assert proc.poll() is None

        # another AIRFLOW_HOME's facepipe Airflow on that port: named, not taken for this one
        other = facepipe_airflow(plain_env(tmp_path, FACEPIPE_AIRFLOW_PORT=str(port), AIRFLOW_HOME=str(tmp_path)))
        assert other.returncode == 2
        assert f"is in use by pid {proc.pid} (facepipe's Airflow of AIRFLOW_HOME {tmp_path / 'state' / 'airflow'})" in (
            other.stderr
        )
    finally:
        proc.kill()
        proc.wait()


def wait_for_listener(pid: int, timeout: float = 30) -> int:
    """The port process ``pid`` listens on (read the way facepipe reads it)."""
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for c in psutil.Process(pid).net_connections(kind="tcp"):
            if c.status == psutil.CONN_LISTEN:
                return c.laddr.port
        time.sleep(0.1)
    raise AssertionError(f"pid {pid} never listened")


def test_port_holders_reads_proc(tmp_path):
    from facepipe.ops.local_airflow import port_holders

    holder, port = holding(tmp_path, "held-by-test")
    try:
        (h,) = port_holders(port)
        assert h.pid == holder.pid and "held-by-test" in h.command and h.facepipe_airflow_home is None
    finally:
        holder.kill()
        holder.wait()
    assert port_holders(port) == []
