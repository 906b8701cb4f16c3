"""The versioned schema: Alembic revisions of plain SQL (include/sql/migrations/), applied
once per deployment (``facepipe db upgrade``) or by the first task of a DAG run, never
by a mapped shard.

Every task checks the database's revision (one query) before it touches a table:
``require`` fails at once, naming the command to run, when the database is behind, and
upgrades it instead only where the caller may (the first task of a run, the command
line) and FACEPIPE_SCHEMA_UPGRADE is ``auto`` (the default). The version table is
``<schema>.alembic_version``; the revisions run in one transaction under the
``facepipe:ddl`` advisory lock, so two first tasks starting at once upgrade once. What
operators granted on the reader schema is given back after the revisions, in their
transaction (facepipe.core.migrations.reader_grants).

A database created before the schema was versioned has no version table: it is
upgraded from the first revision, whose statements all accept the objects an earlier
facepipe created (tests/test_migrations.py restores dumps of two older schemas).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from facepipe.core.config import ConfigError
from facepipe.core.db import ModelMismatch, connect, table_exists
from facepipe.core.specs import ModelSpec

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"
UPGRADE_ENV = "FACEPIPE_SCHEMA_UPGRADE"
UPGRADE_COMMAND = "facepipe db upgrade"  # also: python -m facepipe db upgrade


class SchemaBehind(ConfigError):
    """The database's schema is older than this code: a retry cannot fix it, an upgrade does."""


def reader_schema(schema: str) -> str:
    """The schema of the reader views (docs/using.md): ``<schema>_reader``."""
    name = f"{schema}_reader"
    if schema.endswith("_reader"):
        raise ConfigError(f"FACEPIPE_DB_SCHEMA {schema[:70]!r} cannot end with _reader: that names a reader schema")
    if len(name.encode("utf-8")) > 63:  # PostgreSQL would cut it, maybe onto another schema's name
        raise ConfigError(f"FACEPIPE_DB_SCHEMA {schema[:70]!r} is too long: at most 56 bytes, so {name[:20]}... fits")
    return name


def auto_upgrade() -> bool:
    """FACEPIPE_SCHEMA_UPGRADE: ``auto`` (default) lets the first task of a run and the command
    line upgrade a database that is behind; ``manual`` leaves it to ``facepipe db upgrade``."""
    from facepipe.core.deployment import value

    return value("schema_upgrade") == "auto"


def _config(schema: str | None = None, model: ModelSpec | None = None, connection=None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes.update(schema=schema, model=model, connection=connection)
    return cfg


@functools.cache
def _script():
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())


def head() -> str:
    """The newest revision this code knows."""
    return _script().get_current_head()


@dataclass(frozen=True)
class Revision:
    revision: str
    down_revision: str | None
    doc: str


def history() -> list[Revision]:
    """The revisions, oldest first; ``doc`` is the first paragraph of each one's docstring."""
    revs = list(_script().walk_revisions())
    return [Revision(r.revision, r.down_revision, " ".join((r.doc or "").split())) for r in reversed(revs)]


def known(revision: str | None) -> bool:
    """Whether this code knows ``revision`` (None, a database before any revision, it knows)."""
    return revision is None or revision in {r.revision for r in history()}


def newer_message(schema: str, revision: str) -> str:
    return (
        f"schema {schema!r} is at revision {revision}, which this facepipe does not know (its newest is {head()}):"
        " the database was upgraded by a newer facepipe. Run that version, or downgrade the database with it."
    )


def current(conn: psycopg.Connection, schema: str) -> str | None:
    """The database's revision of ``schema``; None: not created, or created before versioning."""
    if not table_exists(conn, schema, VERSION_TABLE):
        return None
    row = conn.execute(sql.SQL("SELECT version_num FROM {}").format(sql.Identifier(schema, VERSION_TABLE))).fetchone()
    return row[0] if row else None


