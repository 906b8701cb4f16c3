"""The deployment's settings: one value for every process, kept in facepipe's database (table
``settings``, revision 0010) beside the data, and this process's view of all settings.

- ``settings()``: this process's settings. Process settings come from its environment
  (facepipe.core.config); a deployment setting is read from the database when first asked
  for (at most every CACHE_SECONDS in a long-lived process), else this process's
  environment variable, else the default. An environment variable that disagrees with the
  database's value is not used, and the process's log (a task's log) says so.
- ``listing``, ``set_value``, ``unset_value``: ``facepipe settings`` [set NAME VALUE | unset
  NAME]. Every change is checked first (as every process will read it) and audited in its
  own transaction (op ``setting``: who, when, the old and the new value).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from facepipe.core import audit
from facepipe.core.config import (
    DB_CONN_ENV,
    DEPLOYMENT,
    ENV_PREFIX,
    FIELDS,
    PROCESS,
    ConfigError,
    FacepipeSettings,
    _environment,
    build,
    check_connection_setting,
    env_name,
    field_name,
    parse_value,
    process_settings,
    scope,
)
from facepipe.core.db import EmbeddedStopped, connect, load_sql, table_exists

log = logging.getLogger(__name__)
# Deployment folders whose default is a folder of each process's home (FACEPIPE_HOME)
HOME_FOLDERS = {"source": "photos", "reports_dir": "reports", "enrol_dir": "people"}
CACHE_SECONDS = 5.0  # a long-lived process (the api-server) reads the database's values again after this


@dataclass(frozen=True)
class Stored:
    """A deployment setting's value in the database, and who set it when."""

    value: str
    set_by: str
    set_at: dt.datetime


_stored_cache: dict[tuple, tuple[float, dict[str, Stored]]] = {}
_server_may_start = True
_warned: set[tuple[str, str, str]] = set()
_log_differences = True


def log_differences(enabled: bool) -> None:
    """Whether a difference between this process's environment and the deployment's settings
    is logged (a task's log); the command line prints them itself instead."""
    global _log_differences
    _log_differences = enabled


def server_may_start(allowed: bool) -> None:
    """Whether reading the database's settings may start the embedded server (the Faces view,
    inside the api-server, must not)."""
    global _server_may_start
    _server_may_start = allowed


def forget_cached() -> None:
    """Read the database's settings again at the next use (after ``facepipe settings set``)."""
    _stored_cache.clear()


def stored_settings(schema: str, *, strict: bool = True) -> dict[str, Stored]:
    """The deployment settings the database holds for ``schema`` (read at most every
    CACHE_SECONDS). ``strict`` False: an unreachable database gives {} (the DAG files' parse)."""
    now = time.monotonic()
    key = (schema, os.environ.get(ENV_PREFIX + "HOME"), os.environ.get(DB_CONN_ENV))
    hit = _stored_cache.get(key)
    if hit is not None and now - hit[0] < CACHE_SECONDS:
        return hit[1]
    try:
        try:
            conn = connect(start=False)
        except EmbeddedStopped:
            if not (_server_may_start and strict):
                raise
            conn = connect(start=True)
        with conn:
            values = read_stored(conn, schema)
    except Exception as exc:
        if strict:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(
                f"the deployment's settings could not be read from the database ({type(exc).__name__}:"
                f" {str(exc).strip().splitlines()[0][:120] if str(exc).strip() else 'no detail'})"
            ) from None
        log.info("deployment settings not read from the database (%s): this process's environment is used", exc)
        return {}
    _stored_cache[key] = (now, values)
    return values


def read_stored(conn, schema: str) -> dict[str, Stored]:
    """The rows of ``<schema>.settings`` on ``conn`` ({} before revision 0010 made it)."""
    if not table_exists(conn, schema, "settings"):
        return {}
    return {
        name: Stored(value, set_by, set_at)
        for name, value, set_by, set_at in conn.execute(load_sql("settings_list.sql", schema=schema))
        if name in FIELDS and scope(name) == DEPLOYMENT
    }


