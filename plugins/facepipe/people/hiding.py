"""Hide a person: the identity stays stored, assigned and searchable, but is out of the
People grid, `people list` and the day reports' sightings, person-days and recurring
unknowns by default (``identities.hidden_at``, revision 0012). Reversible (unhide); each
is one transaction under the people lock, recorded in ``audit`` (op 'hide' / 'unhide').
Distinct from forget, which deletes the faces."""

from __future__ import annotations

import psycopg
from psycopg import sql

from facepipe.core import audit
from facepipe.people.identities import PeopleError, _identity, _lock


def _t(schema: str, table: str) -> sql.Identifier:
    return sql.Identifier(schema, table)


def identity_of(conn: psycopg.Connection, schema: str, which: str) -> int:
    """An identity named by its number or by its person's name, exactly as written."""
    text = which.strip()
    if text.isdigit():
        return int(text)
    row = conn.execute(
        sql.SQL("SELECT i.identity_id FROM {p} AS p JOIN {i} AS i USING (person_id) WHERE p.name = %s").format(
            p=_t(schema, "people"), i=_t(schema, "identities")
        ),
        (text,),
    ).fetchone()
    if row is None:
        raise PeopleError(f"nobody is named {text!r}")
    return row[0]


def set_hidden(conn: psycopg.Connection, schema: str, identity_id: int, hidden: bool, actor: str | None = None) -> dict:
    op = "hide" if hidden else "unhide"
    with conn.transaction():
        _lock(conn)
        _, _person, name = _identity(conn, schema, identity_id)
        (was,) = conn.execute(
            sql.SQL("SELECT hidden_at IS NOT NULL FROM {} WHERE identity_id = %s").format(_t(schema, "identities")),
            (identity_id,),
        ).fetchone()
        if was == hidden:
            return {"identity_id": identity_id, "name": name, "hidden": hidden, "changed": False}
        conn.execute(
            sql.SQL(
                "UPDATE {} SET hidden_at = CASE WHEN %s THEN now() END, updated_at = now() WHERE identity_id = %s"
            ).format(_t(schema, "identities")),
            (hidden, identity_id),
        )
        audit.record(conn, schema, op, identity_id=identity_id, actor=actor)
    return {"identity_id": identity_id, "name": name, "hidden": hidden, "changed": True}
