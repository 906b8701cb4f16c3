"""People: identities built night by night, kept across re-runs, and the people operations.

The first part loads synthetic faces the way a night loads them (write_shard,
load_day, index_day) and runs facepipe.people.identities on them: fast, and every vector is
known. The second part runs face_ingest and face_report through Airflow on the
sample photos.
"""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
import pytest
from helpers.nights import reported_days
from helpers.rows import q

DAYS = [dt.date(2026, 9, 1) + dt.timedelta(days=i) for i in range(4)]


def _load(conn, schema, day, photos, run_id="r1"):
    """photos: [(image_id, [(box, vector), ...])] -> one loaded day."""
    from facepipe.core.sources import Arrival
    from facepipe.core.specs import model_spec
    from facepipe.ingest.process import FaceRecord, ImageRecord, ShardResult
    from facepipe.ingest.store import index_day, load_day, write_manifest, write_shard
    from facepipe.models.detect import Box

    spec = model_spec("dlib-resnet-128")
    arrived = dt.datetime.combine(day, dt.time(12), dt.UTC)
    images = [
        ImageRecord(
            image_id=image_id,
            uri=f"/cam/{day}/{image_id}.jpg",
            content_sha256=image_id.hex,
            bytes=1,
            width=4000,
            height=3000,
            captured_at=None,
            camera=None,
            arrived_at=arrived,
            status="loaded",
            duplicate_of=None,
            face_count=len(faces),
        )
        for image_id, faces in photos
    ]
    faces = [
        FaceRecord(image_id, n, Box(*box, 1.0), 4000, 3000) for image_id, fs in photos for n, (box, _) in enumerate(fs)
    ]
    vectors = np.array([v for _, fs in photos for _, v in fs], dtype=np.float32).reshape(-1, 128)
    write_manifest(
        conn, schema, day, run_id, "cam", [Arrival(im.uri, 1, arrived) for im in images], shard_size=len(images)
    )
    write_shard(
        conn,
        schema,
        spec,
        day=day,
        run_id=run_id,
        shard=0,
        source="cam",
        detector="mtcnn",
        result=ShardResult(images=images, faces=faces, embeddings=vectors),
    )
    load_day(conn, schema, day=day, run_id=run_id, detector="mtcnn", model=spec)
    index_day(conn, schema, day, spec)


def _person(rng, n=1):
    """Centres of identities: random directions of norm 1 (dlib's vectors are about that long)."""
    c = rng.normal(size=(n, 128))
    return c / np.linalg.norm(c, axis=1, keepdims=True)


def _face(rng, centre, spread=0.02):
    return centre + rng.normal(scale=spread, size=128)


@pytest.fixture
def pdb(schema, db):
    from pgvector.psycopg import register_vector

    from facepipe.core.schema import require
    from facepipe.core.specs import model_spec

    spec = model_spec("dlib-resnet-128")
    require(db, schema, spec, may_upgrade=True)
    register_vector(db)
    return db, schema, spec


def _assign(pdb, day, min_faces=3):
    from facepipe.people.identities import PeopleSettings, assign_day

    db, schema, spec = pdb
    return assign_day(db, schema, day, spec, spec.match_threshold, PeopleSettings(min_faces, 30, 20))


def _identity_of(db, schema, day, image_id):
    return [
        r[0]
        for r in q(
            db,
            schema,
            "SELECT identity_id FROM {s}.face_identity WHERE day = %s AND image_id = %s ORDER BY box_x",
            day,
            image_id,
        )
    ]


def test_a_person_seen_on_three_days_becomes_one_identity_and_later_faces_join_it(pdb):
    db, schema, _ = pdb
    rng = np.random.default_rng(1)
    x, y = _person(rng, 2)
    ids = {}
    for n, day in enumerate(DAYS):
        ids[day] = [uuid.uuid4(), uuid.uuid4()]
        _load(
            db,
            schema,
            day,
            [
                (ids[day][0], [((100, 100, 80, 80), _face(rng, x))]),
                (ids[day][1], [((300, 100, 80, 80), _face(rng, _person(rng)[0]))]),
            ],
        )
        counts = _assign(pdb, day)
        if n < 2:
            assert counts["new_identities"] == 0 and counts["pooled"] == 2  # one face a day: not dense yet
    assert counts["joined"] == 1  # the 4th day's face joins the identity made on the 3rd
    (identity,) = {_identity_of(db, schema, d, ids[d][0])[0] for d in DAYS}
    assert q(db, schema, "SELECT faces FROM {s}.identities WHERE identity_id = %s", identity) == [(4,)]
    assert all(_identity_of(db, schema, d, ids[d][1]) == [] for d in DAYS)  # strangers once each: no identity
    assert q(db, schema, "SELECT count(*) FROM {s}.identity_pool") == [(4,)]


