"""Least privilege for report readers: a role that reads facepipe's tables without
any vector column, staging, the pool, the forget records or the audit."""

from __future__ import annotations

import psycopg
from psycopg import sql

from facepipe.core.db import load_sql

# Besides stage_*: the pool (vectors only, for the nightly assignment), and what forgets and
# operators leave (hashes and boxes of forgotten faces, a forgotten person's template, who did
# what): nothing a report reader needs.
NO_READER_TABLES = ("identity_pool", "suppressions", "forget_templates", "audit")


def readable_columns(conn: psycopg.Connection, schema: str) -> dict[str, list[str]]:
    """Table -> the columns a reader may see (tables without any are left out)."""
    out: dict[str, list[str]] = {}
    for table, column in conn.execute(load_sql("reader_columns.sql"), {"schema": schema}):
        if table.startswith("stage_") or table in NO_READER_TABLES:
            continue
        out.setdefault(table, []).append(column)
    return out


def grant_reader(conn: psycopg.Connection, schema: str, role: str) -> dict[str, list[str]]:
    """Grant ``role`` (which an admin created) read access without vectors; one transaction."""
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    if exists is None:
        raise ValueError(f"role {role!r} does not exist: create it first (README: Privacy)")
    columns = readable_columns(conn, schema)
    with conn.transaction():
        conn.execute(
            sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(
                sql.Identifier(schema), sql.Identifier(role)
            )
        )
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), sql.Identifier(role)))
        for table, cols in columns.items():
            conn.execute(
                sql.SQL("GRANT SELECT ({}) ON {} TO {}").format(
                    sql.SQL(", ").join(map(sql.Identifier, cols)), sql.Identifier(schema, table), sql.Identifier(role)
                )
            )
    return columns
