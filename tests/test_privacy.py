"""A report reader's role reads tables and reports but is refused every vector."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from facepipe.ops.demo import run_day

pytestmark = pytest.mark.dag


@pytest.fixture
def reader(pg_uri):
    role = "reader_" + uuid.uuid4().hex[:8]
    with psycopg.connect(pg_uri, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
    yield role
    with psycopg.connect(pg_uri, autocommit=True) as conn:
        conn.execute(f'DROP OWNED BY "{role}"')
        conn.execute(f'DROP ROLE "{role}"')


def as_role(pg_uri: str, role: str):
    return psycopg.connect(pg_uri, user=role, autocommit=True)


def test_reader_reads_reports_and_boxes_but_no_vector(airflow_db, schema, pg_uri, reader, photos, sample_days):
    from facepipe.ops.cli import main

    day = sample_days[-1]
    assert run_day("face_ingest", day.isoformat(), source=str(photos)) == "success"
    assert run_day("face_report", day.isoformat()) == "success"
    assert main(["grant-reader", reader]) == 0

    with as_role(pg_uri, reader) as conn:
        s = f'"{schema}"'
        faces = conn.execute(f"SELECT day, image_id, box_x, box_y, box_w, box_h, detector FROM {s}.faces").fetchall()
        assert len(faces) >= 3
        assert conn.execute(f"SELECT count(*) FROM {s}.images").fetchone()[0] >= 3
        assert conn.execute(f"SELECT count(*) FROM {s}.report_daily_summary").fetchone()[0] >= 1
        conn.execute(f"SELECT person_name, uri FROM {s}.report_sightings").fetchall()
        refused = [
            f"SELECT embedding FROM {s}.faces",
            f"SELECT * FROM {s}.faces",
            f"SELECT embedding FROM {s}.person_refs",
            f"SELECT * FROM {s}.stage_faces",
            f"SELECT * FROM {s}.identity_pool",
            f"SELECT centroid FROM {s}.identities",
            f"SELECT template FROM {s}.forget_templates",  # a forget's block_future vector
            f"SELECT op_no FROM {s}.forget_templates",
            f"SELECT content_sha256 FROM {s}.suppressions",  # hashes and boxes of forgotten faces
            f"SELECT who, op FROM {s}.audit",  # who did what: not for report readers
            f'SELECT * FROM {s}."faces_p{day:%Y%m%d}"',  # a day's partition, named directly
        ]
        for query in refused:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(query)


def test_grant_reader_names_a_missing_role(schema, capsys):
    from facepipe.ops.cli import main

    assert main(["grant-reader", "nobody_" + uuid.uuid4().hex[:6]]) == 2
    assert "does not exist" in capsys.readouterr().err
