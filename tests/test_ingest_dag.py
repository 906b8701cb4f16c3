"""End-to-end runs of face_ingest through Airflow (dag.test) on a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import uuid
from pathlib import Path

import pytest
from helpers.rows import q, snapshot
from psycopg import sql

from facepipe.ops.demo import run_day

pytestmark = pytest.mark.dag


def settings_reports() -> Path:
    from facepipe.core.deployment import settings

    return settings().reports_dir


def files_of(photos, day: dt.date) -> list:
    return sorted(p for p in (photos / day.isoformat()).rglob("*") if p.is_file())


def test_dag_integrity(airflow_db):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import CronDataIntervalTimetable

    bag = DagBag(dag_folder="dags")
    assert bag.import_errors == {}
    dag = bag.get_dag("face_ingest")
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert set(dag.params) == {"day", "source", "detector", "model", "allow_shrink"}
    assert "facepipe" in dag.tags
    for task in dag.tasks:
        assert task.execution_timeout is not None, task.task_id
        assert task.retries >= (0 if task.task_id in ("resolve", "validate") else 1), task.task_id
    process = dag.get_task("process")
    assert process.max_active_tis_per_dag >= 1 and process.map_index_template
    assert [t.task_id for t in dag.get_task("publish").upstream_list] == ["index"]
    assert dag.get_task("publish").outlets[0].name == "facepipe_faces"


def test_one_day_loads_images_faces_rejects_and_index(airflow_db, schema, db, photos, sample_days):
    day = sample_days[-1]  # the day with a corrupt upload
    assert run_day("face_ingest", day.isoformat(), source=str(photos)) == "success"

    arrived = files_of(photos, day)
    images = q(
        db,
        schema,
        "SELECT uri, status, width, height, face_count, captured_at, camera FROM {s}.images WHERE day = %s",
        day,
    )
    rejects = q(db, schema, "SELECT uri, reason, detail FROM {s}.rejects WHERE day = %s", day)
    assert len(images) + len(rejects) == len(arrived)
    assert [(r[0].rsplit("/", 1)[-1], r[1]) for r in rejects] == [("broken_upload.jpg", "truncated")]
    assert all(status == "loaded" for _, status, *_ in images)
    assert all(captured is not None and camera for *_, captured, camera in images)

    faces = q(
        db,
        schema,
        "SELECT f.box_x, f.box_y, f.box_w, f.box_h, i.width, i.height,"
        " vector_dims(f.embedding), f.model, f.detector"
        " FROM {s}.faces f JOIN {s}.images i USING (day, image_id) WHERE f.day = %s",
        day,
    )
    assert len(faces) >= 3
    assert sum(r[4] for r in images) == len(faces)
    for x, y, w, h, width, height, dims, model, detector in faces:
        assert 0 <= x and 0 <= y and x + w <= width and y + h <= height
        assert (dims, model, detector) == (128, "dlib-resnet-128", "mtcnn")

    part = f"faces_p{day:%Y%m%d}"
    indexes = q(db, schema, "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s", schema, part)
    assert not any("hnsw" in d for (d,) in indexes)  # searched through the search structure over every day
    # the index task analyzed the day's partition: the planner counts its faces
    analyzed = q(db, schema, "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", f'"{schema}".{part}')
    assert analyzed == [(float(len(faces)),)]
    runs = q(db, schema, "SELECT images, faces, rejects, model, source FROM {s}.load_runs WHERE day = %s", day)
    assert runs == [(len(images), len(faces), 1, "dlib-resnet-128", str(photos))]
    # the run's plan and staging stay for a Clear: they account for every file that arrived
    plans = q(db, schema, "SELECT source, files FROM {s}.stage_plans WHERE day = %s", day)
    assert plans == [(str(photos), len(arrived))]
    assert q(db, schema, "SELECT count(*) FROM {s}.stage_faces WHERE day = %s", day) == [(len(faces),)]


def test_published_asset_event_carries_counts(airflow_db, schema, photos, sample_days):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    day = sample_days[0]
    assert run_day("face_ingest", day.isoformat(), source=str(photos)) == "success"
    with create_session() as session:
        events = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.name == "facepipe_faces")
            .all()
        )
        extras = [e.extra for e in events if e.extra.get("day") == day.isoformat()]
    assert extras and extras[-1]["faces"] > 0 and extras[-1]["rejects"] == 0


def test_rerun_gives_identical_rows(airflow_db, schema, db, photos, sample_days):
    day = sample_days[0]
    assert run_day("face_ingest", day.isoformat(), source=str(photos)) == "success"
    first = snapshot(db, schema, day)
    assert run_day("face_ingest", day.isoformat(), source=str(photos)) == "success"
    assert snapshot(db, schema, day) == first
    assert len(first["faces"]) > 0
    assert q(db, schema, "SELECT count(*) FROM {s}.load_runs WHERE day = %s", day) == [(2,)]


def test_three_days_three_partitions_and_cross_day_duplicates(airflow_db, schema, db, photo_copy, sample_days):
    first, second = files_of(photo_copy, sample_days[0])[0], photo_copy / sample_days[1].isoformat() / "again.jpg"
    shutil.copy(first, second)  # the same photo arrives again a day later
    for day in sample_days:
        assert run_day("face_ingest", day.isoformat(), source=str(photo_copy)) == "success"

    parts = q(
        db,
        schema,
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = %s::regclass ORDER BY 1",
        f"{schema}.faces",
    )
    assert [p for (p,) in parts] == [f"faces_p{d:%Y%m%d}" for d in sample_days]
    for d in sample_days:
        idx = q(
            db,
            schema,
            "SELECT reltuples >= 0 FROM pg_class WHERE oid = %s::regclass",
            f'"{schema}".faces_p{d:%Y%m%d}',
        )
        assert idx == [(True,)]  # analyzed by the day's index task
        assert q(db, schema, "SELECT count(*) > 0 FROM {s}.faces WHERE day = %s", d) == [(True,)]
    dup = q(db, schema, "SELECT status, duplicate_of, face_count FROM {s}.images WHERE uri = %s", str(second))
    assert dup == [("duplicate", str(first), 0)]


def test_mismatched_model_is_refused_and_changes_nothing(airflow_db, schema, db, photos, sample_days):
    from facepipe.core.db import ModelMismatch
    from facepipe.ingest.tasks import options, plan

    day = sample_days[0]
    assert run_day("face_ingest", day.isoformat(), source=str(photos)) == "success"
    before = snapshot(db, schema, day)
    state = run_day("face_ingest", day.isoformat(), source=str(photos), model="imgbeddings-clip-768")
    assert state == "failed"
    assert snapshot(db, schema, day) == before
    with pytest.raises(ModelMismatch, match="holds embeddings of model 'dlib-resnet-128'"):
        plan(day.isoformat(), "manual", options(str(photos), "hog", "imgbeddings-clip-768"))


def test_external_server_through_the_airflow_connection(
    airflow_db, schema, pg_uri, photos, sample_days, monkeypatch, capfd, caplog
):
    """AIRFLOW_CONN_FACEPIPE_DB points at another database: the rows land there,
    and the connection's password shows up in no log."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    with psycopg.connect(pg_uri, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS facepipe_ext")
        admin.execute("CREATE DATABASE facepipe_ext")
    info = conninfo_to_dict(pg_uri)
    monkeypatch.setenv(
        "AIRFLOW_CONN_FACEPIPE_DB",
        json.dumps(
            {
                "conn_type": "postgres",
                "host": info["host"],
                "login": info.get("user", "postgres"),
                "password": "pw-" + uuid.uuid4().hex,
                "schema": "facepipe_ext",
            }
        ),
    )
    secret = json.loads(os.environ["AIRFLOW_CONN_FACEPIPE_DB"])["password"]
    day = sample_days[1]
    assert run_day("face_ingest", day.isoformat(), source=str(photos)) == "success"
    ext_uri = pg_uri.replace("/postgres?", "/facepipe_ext?")
    with psycopg.connect(ext_uri) as ext:
        faces = ext.execute(sql.SQL("SELECT count(*) FROM {}.faces").format(sql.Identifier(schema))).fetchone()
    assert faces[0] > 0
    with psycopg.connect(pg_uri) as default:
        exists = default.execute("SELECT to_regclass(%s)", (f"{schema}.faces",)).fetchone()[0]
    assert exists is None
    out, err = capfd.readouterr()
    logs = [out, err, caplog.text]
    airflow_home = Path(os.environ["AIRFLOW_HOME"])
    logs += [p.read_text(errors="replace") for p in airflow_home.rglob("*.log")]
    logs += [p.read_text(errors="replace") for p in settings_reports().rglob("*") if p.is_file()]
    assert not any(secret in text for text in logs)