def _build(stored: dict[str, Stored]) -> FacepipeSettings:
    where = {
        k: f"the database's value, set by {v.set_by} at {v.set_at:%Y-%m-%d %H:%M} UTC: `facepipe settings set {k}"
        f" VALUE` or `facepipe settings unset {k}`"
        for k, v in stored.items()
    }
    return build({k: v.value for k, v in stored.items()}, where)


def value(name: str) -> Any:
    """One deployment setting on its own: the database's value, else this process's environment's,
    else the default. What the command line needs before anything else (schema_upgrade), so
    that a bad value of another setting cannot stop `facepipe settings unset` from fixing it."""
    stored = stored_settings(process_settings().db_schema)
    if name in stored:
        return parse_value(name, stored[name].value)
    return getattr(process_settings(), name)


class Settings:
    """This process's settings. Process settings come from its environment; a deployment setting
    is read from the database when first asked for (home, schema and the connection never are)."""

    def __init__(self, *, strict: bool = True, stored: dict[str, Stored] | None = None):
        self._env = process_settings()
        self._strict = strict
        self._all: FacepipeSettings | None = None
        if stored is not None:  # the database's values, read by the caller
            self._all = _build(stored)

    def _deployment(self) -> FacepipeSettings:
        if self._all is None:
            stored = stored_settings(self._env.db_schema, strict=self._strict)
            self._all = _build(stored)
            _warn_differences(stored)
        return self._all

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in FIELDS and scope(name) == PROCESS:
            value = getattr(self._env, name)
        elif name in FIELDS:
            value = getattr(self._deployment(), name)
        else:
            raise AttributeError(name)
        if name == "home":
            return value.resolve()
        if value is None and name in HOME_FOLDERS:
            folder = self.home / HOME_FOLDERS[name]
            if name == "source":
                return str(folder)
            return folder if name != "enrol_dir" or folder.is_dir() else None  # enrol_dir: if it exists
        return value

    def all(self) -> FacepipeSettings:
        return self._deployment()


def settings(*, strict: bool = True) -> Settings:
    """This process's settings (see the module's doc). ``strict`` False: where the database
    cannot be read, the environment's and the defaults (only for parsing the DAG files)."""
    return Settings(strict=strict)


@dataclass(frozen=True)
class Difference:
    """A deployment setting whose value in this process's environment is not the deployment's."""

    name: str
    environment: str
    deployment: str
    stored: Stored | None  # None: the database holds none, so this process uses its environment's

    def line(self) -> str:
        if self.stored is None:
            return (
                f"{env_name(self.name)}={self.environment[:60]} comes from this process's environment only (the"
                f" database holds no value; elsewhere it is {self.deployment[:60]} unless set there too):"
                f" `facepipe settings set {self.name} VALUE` makes one value for every process"
            )
        return (
            f"{env_name(self.name)}={self.environment[:60]} in this process's environment is not used: the"
            f" deployment's value is {self.deployment[:60]} (set by {self.stored.set_by} at"
            f" {self.stored.set_at:%Y-%m-%d %H:%M} UTC)"
        )


def _text_of(value: Any) -> str:
    if value is None:
        return "unset"
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def differences(stored: dict[str, Stored] | None = None) -> list[Difference]:
    """The deployment settings this process's environment sets to another value than the
    deployment's (the database's, else the default)."""
    env = _environment()
    if stored is None:
        stored = stored_settings(process_settings().db_schema)
    out = []
    for name in FIELDS:
        if scope(name) != DEPLOYMENT or env_name(name) not in env:
            continue
        mine = _canonical(name, env[env_name(name)])
        if name in stored:
            theirs = _canonical(name, stored[name].value)
            if mine != theirs:
                out.append(Difference(name, mine, theirs, stored[name]))
        else:
            default = _effective_default(name)
            if _same(mine, default):
                continue
            out.append(Difference(name, mine, default, None))
    return out


