"""What operators grant on the reader views survives every schema change: each revision, down
and up, one step at a time, leaves a reader of every view reading every view the reader
schema then has, a role granted one view that view only, a revoked role nothing, and none
of them any internal table (facepipe.core.migrations.reader_grants).

The revisions are read from the Alembic scripts (facepipe.core.schema.history), so a
revision added later is walked too. The roles log in over the embedded server's Unix
socket, which trusts them (as in tests/test_privacy.py).
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql

from facepipe.core import schema as versions
from facepipe.core.config import ConfigError
from facepipe.core.specs import model_spec

SPEC = model_spec("dlib-resnet-128")


@pytest.fixture
def roles(pg_uri):
    """make() creates a login role; each is dropped, with its grants, afterwards."""
    made: list[str] = []

    def make() -> str:
        role = "reader_" + uuid.uuid4().hex[:8]
        with psycopg.connect(pg_uri, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        made.append(role)
        return role

    yield make
    with psycopg.connect(pg_uri, autocommit=True) as conn:
        for role in made:
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def _relations(db: psycopg.Connection, schema: str, kinds: tuple[str, ...]) -> set[str]:
    rows = db.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relkind = ANY(%s) AND NOT c.relispartition",
        (schema, list(kinds)),
    )
    return {name for (name,) in rows}


def _readable(pg_uri: str, role: str, schema: str, names: set[str]) -> set[str]:
    """Which of ``schema``'s relations ``names`` the role may SELECT from; any other refusal
    than "permission denied" fails the test."""
    out = set()
    with psycopg.connect(pg_uri, user=role, autocommit=True, prepare_threshold=None) as conn:
        for name in sorted(names):
            try:
                conn.execute(sql.SQL("SELECT * FROM {} LIMIT 0").format(sql.Identifier(schema, name)))
            except psycopg.errors.InsufficientPrivilege:
                continue
            out.add(name)
    return out


class Roles:
    """Three roles, and what each must read at every revision."""

    def __init__(self, make, schema: str, db: psycopg.Connection):
        from facepipe.ops.cli import main

        self.schema, self.reader, self.db = schema, f"{schema}_reader", db
        self.full, self.one_view, self.revoked = make(), make(), make()
        assert main(["grant-reader", self.full]) == 0
        assert main(["grant-reader", self.revoked]) == 0
        r, revoked = sql.Identifier(self.reader), sql.Identifier(self.revoked)
        # an operator takes a reader's access away by hand: no revision gives it back
        db.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(r, revoked))
        db.execute(sql.SQL("REVOKE USAGE ON SCHEMA {} FROM {}").format(r, revoked))
        # a dashboard role granted one view by hand: it keeps that one and gains no other
        db.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(r, sql.Identifier(self.one_view)))
        db.execute(
            sql.SQL("GRANT SELECT ON {} TO {}").format(
                sql.Identifier(self.reader, "day_summary"), sql.Identifier(self.one_view)
            )
        )

    def check(self, pg_uri: str, *, lost: tuple[str, ...] = ()) -> None:
        """At the database's revision now: the reader reads every view there is, the one-view
        role that view, the revoked role none, a role in ``lost`` none; no role reads an
        internal table."""
        at = versions.current(self.db, self.schema) or "base"
        views = _relations(self.db, self.reader, ("v",))
        internal = _relations(self.db, self.schema, ("r", "p", "v"))
        assert internal, at
        expected = {self.full: views, self.one_view: views & {"day_summary"}, self.revoked: set()}
        for role, want in expected.items():
            assert _readable(pg_uri, role, self.reader, views) == (set() if role in lost else want), (at, role)
            assert _readable(pg_uri, role, self.schema, internal) == set(), (at, role)


def _walk_down(roles: Roles, pg_uri: str, targets: list[str]) -> str | None:
    """Downgrade one revision at a time through ``targets``, checking after each; the first
    target refused (the audit holds rows), or None."""
    for target in targets:
        at = versions.current(roles.db, roles.schema)
        try:
            versions.downgrade(roles.schema, SPEC, target)
        except ConfigError as exc:
            assert "audit" in str(exc), exc
            assert versions.current(roles.db, roles.schema) == at  # one transaction: nothing changed
            roles.check(pg_uri)
            return target
        assert versions.current(roles.db, roles.schema) == (None if target == "base" else target)
        roles.check(pg_uri)
    return None


def _walk_up(roles: Roles, pg_uri: str, targets: list[str], **check) -> None:
    for target in targets:
        versions.upgrade(roles.schema, SPEC, target)
        assert versions.current(roles.db, roles.schema) == target
        roles.check(pg_uri, **check)


def test_every_step_down_and_up_keeps_what_each_role_was_granted(schema, db, pg_uri, roles):
    from facepipe.ops.cli import main

    revisions = [r.revision for r in versions.history()]
    assert len(revisions) >= 9 and revisions[-1] == versions.head()
    versions.upgrade(schema, SPEC)
    r = Roles(roles, schema, db)
    r.check(pg_uri)
    assert len(_relations(db, r.reader, ("v",))) >= 11

    # Down to the lowest revision a database with audit rows may reach: the step that drops
    # the reader schema keeps the grants in the audit, so the step below is refused.
    refused = _walk_down(r, pg_uri, [*reversed(revisions[:-1]), "base"])
    assert refused is not None
    floor = versions.current(db, schema)
    assert _relations(db, r.reader, ("v",)) == set()  # the reader schema is gone here
    assert db.execute("SELECT to_regnamespace(%s)", (r.reader,)).fetchone() == (None,)
    kept = db.execute(sql.SQL("SELECT op FROM {}").format(sql.Identifier(schema, "audit"))).fetchall()
    assert kept == [("reader_grants",)]

    # and up again, one step at a time: the schema comes back with its grants
    _walk_up(r, pg_uri, revisions[revisions.index(floor) + 1 :])
    assert versions.current(db, schema) == versions.head()

    # Below the floor the audit goes, and the record with it: what an operator must do to
    # go there (empty the audit) loses the grants. Documented: grant-reader again.
    _walk_down(r, pg_uri, revisions[revisions.index(floor) : -1][::-1])
    db.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(schema, "audit")))
    assert _walk_down(r, pg_uri, [*reversed(revisions[: revisions.index(floor)]), "base"]) is None
    assert versions.current(db, schema) is None
    _walk_up(r, pg_uri, revisions, lost=(r.full, r.one_view))
    assert main(["grant-reader", r.full]) == 0
    r.check(pg_uri, lost=(r.one_view,))


def test_a_downgrade_past_the_audit_in_one_go_says_the_grants_are_lost(schema, db, pg_uri, roles, caplog, capsys):
    from facepipe.ops.cli import main

    versions.upgrade(schema, SPEC)
    reader = roles()
    assert main(["grant-reader", reader]) == 0
    assert main(["db", "downgrade", "0007", "--yes"]) == 0
    assert f"grants on the reader views of {schema}_reader: {reader} (every view)" in capsys.readouterr().out
    assert main(["db", "downgrade", "base", "--yes"]) == 0
    err = capsys.readouterr().err  # the command line's warnings: one line each on stderr
    assert reader in err and "facepipe grant-reader ROLE" in err and err.startswith("warning: ")
    assert main(["db", "upgrade"]) == 0
    assert "grants on the reader views" not in capsys.readouterr().out
    views = _relations(db, f"{schema}_reader", ("v",))
    assert _readable(pg_uri, reader, f"{schema}_reader", views) == set()


def test_public_is_kept_and_a_role_dropped_meanwhile_is_skipped(schema, db, pg_uri, roles, caplog, capsys):
    """Grants to PUBLIC are kept like any role's; a role dropped while the reader schema was
    gone (at 0004) is not granted again, with a warning."""
    from facepipe.ops.cli import main

    versions.upgrade(schema, SPEC)
    reader, gone, other = roles(), roles(), roles()
    assert main(["grant-reader", reader]) == 0
    assert main(["grant-reader", gone]) == 0
    r = sql.Identifier(f"{schema}_reader")
    db.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO PUBLIC").format(r))
    db.execute(sql.SQL("GRANT SELECT ON {} TO PUBLIC").format(sql.Identifier(f"{schema}_reader", "loads")))
    capsys.readouterr()
    assert main(["db", "downgrade", "0004", "--yes"]) == 0
    out = capsys.readouterr().out
    assert f"the audit keeps the grants of {', '.join(['PUBLIC', *sorted([reader, gone])])}" in out, out
    db.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(gone)))
    assert main(["db", "upgrade"]) == 0
    assert f"role {gone} held grants" in capsys.readouterr().err
    views = _relations(db, f"{schema}_reader", ("v",))
    assert _readable(pg_uri, reader, f"{schema}_reader", views) == views
    assert _readable(pg_uri, other, f"{schema}_reader", views) == {"loads"}  # through PUBLIC
    assert _readable(pg_uri, other, schema, _relations(db, schema, ("r", "p"))) == set()
