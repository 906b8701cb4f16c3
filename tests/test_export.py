"""A person's data on request: `facepipe export person` writes one zip of every face of theirs
(none of anyone else's), a crop per face that matches its box, their enrolment photos,
sightings and audit rows; vectors only when asked; audited; refused clearly otherwise.

The sample days ingested and reported through Airflow (dag.test), Eileen Collins enrolled.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import zipfile

import numpy as np
import pytest
from helpers.nights import reported_days
from helpers.rows import q

pytestmark = pytest.mark.dag

EILEEN = "eileen_collins"


@pytest.fixture
def night(photos, sample_days, tmp_path, airflow_db, monkeypatch):
    monkeypatch.setenv("FACEPIPE_REPORTS_DIR", str(tmp_path / "reports"))
    with reported_days("exp_", photos, sample_days) as n:
        monkeypatch.setenv("FACEPIPE_DB_SCHEMA", n.schema)
        monkeypatch.setenv("FACEPIPE_ENROL_DIR", str(n.enrol_dir))
        yield n.schema


def _her(db, schema):
    ((identity, person),) = q(
        db,
        schema,
        "SELECT i.identity_id, i.person_id FROM {s}.identities i JOIN {s}.people p USING (person_id) WHERE p.name = %s",
        EILEEN,
    )
    faces = q(
        db,
        schema,
        "SELECT f.day::text, f.image_id::text, f.face_no, f.box_x, f.box_y, f.box_w, f.box_h, i.uri"
        " FROM {s}.face_identity a JOIN {s}.faces f ON f.day = a.day AND f.image_id = a.image_id"
        " AND (f.box_x, f.box_y, f.box_w, f.box_h) = (a.box_x, a.box_y, a.box_w, a.box_h)"
        " JOIN {s}.images i ON i.day = f.day AND i.image_id = f.image_id WHERE a.identity_id = %s",
        identity,
    )
    return identity, person, faces


def test_an_export_holds_every_face_of_theirs_once_and_none_of_anyone_elses(night, db, tmp_path, capsys):
    import cv2

    from facepipe.models.imaging import decode
    from facepipe.ops.cli import main

    schema = night
    identity, person, faces = _her(db, schema)
    assert len(faces) >= 2
    others = q(db, schema, "SELECT count(*) FROM {s}.faces")[0][0] - len(faces)
    assert others > 0  # there are other people's faces to leave out

    assert main(["people", "hide", EILEEN]) == 0 and main(["people", "unhide", EILEEN]) == 0  # audit rows of hers
    capsys.readouterr()
    trail = q(
        db, schema, "SELECT op_no FROM {s}.audit WHERE identity_id = %s OR other_id = %s ORDER BY 1", identity, identity
    )
    out = tmp_path / "eileen.zip"
    assert main(["export", "person", EILEEN, str(out)]) == 0
    said = capsys.readouterr().out
    assert f"exported Eileen Collins to {out}" in said and f"{len(faces)} faces" in said, said
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600  # biometric data: the owner's only
    z = zipfile.ZipFile(out)
    whole = json.loads(z.read("person.json"))
    assert whole["person"] == {"name": EILEEN, "identity_id": identity}
    keys = sorted((f["day"], f["image_id"], f["face_no"]) for f in whole["faces"])
    assert keys == sorted((d, i, n) for d, i, n, *_ in faces)  # each face once, none of anyone else's
    assert len(set(keys)) == len(keys)
    rows = list(csv.DictReader(io.StringIO(z.read("faces.csv").decode())))
    assert sorted((r["day"], r["image_id"], int(r["face_no"])) for r in rows) == keys
    assert all(r["how_in_words"] and r["detector"] and r["model"] and r["uri"] for r in rows)
    assert "embedding" not in whole["faces"][0] and "embedding" not in rows[0]  # vectors only when asked

    # each crop is the photo's pixels at the face's box (and its margin)
    by_key = {(d, i, n): (x, y, w, h, uri) for d, i, n, x, y, w, h, uri in faces}
    for f in whole["faces"]:
        x, y, w, h, uri = by_key[(f["day"], f["image_id"], f["face_no"])]
        crop = cv2.imdecode(np.frombuffer(z.read(f["crop"]), np.uint8), cv2.IMREAD_COLOR)
        img = decode(open(uri.removeprefix("file://"), "rb").read(), max_side=100_000).rgb
        m = round(0.25 * max(w, h))
        H, W = img.shape[:2]
        region = img[max(0, y - m) : min(H, y + h + m), max(0, x - m) : min(W, x + w + m)]
        region = cv2.cvtColor(
            cv2.resize(region, (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2BGR
        )
        assert np.abs(region.astype(int) - crop.astype(int)).mean() < 8, f["crop"]
    refs = q(db, schema, "SELECT count(*) FROM {s}.person_refs WHERE person_id = %s", person)[0][0]
    assert len(whole["enrolment_photos"]) == refs >= 1
    sightings = q(db, schema, "SELECT count(*) FROM {s}.report_sightings WHERE person_id = %s", person)[0][0]
    assert len(whole["sightings"]) == sightings >= 1
    assert [a["op_no"] for a in whole["audit"]] == [n for (n,) in trail] and len(trail) >= 2
    readme = z.read("README.txt").decode()
    assert "What facepipe holds about Eileen Collins" in readme and f"{len(faces)} faces in" in readme

    # audited as who exported whom; the audit row names neither the file nor the person
    ((op, who, ident, rows, detail),) = q(
        db, schema, "SELECT op, who, identity_id, rows, detail FROM {s}.audit WHERE op = 'export'"
    )
    assert (op, ident, rows["faces"], detail) == ("export", identity, len(faces), {"vectors": False})
    assert who and EILEEN not in json.dumps([rows, detail]) and "eileen.zip" not in json.dumps([rows, detail])

    # with --vectors: each face's vector as the table holds it
    out2 = tmp_path / "with-vectors.zip"
    assert main(["export", "person", f"identity:{identity}", str(out2), "--vectors"]) == 0
    f0 = json.loads(zipfile.ZipFile(out2).read("person.json"))["faces"][0]
    ((vec,),) = q(
        db,
        schema,
        "SELECT embedding::text FROM {s}.faces WHERE day = %s AND image_id = %s AND face_no = %s",
        f0["day"],
        f0["image_id"],
        f0["face_no"],
    )
    assert np.allclose(f0["embedding"], json.loads(vec), atol=1e-6)


def test_an_export_is_refused_clearly(night, db, tmp_path, capsys):
    from facepipe.ops.cli import main

    schema = night
    out = tmp_path / "x.zip"
    assert main(["export", "person", "nobody_here", str(out)]) != 0
    assert "no enrolled or named person has this name" in capsys.readouterr().err
    assert main(["export", "person", "identity:999999", str(out)]) != 0
    assert "no identity 999999" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".*.part"))
    out.write_bytes(b"someone's file")
    assert main(["export", "person", EILEEN, str(out)]) != 0
    assert "exists" in capsys.readouterr().err and out.read_bytes() == b"someone's file"
    assert main(["export", "person", EILEEN, str(tmp_path / "no" / "such" / "x.zip")]) != 0
    assert "no folder" in capsys.readouterr().err
    assert q(db, schema, "SELECT count(*) FROM {s}.audit WHERE op = 'export'") == [(0,)]

    # after a forget, the person is unknown to export too
    assert main(["forget", "person", EILEEN]) == 0
    capsys.readouterr()
    assert main(["export", "person", EILEEN, str(tmp_path / "after.zip")]) != 0
    assert "no enrolled or named person" in capsys.readouterr().err