def _engine(like: psycopg.Connection | None = None):
    """An engine on facepipe's own connection (the Airflow connection facepipe_db, else the
    embedded server), or on a new connection to ``like``'s database as ``like``'s role; not in
    autocommit: the revisions run in one transaction, under the DDL lock (env.py)."""
    import sqlalchemy as sa

    def fresh() -> psycopg.Connection:
        if like is None:
            return connect(autocommit=False)
        return psycopg.connect(**like.info.get_parameters(), password=like.info.password, autocommit=False)

    return sa.create_engine("postgresql+psycopg://", creator=fresh, poolclass=sa.pool.NullPool)


def _run(
    command: str, schema: str, model: ModelSpec, target: str, like: psycopg.Connection | None = None
) -> tuple[str | None, str | None]:
    from alembic import command as alembic_command
    from alembic.util import CommandError

    reader_schema(schema)  # refuses a schema name whose reader schema would not fit
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line of ours instead, below

    engine = _engine(like)
    try:
        with engine.connect() as sa_conn:
            raw = sa_conn.connection.driver_connection
            cfg = _config(schema, model, sa_conn)
            if not known(current(raw, schema)):
                raise ConfigError(newer_message(schema, current(raw, schema)))
            try:
                getattr(alembic_command, command)(cfg, target)
            except CommandError as exc:  # an unknown target revision, say
                raise ConfigError(f"facepipe db {command} {target}: {exc}") from None
            sa_conn.commit()
            before, after = cfg.attributes.get("before"), current(raw, schema)
    finally:
        engine.dispose()
    if before != after:
        log.info(
            "schema %s: revision %s -> %s (%s)",
            schema,
            before or "none",
            after or "none",
            command,
            extra={"in_result": True},  # the command line prints it from the result
        )
    if given := cfg.attributes.get("readers_given"):
        log.info("schema %s: grants on the reader views given back to %s", schema, ", ".join(given))
    return before, after


def upgrade(
    schema: str, model: ModelSpec, target: str = "head", *, like: psycopg.Connection | None = None
) -> tuple[str | None, str | None]:
    """Apply the revisions up to ``target``; (revision before, revision after). A database
    that holds vectors already keeps its own model's types (embedding_space). ``like``: in
    that connection's database (default: facepipe's)."""
    return _run("upgrade", schema, model, target, like)


def downgrade(schema: str, model: ModelSpec, target: str) -> tuple[str | None, str | None]:
    """Undo revisions down to ``target`` ("base": all). The tables of the revisions undone go,
    with their rows."""
    return _run("downgrade", schema, model, target)


def require(conn: psycopg.Connection, schema: str, model: ModelSpec, *, may_upgrade: bool = False) -> None:
    """The schema at this code's revision, holding ``model``'s vectors; else SchemaBehind (or,
    where the caller may and FACEPIPE_SCHEMA_UPGRADE is auto, an upgrade first) or ModelMismatch."""
    from pgvector.psycopg import register_vector

    rev, want = current(conn, schema), head()
    if rev != want:
        if not known(rev):
            raise ConfigError(newer_message(schema, rev))
        if not (may_upgrade and auto_upgrade()):
            raise SchemaBehind(
                f"schema {schema!r} is at revision {rev or 'none (new, or made before versioning)'}; this facepipe"
                f" needs {want}. Run `{UPGRADE_COMMAND}` once (FACEPIPE_SCHEMA_UPGRADE="
                f"{'auto' if auto_upgrade() else 'manual'}: "
                + (
                    "only the first task of a run upgrades by itself"
                    if auto_upgrade()
                    else "nothing upgrades by itself"
                )
                + "), then clear the failed task or run the command again."
            )
        upgrade(schema, model, like=conn)
    held = conn.execute(
        sql.SQL("SELECT model, dim FROM {}").format(sql.Identifier(schema, "embedding_space"))
    ).fetchone()
    if held is not None and held[0] != model.name:
        raise ModelMismatch(
            f"schema {schema!r} holds embeddings of model {held[0]!r} ({held[1]} dimensions);"
            f" this run asked for {model.name!r}. Vectors of different models never share a"
            " table: keep the model, or point FACEPIPE_DB_SCHEMA at another schema and"
            " load the days again there (re-embedding)."
        )
    register_vector(conn)
