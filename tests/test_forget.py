"""Forgetting a person or a photo: gone from every table, staging and report file, and
not brought back by a re-run of their days, a copy of the photo, or the next night.

The days are ingested and reported through Airflow (dag.test) on the sample photos,
Eileen Collins enrolled from a people folder that stays in place (as it would).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import uuid
from pathlib import Path

import numpy as np
import pytest
from helpers.nights import reported_days
from helpers.rows import assert_tallies_true, q

pytestmark = pytest.mark.dag

EILEEN = "eileen_collins"


@pytest.fixture
def nights(photos, forget_photos, sample_days, tmp_path, pg_uri, airflow_db, monkeypatch):
    """Three days ingested and reported, reports in a folder of this test's own; yields
    (schema, reports folder, photo folder). The photo folder is a copy the test may change."""
    reports = tmp_path / "reports"
    monkeypatch.setenv("FACEPIPE_REPORTS_DIR", str(reports))
    shutil.rmtree(forget_photos, ignore_errors=True)
    shutil.copytree(photos, forget_photos, symlinks=True)
    with reported_days("fgt_", forget_photos, sample_days) as night:
        monkeypatch.setenv("FACEPIPE_DB_SCHEMA", night.schema)
        monkeypatch.setenv("FACEPIPE_ENROL_DIR", str(night.enrol_dir))
        yield night.schema, reports, forget_photos


def _vector_tables(db, schema: str) -> list[str]:
    """Every table of the schema (partitions included) with a vector column."""
    return [
        t
        for (t,) in db.execute(
            "SELECT DISTINCT c.relname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type ty ON ty.oid = a.atttypid"
            " WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND ty.typname IN ('vector', 'halfvec')"
            " AND a.attnum > 0 AND NOT a.attisdropped",
            (schema,),
        )
    ]


def _array(v) -> np.ndarray:
    return np.asarray(v.to_numpy() if hasattr(v, "to_numpy") else v, dtype=np.float64)


def _eileen_refs(db, schema):
    from pgvector.psycopg import register_vector

    register_vector(db)
    return [
        _array(v)
        for (v,) in q(
            db,
            schema,
            "SELECT r.embedding FROM {s}.person_refs r JOIN {s}.people p USING (person_id) WHERE p.name = %s",
            EILEEN,
        )
    ]


def _near(db, schema: str, refs, threshold: float, exclude: tuple[str, ...] = ()) -> dict[str, int]:
    """Rows, per table, whose vector is within ``threshold`` (L2, dlib's distance) of one of ``refs``."""
    from psycopg import sql

    out = {}
    for table in _vector_tables(db, schema):
        if table in exclude:
            continue
        column = {"identities": "centroid", "forget_templates": "template"}.get(table, "embedding")
        vectors = [
            _array(v)
            for (v,) in db.execute(
                sql.SQL("SELECT {} FROM {} WHERE {} IS NOT NULL").format(
                    sql.Identifier(column), sql.Identifier(schema, table), sql.Identifier(column)
                )
            ).fetchall()
        ]
        out[table] = sum(1 for v in vectors if min(float(np.linalg.norm(v - r)) for r in refs) < threshold)
    return out


def _her_faces(db, schema: str, refs, threshold: float) -> list[np.ndarray]:
    from pgvector.psycopg import register_vector

    register_vector(db)
    vectors = [_array(v) for (v,) in q(db, schema, "SELECT embedding FROM {s}.faces")]
    return [v for v in vectors if min(float(np.linalg.norm(v - r)) for r in refs) < threshold]


def _in_statistics(db, schema: str, vectors, inherited: bool | None = None) -> bool:
    """Whether pg_stats (what ANALYZE sampled) holds one of the vectors; ``inherited``: only the
    partitioned tables' own statistics (True) or only the other tables' (False)."""
    texts = [
        t
        for (t,) in db.execute(
            "SELECT coalesce(histogram_bounds::text, '') || coalesce(most_common_vals::text, '')"
            " FROM pg_stats WHERE schemaname = %s AND attname = 'embedding' AND inherited IS DISTINCT FROM %s",
            (schema, None if inherited is None else not inherited),
        )
    ]
    stats = [
        np.array(x.split(","), dtype=np.float64)
        for text in texts
        for x in text.replace('"', "").strip("{}").replace("],[", "]|[").split("|")
        if x.startswith("[")
        for x in [x.strip("[]")]
    ]
    return any(len(s) == len(v) and np.allclose(s, v, atol=1e-5) for s in stats for v in vectors)


def _name_in_statistics(db, schema: str, name: str) -> bool:
    return (
        db.execute(
            "SELECT count(*) FROM pg_stats WHERE schemaname = %s AND (most_common_vals::text LIKE %s"
            " OR histogram_bounds::text LIKE %s)",
            (schema, f"%{name}%", f"%{name}%"),
        ).fetchone()[0]
        > 0
    )


def _in_relation_files(db, schema: str, vectors, *texts: str) -> bool:
    """Whether the bytes of one of the vectors (float32, as pgvector stores them) or texts are
    in a file of the schema's tables or indexes (dead rows and free space included), after a
    checkpoint."""
    db.execute("CHECKPOINT")
    data_dir = Path(db.execute("SHOW data_directory").fetchone()[0])
    needles = [np.asarray(v, dtype=np.float32).tobytes()[:64] for v in vectors]  # 16 floats: unique enough
    needles += [text.encode() for text in texts]
    for (path,) in db.execute(
        "SELECT pg_relation_filepath(c.oid) FROM pg_class c JOIN pg_namespace n"
        " ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind IN ('r', 'i', 't')",
        (schema,),
    ):
        for segment in sorted(data_dir.glob(path + "*")):
            blob = segment.read_bytes()
            if any(n in blob for n in needles):
                return True
    return False


def _files_naming(folder: Path, *needles: str) -> list[str]:
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and any(n in p.read_text(errors="replace") for n in needles)
    )


