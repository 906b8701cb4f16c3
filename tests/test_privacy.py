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
        s, r = f'"{schema}"', f'"{schema}_reader"'
        faces = conn.execute(f"SELECT day, image_id, box_x, box_y, box_w, box_h, detector FROM {r}.faces").fetchall()
        assert len(faces) >= 3
        assert conn.execute(f"SELECT count(*) FROM {r}.images").fetchone()[0] >= 3
        assert conn.execute(f"SELECT count(*) FROM {r}.day_summary").fetchone()[0] >= 1
        assert conn.execute(f"SELECT count(*) FROM {r}.loads").fetchone()[0] == 1
        conn.execute(f"SELECT person_name, uri FROM {r}.sightings").fetchall()
        conn.execute(f"SELECT op, rows FROM {r}.audit_counts").fetchall()
        vector_columns = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s"
            " AND udt_name IN ('vector', 'halfvec', 'sparsevec')",
            (f"{schema}_reader",),
        ).fetchall()
        assert vector_columns == []
        refused = [
            f"SELECT day FROM {s}.faces",  # every internal table: the views are the contract
            f"SELECT embedding FROM {s}.faces",
            f"SELECT count(*) FROM {s}.images",
            f"SELECT * FROM {s}.report_daily_summary",
            f"SELECT embedding FROM {s}.person_refs",
            f"SELECT * FROM {s}.stage_faces",
            f"SELECT * FROM {s}.identity_pool",
            f"SELECT centroid FROM {s}.identities",
            f"SELECT template FROM {s}.forget_templates",  # a forget's block_future vector
            f"SELECT content_sha256 FROM {s}.suppressions",  # hashes and boxes of forgotten faces
            f"SELECT detail FROM {s}.audit",  # the audit's detail: not for report readers
            f'SELECT * FROM {s}."faces_p{day:%Y%m%d}"',  # a day's partition, named directly
        ]
        for query in refused:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(query)


def test_grant_reader_takes_back_what_an_older_version_granted(schema, pg_uri, reader, db):
    """Earlier versions granted table columns of the internal schema: a new grant revokes them."""
    from facepipe.core.schema import require
    from facepipe.core.specs import model_spec
    from facepipe.ops.cli import main

    require(db, schema, model_spec("dlib-resnet-128"), may_upgrade=True)
    db.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{reader}"')
    db.execute(f'GRANT SELECT (day, uri) ON "{schema}".images TO "{reader}"')
    assert main(["grant-reader", reader]) == 0
    with as_role(pg_uri, reader) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f'SELECT day, uri FROM "{schema}".images')
        assert conn.execute(f'SELECT count(*) FROM "{schema}_reader".images').fetchone() == (0,)


def test_grant_reader_names_a_missing_role(schema, capsys):
    from facepipe.ops.cli import main

    assert main(["grant-reader", "nobody_" + uuid.uuid4().hex[:6]]) == 2
    assert "does not exist" in capsys.readouterr().err