def test_two_faces_of_one_photo_never_join_one_identity(pdb):
    """Twins: within the threshold of each other, in the same photos every day."""
    db, schema, _ = pdb
    rng = np.random.default_rng(2)
    twin = _person(rng)[0]
    photos = {}
    for day in DAYS:
        photos[day] = uuid.uuid4()
        _load(
            db,
            schema,
            day,
            [(photos[day], [((100, 100, 80, 80), _face(rng, twin)), ((400, 100, 80, 80), _face(rng, twin))])],
        )
        _assign(pdb, day)
    for day in DAYS:
        a, b = _identity_of(db, schema, day, photos[day]) + [None] * (
            2 - len(_identity_of(db, schema, day, photos[day]))
        )
        assert a != b or a is None
    same_photo = q(
        db,
        schema,
        "SELECT day, image_id, identity_id, count(*) FROM {s}.face_identity GROUP BY 1, 2, 3 HAVING count(*) > 1",
    )
    assert same_photo == []
    assert q(db, schema, "SELECT count(*) FROM {s}.face_identity") != [(0,)]  # they do get identities


def test_a_rerun_with_shifted_boxes_keeps_identities_and_names(pdb):
    from facepipe.people import identities as people

    db, schema, _ = pdb
    rng = np.random.default_rng(3)
    x = _person(rng)[0]
    image = {}
    for day in DAYS[:3]:
        image[day] = uuid.uuid4()
        _load(db, schema, day, [(image[day], [((100, 100, 80, 80), _face(rng, x))])])
        _assign(pdb, day)
    (identity,) = _identity_of(db, schema, DAYS[1], image[DAYS[1]])
    people.name(db, schema, identity, "Ada Example", actor="test")
    # Day 2 loaded again: the detector draws the box a few pixels off and finds a second face.
    _load(
        db,
        schema,
        DAYS[1],
        [(image[DAYS[1]], [((104, 97, 82, 80), _face(rng, x)), ((600, 100, 80, 80), _face(rng, _person(rng)[0]))])],
        run_id="r2",
    )
    counts = _assign(pdb, DAYS[1])
    assert counts["kept_by_overlap"] == 1 and counts["dropped"] == 0
    assert q(db, schema, "SELECT identity_id, box_x, how FROM {s}.face_identity WHERE day = %s", DAYS[1]) == [
        (identity, 104, "cluster")
    ]
    assert q(db, schema, "SELECT p.name, i.faces FROM {s}.identities i JOIN {s}.people p USING (person_id)") == [
        ("Ada Example", 3)
    ]
    # The same load again changes nothing.
    _load(db, schema, DAYS[1], [(image[DAYS[1]], [((104, 97, 82, 80), _face(rng, x))])], run_id="r3")
    assert _assign(pdb, DAYS[1])["kept_by_overlap"] == 0
    assert _identity_of(db, schema, DAYS[1], image[DAYS[1]]) == [identity]