def test_haar_detector_selected_by_param(airflow_db, schema, db, photos, sample_days):
    day = sample_days[1]
    assert run_day("face_ingest", day.isoformat(), source=str(photos), detector="haar") == "success"
    rows = q(db, schema, "SELECT detector, count(*) FROM {s}.faces WHERE day = %s GROUP BY 1", day)
    assert len(rows) == 1 and rows[0][0] == "haar" and rows[0][1] > 0


def test_stale_staging_of_abandoned_runs_is_purged(airflow_db, schema, db, photos, sample_days):
    from facepipe.ingest.tasks import options, plan, process_shard

    day = sample_days[0]
    opts = options(str(photos), "hog", "dlib-resnet-128")
    for shard in plan(day.isoformat(), "abandoned", opts):
        process_shard(shard)
    q(db, schema, "UPDATE {s}.stage_manifest SET planned_at = now() - interval '8 days' RETURNING 1")
    q(db, schema, "UPDATE {s}.stage_plans SET planned_at = now() - interval '8 days' RETURNING 1")
    assert run_day("face_ingest", day.isoformat(), source=str(photos)) == "success"
    # only the run that loaded keeps its staging (for a Clear)
    assert q(db, schema, "SELECT DISTINCT run_id <> 'abandoned' FROM {s}.stage_faces") == [(True,)]
    assert q(db, schema, "SELECT DISTINCT run_id <> 'abandoned' FROM {s}.stage_manifest") == [(True,)]
    assert q(db, schema, "SELECT count(*) FROM {s}.stage_plans WHERE run_id = 'abandoned'") == [(0,)]