def _effective_default(name: str) -> str:
    """The value a process without the variable uses: the folders under its home too."""
    if name in HOME_FOLDERS:
        return str(process_settings().home.resolve() / HOME_FOLDERS[name])
    return _text_of(FIELDS[name].default)


def _same(a: str, b: str) -> bool:
    """Equal values, paths compared as paths (a trailing slash, ./ and .. do not count)."""
    if a == b:
        return True
    if a.startswith("/") and b.startswith("/"):
        return os.path.normpath(a) == os.path.normpath(b)
    return False


def _canonical(name: str, text: str) -> str:
    try:
        return _text_of(parse_value(name, text))
    except ConfigError:
        return text


def _warn_differences(stored: dict[str, Stored]) -> None:
    """Once per process and setting: a warning in the log (a task's log) for each difference."""
    if not _log_differences:
        return
    for d in differences(stored):
        if d.stored is None:  # the environment's value, where the database holds none: as before 0010
            continue
        key = (d.name, d.environment, d.deployment)
        if key not in _warned:
            _warned.add(key)
            log.warning("setting %s", d.line())


def check_settings() -> Settings:
    """Every setting this process's environment gives, each checked, and the database
    connection's form: a ConfigError naming the setting, before a run starts any work. (The
    database's values were checked when they were set, and are read when first used.)"""
    check_connection_setting()
    return settings()


def start_date(*, strict: bool = True) -> dt.date:
    """The first day face_ingest covers (start_date): the schedule runs every day from it
    (catchup), and ``facepipe status`` reports the days since it that never loaded.
    ``strict`` False (the DAG file's parse): never an error; see ``_parsed``."""
    return _parsed("start_date") if not strict else settings().start_date


def max_active_shards(*, strict: bool = True) -> int:
    """How many process shards of face_ingest may run at once (read when the DAG file is parsed)."""
    return _parsed("max_active_shards") if not strict else settings().max_active_shards


def _parsed(name: str) -> Any:
    """A setting a DAG file reads when parsed: a bad value anywhere must not make the DAG vanish
    from Airflow (an import error); the run's first task then fails naming the setting."""
    try:
        return getattr(settings(strict=False), name)
    except ConfigError as exc:
        log.warning("%s: the default is used while parsing (%s)", name, exc)
        return FIELDS[name].default


def retention_days() -> int:
    """How many days back from a run's day are kept (0: keep forever). The horizon a retention
    run applied is a row of the database (facepipe.core.days.horizon), whatever this says later."""
    return settings().retention_days


def retention_horizon(today: dt.date | None = None, keep_days: int | None = None) -> dt.date | None:
    """The first day retention keeps on ``today`` (default: today, UTC) by the setting:
    ``today - keep_days``. Every day before it is expired; None when retention is off (0 days)."""
    keep = retention_days() if keep_days is None else keep_days
    if keep <= 0:
        return None
    today = today or dt.datetime.now(dt.UTC).date()
    return today - dt.timedelta(days=keep)


# --- facepipe settings [set | unset] ---------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One setting as this process sees it."""

    name: str
    env: str  # its environment variable
    scope: str
    value: str  # as this process uses it
    origin: str  # database, environment, default
    set_by: str | None
    set_at: object
    environment: str | None  # this process's environment variable, where set
    description: str
    note: str  # a difference to say plainly, else ""


