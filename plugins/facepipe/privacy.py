"""Least privilege for report readers: every facepipe table but no vector.

``grant_reader`` gives an existing role read access to facepipe's schema with every
column whose type is a pgvector type (vector, halfvec, sparsevec) left out, and no
access at all to the staging tables (``stage_*``) or the pool of unassigned faces,
which hold vectors and nothing a reader needs. It reads the columns from the
catalog, so it stays right as tables gain columns: run it again after an upgrade.
Column privileges are granted on the partitioned parents; a reader who names a
day's partition directly is refused (no grant on partitions).
"""
from __future__ import annotations

import psycopg
from psycopg import sql

from facepipe.db import load_sql

NO_READER_TABLES = ("identity_pool",)  # besides stage_*: vectors only, for the nightly assignment


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
        conn.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(
            sql.Identifier(schema), sql.Identifier(role)))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), sql.Identifier(role)))
        for table, cols in columns.items():
            conn.execute(sql.SQL("GRANT SELECT ({}) ON {} TO {}").format(
                sql.SQL(", ").join(map(sql.Identifier, cols)), sql.Identifier(schema, table),
                sql.Identifier(role)))
    return columns
