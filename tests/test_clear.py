"""What load does with a run's plan and staging after a Clear, and who owns a day's rows.

Each test drives facepipe's task functions in the order Airflow runs them after a
Clear (a shard again, load again, plan again...), and compares the tables with a
fresh run of the same inputs. The same scenarios run under the real scheduler in
tests/test_scheduler.py.
"""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from helpers.rows import assert_tallies_true, q, snapshot

from facepipe.ingest import tasks
from facepipe.ingest.store import IncompleteStaging, OverlappingSources, PlanGone, ShrinkRefused


def ingest(day: str, run_id: str, opts: dict, **load_kw) -> list[dict]:
    shards = tasks.plan(day, run_id, opts)
    for shard in shards:
        tasks.process_shard(shard)
    tasks.validate(day, run_id, opts)
    tasks.load(day, run_id, opts, **load_kw)
    tasks.index(day, opts)
    return shards


@pytest.fixture
def multi_shard(monkeypatch, schema, photos, sample_days):
    monkeypatch.setenv("FACEPIPE_SHARD_SIZE", "2")
    return sample_days[1].isoformat(), tasks.options(str(photos), "haar", "dlib-resnet-128")


def test_a_cleared_shard_redoes_only_that_shard(multi_shard, db, schema, sample_days):
    day, opts = multi_shard
    shards = ingest(day, "run", opts)
    assert len(shards) >= 3
    fresh = snapshot(db, schema, sample_days[1])
    kept = q(db, schema, "SELECT shard, image_id, xmin::text FROM {s}.stage_images WHERE shard <> 1 ORDER BY 1, 2")
    tasks.process_shard(shards[1])  # Clear: one shard with its downstream tasks
    tasks.validate(day, "run", opts)
    tasks.load(day, "run", opts)
    tasks.index(day, opts)
    assert snapshot(db, schema, sample_days[1]) == fresh
    assert (
        q(db, schema, "SELECT shard, image_id, xmin::text FROM {s}.stage_images WHERE shard <> 1 ORDER BY 1, 2") == kept
    )
    tasks.load(day, "run", opts)  # Clear: load alone
    assert snapshot(db, schema, sample_days[1]) == fresh


def test_load_refuses_a_plan_its_staging_does_not_cover(multi_shard, db, schema, sample_days):
    day, opts = multi_shard
    ingest(day, "run", opts)
    fresh = snapshot(db, schema, sample_days[1])
    shards = tasks.plan(day, "run", opts)  # Clear: plan alone re-plans and drops the run's staging
    with pytest.raises(IncompleteStaging, match=r"shards \[0, 1, 2.*Clear the `process` tasks"):
        tasks.load(day, "run", opts)
    tasks.process_shard(shards[0])
    with pytest.raises(IncompleteStaging, match=r"shards \[1, 2"):
        tasks.load(day, "run", opts)
    assert snapshot(db, schema, sample_days[1]) == fresh
    for shard in shards[1:]:
        tasks.process_shard(shard)
    tasks.load(day, "run", opts)
    tasks.index(day, opts)
    assert snapshot(db, schema, sample_days[1]) == fresh


def test_a_superseded_run_fails_with_what_to_do(multi_shard, db, schema, sample_days):
    day, opts = multi_shard
    shards = ingest(day, "first", opts)
    ingest(day, "second", opts)
    fresh = snapshot(db, schema, sample_days[1])
    with pytest.raises(PlanGone, match="run second loaded .* clear this run's `plan` task"):
        tasks.process_shard(shards[0])
    with pytest.raises(PlanGone):
        tasks.load(day, "first", opts)
    assert snapshot(db, schema, sample_days[1]) == fresh
    ingest(day, "first", opts)  # Clear of the whole run: plans again
    assert snapshot(db, schema, sample_days[1]) == fresh