def listing(conn: psycopg.Connection, schema: str) -> list[Row]:
    """Every setting: its value for this process and where it comes from."""
    stored = read_stored(conn, schema)
    bad = {}
    for name, row in stored.items():  # a value the code refuses (set by hand, or by another version)
        try:
            parse_value(name, row.value)
        except ConfigError as exc:
            bad[name] = f"{exc}: not used until fixed, `facepipe settings set {name} VALUE` or `settings unset {name}`"
    valid = {k: v for k, v in stored.items() if k not in bad}
    view = Settings(stored=valid)
    notes = {d.name: d.line() for d in differences(valid)} | bad
    rows = []

    for name, info in FIELDS.items():
        raw = os.environ.get(env_name(name), "").strip() or None
        if scope(name) == DEPLOYMENT and name in stored:
            origin, by, at = "database", stored[name].set_by, stored[name].set_at
        elif raw is not None:
            origin, by, at = "environment", None, None
        else:
            origin, by, at = "default", None, None
        value = getattr(view, name)
        rows.append(
            Row(
                name=name,
                env=env_name(name),
                scope=scope(name),
                value=_text_of(value),
                origin=origin,
                set_by=by,
                set_at=at,
                environment=raw,
                description=info.description or "",
                note=notes.get(name, ""),
            )
        )
    return rows


def _require_table(conn: psycopg.Connection, schema: str) -> None:
    if not table_exists(conn, schema, "settings"):
        raise ConfigError(f"schema {schema!r} has no table of settings yet: run `facepipe db upgrade` first")


def _deployment_name(text: str) -> str:
    name = field_name(text)
    if scope(name) != DEPLOYMENT:
        raise ConfigError(
            f"{name} is a process setting (where this process keeps its state or how it is reached): set"
            f" {env_name(name)} in the environment of each process that needs it"
        )
    return name


def set_value(conn: psycopg.Connection, schema: str, text: str, value: str) -> tuple[str, str | None, str]:
    """Give a deployment setting one value for every process. Returns (name, old value or None,
    new value as stored). The value is checked as every process will read it, with the
    other settings the database holds (a pair that does not fit together is refused)."""
    name = _deployment_name(text)
    if "\x00" in value or len(value) > 4096:
        raise ConfigError(f"{env_name(name)}: a value of at most 4096 characters, without NUL")
    canonical = _text_of(parse_value(name, value.strip()))
    _require_table(conn, schema)
    with conn.transaction():
        # one change at a time: a check against the stored values (the model against the
        # tables' vectors) holds until the change commits
        conn.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(sql.Identifier(schema, "settings")))
        stored = read_stored(conn, schema)
        old = stored[name].value if name in stored else None
        if old == canonical:
            return name, old, canonical
        _check_together(conn, schema, stored, name, canonical)
        conn.execute(
            load_sql("settings_set.sql", schema=schema), {"name": name, "value": canonical, "who": audit.who()}
        )
        audit.record(conn, schema, "setting", detail={"name": name, "old": old, "new": canonical})
    forget_cached()
    return name, old, canonical


def unset_value(conn: psycopg.Connection, schema: str, text: str) -> tuple[str, str | None]:
    """Remove a deployment setting's value: each process then reads its environment, else the
    default. Returns (name, the value it had, or None)."""
    name = _deployment_name(text)
    _require_table(conn, schema)
    with conn.transaction():
        row = conn.execute(load_sql("settings_unset.sql", schema=schema), {"name": name}).fetchone()
        old = row[0] if row else None
        if old is not None:
            audit.record(conn, schema, "setting", detail={"name": name, "old": old, "new": None})
    forget_cached()
    return name, old


def _check_together(conn: psycopg.Connection, schema: str, stored: dict[str, Stored], name: str, new: str) -> None:
    """What a value must agree with, beyond its own range: for ``model``, the vectors the tables
    hold (never the setter's own environment)."""
    if name == "model" and table_exists(conn, schema, "embedding_space"):
        row = conn.execute(sql.SQL("SELECT model FROM {}").format(sql.Identifier(schema, "embedding_space"))).fetchone()
        if row is not None and row[0] != new:
            raise ConfigError(
                f"the tables of schema {schema!r} hold vectors of {row[0]}: model {new} would make every run"
                " fail. Changing the model is a re-embed into another schema (docs/operating.md: Models)"
            )