def test_forget_a_person_everywhere_and_for_good(nights, db, sample_days, capfd):
    from facepipe.core.specs import model_spec
    from facepipe.ops.cli import main
    from facepipe.ops.demo import run_day

    schema, reports, source = nights
    threshold = model_spec("dlib-resnet-128").match_threshold
    refs = _eileen_refs(db, schema)
    assert len(refs) >= 2
    near = _near(db, schema, refs, threshold)
    assert near["faces"] >= 2 and near["person_refs"] >= 2, near  # her faces are there to forget
    (identity,) = q(
        db,
        schema,
        "SELECT i.identity_id FROM {s}.identities i JOIN {s}.people p USING (person_id) WHERE p.name = %s",
        EILEEN,
    )[0]
    assert q(db, schema, "SELECT count(*) FROM {s}.report_sightings WHERE person_name = %s", EILEEN)[0][0] >= 2
    assert _files_naming(reports, EILEEN)
    others_before = q(db, schema, "SELECT count(*) FROM {s}.faces")[0][0] - near["faces"]
    her_vectors = _her_faces(db, schema, refs, threshold)
    # the search structure over every day holds her faces too (centroids trained by face_search)
    assert main(["search-maintain", "--rebuild"]) == 0
    (version,) = q(db, schema, "SELECT version FROM {s}.search_ivf WHERE state = 'current'")[0]
    near = _near(db, schema, refs, threshold)
    assert near[f"search_lists_v{version}"] == near["faces"], near
    # an operator's ANALYZE of the partitioned tables themselves (vacuumdb --analyze-only does it;
    # autovacuum never does): statistics of their own, sampled from every day
    db.execute(sql_text(schema, "ANALYZE {s}.faces, {s}.images"))
    assert _in_statistics(db, schema, her_vectors, inherited=True)
    assert _in_statistics(db, schema, her_vectors)  # ANALYZE sampled her faces: the checks below can fail
    assert _in_relation_files(db, schema, her_vectors)
    assert _in_relation_files(db, schema, [], EILEEN)
    visitor_before = q(db, schema, "SELECT count(*) FROM {s}.report_sightings WHERE person_name <> %s", EILEEN)

    # a copy someone made next to a day's page, and column statistics that sampled her name
    shutil.copy(
        reports / sample_days[-1].isoformat() / "report.html",
        reports / sample_days[-1].isoformat() / "report (copy).html",
    )
    db.execute(sql_text(schema, "ANALYZE {s}.report_sightings, {s}.report_person_days"))
    assert _name_in_statistics(db, schema, EILEEN)

    # a dry run counts and changes nothing
    assert main(["forget", "person", str(identity), "--dry-run"]) == 0
    assert "would remove" in capfd.readouterr().out
    assert _near(db, schema, refs, threshold) == near

    assert main(["forget", "person", EILEEN]) == 0
    out = capfd.readouterr().out
    assert "forgotten (audit op" in out and EILEEN not in out

    def gone():
        left = _near(db, schema, refs, threshold)
        assert set(near) <= set(left) and not any(left.values()), f"a vector of hers is left: {left}"
        for table, column in q(
            db,
            schema,
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = %s AND data_type IN ('text', 'jsonb')",
            schema,
        ):
            hits = q(db, schema, f'SELECT count(*) FROM {{s}}."{table}" WHERE "{column}"::text LIKE %s', f"%{EILEEN}%")
            assert hits == [(0,)], f"{table}.{column} still names her"
        assert q(db, schema, "SELECT count(*) FROM {s}.identities WHERE identity_id = %s", identity) == [(0,)]
        assert q(db, schema, "SELECT count(*) FROM {s}.face_identity WHERE identity_id = %s", identity) == [(0,)]
        assert _files_naming(reports, EILEEN) == [], "a report or validation file names her"
        assert (
            q(db, schema, "SELECT sum(face_count) FROM {s}.images")[0][0]
            == q(db, schema, "SELECT count(*) FROM {s}.faces")[0][0]
        )

    gone()
    # the same version: her rows deleted and the partitions that held them rewritten, nothing rebuilt
    assert q(db, schema, "SELECT version FROM {s}.search_ivf WHERE state = 'current'")[0][0] == version
    # nor in a column statistic, nor in the bytes of a table or index file (dead rows, btree pages; the
    # search structure's partitions included)
    assert not _in_statistics(db, schema, her_vectors)
    assert not _name_in_statistics(db, schema, EILEEN)  # report_sightings is empty now: its statistics cleared
    assert not _in_relation_files(db, schema, her_vectors, EILEEN)
    assert q(db, schema, "SELECT count(*) FROM {s}.faces")[0][0] == others_before  # nobody else's face went
    assert q(db, schema, "SELECT count(*) FROM {s}.report_sightings WHERE person_name <> %s", EILEEN) == visitor_before
    ((op, rows, detail),) = q(db, schema, "SELECT op, rows, detail FROM {s}.audit WHERE op = 'forget_person'")
    assert rows["faces"] == near["faces"] and rows["people"] == 1 and rows["person_refs"] == len(refs)
    assert detail["files"]["rewritten"] == len(sample_days)
    assert (reports / sample_days[0].isoformat() / "report.html").exists()  # rewritten, not just deleted

    # re-running her days (the people folder still holds her photos), one of them with another
    # detector, whose boxes differ (IoU 0.63-0.85 with MTCNN's on these photos), then the next night
    enrol_dir = Path(os.environ["FACEPIPE_ENROL_DIR"])
    (enrol_dir / EILEEN / "notes.txt").write_text("a stray file in her folder")  # not a photo, not forgotten
    capfd.readouterr()
    for day in sample_days:
        detector = {"detector": "hog"} if day == sample_days[1] else {}
        assert run_day("face_ingest", day.isoformat(), source=str(source), **detector) == "success"
        assert run_day("face_report", day.isoformat()) == "success"
    logged = capfd.readouterr()
    assert EILEEN not in logged.out + logged.err  # task logs and return values (XCom): counts, no name or path
    next_night = sample_days[-1] + dt.timedelta(days=1)
    day_dir = source / next_night.isoformat()
    day_dir.mkdir()
    for photo in sorted((source / sample_days[0].isoformat()).iterdir()):  # the same photos, copied again
        shutil.copy(photo, day_dir / ("copy_" + photo.name))
    assert run_day("face_ingest", next_night.isoformat(), source=str(source)) == "success"
    assert run_day("face_report", next_night.isoformat()) == "success"
    gone()
    assert_tallies_true(db, schema)  # Days and status count what the tables hold after the forget
    # her folder is still in the people folder: enrolment skipped every photo, her name is not stored again
    assert any((enrol_dir / EILEEN).iterdir())
    assert q(db, schema, "SELECT count(*) FROM {s}.people") == [(0,)]
    assert run_day("face_ingest", sample_days[1].isoformat(), source=str(source)) == "success"  # MTCNN again
    assert q(db, schema, "SELECT count(*) FROM {s}.faces")[0][0] == others_before  # everyone else is back


