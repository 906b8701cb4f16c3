"""Airflow on one machine for one person: what ``make airflow`` runs, and what the
real-scheduler tests start.

``airflow standalone`` binds its log servers (8793, 8794) on every interface,
leaves the scheduler and triggerer running after Ctrl+C, and prints the admin
password only the first time. This starts the same components itself:

- ``api-server`` on FACEPIPE_AIRFLOW_HOST (default 127.0.0.1) and
  FACEPIPE_AIRFLOW_PORT (default 8080): the UI and the REST API;
- ``scheduler`` (LocalExecutor; its workers are its own child processes),
  ``dag-processor`` and ``triggerer``, with ``--skip-serve-logs``: the task logs
  are files on this machine, which the api-server reads directly, so no log
  server listens anywhere;

each in a process group of its own, with its output in
``$AIRFLOW_HOME/logs/components/NAME.log``. Ctrl+C (or SIGTERM, or any component
dying) stops every group it started: SIGTERM, then SIGKILL after a bounded wait.

Airflow's metadata database is a database ``airflow`` in facepipe's embedded
PostgreSQL (unless AIRFLOW__DATABASE__SQL_ALCHEMY_CONN says otherwise): with
SQLite, the scheduler, the task processes and the api-server take turns on one
file lock, and a request such as creating a backfill while tasks run fails with
"database is locked" (seen in the real-scheduler tests).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
_ARGS = {"scheduler": ["--skip-serve-logs"], "triggerer": ["--skip-serve-logs"]}


def embedded_metadata_url(home: Path, database: str = "airflow") -> str:
    """A SQLAlchemy URL for Airflow's metadata in database ``database`` of the embedded
    PostgreSQL in ``home`` (created if missing; reached over its Unix socket only)."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict

    from facepipe.core.db import embedded_uri

    uri = embedded_uri(home)
    with psycopg.connect(uri, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    info = conninfo_to_dict(uri)
    return f"postgresql+psycopg://{info.get('user') or 'postgres'}:@/{database}?host={info['host']}"


def password_file(airflow_home: Path) -> Path:
    """Where the simple auth manager keeps the generated passwords (Airflow's default)."""
    configured = os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
    return Path(configured) if configured else airflow_home / "simple_auth_manager_passwords.json.generated"


@dataclass
class Stack:
    """Airflow's components as child process groups, bound to ``host``:``port``."""

    airflow_home: Path
    host: str = "127.0.0.1"
    port: int = 8080
    components: tuple[str, ...] = COMPONENTS
    metadata_url: str | None = None  # Airflow's metadata database; None: Airflow's setting
    env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def url(self) -> str:
        connect = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{connect}:{self.port}"

    def environment(self) -> dict[str, str]:
        env = {"AIRFLOW__CORE__PARALLELISM": str(os.cpu_count() or 2), **os.environ, **self.env}
        env.update(
            {
                "AIRFLOW_HOME": str(self.airflow_home),
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__API__HOST": self.host,
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__BASE_URL": self.url,
                # task processes report to the api-server: on this machine, over loopback
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            }
        )
        if self.metadata_url:
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = self.metadata_url
        return env

    def migrate(self) -> None:
        self.airflow_home.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env=self.environment(),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            timeout=600,
        )

    def start(self) -> None:
        logs = self.airflow_home / "logs" / "components"
        logs.mkdir(parents=True, exist_ok=True)
        env = self.environment()
        for name in self.components:
            args = ["--host", self.host, "--port", str(self.port)] if name == "api-server" else _ARGS.get(name, [])
            with open(logs / f"{name}.log", "ab") as out:
                # a session of its own: the terminal's Ctrl+C reaches only this launcher, which
                # then stops each group (LocalExecutor's workers included) in order
                self.procs[name] = subprocess.Popen(
                    [sys.executable, "-m", "airflow", name, *args],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )

    def log_of(self, name: str) -> Path:
        return self.airflow_home / "logs" / "components" / f"{name}.log"

    def dead(self) -> list[str]:
        return [name for name, p in self.procs.items() if p.poll() is not None]

    def wait_ready(self, timeout: float = 180) -> dict:
        """Until the api-server answers and reports the started components healthy."""
        deadline = time.monotonic() + timeout
        wanted = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}
        health: dict = {}
        while time.monotonic() < deadline:
            if self.dead():
                raise RuntimeError(
                    f"{', '.join(self.dead())} stopped while starting; see {self.log_of(self.dead()[0])}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=5) as resp:
                    health = json.load(resp)
                if all(
                    (health.get(key) or {}).get("status") == "healthy"
                    for name, key in wanted.items()
                    if name in self.components
                ):
                    return health
            except (urllib.error.URLError, OSError, ValueError):
                pass
            time.sleep(1)
        raise TimeoutError(
            f"Airflow not ready after {timeout:.0f} s (health: {health}); logs in {self.log_of('api-server').parent}"
        )

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM every process group, SIGKILL what is left after ``timeout`` seconds.

        The api-server goes last: task processes still finishing report to it.
        """
        order = sorted(self.procs, key=lambda name: name == "api-server")
        for batch in ([n for n in order if n != "api-server"], [n for n in order if n == "api-server"]):
            procs = [self.procs[n] for n in batch]
            for p in procs:
                _signal_group(p, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            for p in procs:
                try:
                    p.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
            for p in procs:
                _signal_group(p, signal.SIGKILL)  # the group: workers a component left behind too
                p.wait()
        self.procs.clear()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # the group id is the leader's pid (start_new_session)
    except (ProcessLookupError, PermissionError):
        pass


def main() -> int:
    """``make airflow``: start everything, print where to look, stop everything on Ctrl+C."""
    from facepipe.core.deployment import settings

    home = Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow"))
    metadata = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") or embedded_metadata_url(settings().home)
    stack = Stack(
        airflow_home=home,
        host=os.environ.get("FACEPIPE_AIRFLOW_HOST", "127.0.0.1"),
        port=int(os.environ.get("FACEPIPE_AIRFLOW_PORT", "8080")),
        metadata_url=metadata,
    )
    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        stopping = True

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    print(f"Airflow: preparing the metadata database in {home}", flush=True)
    stack.migrate()
    stack.start()
    try:
        stack.wait_ready()
        where = password_file(home)
        print(
            f"""
Airflow is up: {stack.url}  (listening on {stack.host}:{stack.port} only; FACEPIPE_AIRFLOW_HOST=0.0.0.0 opens it up)
  log in as:   admin, password in {where}
               ({_password(where) or "not generated yet"})
  components:  {", ".join(stack.components)}; their output in {stack.log_of("scheduler").parent}
  metadata:    {
                "database airflow of the embedded PostgreSQL"
                if "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in os.environ
                else "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
            } (make stop-db stops it)
  Ctrl+C stops all of them.""",
            flush=True,
        )
        while not stopping and not stack.dead():
            time.sleep(0.5)
        if stack.dead() and not stopping:
            print(f"{', '.join(stack.dead())} stopped; see {stack.log_of(stack.dead()[0])}", flush=True)
    except (RuntimeError, TimeoutError) as exc:
        if not stopping:
            print(exc, file=sys.stderr, flush=True)
    finally:
        print("stopping Airflow's components ...", flush=True)
        stack.stop()
        print("stopped", flush=True)
    return 0 if stopping else 1


def _password(path: Path) -> str | None:
    try:
        return json.loads(path.read_text()).get("admin")
    except (OSError, ValueError, AttributeError):
        return None
