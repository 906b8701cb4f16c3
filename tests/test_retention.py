"""Retention: the days past FACEPIPE_RETENTION_DAYS leave every table and the report folder.

Three sample days are ingested and reported through Airflow once for the module; the
tests then run in order on that state: a dry run, the face_retention DAG with a window
whose horizon is exactly the middle day, a second run, and the refusals of the expired day.
"""

from __future__ import annotations

import datetime as dt
import os

import psycopg
import pytest
from helpers.nights import reported_days
from helpers.rows import assert_tallies_true, q, snapshot
from psycopg import sql

pytestmark = pytest.mark.dag


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


@pytest.fixture(scope="module")
def nights(photos, sample_days, tmp_path_factory, pg_uri, airflow_db):
    """The sample days ingested and reported (Eileen Collins enrolled), with a report folder of
    their own; yields (schema, reports folder)."""
    reports = tmp_path_factory.mktemp("reports")
    saved = os.environ.get("FACEPIPE_REPORTS_DIR")
    os.environ["FACEPIPE_REPORTS_DIR"] = str(reports)
    try:
        with reported_days("ret_", photos, sample_days) as night:
            schema = night.schema
            yield schema, reports
    finally:
        if saved is None:
            os.environ.pop("FACEPIPE_REPORTS_DIR", None)
        else:
            os.environ["FACEPIPE_REPORTS_DIR"] = saved
        with psycopg.connect(pg_uri, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def keep_from_middle_day(monkeypatch, sample_days):
    """FACEPIPE_RETENTION_DAYS such that, counted back from today, the horizon is the middle
    sample day: the first day is expired, the middle one is the first day kept."""
    keep = (_today() - sample_days[1]).days
    monkeypatch.setenv("FACEPIPE_RETENTION_DAYS", str(keep))
    return keep


def day_tables(db, schema) -> list[str]:
    """Every table of the schema (partitions aside) with a column named day."""
    return [
        t
        for (t,) in db.execute(
            "SELECT c.table_name FROM information_schema.columns c"
            " JOIN pg_class k ON k.relname = c.table_name"
            " JOIN pg_namespace n ON n.oid = k.relnamespace AND n.nspname = c.table_schema"
            " WHERE c.table_schema = %s AND c.column_name = 'day' AND NOT k.relispartition"
            " ORDER BY 1",
            (schema,),
        ).fetchall()
    ]


def rows_by_day(db, schema) -> dict:
    """{table: {day: rows}} for every table with a day column; report_person_days by (day, seen_day)."""
    out = {}
    for table in day_tables(db, schema):
        if table == "report_person_days":
            out[table] = dict(
                ((d, s), n)
                for d, s, n in q(db, schema, "SELECT day, seen_day, count(*) FROM {s}.report_person_days GROUP BY 1, 2")
            )
        else:
            out[table] = dict(
                db.execute(
                    sql.SQL("SELECT day, count(*) FROM {} GROUP BY 1").format(sql.Identifier(schema, table))
                ).fetchall()
            )
    return out


def partitions(db, schema) -> set[str]:
    """The day partitions of images and faces, and their indexes."""
    return {
        r[0]
        for r in q(
            db,
            schema,
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname ~ '^(images|faces)_p[0-9]{{8}}'",
            schema,
        )
    }


def state(db, schema, reports) -> dict:
    """Everything retention could touch, to compare before and after."""
    return {
        "rows": rows_by_day(db, schema),
        "partitions": partitions(db, schema),
        "files": sorted(str(p.relative_to(reports)) for p in reports.rglob("*")),
        "identities": q(
            db, schema, "SELECT identity_id, person_id, faces, centroid::text FROM {s}.identities ORDER BY 1"
        ),
        "first_seen": q(db, schema, "SELECT count(*) FROM {s}.first_seen"),
        "people": q(db, schema, "SELECT count(*) FROM {s}.person_refs"),
    }


def retention_audit(db, schema) -> list:
    return q(db, schema, "SELECT rows, detail FROM {s}.audit WHERE op = 'retention' ORDER BY op_no")


def test_dry_run_lists_the_expired_day_and_changes_nothing(nights, db, sample_days, keep_from_middle_day, capsys):
    from facepipe.ops.cli import main

    schema, reports = nights
    before = state(db, schema, reports)
    assert main(["retention", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"the days before {sample_days[1]} are expired; 1 day would go" in out, out
    assert f"  {sample_days[0]}\n" in out and str(sample_days[1]) not in out.split("expired;")[1]
    assert "faces" in out and "images" in out
    assert state(db, schema, reports) == before
    assert retention_audit(db, schema) == []  # the dry run's audit row was rolled back with the rest


def test_retention_drops_exactly_the_days_past_the_limit(nights, db, sample_days, keep_from_middle_day, tmp_path):
    """Through the face_retention DAG: the first day goes from every table, partition, report folder
    and validation file; the horizon day and the day after stay row for row."""
    from airflow.dag_processing.dagbag import DagBag

    from facepipe.core.config import PROJECT_ROOT
    from facepipe.people import identities as people

    schema, reports = nights
    old, kept = sample_days[0], sample_days[1:]
    # A face of the old day moved by hand into an identity of its own: that identity loses its only face.
    image_id, face_no = q(
        db, schema, "SELECT image_id, face_no FROM {s}.faces WHERE day = %s ORDER BY image_id, face_no LIMIT 1", old
    )[0]
    lone = people.move(db, schema, old, image_id, face_no)["identity_id"]
    # Decoys the deletion must leave alone: names that only look like a day's, a link to a folder
    # outside the reports named like an expired day, a link inside an expired day's folder.
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("not a report")
    (reports / f"{old}-notes.txt").write_text("not a report folder")
    (reports / "validation" / f"{old}.json").write_text("{}")
    (reports / "2026-11-01").symlink_to(outside, target_is_directory=True)
    (reports / old.isoformat() / "link").symlink_to(outside, target_is_directory=True)
    old_validation = sorted((reports / "validation").glob(f"{old}_*.json"))
    kept_validation = sorted(p for d in kept for p in (reports / "validation").glob(f"{d}_*.json"))
    assert old_validation and kept_validation and (reports / old.isoformat() / "report.html").exists()

    before = state(db, schema, reports)
    kept_rows = {d: snapshot(db, schema, d) for d in kept}
    old_counts = {t: before["rows"][t].get(old, 0) for t in ("images", "faces", "rejects", "face_identity")}
    assert old_counts["faces"] >= 3 and old_counts["face_identity"] >= 2
    assert before["rows"]["report_person_days"] and any(s == old for _, s in before["rows"]["report_person_days"])
    assert {f"{t}_p{d:%Y%m%d}" for t in ("images", "faces") for d in sample_days} <= before["partitions"]

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    assert bag.import_errors == {}
    dag = bag.get_dag("face_retention")
    assert dag.max_active_runs == 1 and not dag.catchup and "facepipe" in dag.tags
    assert str(dag.test().state) == "success"

    after = state(db, schema, reports)
    # partitions: the old day's are gone, with their index; the others are where they were
    gone = {r for r in before["partitions"] if r.startswith((f"images_p{old:%Y%m%d}", f"faces_p{old:%Y%m%d}"))}
    assert f"faces_p{old:%Y%m%d}_pkey" in gone and f"images_p{old:%Y%m%d}_pkey" in gone
    assert after["partitions"] == before["partitions"] - gone
    assert q(
        db,
        schema,
        "SELECT count(*) FROM pg_indexes WHERE schemaname = %s AND indexname = %s",
        schema,
        f"faces_p{kept[0]:%Y%m%d}_pkey",
    ) == [(1,)]
    # no table holds a row of the old day (report_person_days: neither as its day nor as seen_day)
    tables = day_tables(db, schema)
    assert {
        "images",
        "faces",
        "rejects",
        "load_runs",
        "face_identity",
        "identity_pool",
        "stage_faces",
        "report_sightings",
        "report_runs",
        "planned_days",
    } <= set(tables)
    for table in tables:
        left = [k for k in after["rows"][table] if (min(k) if isinstance(k, tuple) else k) < kept[0]]
        assert left == [], (table, left)
    # the kept days: every row as it was (person_days: the rows about kept days)
    for table in tables:
        was = {k: n for k, n in before["rows"][table].items() if (min(k) if isinstance(k, tuple) else k) >= kept[0]}
        assert after["rows"][table] == was, table
    assert {d: snapshot(db, schema, d) for d in kept} == kept_rows
    # identities: the lone one is gone; every other one counts exactly its remaining faces, and its
    # centroid is the mean of them
    assert lone not in [i for i, *_ in after["identities"]]
    assert q(
        db,
        schema,
        "SELECT count(*) FROM {s}.identities i WHERE i.faces <> (SELECT count(*) FROM"
        " {s}.face_identity a WHERE a.identity_id = i.identity_id)",
    ) == [(0,)]
    drift = q(
        db,
        schema,
        "SELECT max(i.centroid <-> m.c) FROM {s}.identities i JOIN (SELECT a.identity_id,"
        " avg(f.embedding) AS c FROM {s}.face_identity a JOIN {s}.faces f USING (day, image_id,"
        " box_x, box_y, box_w, box_h) GROUP BY 1) m USING (identity_id)",
    )[0][0]
    assert drift is not None and drift < 1e-4
    named = q(
        db,
        schema,
        "SELECT i.faces FROM {s}.identities i JOIN {s}.people p USING (person_id) WHERE p.name = 'eileen_collins'",
    )
    assert named and named[0][0] >= 1  # seen on the first and the last day: keeps the last day's faces
    assert after["people"] == before["people"] and after["first_seen"] == before["first_seen"]
    # files: the old day's folder and validation results are gone, nothing else
    assert not (reports / old.isoformat()).exists() and not any(p.exists() for p in old_validation)
    assert all((reports / d.isoformat() / "report.html").exists() for d in kept)
    assert all(p.exists() for p in kept_validation)
    assert (reports / f"{old}-notes.txt").exists() and (reports / "validation" / f"{old}.json").exists()
    assert (reports / "2026-11-01").is_symlink() and (outside / "keep.txt").exists()
    # one audit row with the counts
    ((rows, detail),) = retention_audit(db, schema)
    assert detail["days"] == [old.isoformat()] and detail["before"] == kept[0].isoformat()
    assert detail["keep_days"] == keep_from_middle_day and detail["partitions"] == 2
    assert detail["files"] == 1 + len(old_validation)
    assert {t: rows.get(t, 0) for t in old_counts} == old_counts
    assert rows["identities"] >= 1 and rows["load_runs"] >= 1 and rows["report_runs"] == 1
    assert_tallies_true(db, schema)  # the expired day gone from Days' counts too
    assert not q(db, schema, "SELECT 1 FROM {s}.day_tallies WHERE day = %s", old)


def test_a_second_run_changes_nothing(nights, db, sample_days, keep_from_middle_day):
    from facepipe.privacy.tasks import retention

    schema, reports = nights
    before = state(db, schema, reports)
    result = retention()
    assert (result["days"], result["rows"], result["partitions"], result["files"]) == ([], {}, 0, 0)
    assert state(db, schema, reports) == before
    rows, detail = retention_audit(db, schema)[-1]  # it still says that it ran
    assert rows == {} and detail["days"] == [] and detail["before"] == sample_days[1].isoformat()


def test_an_expired_day_is_refused_and_loads_nothing(nights, db, photos, sample_days, keep_from_middle_day):
    from facepipe.core.config import ConfigError
    from facepipe.ingest.tasks import options, plan
    from facepipe.ops.demo import run_day

    schema, reports = nights
    old = sample_days[0]
    with pytest.raises(ConfigError, match=f"day {old} is past retention: retention dropped the days before"):
        plan(old.isoformat(), "manual__x", options(str(photos)))
    before = state(db, schema, reports)
    assert run_day("face_ingest", old.isoformat(), source=str(photos)) == "failed"
    assert run_day("face_report", old.isoformat()) == "success"  # builds nothing for an expired day
    assert state(db, schema, reports) == before
    assert f"images_p{old:%Y%m%d}" not in partitions(db, schema)


def test_retention_waits_for_a_load_in_progress(nights, pg_uri, db, keep_from_middle_day):
    """A load holds the DDL lock shared for its transaction: retention (exclusive) waits for it to end."""
    import threading

    from facepipe.privacy.retention import expire

    schema, reports = nights

    def retention():  # expire itself, past the schema check (which takes the lock too)
        with psycopg.connect(pg_uri, autocommit=True) as conn:
            expire(conn, schema, _today(), keep_from_middle_day, reports)

    audits = len(retention_audit(db, schema))
    with psycopg.connect(pg_uri) as load:  # a transaction, as load_day's
        load.execute("SELECT pg_advisory_xact_lock_shared(hashtext('facepipe:ddl'))")
        done = threading.Event()
        worker = threading.Thread(target=lambda: (retention(), done.set()), daemon=True)
        worker.start()
        assert not done.wait(2.0), "retention ran while a load held the DDL lock"
        assert len(retention_audit(db, schema)) == audits
        load.rollback()
    assert done.wait(30.0)
    assert len(retention_audit(db, schema)) == audits + 1


def test_status_starts_its_gaps_at_the_horizon(nights, sample_days, keep_from_middle_day, capsys):
    from facepipe.ops.cli import main

    assert main(["status"]) == 0
    out = capsys.readouterr().out
    expired, _, rest = out.partition("expired, ")[2].partition("\n\n")
    assert str(sample_days[0]) in expired and "retention dropped the days before" in expired
    assert str(sample_days[0]) not in rest  # not "never loaded", not in the table
    assert str(sample_days[1]) in out.partition("expired, ")[0]
    assert "(the retention horizon to yesterday, UTC)" in rest or "every day from" in rest


def test_the_horizon_holds_whatever_the_environment_says(nights, db, photos, sample_days, monkeypatch, capsys):
    """Retention ran with the setting in one shell only: a process without it (retention_days 0)
    still refuses the expired day in plan, in load's own transaction, in assignment and in the
    report, and status in a new shell shows the day expired. Reopening is explicit and audited."""
    from facepipe.core.config import ConfigError
    from facepipe.core.days import horizon
    from facepipe.core.specs import model_spec
    from facepipe.ingest.store import load_day
    from facepipe.ingest.tasks import options, plan
    from facepipe.ops.cli import main
    from facepipe.people.tasks import assign_people
    from facepipe.reports.tasks import report

    schema, reports = nights
    old = sample_days[0]
    monkeypatch.delenv("FACEPIPE_RETENTION_DAYS", raising=False)  # a shell, or Airflow, without it
    h = horizon()
    assert h.setting is None and h.applied == sample_days[1] and h.expired(old)
    with pytest.raises(ConfigError, match=f"day {old} is past retention"):
        plan(old.isoformat(), "manual__env", options(str(photos)))
    with pytest.raises(ConfigError, match=f"day {old} is past retention"):
        load_day(db, schema, day=old, run_id="manual__env", detector="mtcnn", model=model_spec("dlib-resnet-128"))
    assert f"images_p{old:%Y%m%d}" not in partitions(db, schema)
    assert assign_people([old.isoformat()]) == []
    assert report(old.isoformat()) == {"day": old.isoformat(), "expired": True}
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "expired, " in out and str(old) in out.partition("expired, ")[2].partition("\n\n")[0]
    # keeping more days again: explicit, audited, and only back
    assert main(["retention", "--reopen-from", str(sample_days[1])]) == 0
    assert "not after" in capsys.readouterr().out
    assert main(["retention", "--reopen-from", str(old)]) == 0
    assert f"set back from {sample_days[1]} to {old}" in capsys.readouterr().out
    assert not horizon().expired(old)
    (who, detail) = db.execute(
        f'SELECT who, detail FROM "{schema}".audit WHERE op = %s ORDER BY op_no DESC LIMIT 1', ("retention_reopen",)
    ).fetchone()
    assert detail == {"before": sample_days[1].isoformat(), "after": old.isoformat()} and who
    # and the promise back as it was, for the tests after this one
    db.execute(f'UPDATE "{schema}".retention_horizon SET before = %s', (sample_days[1],))


def test_retention_off_does_nothing(nights, db, monkeypatch):
    from facepipe.core.config import ConfigError
    from facepipe.privacy.tasks import retention

    schema, reports = nights
    monkeypatch.setenv("FACEPIPE_RETENTION_DAYS", "0")
    before = state(db, schema, reports)
    audits = len(retention_audit(db, schema))
    assert retention()["days"] == []
    assert state(db, schema, reports) == before and len(retention_audit(db, schema)) == audits
    for bad in ("-1", "36501", "30d"):
        monkeypatch.setenv("FACEPIPE_RETENTION_DAYS", bad)
        with pytest.raises(ConfigError, match="FACEPIPE_RETENTION_DAYS must be a whole number from 0 to 36500"):
            retention()


def test_the_horizon_is_the_first_day_kept():
    from facepipe.core.deployment import retention_horizon

    assert retention_horizon(dt.date(2026, 12, 31), 30) == dt.date(2026, 12, 1)
    assert retention_horizon(dt.date(2026, 12, 31), 1) == dt.date(2026, 12, 30)
    assert retention_horizon(dt.date(2026, 12, 31), 0) is None