def test_forget_a_photo_by_uri_and_its_copies(nights, db, sample_days, capsys):
    from facepipe.ops.cli import main
    from facepipe.ops.demo import run_day

    schema, reports, source = nights
    # a photo of a recurring unknown that a later day's report shows (its best crops may be this face)
    day, uri, sha, image_id = q(
        db,
        schema,
        "SELECT i.day, i.uri, i.content_sha256, i.image_id FROM {s}.images i"
        " JOIN {s}.face_identity a USING (day, image_id)"
        " JOIN {s}.report_recurring_unknowns r ON r.identity_id = a.identity_id"
        " WHERE r.day > i.day ORDER BY i.day, i.uri LIMIT 1",
    )[0]
    total = q(db, schema, "SELECT count(*) FROM {s}.images WHERE day = %s", day)[0][0]
    shown = {
        d.isoformat()
        for (d,) in q(
            db,
            schema,
            "SELECT DISTINCT r.day FROM {s}.report_recurring_unknowns r"
            " JOIN {s}.face_identity a ON a.identity_id = r.identity_id"
            " WHERE a.image_id = %s",
            image_id,
        )
    } | {day.isoformat()}
    assert len(shown) >= 2, shown

    assert main(["forget", "photo", uri]) == 0
    out = capsys.readouterr().out
    assert "forgotten" in out and shown <= set(
        out.split("rebuilt the reports of")[1].split("\n")[0].split(": ")[1].split(", ")
    )

    def gone():
        assert q(db, schema, "SELECT count(*) FROM {s}.images WHERE content_sha256 = %s", sha) == [(0,)]
        assert q(db, schema, "SELECT count(*) FROM {s}.faces WHERE image_id = %s", image_id) == [(0,)]
        assert q(db, schema, "SELECT count(*) FROM {s}.stage_images WHERE content_sha256 = %s", sha) == [(0,)]
        assert q(db, schema, "SELECT count(*) FROM {s}.stage_faces WHERE image_id = %s", image_id) == [(0,)]
        assert q(db, schema, "SELECT count(*) FROM {s}.face_identity WHERE image_id = %s", image_id) == [(0,)]
        assert q(db, schema, "SELECT count(*) FROM {s}.identity_pool WHERE image_id = %s", image_id) == [(0,)]
        for table in ("report_sightings", "report_recurring_unknowns"):
            assert q(db, schema, f"SELECT count(*) FROM {{s}}.{table} WHERE image_id = %s", image_id) == [(0,)]
        assert _files_naming(reports, uri, str(image_id)) == []

    gone()
    assert q(db, schema, "SELECT count(*) FROM {s}.images WHERE day = %s", day) == [(total - 1,)]
    # the day again, and a copy of the photo under another name the next night
    assert run_day("face_ingest", day.isoformat(), source=str(source)) == "success"
    assert run_day("face_report", day.isoformat()) == "success"
    next_night = sample_days[-1] + dt.timedelta(days=1)
    (source / next_night.isoformat()).mkdir()
    shutil.copy(
        uri.removeprefix("file://") if uri.startswith("file://") else uri,
        source / next_night.isoformat() / "renamed.jpg",
    )
    assert run_day("face_ingest", next_night.isoformat(), source=str(source)) == "success"
    gone()
    reasons = q(db, schema, "SELECT day, reason FROM {s}.rejects WHERE reason = 'forgotten' ORDER BY day")
    assert reasons == [(day, "forgotten"), (next_night, "forgotten")]  # accounted for, not indexed

    # a photo with her only sighting of a day: the later days' per-person tables stop counting it
    seen, s_uri = q(
        db,
        schema,
        "SELECT s.day, s.uri FROM {s}.report_sightings s WHERE s.person_name = %s"
        " AND (SELECT count(*) FROM {s}.report_sightings o WHERE o.day = s.day"
        " AND o.person_name = s.person_name) = 1 ORDER BY s.day LIMIT 1",
        EILEEN,
    )[0]
    later = q(
        db, schema, "SELECT DISTINCT day FROM {s}.report_person_days WHERE seen_day = %s AND day > %s", seen, seen
    )
    assert later
    assert main(["forget", "photo", s_uri]) == 0
    capsys.readouterr()
    assert q(
        db, schema, "SELECT count(*) FROM {s}.report_person_days WHERE seen_day = %s AND person_name = %s", seen, EILEEN
    ) == [(0,)]
    assert _files_naming(reports, s_uri) == []

    # one of Eileen's enrolment photos: the reference goes, and the sightings that showed it
    ref_uri, ref_sha = q(
        db,
        schema,
        "SELECT r.uri, r.content_sha256 FROM {s}.person_refs r WHERE EXISTS (SELECT 1"
        " FROM {s}.report_sightings s WHERE s.ref_sha256 = r.content_sha256)"
        " ORDER BY r.uri LIMIT 1",
    )[0]
    showed = {d for (d,) in q(db, schema, "SELECT day FROM {s}.report_sightings WHERE ref_sha256 = %s", ref_sha)}
    assert showed
    # a day whose files cannot be written again (a folder where a CSV should be) loses them instead
    blocked = sorted(showed)[0].isoformat()
    (reports / blocked / "sightings.csv").unlink()
    (reports / blocked / "sightings.csv").mkdir()
    assert main(["forget", "photo", ref_uri]) == 1
    err = capsys.readouterr().err
    assert "the forget is done in the database" in err and f"python -m facepipe report {blocked}" in err
    assert [f for f in (reports / blocked).iterdir() if f.is_file()] == []
    assert q(db, schema, "SELECT count(*) FROM {s}.person_refs WHERE content_sha256 = %s", ref_sha) == [(0,)]
    assert q(db, schema, "SELECT count(*) FROM {s}.report_sightings WHERE ref_sha256 = %s", ref_sha) == [(0,)]
    assert _files_naming(reports, ref_uri) == []
    ((files,),) = q(
        db, schema, "SELECT detail -> 'files' FROM {s}.audit WHERE op = 'forget_photo' ORDER BY op_no DESC LIMIT 1"
    )
    assert files["problems"] == 1


