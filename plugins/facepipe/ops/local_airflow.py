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

Where the environment sets none, Airflow's home is ``$FACEPIPE_HOME/airflow``, its DAGs
and plugins this project's, and it loads no example DAGs (``airflow_defaults``: every
``facepipe`` command applies them, inside make or not). Before anything starts, a port
that is not one (``airflow_port``) and an address another process holds are refused in
one line naming the holder; a running api-server of this AIRFLOW_HOME is named and left
alone (``check_address_free``).

Airflow's metadata database is a database ``airflow`` in facepipe's embedded
PostgreSQL (unless AIRFLOW__DATABASE__SQL_ALCHEMY_CONN says otherwise): with
SQLite, the scheduler, the task processes and the api-server take turns on one
file lock, and a request such as creating a backfill while tasks run fails with
"database is locked" (seen in the real-scheduler tests).
"""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from facepipe.core.config import PROJECT_ROOT, process_settings
from facepipe.core.text import plural

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
_ARGS = {"scheduler": ["--skip-serve-logs"], "triggerer": ["--skip-serve-logs"]}
HOST_ENV = "FACEPIPE_AIRFLOW_HOST"
PORT_ENV = "FACEPIPE_AIRFLOW_PORT"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def airflow_env(home: Path) -> dict[str, str]:
    """The Airflow settings facepipe runs with when the user has set none: Airflow's home in
    facepipe's state folder ``home``, this project's DAGs and plugins, no example DAGs."""
    return {
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": str(os.cpu_count() or 2),
    }


def airflow_defaults(environ: Mapping[str, str] | None = None, home: Path | None = None) -> dict[str, str]:
    """What of ``airflow_env`` applies under ``environ`` (default: this process's): each
    setting the operator has not set as a variable (``KEY``, ``KEY_CMD`` or ``KEY_SECRET``).
    An airflow.cfg does not count: Airflow writes one full of its own defaults
    (``load_examples = True``) the first time it runs. ``home``: facepipe's state folder
    (default FACEPIPE_HOME)."""
    environ = os.environ if environ is None else environ
    if home is None:
        home = process_settings().home.resolve()
    return {
        key: value
        for key, value in airflow_env(home).items()
        if not any(environ.get(key + tail) for tail in ("", "_CMD", "_SECRET"))
    }


def apply_airflow_defaults(home: Path | None = None) -> None:
    """Set ``airflow_defaults()`` in this process's environment, before Airflow is imported:
    ``facepipe COMMAND`` run outside make uses ``$FACEPIPE_HOME/airflow``, not ~/airflow."""
    os.environ.update(airflow_defaults(home=home))


def airflow_host() -> str:
    """FACEPIPE_AIRFLOW_HOST: where the api-server listens (a process setting)."""
    return process_settings().airflow_host


def airflow_port() -> int:
    """FACEPIPE_AIRFLOW_PORT: the api-server's TCP port, checked by the settings model."""
    return process_settings().airflow_port


class PortInUse(ValueError):
    """The api-server's address is taken (or cannot be bound): one line for the user, exit code 2."""


@dataclass(frozen=True)
class Holder:
    """A process holding a socket: its pid, its command line and where its output goes (empty:
    not readable by this user)."""

    pid: int
    command: str
    stdout: str

    @property
    def facepipe_airflow_home(self) -> Path | None:
        """The AIRFLOW_HOME of the ``Stack`` that started this api-server, else None: its output
        goes to ``AIRFLOW_HOME/logs/components/api-server.log`` (its environment cannot tell:
        the api-server rewrites its process title over it)."""
        if not re.search(r"\bairflow\s+api[-_]server\b", self.command):
            return None
        log = Path(self.stdout)
        return log.parents[2] if log.parts[-3:] == ("logs", "components", "api-server.log") else None


def port_holders(port: int) -> list[Holder]:
    """The processes of this user holding a TCP socket bound to ``port`` (listening first),
    read from /proc/net/tcp and tcp6 (socket inodes) and /proc/PID/fd; topmost first: a
    process whose parent also holds the socket (a forked worker) is left out."""
    by_state: dict[str, set[str]] = {"0A": set(), "07": set()}  # LISTEN, CLOSE (bound, not listening)
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] in by_state and int(fields[1].rsplit(":", 1)[1], 16) == port:
                by_state[fields[3]].add(fields[9])
    inodes = by_state["0A"] or by_state["07"]
    if not inodes:
        return []
    wanted = {f"socket:[{inode}]" for inode in inodes}
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in wanted for fd in (proc / "fd").iterdir()):
                pids.append(int(proc.name))
        except OSError:  # another user's process, or gone
            continue
    holders = []
    for pid in sorted(pids):
        if _parent(pid) in pids:
            continue
        try:
            stdout = os.readlink(f"/proc/{pid}/fd/1")
        except OSError:
            stdout = ""
        holders.append(Holder(pid, _cmdline(pid), stdout))
    return holders


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return " ".join(a.decode("utf-8", "replace") for a in raw.split(b"\0") if a)


