"""Enrolment, the face_report DAG, its HTML report, and filtered face search."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import uuid

import numpy as np
import pytest
from helpers.nights import reported_days
from helpers.rows import q
from psycopg import sql


@pytest.fixture(scope="module")
def people(tmp_path_factory):
    from facepipe.ops.samples import enrolment_photos

    root = tmp_path_factory.mktemp("people")
    enrolment_photos(root)
    return root


def test_enrolment_is_idempotent_and_additive(schema, db, people, tmp_path):
    from facepipe.people.tasks import enrol

    folder = tmp_path / "enrol"
    shutil.copytree(people / "eileen_collins", folder / "eileen_collins")
    first = enrol(str(folder), upgrade=True)
    assert first["people"] == 1 and first["added"] >= 2 and first["skipped"] == 0
    before = q(db, schema, "SELECT person_id, content_sha256, embedding::text FROM {s}.person_refs ORDER BY 1, 2")
    assert enrol(str(folder))["added"] == 0
    assert (
        q(db, schema, "SELECT person_id, content_sha256, embedding::text FROM {s}.person_refs ORDER BY 1, 2") == before
    )
    shutil.copytree(people / "visitor_066", folder / "visitor_066")
    third = enrol(str(folder))
    assert (third["people"], third["added"], third["kept"]) == (
        2,
        len(list((folder / "visitor_066").iterdir())),
        first["added"],
    )
    assert q(db, schema, "SELECT count(*) FROM {s}.people") == [(2,)]


@pytest.fixture(scope="module")
def reported(photos, people, sample_days, tmp_path_factory, pg_uri, airflow_db):
    """Three days ingested, only Eileen Collins enrolled, face_report run for each day."""
    with reported_days("rep_", photos, sample_days) as night:
        yield night.schema


def sightings_by_day(db, schema):
    rows = q(db, schema, "SELECT day, person_name FROM {s}.report_sightings")
    out: dict = {}
    for day, name in rows:
        out.setdefault(day, set()).add(name)
    return out


def test_enrolled_person_is_sighted_on_the_days_she_appears(reported, db, photos, sample_days):
    seen = sightings_by_day(db, reported)
    # Eileen is in the photos of the first and last sample day, not the middle one.
    assert seen.get(sample_days[0]) == {"eileen_collins"}
    assert seen.get(sample_days[2]) == {"eileen_collins"}
    assert sample_days[1] not in seen
    rows = q(db, reported, "SELECT distance, uri, source, captured_at FROM {s}.report_sightings")
    assert all(d < 0.5 and uri.startswith(str(photos)) and src and at for d, uri, src, at in rows)


def test_a_person_who_is_not_enrolled_is_not_sighted_but_recurs(reported, db, sample_days):
    names = {n for (n,) in q(db, reported, "SELECT DISTINCT person_name FROM {s}.report_sightings")}
    assert names == {"eileen_collins"}  # visitor_066 is in the photos of every day, but not enrolled
    recurring = q(db, reported, "SELECT day, neighbours, days_seen, first_seen FROM {s}.report_recurring_unknowns")
    last = [r for r in recurring if r[0] == sample_days[2]]
    assert last and all(n >= 2 for _, n, _, _ in last)
    assert any(days_seen == 2 and first == sample_days[0] for _, _, days_seen, first in last)
    assert not [r for r in recurring if r[0] == sample_days[0]]  # nothing before the first day


def test_person_days_and_summary(reported, db, sample_days):
    person_days = q(
        db,
        reported,
        "SELECT seen_day, sightings FROM {s}.report_person_days WHERE day = %s"
        " AND person_name = 'eileen_collins' ORDER BY 1",
        sample_days[2],
    )
    assert [d for d, _ in person_days] == [sample_days[0], sample_days[2]]
    summary = q(
        db,
        reported,
        "SELECT sum(images), sum(faces), sum(rejects) FROM {s}.report_daily_summary WHERE day = %s",
        sample_days[2],
    )
    counts = q(
        db,
        reported,
        "SELECT images, faces, rejects FROM {s}.load_runs WHERE day = %s ORDER BY run_no DESC LIMIT 1",
        sample_days[2],
    )
    assert [tuple(int(v) for v in summary[0])] == counts


def test_report_rerun_rewrites_the_same_rows(reported, db, sample_days):
    from facepipe.reports.report import REPORTS
    from facepipe.reports.tasks import report

    def rows():
        # as sets of whole rows: ORDER BY leaves ties in whatever order the table's pages hold them
        return {name: sorted(map(repr, q(db, reported, f"SELECT * FROM {{s}}.report_{name}"))) for name in REPORTS}

    before = rows()
    import os

    os.environ["FACEPIPE_DB_SCHEMA"] = reported
    try:
        report(sample_days[2].isoformat())
    finally:
        os.environ.pop("FACEPIPE_DB_SCHEMA")
    assert rows() == before


def test_report_files(reported, sample_days):
    from facepipe.core.deployment import settings

    folder = settings().reports_dir / sample_days[2].isoformat()
    html = (folder / "report.html").read_text()
    assert html.count("data:image/jpeg;base64,") >= 3  # seen + enrolled for the sighting, + an unknown
    assert "eileen_collins" in html
    for name in ("daily_summary", "sightings", "recurring_unknowns", "person_days"):
        lines = (folder / f"{name}.csv").read_text().splitlines()
        assert len(lines) >= 2, name


def test_report_reads_each_reference_photo_once(reported, db, sample_days, tmp_path):
    """Sightings that matched the same enrolment photo share one thumbnail of it."""
    from facepipe.core.specs import model_spec
    from facepipe.reports.report import ReportParams, fetch_report, read_uri, write_report

    report = fetch_report(db, reported, sample_days[2])
    assert report["sightings"], "the fixture's day 3 has a sighting"
    report["sightings"] = report["sightings"] * 3
    ref_uris = {r["uri"] for r in report["refs"]}
    reads = []

    def counting_read(uri, source=None):
        reads.append(uri)
        return read_uri(uri, source)

    spec = model_spec("dlib-resnet-128")
    path = write_report(
        report, sample_days[2], tmp_path, counting_read, ReportParams(threshold=spec.match_threshold), spec
    )
    matched_refs = {(str(s["person_id"]), s["ref_sha256"]) for s in report["sightings"]}
    assert sum(1 for u in reads if u in ref_uris) == len(matched_refs)  # not 3x
    assert path.read_text().count("data:image/jpeg;base64,") >= 6  # 3 sightings x (face + reference)


def test_a_page_shows_the_most_recurring_unknowns_and_the_csv_has_all(reported, db, sample_days, tmp_path, monkeypatch):
    """A day of more recurring unknowns than a page shows: the report page has the most
    recurring (and their crops), says how many there are, and the CSV lists every one."""
    import csv

    from facepipe.core.specs import model_spec
    from facepipe.reports import report as rep

    day = max(
        d for d in sample_days if q(db, reported, "SELECT 1 FROM {s}.report_recurring_unknowns WHERE day = %s", d)
    )
    monkeypatch.setattr(rep, "SHOWN_UNKNOWNS", 1)
    report = rep.fetch_report(db, reported, day)
    report["recurring_unknowns"] = report["recurring_unknowns"] * 3  # more than a page shows
    spec = model_spec("dlib-resnet-128")
    path = rep.write_report(report, day, tmp_path, rep.read_uri, rep.ReportParams(threshold=spec.match_threshold), spec)
    html = path.read_text()
    n = len(report["recurring_unknowns"])
    assert f"Recurring unknown faces ({n})" in html
    assert f"The 1 most recurring are shown; recurring_unknowns.csv has all {n}." in html
    at = html.index("Recurring unknown faces")
    assert html[at : html.index("<h2>", at)].count("<tr>") == 2  # its header and one face
    with (path.parent / "recurring_unknowns.csv").open() as f:
        assert len(list(csv.DictReader(f))) == n
    shown = {c["identity_id"] for c in report["identity_crops"]}
    assert shown <= {report["recurring_unknowns"][0]["identity_id"]}  # crops of the shown one only


def test_html_report_renders_its_images_in_a_real_browser(reported, sample_days, tmp_path):
    """Open the report in headless Chromium; every image must have decoded."""
    from facepipe.core.deployment import settings

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Chromium is not installed (apt-get install chromium; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    page_path = settings().reports_dir / sample_days[2].isoformat() / "report.html"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1200, "height": 900}, bypass_csp=False)
        page.goto(page_path.as_uri())
        images = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth])")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert len(images) >= 3 and all(done and width > 0 for done, width in images)
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_report_dag_integrity(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder="dags")
    assert bag.import_errors == {}
    dag = bag.get_dag("face_report")
    assert [a.name for a in dag.timetable.asset_condition.objects] == ["facepipe_faces"]  # runs after each load
    assert set(dag.params) == {"day", "threshold", "min_days", "lookback_days", "range_days"}
    assert all(t.execution_timeout for t in dag.tasks)


# --- filtered similarity search on a data set big enough for the index -------


@pytest.fixture(scope="module")
def search_data(pg_uri):
    """30,000 synthetic 128-d faces over 3 day partitions, 20 sources, clustered like identities."""
    import psycopg

    from facepipe.core.db import ensure_partitions
    from facepipe.core.schema import require
    from facepipe.core.specs import model_spec
    from facepipe.ingest.store import index_day
    from facepipe.search import ivf

    schema = "search_" + uuid.uuid4().hex[:8]
    spec = model_spec("dlib-resnet-128")
    rng = np.random.default_rng(5)
    centres = rng.normal(size=(3000, 128)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    days = [dt.date(2026, 10, 1) + dt.timedelta(days=i) for i in range(3)]
    rows = []
    with psycopg.connect(pg_uri, autocommit=True) as conn:
        require(conn, schema, spec, may_upgrade=True)
        for day in days:
            ensure_partitions(conn, schema, day)
            ids = rng.integers(0, len(centres), 10_000)
            vecs = centres[ids] + rng.normal(scale=0.12, size=(10_000, 128)).astype(np.float32)
            sources = rng.integers(0, 20, 10_000)
            with conn.cursor().copy(
                sql.SQL(
                    "COPY {} (day, image_id, face_no, box_x, box_y, box_w, box_h, source, detector, det_score,"
                    " model, embedding) FROM STDIN (FORMAT BINARY)"
                ).format(sql.Identifier(schema, "faces"))
            ) as cp:
                cp.set_types(
                    ["date", "uuid", "int2", "int4", "int4", "int4", "int4", "text", "text", "float4", "text", "vector"]
                )
                for v, src in zip(vecs, sources):
                    iid = uuid.uuid4()
                    cp.write_row((day, iid, 0, 0, 0, 50, 50, f"cam{src:02d}", "hog", 1.0, spec.name, v))
                    rows.append((day, str(iid), f"cam{src:02d}", v))
            with conn.cursor().copy(
                sql.SQL(
                    "COPY {} (day, image_id, uri, content_sha256, bytes, source, arrived_at, status)"
                    " FROM STDIN (FORMAT BINARY)"
                ).format(sql.Identifier(schema, "images"))
            ) as cp:
                cp.set_types(["date", "uuid", "text", "text", "int8", "text", "timestamptz", "text"])
                for d, iid, src, _ in rows[-10_000:]:
                    cp.write_row(
                        (
                            d,
                            uuid.UUID(iid),
                            f"/x/{iid}.jpg",
                            iid,
                            1,
                            src,
                            dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
                            "loaded",
                        )
                    )
            # a load a (day, source), as facepipe's loads count them (search chooses its path by them)
            for src, n in zip(*np.unique(sources, return_counts=True)):
                conn.execute(
                    sql.SQL(
                        "INSERT INTO {} (day, run_id, source, detector, model, images, duplicates, faces, rejects)"
                        " VALUES (%s, 'copy', %s, 'hog', %s, %s, 0, %s, 0)"
                    ).format(sql.Identifier(schema, "load_runs")),
                    (day, f"cam{int(src):02d}", spec.name, int(n), int(n)),
                )
            index_day(conn, schema, day, spec)
        # the rows went in by COPY, not by a load: the IVF's first centroids from them, in
        # partitions of about 2,000 faces (a deployment's hold 200,000), so that pruning shows
        kept, ivf.PARTITION_FACES = ivf.PARTITION_FACES, 2_000
        try:
            ivf.build(conn, schema, spec, reason="test")
        finally:
            ivf.PARTITION_FACES = kept
    yield schema, spec, rows, centres
    with psycopg.connect(pg_uri, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def exact(rows, query, k, since, until, source=None):
    cand = [
        (float(np.linalg.norm(v - query)), iid)
        for d, iid, s, v in rows
        if since <= d <= until and (source is None or s == source)
    ]
    return [iid for _, iid in sorted(cand)[:k]]


@pytest.mark.parametrize("path", ["exact", "ivf"])
def test_filtered_search_is_complete_and_accurate(search_data, pg_uri, path):
    import psycopg
    from pgvector.psycopg import register_vector

    from facepipe.search.query import EXACT_MAX_ROWS, search_faces

    schema, spec, rows, centres = search_data
    rng = np.random.default_rng(9)
    days = sorted({r[0] for r in rows})
    recalls, k = [], 10
    with psycopg.connect(pg_uri, autocommit=True) as conn:
        register_vector(conn)
        for i in range(30):
            query = centres[rng.integers(0, len(centres))] + rng.normal(scale=0.12, size=128).astype(np.float32)
            source = f"cam{i % 20:02d}"  # 1 in 20: a selective filter
            since, until = days[1], days[2]
            got = search_faces(
                conn,
                schema,
                spec,
                query,
                k=k,
                since=since,
                until=until,
                source=source,
                exact_max_rows=EXACT_MAX_ROWS if path == "exact" else 0,
            )
            assert len(got) == k  # never fewer than k when k exist
            assert all(m.source == source and since <= m.day <= until for m in got)
            assert [m.distance for m in got] == sorted(m.distance for m in got)
            truth = exact(rows, query, k, since, until, source)
            recalls.append(len({m.image_id for m in got} & set(truth)) / k)
    assert np.mean(recalls) >= (1.0 if path == "exact" else 0.95), recalls


def test_search_plans_prune_partitions(search_data, pg_uri):
    """The exact path reads the range's day partitions only; the IVF path the partitions of the
    probed lists only, each through its covering btree."""
    import psycopg
    from pgvector.psycopg import register_vector

    from facepipe.search import ivf
    from facepipe.search.query import explain_search

    schema, spec, rows, centres = search_data
    days = sorted({r[0] for r in rows})
    with psycopg.connect(pg_uri, autocommit=True) as conn:
        register_vector(conn)
        path, plan = explain_search(
            conn, schema, spec, centres[0], since=days[1], until=days[2], source="cam03", exact_max_rows=10**9
        )
        assert path == "exact" and f"faces_p{days[0]:%Y%m%d}" not in plan and f"faces_p{days[1]:%Y%m%d}" in plan
        v = ivf.current(conn, schema)
        assert len(v.bounds) > 4, v  # enough partitions for pruning to show
        path, plan = explain_search(
            conn, schema, spec, centres[0], since=days[0], until=days[2], probes=1, exact_max_rows=0
        )
        scanned = set(re.findall(rf"Scan using \S+ on ({v.table}_p[0-9]+)", plan))
        assert path == "ivf" and len(scanned) == 1, plan  # one list: one partition


def test_search_takes_the_exact_path_for_a_selective_source(search_data, pg_uri, monkeypatch):
    import psycopg
    from pgvector.psycopg import register_vector

    from facepipe.core.db import load_sql
    from facepipe.search import query as search

    schema, spec, rows, centres = search_data
    days = sorted({r[0] for r in rows})
    since, until = days[1], days[2]
    kept = sum(1 for d, _, s, _ in rows if since <= d <= until and s == "cam03")  # about 1,000 of 20,000
    in_range = [f"faces_p{d:%Y%m%d}" for d in days[1:]]
    with psycopg.connect(pg_uri, autocommit=True) as conn:
        register_vector(conn)
        estimate, total = search.filtered_rows(conn, schema, since=since, until=until, source="cam03")
        assert estimate == kept and total == len(rows), (estimate, kept)
        path, plan = search.explain_search(conn, schema, spec, centres[0], since=since, until=until, source="cam03")
        assert path == "exact"
        assert all(f"{p}_source_idx" in plan for p in in_range), plan  # the btree of each day in range
        assert "search_lists" not in plan and f"faces_p{days[0]:%Y%m%d}" not in plan, plan
        used = []
        monkeypatch.setattr(search, "load_sql", lambda name, **ids: used.append(name) or load_sql(name, **ids))
        assert len(search.search_faces(conn, schema, spec, centres[0], since=since, until=until, source="cam03")) == 10
        assert "search_faces_exact.sql" in used and "search_ivf.sql" not in used, used
        # A source that keeps more faces than the threshold, but so few that the lists a search would
        # probe for it (128 / its 1/30 share) would read as many faces as it holds: the exact path
        path, _ = search.explain_search(
            conn, schema, spec, centres[0], since=since, until=until, source="cam03", exact_max_rows=estimate - 1
        )
        assert path == "exact"
        # No filter over every day, or the exact path switched off: the IVF's lists (two days of
        # three would read 13,000 faces exactly against the 12,000 of their widened lists: exact)
        for first, source, limit in ((days[0], None, 10_000), (since, "cam03", 0)):
            path, plan = search.explain_search(
                conn, schema, spec, centres[0], since=first, until=until, source=source, exact_max_rows=limit
            )
            assert path == "ivf", (source, limit)
            assert "search_lists_v" in plan and "source_idx" not in plan and "Seq Scan on faces" not in plan, plan


@pytest.fixture(scope="module")
def loaded_search_data(pg_uri):
    """900 faces over 3 days, loaded as a night loads them (write_manifest, write_shard, load_day, index_day):
    three sources a day, each loaded by a run of its own (out of source order), and the IVF built on them
    (9 lists: a search probing all 9 compares every face)."""
    import psycopg

    from facepipe.core.schema import require
    from facepipe.core.sources import Arrival
    from facepipe.core.specs import model_spec
    from facepipe.ingest.process import FaceRecord, ImageRecord, ShardResult
    from facepipe.ingest.store import index_day, load_day, write_manifest, write_shard
    from facepipe.models.detect import Box
    from facepipe.search import ivf

    schema = "search_" + uuid.uuid4().hex[:8]
    spec = model_spec("dlib-resnet-128")
    rng = np.random.default_rng(11)
    centres = rng.normal(size=(60, 128)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    days = [dt.date(2026, 10, 11) + dt.timedelta(days=i) for i in range(3)]
    with psycopg.connect(pg_uri, autocommit=True) as conn:
        require(conn, schema, spec, may_upgrade=True)
        for day in days:
            arrived = dt.datetime.combine(day, dt.time(12), dt.UTC)
            for shard, source in enumerate(("cam2", "cam0", "cam1")):  # loaded out of source order
                run_id = f"r-{source}"
                images = [
                    ImageRecord(
                        image_id=uuid.uuid4(),
                        uri=f"/{source}/{day}/{shard}-{i}.jpg",
                        content_sha256=uuid.uuid4().hex,
                        bytes=1,
                        width=640,
                        height=480,
                        captured_at=None,
                        camera=None,
                        arrived_at=arrived,
                        status="loaded",
                        duplicate_of=None,
                        face_count=1,
                    )
                    for i in range(100)
                ]
                write_manifest(
                    conn, schema, day, run_id, source, [Arrival(im.uri, 1, arrived) for im in images], shard_size=100
                )
                vectors = centres[rng.integers(0, len(centres), 100)] + rng.normal(scale=0.12, size=(100, 128))
                write_shard(
                    conn,
                    schema,
                    spec,
                    day=day,
                    run_id=run_id,
                    shard=0,
                    source=source,
                    detector="hog",
                    result=ShardResult(
                        images=images,
                        embeddings=vectors.astype(np.float32),
                        faces=[FaceRecord(im.image_id, 0, Box(0, 0, 50, 50, 1.0), 640, 480) for im in images],
                    ),
                )
                load_day(conn, schema, day=day, run_id=run_id, detector="hog", model=spec)
            index_day(conn, schema, day, spec)
        ivf.build(conn, schema, spec, reason="test", lists=9)
    yield schema, spec, days, centres
    with psycopg.connect(pg_uri, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def test_search_exact_and_ivf_paths_return_the_same_faces(loaded_search_data, db):
    from pgvector.psycopg import register_vector

    from facepipe.search.query import explain_search, search_faces

    schema, spec, days, centres = loaded_search_data
    register_vector(db)
    rng = np.random.default_rng(3)
    every = {"probes": 9, "exact_max_rows": 0}  # every list probed: every face is compared
    for i in range(12):
        query = (centres[rng.integers(0, len(centres))] + rng.normal(scale=0.12, size=128)).astype(np.float32)
        args = {"k": 10, "since": days[i % 2], "until": days[2], "source": f"cam{i % 3}"}
        path, plan = explain_search(db, schema, spec, query, **args)
        assert path == "exact" and "search_lists" not in plan, plan  # (btree or seq scan: the planner's choice)
        path, plan = explain_search(db, schema, spec, query, **args, **every)
        assert path == "ivf" and "search_lists_v" in plan and "_source_idx" not in plan, plan
        found = search_faces(db, schema, spec, query, **args)
        assert len(found) == 10 and found == search_faces(db, schema, spec, query, **args, **every)


def test_search_refuses_a_connection_in_a_transaction(loaded_search_data, pg_uri):
    """Its planner settings are SET LOCAL: inside a caller's transaction they would stay on after it."""
    import psycopg

    from facepipe.search.query import search_faces

    schema, spec, days, centres = loaded_search_data
    with psycopg.connect(pg_uri) as conn:  # not autocommit
        with pytest.raises(ValueError, match="autocommit"):
            search_faces(conn, schema, spec, centres[0], since=days[0], until=days[2])
        assert conn.execute("SHOW enable_sort").fetchone()[0] == "on"


def test_report_reads_photos_only_inside_their_source(tmp_path):
    """A photo swapped for a link to a file outside its source after loading is not shown."""
    from facepipe.core.sources import Unreadable
    from facepipe.reports.report import read_uri

    root, outside = tmp_path / "photos", tmp_path / "secret.jpg"
    (root / "2026-11-20").mkdir(parents=True)
    outside.write_bytes(b"\xff\xd8private")
    (root / "2026-11-20" / "a.jpg").symlink_to(outside)
    with pytest.raises(Unreadable) as info:
        read_uri(str(root / "2026-11-20" / "a.jpg"), str(root))
    assert info.value.reason == "outside_source"
    assert read_uri(str(outside)) == b"\xff\xd8private"  # enrolment photos are read as given