def test_two_sources_share_a_day(schema, db, photos, sample_days, tmp_path):
    day = sample_days[0]
    second = tmp_path / "camera2"
    shutil.copytree(photos / sample_days[1].isoformat(), second / day.isoformat())
    cam1 = tasks.options(str(photos), "haar", "dlib-resnet-128")
    cam2 = tasks.options(str(second), "haar", "dlib-resnet-128")
    ingest(day.isoformat(), "cam1", cam1)
    only_cam1 = snapshot(db, schema, day)
    ingest(day.isoformat(), "cam2", cam2)
    ingest(day.isoformat(), "cam1-again", cam1)  # re-running one source leaves the other's rows
    by_source = q(db, schema, "SELECT source, count(*) FROM {s}.images WHERE day = %s GROUP BY 1 ORDER BY 1", day)
    assert [s for s, _ in by_source] == sorted([str(photos), str(second)])
    both = snapshot(db, schema, day)
    assert [r for r in both["images"] if r[9] == str(photos)] == only_cam1["images"]
    runs = q(
        db,
        schema,
        "SELECT DISTINCT ON (source) source, images + duplicates FROM {s}.load_runs"
        " WHERE day = %s ORDER BY source, run_no DESC",
        day,
    )
    assert dict(runs) == dict(by_source)
    assert_tallies_true(db, schema)  # both sources' rows, after a re-run of one


def test_a_run_that_would_empty_its_source_is_refused_unless_allowed(schema, db, photo_copy, sample_days):
    day = sample_days[0]
    opts = tasks.options(str(photo_copy), "haar", "dlib-resnet-128")
    ingest(day.isoformat(), "good", opts)
    before = snapshot(db, schema, day)
    moved = photo_copy.parent / "moved"
    shutil.move(photo_copy / day.isoformat(), moved)  # the day's folder is gone (unmounted, moved...)
    with pytest.raises(ShrinkRefused, match=r"would remove \d+ of the \d+ images .* allow_shrink"):
        ingest(day.isoformat(), "empty", opts)
    assert snapshot(db, schema, day) == before
    tasks.load(day.isoformat(), "empty", opts, allow_shrink=True)  # the operator says it is meant
    assert q(db, schema, "SELECT count(*) FROM {s}.images WHERE day = %s", day) == [(0,)]


def test_a_source_inside_another_is_refused(schema, db, photos, sample_days, tmp_path):
    """A folder whose dated sub-folder is given as a source lists the same files: refused, rows kept."""
    day = sample_days[0]
    root = tmp_path / "photos"
    shutil.copytree(photos / day.isoformat(), root / "inbox")
    stamp = dt.datetime.combine(day, dt.time(12), dt.UTC).timestamp()
    import os

    for path in (root / "inbox").iterdir():
        os.utime(path, (stamp, stamp))
    ingest(day.isoformat(), "root", tasks.options(str(root), "haar", "dlib-resnet-128"))
    before = snapshot(db, schema, day)
    with pytest.raises(OverlappingSources, match="already loaded for the day from another source"):
        ingest(day.isoformat(), "inbox", tasks.options(str(root / "inbox"), "haar", "dlib-resnet-128"))
    assert snapshot(db, schema, day) == before


def test_status_lists_each_source_and_the_days_never_loaded(schema, photos, sample_days, monkeypatch, capsys):
    from facepipe.ops.cli import main
    from facepipe.ops.status import missing_days

    day = sample_days[1]
    ingest(day.isoformat(), "run", tasks.options(str(photos), "haar", "dlib-resnet-128"))
    monkeypatch.setenv("FACEPIPE_START_DATE", (day - dt.timedelta(days=3)).isoformat())
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert f"{day}" in out and str(photos) in out
    gap_before = f"{day - dt.timedelta(days=3)} .. {day - dt.timedelta(days=1)}  (3 days)"
    assert "never loaded" in out and gap_before in out
    assert f"{day + dt.timedelta(days=1)} .. " in out  # and every day after it, up to yesterday
    d = dt.date(2026, 1, 1)
    assert missing_days(d, d + dt.timedelta(days=4), {d + dt.timedelta(days=2)}) == [
        (d, d + dt.timedelta(days=1), 2),
        (d + dt.timedelta(days=3), d + dt.timedelta(days=4), 2),
    ]


def test_a_day_loaded_since_its_report_is_reported_by_the_next_report_run(schema, photos, sample_days):
    """Airflow can drop an Asset event that lands while it creates the report run; the day is not lost."""
    from facepipe.reports import tasks as reports

    day = sample_days[1].isoformat()
    opts = tasks.options(str(photos), "haar", "dlib-resnet-128")
    ingest(day, "first", opts)
    assert reports.stale_report_days() == [day]
    assert reports.report_days(None, [], reports.stale_report_days()) == [day]
    reports.report(day)
    assert reports.stale_report_days() == []
    ingest(day, "again", opts)  # loaded again, its event lost: the next report run picks it up
    assert reports.report_days(None, [sample_days[0].isoformat()], reports.stale_report_days()) == [
        sample_days[0].isoformat(),
        day,
    ]
