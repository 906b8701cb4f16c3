"""Alembic's environment and revisions for facepipe's schema (facepipe.core.schema runs
them). Each revision executes one file of include/sql/migrations/ with the schema, the
reader schema and the model's vector type bound by psycopg.sql, on the connection
Alembic runs in (one transaction for the whole upgrade)."""

from __future__ import annotations

import psycopg
from psycopg import sql

from facepipe.core.config import SQL_DIR
from facepipe.core.db import table_exists
from facepipe.core.specs import ModelSpec, model_spec


def _context():
    from alembic import context, op

    attrs = context.config.attributes
    return op.get_bind().connection.driver_connection, attrs["schema"], attrs["model"]


def held_model(conn: psycopg.Connection, schema: str, wanted: ModelSpec | None) -> ModelSpec:
    """The model whose vectors the schema holds (embedding_space), else the one asked for."""
    if table_exists(conn, schema, "embedding_space"):
        row = conn.execute(sql.SQL("SELECT model FROM {}").format(sql.Identifier(schema, "embedding_space"))).fetchone()
        if row is not None:
            return model_spec(row[0])
    if wanted is None:
        raise ValueError("no model to create the schema with")
    return wanted


def compose_file(name: str, schema: str, model: ModelSpec) -> sql.Composed:
    """include/sql/migrations/``name`` with the schema, the reader schema and the model's types
    bound (bench/search_ivf.py runs revision 0014's on a table it built the old way)."""
    from facepipe.core.schema import reader_schema

    text = (SQL_DIR / "migrations" / name).read_text()
    return sql.SQL(text).format(
        schema=sql.Identifier(schema),
        reader=sql.Identifier(reader_schema(schema)),
        vector_type=sql.SQL(model.column_type),
        opclass=sql.SQL(model.opclass),
    )


def execute_file(name: str) -> None:
    """Run include/sql/migrations/``name`` in the migration's transaction."""
    conn, schema, wanted = _context()
    conn.execute(compose_file(name, schema, held_model(conn, schema, wanted)))


def execute(statement: str, **identifiers: str) -> None:
    """One statement with ``{name}`` identifiers (``{schema}`` is always bound)."""
    from facepipe.core.schema import reader_schema

    conn, schema, _ = _context()
    ids = {"schema": schema, "reader": reader_schema(schema), **identifiers}
    conn.execute(sql.SQL(statement).format(**{k: sql.Identifier(v) for k, v in ids.items()}))


def exists(table: str) -> bool:
    conn, schema, _ = _context()
    return table_exists(conn, schema, table)
