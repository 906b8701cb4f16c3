"""The audit table: who did which people or privacy operation, when, and how many rows it changed.

One row per operation, written in the operation's own transaction, so an operation
that rolls back leaves no row. Rows hold counts, identity numbers and days, never a
vector, a forgotten person's name or a forgotten photo's URI.
"""

from __future__ import annotations

import getpass
import json
import os

import psycopg
from psycopg import sql


def who() -> str:
    """Who acts: the Airflow run when inside a task, else the OS user."""
    run_id = os.environ.get("AIRFLOW_CTX_DAG_RUN_ID")
    if run_id:
        return f"airflow:{os.environ.get('AIRFLOW_CTX_DAG_ID', '?')}/{run_id}"
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (a container without passwd entry)
        return f"uid:{os.getuid()}"


def record(
    conn: psycopg.Connection,
    schema: str,
    op: str,
    *,
    identity_id: int | None = None,
    other_id: int | None = None,
    rows: dict | None = None,
    detail: dict | None = None,
    actor: str | None = None,
) -> int:
    """Add one row to the audit table; returns its op_no."""
    (op_no,) = conn.execute(
        sql.SQL(
            "INSERT INTO {} (who, op, identity_id, other_id, rows, detail) VALUES (%s, %s, %s, %s, %s, %s)"
            " RETURNING op_no"
        ).format(sql.Identifier(schema, "audit")),
        (actor or who(), op, identity_id, other_id, json.dumps(rows or {}), json.dumps(detail or {}, default=str)),
    ).fetchone()
    return op_no


def entries(conn: psycopg.Connection, schema: str, limit: int = 50, ops: tuple[str, ...] | None = None) -> list[dict]:
    """The newest ``limit`` rows, of the given ops only when ``ops`` is given."""
    cur = conn.execute(
        sql.SQL(
            "SELECT op_no, at, who, op, identity_id, other_id, rows, detail FROM {}"
            " WHERE %s::text[] IS NULL OR op = ANY(%s::text[])"
            " ORDER BY op_no DESC LIMIT %s"
        ).format(sql.Identifier(schema, "audit")),
        (list(ops) if ops else None, list(ops) if ops else None, limit),
    )
    names = [c.name for c in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]