def test_merge_move_and_name_are_recorded(pdb):
    from facepipe.people import identities as people

    db, schema, _ = pdb
    rng = np.random.default_rng(4)
    x, y = _person(rng, 2)
    imgs = []
    for day in DAYS[:3]:
        imgs.append((day, uuid.uuid4(), uuid.uuid4()))
        _load(
            db,
            schema,
            day,
            [
                (imgs[-1][1], [((100, 100, 80, 80), _face(rng, x))]),
                (imgs[-1][2], [((100, 100, 80, 80), _face(rng, y))]),
            ],
        )
        _assign(pdb, day)
    a = _identity_of(db, schema, DAYS[0], imgs[0][1])[0]
    b = _identity_of(db, schema, DAYS[0], imgs[0][2])[0]
    assert a != b
    people.name(db, schema, a, "Grace", actor="alice")
    merged = people.merge(db, schema, a, b, actor="alice")
    assert merged["faces_moved"] == 3
    assert q(db, schema, "SELECT count(*) FROM {s}.identities WHERE identity_id = %s", b) == [(0,)]
    assert q(db, schema, "SELECT faces FROM {s}.identities WHERE identity_id = %s", a) == [(6,)]
    moved = people.move(db, schema, DAYS[2], imgs[2][2], 0, actor="bob")
    new = moved["identity_id"]
    assert new not in (a, b) and moved["from"] == a
    assert _identity_of(db, schema, DAYS[2], imgs[2][2]) == [new]
    assert q(db, schema, "SELECT faces FROM {s}.identities WHERE identity_id = %s", a) == [(5,)]
    # The nightly assignment leaves a manual decision alone.
    _assign(pdb, DAYS[2])
    assert q(
        db,
        schema,
        "SELECT identity_id, how FROM {s}.face_identity WHERE day = %s AND image_id = %s",
        DAYS[2],
        imgs[2][2],
    ) == [(new, "manual")]
    ops = q(db, schema, "SELECT who, op, identity_id, other_id FROM {s}.audit WHERE op <> 'assign' ORDER BY op_no")
    assert ops == [("alice", "name", a, None), ("alice", "merge", a, b), ("bob", "move", new, a)]
    # Refused, and nothing changes: merging two people, a move into an identity that has the photo.
    people.name(db, schema, new, "Linus", actor="bob")
    with pytest.raises(people.PeopleError, match="lose a person"):
        people.merge(db, schema, a, new)
    with pytest.raises(people.PeopleError, match="already in identity"):
        people.move(db, schema, DAYS[2], imgs[2][1], 0, to=a)
    listed = {r["name"]: r for r in people.list_identities(db, schema)}
    assert listed["Grace"]["faces"] == 5 and listed["Grace"]["days"] == 3 and listed["Grace"]["sources"] == ["cam"]
    assert listed["Linus"]["faces"] == 1


def test_naming_with_an_existing_persons_name_merges_into_their_identity(pdb):
    from facepipe.people import identities as people

    db, schema, _ = pdb
    rng = np.random.default_rng(5)
    x = _person(rng)[0]
    imgs = {}
    for day in DAYS:
        imgs[day] = uuid.uuid4()
        _load(db, schema, day, [(imgs[day], [((100, 100, 80, 80), _face(rng, x))])])
        _assign(pdb, day)
    a = _identity_of(db, schema, DAYS[0], imgs[DAYS[0]])[0]
    people.name(db, schema, a, "Ann")
    split = people.move(db, schema, DAYS[3], imgs[DAYS[3]], 0)["identity_id"]
    result = people.name(db, schema, split, "Ann")
    assert result["merged_into"] == a
    assert q(db, schema, "SELECT faces FROM {s}.identities WHERE identity_id = %s", a) == [(4,)]