def test_forget_needs_a_known_person_or_photo(schema, db, capsys, tmp_path):
    from facepipe.ops.cli import main

    assert main(["forget", "person", "nobody at all"]) == 2
    assert "no enrolled or named person" in capsys.readouterr().err
    assert main(["forget", "photo", "/no/such/photo.jpg"]) == 2
    assert "SHA-256" in capsys.readouterr().err
    # a content hash can be forgotten before it ever arrives, and so can a file (by its content)
    assert main(["forget", "photo", "ab" * 32]) == 0
    odd = tmp_path / "caf\udce9 photo.jpg"  # a name that is not UTF-8, as old cameras write them
    odd.write_bytes(b"not even a photo")
    assert main(["forget", "photo", str(odd)]) == 0
    assert main(["forget", "photo", "file://" + str(odd)]) == 0
    assert q(db, schema, "SELECT content_sha256 FROM {s}.suppressions WHERE box_x IS NULL ORDER BY op_no") == [
        ("ab" * 32,),
        (hashlib.sha256(b"not even a photo").hexdigest(),),
        (hashlib.sha256(b"not even a photo").hexdigest(),),
    ]
    capsys.readouterr()
    # a threshold far beyond the model's would forget other people's faces
    for threshold in ("100", "-1", "nan"):
        assert main(["forget", "person", "1", "--threshold", threshold]) == 2
        assert "threshold must be from 0 to 0.75" in capsys.readouterr().err
    assert main(["forget", "person", "identity:x"]) == 2
    assert "whole number" in capsys.readouterr().err


