"""What operators granted on the reader schema survives every upgrade and downgrade.

A revision that drops a reader view (0008's downgrade, to change its columns) or the
whole reader schema (0005's) drops the grants on it. So env.py reads the grants from the
catalog before the revisions run (``held``) and gives back what is missing after them
(``restore``), in the same transaction, under the same lock: a reader never sees a
moment, nor a committed state, without its grants.

What a role keeps:

- a reader, a role holding USAGE on the reader schema and SELECT on every one of its
  views (what ``facepipe grant-reader`` gives), reads every view the schema has after
  the revisions, views an upgrade adds included;
- any other role keeps exactly what it held (USAGE, and SELECT on the views of the names
  it held that still exist), never more: a dashboard role granted ``day_summary`` alone
  does not gain ``faces`` from an upgrade.

Only USAGE and SELECT are kept (the reader contract is for reading), on whole views (a
column grant on a view is not). A downgrade that drops the reader schema itself (to 0004)
keeps the grants in the audit (op ``reader_grants``), in the same transaction; the
upgrade that makes the schema again gives them back, to the roles that still exist.
Below 0004 the audit goes too (a downgrade there is refused while it holds rows, this
one included): nothing is left to keep them in, and ``facepipe grant-reader`` has to be
run again after the upgrade (a warning says so).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg
from psycopg import sql

from facepipe.core import audit
from facepipe.core.db import load_sql, table_exists

log = logging.getLogger(__name__)
AUDIT_OP = "reader_grants"


@dataclass(frozen=True)
class Grant:
    """What one role (None: PUBLIC) holds on the reader schema: USAGE, and SELECT on
    ``views`` (None: on every view, whatever views the schema has)."""

    role: str | None
    usage: bool
    views: frozenset[str] | None

    def to_json(self) -> dict:
        return {"role": self.role, "usage": self.usage, "views": None if self.views is None else sorted(self.views)}

    @classmethod
    def from_json(cls, d: dict) -> Grant:
        return cls(d["role"], bool(d["usage"]), None if d["views"] is None else frozenset(d["views"]))

    @property
    def name(self) -> str:
        return "PUBLIC" if self.role is None else self.role


def _reader_exists(conn: psycopg.Connection, reader: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (reader,)).fetchone() is not None


def _views(conn: psycopg.Connection, reader: str) -> set[str]:
    return {view for view, _ in conn.execute(load_sql("reader_columns.sql"), {"schema": reader})}


def _pairs(conn: psycopg.Connection, reader: str) -> set[tuple[str | None, str | None]]:
    """(role, view) held now; view None is USAGE on the schema, role None is PUBLIC."""
    return {(role, view) for role, view in conn.execute(load_sql("reader_grants.sql"), {"reader": reader})}


def held(conn: psycopg.Connection, reader: str) -> list[Grant] | None:
    """The grants on schema ``reader`` and its views; None when there is no such schema."""
    if not _reader_exists(conn, reader):
        return None
    views = _views(conn, reader)
    usage: dict[str | None, bool] = {}
    selects: dict[str | None, set[str]] = {}
    for role, view in _pairs(conn, reader):
        usage[role] = usage.get(role, False) or view is None
        selects.setdefault(role, set())
        if view is not None:
            selects[role].add(view)
    return [
        Grant(role, usage[role], None if usage[role] and views <= selects[role] else frozenset(selects[role]))
        for role in sorted(usage, key=lambda r: (r is not None, r or ""))
    ]


def restore(conn: psycopg.Connection, reader: str, grants: list[Grant]) -> list[str]:
    """Grant what ``grants`` held and the reader schema's views lack now (nothing when nothing
    was lost); the names of the roles given something back. A role dropped since is skipped."""
    if not grants or not _reader_exists(conn, reader):
        return []
    views, have = _views(conn, reader), _pairs(conn, reader)
    roles = {name for (name,) in conn.execute("SELECT rolname FROM pg_roles")}
    given: list[str] = []
    for g in grants:
        if g.role is not None and g.role not in roles:
            log.warning("role %s held grants on schema %s and no longer exists: not granted again", g.role, reader)
            continue
        who = sql.SQL("PUBLIC") if g.role is None else sql.Identifier(g.role)
        usage = g.usage and (g.role, None) not in have
        selects = sorted(v for v in (views if g.views is None else g.views & views) if (g.role, v) not in have)
        if usage:
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(reader), who))
        for view in selects:
            conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(sql.Identifier(reader, view), who))
        if usage or selects:
            given.append(g.name)
    return given


def keep(conn: psycopg.Connection, schema: str, grants: list[Grant]) -> bool:
    """Record ``grants`` in the audit, the reader schema having gone with a downgrade; False
    when there is no audit (below 0004) to keep them in. Nothing is written when there is
    nothing to keep and no earlier record to supersede (a downgrade of a schema that never
    had a reader stays free to go below 0004)."""
    if not table_exists(conn, schema, "audit"):
        return False
    if grants or kept(conn, schema):
        audit.record(conn, schema, AUDIT_OP, detail={"grants": [g.to_json() for g in grants]})
    return True


def kept(conn: psycopg.Connection, schema: str) -> list[Grant]:
    """The grants the newest downgrade that dropped the reader schema kept in the audit."""
    if not table_exists(conn, schema, "audit"):
        return []
    row = conn.execute(load_sql("reader_grants_kept.sql", schema=schema)).fetchone()
    return [Grant.from_json(d) for d in (row[0] if row else None) or []]


def carry_over(conn: psycopg.Connection, schema: str, reader: str, before: list[Grant] | None) -> list[str]:
    """After the revisions ran: give back what ``before`` (``held`` before them) held, keep it in
    the audit if the reader schema went, or take it from there if the schema came back."""
    after = _reader_exists(conn, reader)
    if before is not None and not after:
        if not keep(conn, schema, before) and before:
            log.warning(
                "the reader schema %s went with the downgrade, and with it the grants of %s; below revision 0004"
                " no audit is left to keep them in: run `facepipe grant-reader ROLE` again after the upgrade",
                reader,
                ", ".join(g.name for g in before),
            )
        return []
    if before is None and after:
        before = kept(conn, schema)
    return restore(conn, reader, before or [])


def summary(conn: psycopg.Connection, schema: str, reader: str) -> str | None:
    """One line for ``facepipe db upgrade`` and ``downgrade``: who holds what on the reader schema now,
    or, where a downgrade dropped it, whose grants the audit keeps; None: no grant to speak of."""
    now = held(conn, reader)
    if now is None:
        gone = kept(conn, schema)
        if not gone:
            return None
        return (
            f"schema {reader} is gone with its revision; the audit keeps the grants of"
            f" {', '.join(g.name for g in gone)} for the upgrade that makes it again"
        )
    if not now:
        return None
    shown = [f"{g.name} ({'every view' if g.views is None else ', '.join(sorted(g.views)) or 'no view'})" for g in now]
    return f"grants on the reader views of {reader}: {'; '.join(shown)}"