def test_clip_model_end_to_end_and_failed_validation_loads_nothing(
    airflow_db, schema, db, photos, sample_days, tmp_path, monkeypatch
):
    """The imgbeddings contract on a tiny graph; then a broken model fails validation."""
    from helpers.tiny_clip import build_tiny_clip

    day = sample_days[0]
    monkeypatch.setenv("FACEPIPE_CLIP_MODEL_PATH", str(build_tiny_clip(tmp_path / "clip.onnx")))
    assert run_day("face_ingest", day.isoformat(), source=str(photos), model="imgbeddings-clip-768") == "success"
    before = snapshot(db, schema, day)
    assert before["faces"] and all(f[10] == "imgbeddings-clip-768" for f in before["faces"])
    coltype = q(
        db,
        schema,
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attname = 'embedding'",
        f"{schema}.faces",
    )
    assert coltype == [("halfvec(768)",)]

    monkeypatch.setenv("FACEPIPE_CLIP_MODEL_PATH", str(build_tiny_clip(tmp_path / "broken.onnx", broken=True)))
    assert run_day("face_ingest", day.isoformat(), source=str(photos), model="imgbeddings-clip-768") == "failed"
    assert snapshot(db, schema, day) == before
    from facepipe.core.deployment import settings

    files = sorted((settings().reports_dir / "validation").glob(f"{day}_*.json"))
    verdicts = [json.loads(f.read_text()) for f in files]
    failed = [v for v in verdicts if not v["success"]]
    assert failed, "the failed validation left no result to read"
    kinds = {(e["expectation_type"], e["kwargs"].get("column")) for e in failed[-1]["expectations"] if not e["success"]}
    assert ("expect_column_values_to_be_between", "norm") in kinds