def test_a_number_is_an_identity_and_never_a_name(nights, db, capsys, monkeypatch, pg_uri):
    import psycopg

    from facepipe.ops.cli import main

    schema = nights[0]
    unnamed = q(db, schema, "SELECT identity_id FROM {s}.identities WHERE person_id IS NULL ORDER BY 1")
    assert unnamed
    assert main(["people", "name", str(unnamed[0][0]), "17"]) == 2
    assert "cannot be a number" in capsys.readouterr().err
    assert main(["people", "name", str(unnamed[0][0]), "identity:1"]) == 2
    assert "cannot begin with identity:" in capsys.readouterr().err
    # a name set before numbers were refused, equal to another identity's number: ambiguous
    ((eileen,),) = q(db, schema, "SELECT identity_id FROM {s}.identities WHERE person_id IS NOT NULL")
    db.execute(sql_text(schema, "UPDATE {s}.people SET name = %s"), (str(unnamed[0][0]),))
    assert main(["forget", "person", str(unnamed[0][0]), "--dry-run"]) == 2
    assert f"identity:{unnamed[0][0]} or name:{unnamed[0][0]}" in capsys.readouterr().err
    # a reader holds report_person_days: the forget is done, the table cannot be rewritten now
    monkeypatch.setenv("PGOPTIONS", "-c lock_timeout=2000")
    with psycopg.connect(pg_uri) as reader:
        reader.execute(sql_text(schema, "SELECT count(*) FROM {s}.report_person_days")).fetchone()
        assert main(["forget", "person", f"name:{unnamed[0][0]}"]) == 1
    err = capsys.readouterr().err
    assert "the forget is done in the database" in err and "VACUUM (FULL, ANALYZE)" in err
    assert q(db, schema, "SELECT count(*) FROM {s}.identities WHERE identity_id = %s", eileen) == [(0,)]
    assert _files_naming(nights[1], EILEEN) == []  # the report files were written again all the same
    assert q(db, schema, "SELECT count(*) FROM {s}.identities WHERE identity_id = %s", unnamed[0][0]) == [(1,)]


