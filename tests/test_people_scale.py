"""People at scale: identities stay pure, the night says when it is unsure, and a
re-cluster keeps what people decided (facepipe.people.identities, .suggestions,
.recluster). Synthetic 128-d faces, loaded the way a night loads them, on the real
PostgreSQL; the model's threshold is dlib's 0.5.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import numpy as np
import pytest
from helpers.rows import q
from test_people import DAYS, _assign, _face, _load, _person

BOX = (100, 100, 80, 80)


@pytest.fixture
def people_db(schema, db):
    from pgvector.psycopg import register_vector

    from facepipe.core.schema import require
    from facepipe.core.specs import model_spec

    spec = model_spec("dlib-resnet-128")
    require(db, schema, spec, may_upgrade=True)
    register_vector(db)
    return db, schema, spec


def _near(rng, centre, distance):
    """A point ``distance`` from ``centre`` in a random direction."""
    d = rng.normal(size=128)
    return centre + distance * d / np.linalg.norm(d)


def _day(db, schema, day, faces):
    """faces: [vector] -> one photo each; returns their image ids."""
    ids = [uuid.uuid4() for _ in faces]
    _load(db, schema, day, [(i, [(BOX, v)]) for i, v in zip(ids, faces)])
    return ids


def _ident(db, schema, day, image_id):
    rows = q(db, schema, "SELECT identity_id FROM {s}.face_identity WHERE day = %s AND image_id = %s", day, image_id)
    return rows[0][0] if rows else None


def _suggestions(db, schema, state="open"):
    return q(
        db,
        schema,
        "SELECT suggestion_id, kind, identity_id, other_id, day, image_id, state FROM {s}.suggestions"
        " WHERE state = %s ORDER BY suggestion_id",
        state,
    )


def test_look_alikes_closer_than_the_threshold_stay_apart(people_db):
    db, schema, _ = people_db
    rng = np.random.default_rng(21)
    a = _person(rng)[0]
    b = _near(rng, a, 0.46)  # two people 0.46 apart: their faces about 0.48, inside the threshold
    seen = {"a": [], "b": []}
    for day in DAYS:
        got = _day(db, schema, day, [_face(rng, a, 0.01) for _ in range(2)] + [_face(rng, b, 0.01) for _ in range(2)])
        _assign(people_db, day)
        seen["a"] += [(day, i) for i in got[:2]]
        seen["b"] += [(day, i) for i in got[2:]]
    ids_a = {_ident(db, schema, d, i) for d, i in seen["a"]}
    ids_b = {_ident(db, schema, d, i) for d, i in seen["b"]}
    assert None not in ids_a and None not in ids_b  # each one has an identity ...
    assert len(ids_a) == 1 and len(ids_b) == 1 and ids_a != ids_b  # ... of their own


def test_a_stranger_near_a_large_identity_is_not_absorbed_and_is_asked_about(people_db):
    db, schema, _ = people_db
    rng = np.random.default_rng(22)
    x = _person(rng)[0]
    for day in DAYS[:3]:
        _day(db, schema, day, [_face(rng, x, 0.01) for _ in range(8)])
        _assign(people_db, day)
    (ident,) = {r[0] for r in q(db, schema, "SELECT identity_id FROM {s}.face_identity")}
    assert q(db, schema, "SELECT faces FROM {s}.identities WHERE identity_id = %s", ident) == [(24,)]
    # the last night: one more face of x, a stranger 0.40 from x (inside the join distance,
    # but far outside x's own radius) and one 0.47 from x (a centroid join took it before)
    own, near, farther = _day(db, schema, DAYS[3], [_face(rng, x, 0.01), _near(rng, x, 0.40), _near(rng, x, 0.47)])
    counts = _assign(people_db, DAYS[3])
    assert _ident(db, schema, DAYS[3], own) == ident
    assert _ident(db, schema, DAYS[3], near) is None and _ident(db, schema, DAYS[3], farther) is None
    assert counts["joined"] == 1 and counts["unsure"] == 2
    asked = _suggestions(db, schema)
    assert {(r[1], r[2], r[5]) for r in asked} == {("face", ident, near), ("face", ident, farther)}
    evidence = q(db, schema, "SELECT evidence FROM {s}.suggestions WHERE image_id = %s", near)[0][0]
    assert evidence["why"] == "outside its radius" and 0.39 < evidence["distance"] < 0.41
    assert evidence["identity_faces"] == 25  # with the night's own face


def test_an_answer_no_is_remembered_and_yes_moves_the_face(people_db, capsys):
    from facepipe.ops.cli import main

    db, schema, _ = people_db
    rng = np.random.default_rng(23)
    x = _person(rng)[0]
    for day in DAYS[:3]:
        _day(db, schema, day, [_face(rng, x, 0.01) for _ in range(8)])
        _assign(people_db, day)
    (ident,) = {r[0] for r in q(db, schema, "SELECT identity_id FROM {s}.face_identity")}
    stranger, twin = _day(db, schema, DAYS[3], [_near(rng, x, 0.40), _near(rng, x, 0.41)])
    _assign(people_db, DAYS[3])
    asked = {r[5]: r[0] for r in _suggestions(db, schema)}
    assert set(asked) == {stranger, twin}
    # the command line lists them as a table with headers, and as JSON
    assert main(["people", "suggestions"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["n", "state", "question"]
    assert f"is this face identity {ident}?" in out
    assert main(["people", "suggestions", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted(r["suggestion_id"] for r in listed) == sorted(asked.values())
    # no: remembered, not asked again when the night runs again, the face stays out
    assert main(["people", "answer", str(asked[stranger]), "no"]) == 0
    assert "never joins identity" in capsys.readouterr().out
    assert main(["people", "answer", str(asked[stranger]), "yes"]) == 2  # answered already
    assert "was answered no" in capsys.readouterr().err
    _assign(people_db, DAYS[3])  # a re-run of the night
    assert _ident(db, schema, DAYS[3], stranger) is None
    assert q(db, schema, "SELECT count(*) FROM {s}.suggestions WHERE image_id = %s", stranger) == [(1,)]
    # yes: the face moves into the identity (a manual assignment), through the people operations
    assert main(["people", "answer", str(asked[twin]), "yes"]) == 0
    assert _ident(db, schema, DAYS[3], twin) == ident
    assert q(db, schema, "SELECT how FROM {s}.face_identity WHERE image_id = %s", twin) == [("manual",)]
    ops = q(db, schema, "SELECT op, identity_id, detail->>'answer' FROM {s}.audit WHERE op IN ('answer', 'move')")
    assert ("answer", ident, "no") in ops and ("answer", ident, "yes") in ops and ("move", ident, None) in ops
    assert _suggestions(db, schema) == []


def test_a_recluster_keeps_names_manual_moves_and_no_answers(people_db, capsys, monkeypatch):
    from facepipe.ops.cli import main
    from facepipe.people.tasks import change_people

    db, schema, _ = people_db
    rng = np.random.default_rng(24)
    x, y, z = _person(rng, 3)
    days_of = {}
    for day in DAYS[:3]:
        extra = [_face(rng, z, 0.01)] if day == DAYS[1] else []  # z: seen once, in no identity
        days_of[day] = _day(
            db, schema, day, [_face(rng, x, 0.01) for _ in range(3)] + [_face(rng, y, 0.01) for _ in range(3)] + extra
        )
        _assign(people_db, day)
    ix = _ident(db, schema, DAYS[0], days_of[DAYS[0]][0])
    change_people("name", conn=db, identity_id=ix, name="Xena")
    # a person puts z's face in an identity of its own
    moved_img = days_of[DAYS[1]][6]
    assert _ident(db, schema, DAYS[1], moved_img) is None
    r = change_people("move", conn=db, day=DAYS[1], image_id=moved_img, face_no=0)
    lone = r["identity_id"]
    # a stranger near x, answered no
    (stranger,) = _day(db, schema, DAYS[3], [_near(rng, x, 0.47)])
    _assign(people_db, DAYS[3])
    (n,) = [r[0] for r in _suggestions(db, schema) if r[5] == stranger]
    change_people("answer", conn=db, suggestion_id=n, yes=False)
    before = q(db, schema, "SELECT day, image_id, identity_id FROM {s}.face_identity ORDER BY 1, 2")

    assert main(["people", "recluster", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run" in out and "names kept" in out
    assert q(db, schema, "SELECT day, image_id, identity_id FROM {s}.face_identity ORDER BY 1, 2") == before
    assert main(["people", "recluster", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["names_kept"] == 1 and r["manual_kept"] == 1 and not r["dry_run"]
    after = q(db, schema, "SELECT day, image_id, identity_id FROM {s}.face_identity ORDER BY 1, 2")
    assert after == before  # the same faces in the same identities, numbers included
    assert q(db, schema, "SELECT p.name FROM {s}.identities i JOIN {s}.people p USING (person_id)") == [("Xena",)]
    assert _ident(db, schema, DAYS[1], moved_img) == lone
    assert _ident(db, schema, DAYS[3], stranger) is None
    assert q(db, schema, "SELECT state FROM {s}.suggestions WHERE suggestion_id = %s", n) == [("no",)]
    assert q(db, schema, "SELECT count(*) FROM {s}.audit WHERE op = 'recluster'") == [(1,)]


def test_a_recluster_fixes_a_wrong_join_and_keeps_a_no_merge_apart(people_db, capsys):
    """History assigned by the old rule (a stranger in x's identity, two identities said to be
    two people) is put right by a re-cluster, and the pair answered no stays two."""
    from facepipe.people.tasks import change_people, recluster_people

    db, schema, _ = people_db
    rng = np.random.default_rng(25)
    x = _person(rng)[0]
    for day in DAYS[:3]:
        _day(db, schema, day, [_face(rng, x, 0.01) for _ in range(8)])
        _assign(people_db, day)
    (ix,) = {r[0] for r in q(db, schema, "SELECT identity_id FROM {s}.face_identity")}
    (stranger,) = _day(db, schema, DAYS[3], [_near(rng, x, 0.42)])
    _assign(people_db, DAYS[3])
    # what the old nearest-centroid rule did: the stranger in x's identity
    q(
        db,
        schema,
        "INSERT INTO {s}.face_identity (day, image_id, box_x, box_y, box_w, box_h, identity_id, how, distance)"
        " SELECT day, image_id, box_x, box_y, box_w, box_h, %s, 'identity', 0.42 FROM {s}.faces"
        " WHERE image_id = %s RETURNING 1",
        ix,
        stranger,
    )
    q(db, schema, "DELETE FROM {s}.suggestions RETURNING 1")
    r = recluster_people()
    assert r["faces_left_identities"] == 1 and r["names_kept"] == 0
    assert _ident(db, schema, DAYS[3], stranger) is None
    assert {x[0] for x in q(db, schema, "SELECT identity_id FROM {s}.face_identity")} == {ix}
    # two identities, asked about and answered no: never merged, also not by a re-cluster
    y = _near(rng, x, 0.3)
    day5 = DAYS[3] + dt.timedelta(days=1)
    (iy_img,) = _day(db, schema, day5, [_face(rng, y, 0.01)])
    other = change_people("move", conn=db, day=day5, image_id=iy_img, face_no=0)["identity_id"]
    a, b = sorted((ix, other))
    (n,) = q(
        db,
        schema,
        "INSERT INTO {s}.suggestions (kind, identity_id, other_id, evidence) VALUES ('merge', %s, %s, '{{}}')"
        " RETURNING suggestion_id",
        a,
        b,
    )[0]
    change_people("answer", conn=db, suggestion_id=n, yes=False)
    recluster_people()
    assert _ident(db, schema, day5, iy_img) == other
    assert q(db, schema, "SELECT state FROM {s}.suggestions WHERE suggestion_id = %s", n) == [("no",)]


def test_forget_deletes_the_persons_suggestions(people_db):
    from facepipe.privacy.forget import forget_person

    db, schema, spec = people_db
    rng = np.random.default_rng(26)
    x = _person(rng)[0]
    for day in DAYS[:3]:
        _day(db, schema, day, [_face(rng, x, 0.01) for _ in range(8)])
        _assign(people_db, day)
    (ix,) = {r[0] for r in q(db, schema, "SELECT identity_id FROM {s}.face_identity")}
    (near,) = _day(db, schema, DAYS[3], [_near(rng, x, 0.40)])
    _assign(people_db, DAYS[3])
    assert len(_suggestions(db, schema)) == 1
    forget_person(db, schema, str(ix), spec, threshold=spec.match_threshold)
    assert q(db, schema, "SELECT count(*) FROM {s}.suggestions") == [(0,)]


@pytest.mark.parametrize("model", ["dlib-resnet-128", "imgbeddings-clip-768"])
def test_the_joins_distances_are_pgvectors(people_db, model):
    """The night compares faces with centroids, members and reference photos in numpy: its
    distances must be the model's own operator's (L2 for dlib, cosine for CLIP), as the
    threshold is."""
    from facepipe.core.specs import model_spec
    from facepipe.core.suppression import distances

    db, _, _ = people_db
    spec = model_spec(model)
    rng = np.random.default_rng(7)
    a = rng.normal(size=(5, spec.dim)).astype(np.float32)
    b = rng.normal(size=(3, spec.dim)).astype(np.float32)
    op = spec.distance_op
    want = np.array(
        [
            [
                db.execute(f"SELECT %s::vector {op} %s::vector", (list(map(float, x)), list(map(float, y)))).fetchone()[
                    0
                ]
                for y in b
            ]
            for x in a
        ]
    )
    np.testing.assert_allclose(distances(op, a, b), want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(distances(op, a, b[0]), want[:, 0], rtol=1e-4, atol=1e-5)