def check_address_free(host: str, port: int, airflow_home: Path) -> None:
    """Refuse, naming what holds it, an address the api-server could not listen on; before any
    component starts, so that a second ``make airflow`` leaves a running one alone."""
    from facepipe.ops.tables import shown

    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[
            0
        ]
    except socket.gaierror as exc:
        raise PortInUse(f"{HOST_ENV}={shown(host[:60])} is not an address of this machine ({exc.strerror})") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the api-server's uvicorn does
        try:
            probe.bind(addr)
            return
        except OSError as exc:
            failure = exc
    if failure.errno == errno.EADDRNOTAVAIL:
        raise PortInUse(f"{HOST_ENV}={shown(host[:60])} is not an address of this machine")
    if failure.errno == errno.EACCES:
        raise PortInUse(f"{PORT_ENV}={port}: this user may not listen on ports below 1024; choose another")
    if failure.errno != errno.EADDRINUSE:
        raise PortInUse(f"cannot listen on {host}:{port} ({failure.strerror})")
    holders = port_holders(port)
    url = Stack(airflow_home, host=host, port=port).url
    for h in holders:
        theirs = h.facepipe_airflow_home
        if theirs is not None and theirs.resolve() == airflow_home.resolve():
            raise PortInUse(
                f"facepipe's Airflow is already running at {url}, pid {h.pid} (AIRFLOW_HOME {shown(theirs)});"
                " left alone: Ctrl+C in its terminal stops it"
            )
    if not holders:
        raise PortInUse(f"{host}:{port} is in use by a process this user cannot see: set {PORT_ENV} to a free port")
    h = holders[0]
    if h.facepipe_airflow_home is not None:
        what = f"facepipe's Airflow of AIRFLOW_HOME {shown(h.facepipe_airflow_home)}"
    else:
        # long: its program and its last arguments (what tells one command from another)
        what = shown(h.command if len(h.command) <= 120 else h.command[:40] + " ... " + h.command[-75:])
        what = what or "command line not readable"
    also = f" and {plural(len(holders) - 1, 'other process')}" if len(holders) > 1 else ""
    raise PortInUse(f"{host}:{port} is in use by pid {h.pid} ({what}){also}: stop it, or set {PORT_ENV} to a free port")


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


def _answered_by_ours(stack: Stack) -> None:
    """The api-server that answered is the one started here, not one that took the port in
    the meantime (whose health would read as this one's)."""
    ours = stack.procs["api-server"].pid
    holders = port_holders(stack.port)
    if holders and not any(_group(h.pid) == ours for h in holders):
        raise RuntimeError(
            f"port {stack.port} is held by pid {holders[0].pid}, not by the api-server started here; see"
            f" {stack.log_of('api-server')}"
        )


def _group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # the group id is the leader's pid (start_new_session)
    except (ProcessLookupError, PermissionError):
        pass


def main() -> int:
    """``make airflow``: start everything, print where to look, stop everything on Ctrl+C."""
    from facepipe.core.deployment import settings

    host, port = airflow_host(), airflow_port()
    apply_airflow_defaults()
    home = Path(os.environ["AIRFLOW_HOME"])
    check_address_free(host, port, home)  # before anything starts: a running one is left alone
    metadata = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") or embedded_metadata_url(settings().home)
    stack = Stack(airflow_home=home, host=host, port=port, metadata_url=metadata)
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
        _answered_by_ours(stack)
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