def test_names_are_found_in_every_form_a_file_writes_them():
    from facepipe.privacy.forget import _forms
    from facepipe.privacy.forget import _mentions as mentions

    def _mentions(text, identifiers):
        return mentions(text, {form for ident in identifiers for form in _forms(ident)})

    for text in ("Conan O&#39;Brien", "Conan O&#x27;Brien", '"Conan O\'Brien"', "Conan O'Brien"):
        assert _mentions(text, {"Conan O'Brien"}), text
    assert _mentions('{"name": "Jos\\u00e9 \\"Pep\\""}', {'José "Pep"'})
    assert _mentions('"Zoë ""Z"""', {'Zoë "Z"'})
    assert not _mentions("Conan OBrien", {"Conan O'Brien"})


def test_drop_suppressed_keeps_other_faces_and_accounts_for_the_photo():
    from facepipe.core.suppression import FORGOTTEN
    from facepipe.ingest.process import FaceRecord, ImageRecord, ShardResult
    from facepipe.ingest.suppress import drop_suppressed
    from facepipe.models.detect import Box

    now = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    a, b = uuid.uuid4(), uuid.uuid4()
    images = [
        ImageRecord(a, "/p/a.jpg", "sha_a", 10, 4000, 3000, None, None, now, "loaded", None, 2),
        ImageRecord(b, "/p/b.jpg", "sha_b", 10, 4000, 3000, None, None, now, "loaded", None, 1),
    ]
    faces = [
        FaceRecord(a, 0, Box(100, 100, 200, 200, 1.0), 4000, 3000),
        FaceRecord(a, 1, Box(1000, 100, 200, 200, 1.0), 4000, 3000),
        FaceRecord(b, 0, Box(50, 50, 80, 80, 1.0), 4000, 3000),
    ]
    result = ShardResult(images=images, faces=faces, embeddings=np.arange(3 * 4, dtype=np.float32).reshape(3, 4))
    # a's first face drawn a little differently by another detector; b forgotten whole
    out = drop_suppressed(result, {"sha_a": [((110, 95, 190, 215), None)], "sha_b": [None]})
    assert [(f.image_id, f.face_no) for f in out.faces] == [(a, 1)]
    assert out.embeddings.tolist() == [[4, 5, 6, 7]]
    assert [(im.uri, im.face_count) for im in out.images] == [("/p/a.jpg", 1)]
    assert [(r.uri, r.reason) for r in out.rejects] == [("/p/b.jpg", FORGOTTEN)]
    assert drop_suppressed(result, {}) is result


