"""Least privilege for report readers: a role reads the reader views (``<schema>_reader``,
revision 0005, docs/using.md) and nothing else: no internal table, so no vector, no
staging, no pool of unassigned faces, no forget record and no audit detail.

``grant_reader`` revokes whatever the role held on facepipe's internal schema (earlier
versions granted table columns there), then grants USAGE on the reader schema and SELECT
on each of its views. The views run with their owner's rights, so the role needs nothing
on the tables they read. Once is enough: every upgrade and downgrade gives a reader of
every view every view the reader schema then has (facepipe.core.migrations.reader_grants).
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from facepipe.core.db import load_sql
from facepipe.core.schema import reader_schema


def reader_views(conn: psycopg.Connection, schema: str) -> dict[str, list[str]]:
    """View -> its columns, in the reader schema of ``schema``."""
    out: dict[str, list[str]] = {}
    for view, column in conn.execute(load_sql("reader_columns.sql"), {"schema": reader_schema(schema)}):
        out.setdefault(view, []).append(column)
    return out


def grant_reader(conn: psycopg.Connection, schema: str, role: str) -> dict[str, list[str]]:
    """Grant ``role`` (which an admin created) the reader views only; one transaction."""
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    if exists is None:
        raise ValueError(f"role {role!r} does not exist: create it first (docs/privacy.md)")
    views = reader_views(conn, schema)
    internal, reader, who = sql.Identifier(schema), sql.Identifier(reader_schema(schema)), sql.Identifier(role)
    with conn.transaction():
        conn.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(internal, who))
        conn.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(internal, who))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(reader, who))
        for view in views:
            conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(sql.Identifier(reader_schema(schema), view), who))
    return views