def test_people_command_line(pdb, capsys, monkeypatch):
    from facepipe.ops.cli import main

    db, schema, _ = pdb
    rng = np.random.default_rng(6)
    x = _person(rng)[0]
    imgs = {}
    for day in DAYS[:3]:
        imgs[day] = uuid.uuid4()
        _load(db, schema, day, [(imgs[day], [((100, 100, 80, 80), _face(rng, x))])])
        _assign(pdb, day)
    a = _identity_of(db, schema, DAYS[0], imgs[DAYS[0]])[0]
    monkeypatch.setenv("FACEPIPE_DB_SCHEMA", schema)
    assert main(["people", "list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:2] == ["id", "name"]  # a table with headers
    assert any(line.split()[:2] == [str(a), "(unnamed)"] for line in out.splitlines()) and "2026-09-01" in out
    assert main(["people", "name", str(a), "Zoe Q"]) == 0
    assert main(["people", "show", str(a)]) == 0
    assert str(imgs[DAYS[1]]) in capsys.readouterr().out
    assert main(["people", "move", DAYS[1].isoformat(), str(imgs[DAYS[1]]), "0"]) == 0
    assert main(["people", "merge", str(a), "999999"]) == 2
    assert "no identity 999999" in capsys.readouterr().err
    assert main(["people", "ops"]) == 0
    out = capsys.readouterr().out
    assert "name" in out and "move" in out


# --- through the DAGs, on the sample photos -------------------------------------


@pytest.fixture(scope="module")
def nights(photos, sample_days, tmp_path_factory, pg_uri, airflow_db):
    """Three days ingested and reported through Airflow, Eileen Collins enrolled, the visitor
    (in one photo a day, never enrolled) not."""
    with reported_days("ppl_", photos, sample_days) as night:
        yield night.schema


def _visitor(db, schema, day):
    """The unnamed identity the last day's report lists as recurring on every day."""
    rows = q(
        db,
        schema,
        "SELECT DISTINCT identity_id FROM {s}.report_recurring_unknowns WHERE day = %s AND identity_days = 3",
        day,
    )
    assert len(rows) == 1, rows
    return rows[0][0]


def test_people_through_the_dags(nights, db, photos, sample_days):
    """One identity for a person seen on 3 days; naming it makes sightings on all 3 days once the
    reports run again; a re-run of a day keeps identity and name, also when another detector draws
    the boxes differently; two faces of a photo stay apart."""
    from facepipe.ops.demo import run_day
    from facepipe.people import identities as people

    schema = nights
    visitor = _visitor(db, schema, sample_days[2])
    days_of = q(
        db, schema, "SELECT day, count(*) FROM {s}.face_identity WHERE identity_id = %s GROUP BY 1 ORDER BY 1", visitor
    )
    assert days_of == [(d, 1) for d in sample_days]
    eileen = q(
        db,
        schema,
        "SELECT DISTINCT a.day FROM {s}.face_identity a JOIN {s}.identities i USING (identity_id)"
        " JOIN {s}.people p USING (person_id) WHERE p.name = 'eileen_collins' ORDER BY 1",
    )
    assert eileen == [(sample_days[0],), (sample_days[2],)]
    assert (
        q(db, schema, "SELECT day, image_id, identity_id FROM {s}.face_identity GROUP BY 1, 2, 3 HAVING count(*) > 1")
        == []
    )

    assert people.name(db, schema, visitor, "visitor_066", actor="test")["changed"]
    for day in sample_days:
        assert run_day("face_report", day.isoformat()) == "success"
    seen = q(
        db,
        schema,
        "SELECT day, identity_id, matched_by FROM {s}.report_sightings WHERE person_name = 'visitor_066' ORDER BY 1",
    )
    assert [(d, i) for d, i, _ in seen] == [(d, visitor) for d in sample_days]
    assert {m for _, _, m in seen} == {"identity"}  # named, no reference photo
    person_days = q(
        db,
        schema,
        "SELECT seen_day FROM {s}.report_person_days WHERE day = %s AND person_name = 'visitor_066' ORDER BY 1",
        sample_days[2],
    )
    assert [d for (d,) in person_days] == sample_days
    assert q(db, schema, "SELECT count(*) FROM {s}.report_recurring_unknowns WHERE identity_id = %s", visitor) == [
        (0,)
    ]  # named: no longer an unknown

    before = q(
        db,
        schema,
        "SELECT day, image_id, box_x, box_y, box_w, box_h, identity_id FROM {s}.face_identity ORDER BY 1, 2, 3, 4",
    )
    assert run_day("face_ingest", sample_days[1].isoformat(), source=str(photos)) == "success"
    assert run_day("face_report", sample_days[1].isoformat()) == "success"
    after = q(
        db,
        schema,
        "SELECT day, image_id, box_x, box_y, box_w, box_h, identity_id FROM {s}.face_identity ORDER BY 1, 2, 3, 4",
    )
    assert after == before
    assert q(
        db,
        schema,
        "SELECT identity_id FROM {s}.report_sightings WHERE day = %s AND person_name = 'visitor_066'",
        sample_days[1],
    ) == [(visitor,)]
    # Once more with another detector: it draws the visitor's box differently; the box overlap keeps them.
    box = q(
        db,
        schema,
        "SELECT box_x, box_y, box_w, box_h FROM {s}.face_identity WHERE day = %s AND identity_id = %s",
        sample_days[1],
        visitor,
    )
    assert run_day("face_ingest", sample_days[1].isoformat(), source=str(photos), detector="hog") == "success"
    assert run_day("face_report", sample_days[1].isoformat()) == "success"
    (detail,) = q(db, schema, "SELECT detail FROM {s}.audit WHERE op = 'assign' ORDER BY op_no DESC LIMIT 1")[0]
    assert detail["kept_by_overlap"] >= 1, detail
    moved = q(
        db,
        schema,
        "SELECT box_x, box_y, box_w, box_h FROM {s}.face_identity WHERE day = %s AND identity_id = %s",
        sample_days[1],
        visitor,
    )
    assert len(moved) == 1 and moved != box
    assert q(
        db,
        schema,
        "SELECT count(*) FROM {s}.report_sightings WHERE day = %s AND person_name = 'visitor_066'",
        sample_days[1],
    ) == [(1,)]
    assigned = q(db, schema, "SELECT op, who FROM {s}.audit ORDER BY op_no")
    assert ("name", "test") in assigned and sum(1 for op, _ in assigned if op == "assign") == 8
    assert all(who.startswith("airflow:face_report/") for op, who in assigned if op == "assign")


def test_an_older_schemas_people_ops_rows_move_into_audit(schema, db):
    """Before forgets and retention, the audit table was people_ops: an upgrade keeps its rows."""
    from facepipe.core.schema import require
    from facepipe.core.specs import model_spec

    spec = model_spec("dlib-resnet-128")
    require(db, schema, spec, may_upgrade=True)
    db.execute(f'DROP SCHEMA "{schema}_reader" CASCADE')  # its views read audit
    db.execute(sql_of(schema, "ALTER TABLE {s}.audit RENAME TO people_ops"))
    db.execute(sql_of(schema, "ALTER INDEX {s}.audit_identity RENAME TO people_ops_identity"))
    db.execute(sql_of(schema, "ALTER TABLE {s}.people_ops DROP COLUMN rows"))
    db.execute(
        sql_of(
            schema,
            "INSERT INTO {s}.people_ops (who, op, identity_id, detail) VALUES"
            " ('ada', 'name', 7, '{{\"name\": \"Zoe\"}}'), ('bob', 'merge', 7, '{{}}')",
        )
    )
    db.execute(sql_of(schema, "DROP TABLE {s}.alembic_version"))  # as before the schema was versioned
    require(db, schema, spec, may_upgrade=True)
    assert q(db, schema, "SELECT who, op, identity_id, detail, rows FROM {s}.audit ORDER BY op_no") == [
        ("ada", "name", 7, {"name": "Zoe"}, {}),
        ("bob", "merge", 7, {}, {}),
    ]
    assert db.execute("SELECT to_regclass(%s)", (f'"{schema}".people_ops',)).fetchone() == (None,)


def sql_of(schema: str, query: str):
    from psycopg import sql

    return sql.SQL(query).format(s=sql.Identifier(schema))


@pytest.mark.parametrize("op", ["<->", "<=>", "<#>"])
def test_unassigned_groups_nearest_identity_in_blocks_is_the_one_by_one_answer(op):
    """The Unassigned groups' 'looks like': blocks of group centres against every centroid and
    reference photo give what one centre at a time gives (threshold, ties to the first found)."""
    import numpy as np

    from facepipe.core.suppression import distances
    from facepipe.people.unassigned import _nearest_identities

    rng = np.random.default_rng(7)
    centres = rng.normal(size=(700, 16)).astype(np.float32)
    known = {
        "identity": (np.arange(100, 2100), rng.normal(size=(2000, 16)).astype(np.float32)),
        "reference": (np.arange(5000, 5030), rng.normal(size=(30, 16)).astype(np.float32)),
        "none": (np.zeros(0, np.int64), None),
    }
    d_all = np.concatenate([distances(op, centres, known[k][1]) for k in ("identity", "reference")], axis=1)
    threshold = float(np.quantile(d_all.min(axis=1), 0.5))  # about half the groups have someone near
    near, near_d = _nearest_identities(centres, known, op, threshold)
    for c in range(len(centres)):
        want, want_d = -1, None
        for ids, found in known.values():
            if found is None:
                continue
            d = distances(op, found, centres[c])
            j = int(np.argmin(d))
            if d[j] < threshold and (want_d is None or d[j] < want_d):
                want, want_d = int(ids[j]), float(d[j])
        assert near[c] == want, c
        if want >= 0:
            assert abs(near_d[c] - want_d) < 1e-6
    assert 0 < (near >= 0).sum() < len(centres)