def test_face_forget_dag_is_a_dry_run_by_default_and_forgets_an_unnamed_identity(nights, db, sample_days):
    """The UI's Trigger with its defaults changes nothing; unticking dry_run forgets. The
    recurring visitor, never enrolled or named, is forgotten by identity number."""
    from airflow.dag_processing.dagbag import DagBag

    from facepipe.core.config import PROJECT_ROOT

    schema, reports, _source = nights
    ((visitor, faces),) = q(
        db, schema, "SELECT identity_id, faces FROM {s}.identities WHERE person_id IS NULL ORDER BY faces DESC LIMIT 1"
    )
    assert faces >= len(sample_days)
    dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags")).get_dag("face_forget")
    before = q(db, schema, "SELECT count(*) FROM {s}.faces")
    assert str(dag.test(run_conf={"person": str(visitor)}).state) == "success"
    assert q(db, schema, "SELECT count(*) FROM {s}.faces") == before
    assert q(db, schema, "SELECT count(*) FROM {s}.audit WHERE op = 'forget_person'") == [(0,)]

    assert str(dag.test(run_conf={"person": str(visitor), "dry_run": False}).state) == "success"
    assert q(db, schema, "SELECT count(*) FROM {s}.faces") == [(before[0][0] - faces,)]
    assert q(db, schema, "SELECT count(*) FROM {s}.identities WHERE identity_id = %s", visitor) == [(0,)]
    assert q(db, schema, "SELECT count(*) FROM {s}.report_recurring_unknowns WHERE identity_id = %s", visitor) == [(0,)]
    ((who, rows),) = q(db, schema, "SELECT who, rows FROM {s}.audit WHERE op = 'forget_person'")
    assert who.startswith("airflow:face_forget/") and rows["faces"] == faces
    # neither given, or both: the run fails at once, nothing changes
    assert str(dag.test(run_conf={"dry_run": False}).state) == "failed"
    assert str(dag.test(run_conf={"person": "1", "photo": "ab" * 32, "dry_run": False}).state) == "failed"


def test_block_future_keeps_one_vector_and_drops_her_new_photos(nights, db, sample_days, capsys):
    """Without block_future a new photo of a forgotten person is indexed again (as an
    unknown); with it, the night drops her face before staging and keeps everyone else's."""
    import cv2

    from facepipe.core.specs import model_spec
    from facepipe.ops.cli import main
    from facepipe.ops.demo import run_day
    from facepipe.ops.samples import group_photo

    schema, _reports, source = nights
    threshold = model_spec("dlib-resnet-128").match_threshold
    refs = _eileen_refs(db, schema)
    assert main(["forget", "photo", "ab" * 32, "--block-future"]) == 2  # for a person only
    assert main(["forget", "person", EILEEN, "--block-future"]) == 0
    capsys.readouterr()
    assert q(db, schema, "SELECT count(*) FROM {s}.forget_templates") == [(1,)]
    # the one vector kept: not one of her faces', their mean; nothing else of hers is left
    assert not any(_near(db, schema, refs, 1e-6).values())
    assert not any(_near(db, schema, refs, threshold, exclude=("forget_templates",)).values())

    night = sample_days[-1] + dt.timedelta(days=1)
    (source / night.isoformat()).mkdir()
    # a new group photo, never seen, with her among strangers (faces of 150-260 px)
    seed = next(s for s in range(100) if _with_her(group_photo(2400, 1600, 5, (150, 260), seed=s)[1]))
    rgb, placed = group_photo(2400, 1600, 5, (150, 260), seed=seed)
    cv2.imwrite(str(source / night.isoformat() / "group.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert run_day("face_ingest", night.isoformat(), source=str(source)) == "success"
    near = _near(db, schema, refs, threshold, exclude=("forget_templates",))
    assert not any(near.values()), near
    strangers = sum(1 for f in placed if f.face != "astronaut")
    assert q(db, schema, "SELECT count(*) FROM {s}.faces WHERE day = %s", night) == [(strangers,)]

    # the same night without the block: her new faces are indexed (what a forget alone promises)
    db.execute(sql_text(schema, "DELETE FROM {s}.forget_templates"))
    assert run_day("face_ingest", night.isoformat(), source=str(source)) == "success"
    assert _near(db, schema, refs, threshold)["faces"] >= 1
    assert q(db, schema, "SELECT count(*) FROM {s}.faces WHERE day = %s", night) == [(len(placed),)]


def _with_her(placed) -> bool:
    return sum(f.face == "astronaut" for f in placed) == 1 and len(placed) == 5


def sql_text(schema: str, query: str):
    from psycopg import sql

    return sql.SQL(query).format(s=sql.Identifier(schema))


@pytest.mark.parametrize("op", ["<->", "<=>", "<#>"])
def test_block_future_distances_are_pgvectors(db, op):
    """The night compares faces with a template in numpy: the same numbers pgvector gives."""
    from pgvector.psycopg import register_vector
    from psycopg import sql

    from facepipe.core.suppression import distances

    db.execute("CREATE EXTENSION IF NOT EXISTS vector")
    register_vector(db)
    rng = np.random.default_rng(5)
    vectors, template = rng.normal(size=(6, 16)).astype(np.float32), rng.normal(size=16).astype(np.float32)
    expected = [
        db.execute(sql.SQL("SELECT %s::vector {} %s::vector").format(sql.SQL(op)), (v, template)).fetchone()[0]
        for v in vectors
    ]
    assert np.allclose(distances(op, vectors, template), expected, atol=1e-5)


def test_a_forget_that_lands_while_a_photo_is_enrolled_wins(schema, db, tmp_path, monkeypatch):
    """Enrolment checks a photo's suppressions, embeds it (slow), then stores it: a forget of
    that photo committed in between is seen before the store."""
    import facepipe.people.enrol as enrol_module
    from facepipe.core.db import connection
    from facepipe.core.specs import model_spec
    from facepipe.ops.samples import enrolment_photos
    from facepipe.people.tasks import enrol
    from facepipe.privacy.forget import forget_photo

    people = tmp_path / "people"
    enrolment_photos(people)
    photo = sorted((people / EILEEN).iterdir())[0]
    sha = hashlib.sha256(photo.read_bytes()).hexdigest()
    real = enrol_module.embed_largest_face

    def embed_then_forget(data, *args, **kwargs):
        found = real(data, *args, **kwargs)
        if hashlib.sha256(data).hexdigest() == sha:
            with connection() as other:
                forget_photo(other, schema, sha, model_spec("dlib-resnet-128"))
        return found

    monkeypatch.setattr(enrol_module, "embed_largest_face", embed_then_forget)
    result = enrol(str(people), upgrade=True)
    assert [why for path, why in result["skipped_photos"] if path == str(photo)] == [enrol_module.FORGOTTEN]
    assert q(db, schema, "SELECT count(*) FROM {s}.person_refs WHERE content_sha256 = %s", sha) == [(0,)]


def test_an_enrolment_folder_named_like_a_number_is_not_enrolled(schema, db, tmp_path):
    from facepipe.ops.samples import enrolment_photos
    from facepipe.people.tasks import enrol

    people = tmp_path / "people"
    enrolment_photos(people)
    (people / EILEEN).rename(people / "17")
    result = enrol(str(people), upgrade=True)
    assert any("cannot be a number" in why for _path, why in result["skipped_photos"])
    assert q(db, schema, "SELECT count(*) FROM {s}.people WHERE name = %s", "17") == [(0,)]


def test_a_forget_needs_an_autocommit_connection(schema, pg_uri):
    import psycopg

    from facepipe.core.specs import model_spec
    from facepipe.privacy.forget import PrivacyError, forget_photo

    with psycopg.connect(pg_uri) as conn, pytest.raises(PrivacyError, match="autocommit"):
        forget_photo(conn, schema, "ab" * 32, model_spec("dlib-resnet-128"))
