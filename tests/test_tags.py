"""Face tags of photo managers, read at the night's assignment (facepipe.people.tags): sidecars
written by exiftool in digiKam's layout name an unnamed identity, add a face of no identity to
a new person, and ask (never override) where the tag disagrees with a named person; a re-run
changes nothing; sidecars are not photos (no reject).

The sample days ingested and reported through Airflow (dag.test) from a folder of their own.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from helpers.nights import photo_folder_night
from helpers.rows import q
from helpers.tagged import dark_photo, sidecar

pytestmark = [
    pytest.mark.dag,
    pytest.mark.skipif(
        shutil.which("exiftool") is None, reason="exiftool writes the sidecars (apt-get install libimage-exiftool-perl)"
    ),
]


@pytest.fixture
def night(photos, forget_photos, sample_days, tmp_path, airflow_db, monkeypatch):
    with photo_folder_night("tag_", photos, forget_photos, sample_days, tmp_path, monkeypatch) as schema:
        yield schema


def faces_of(db, schema, where: str, *args) -> list:
    return q(
        db,
        schema,
        "SELECT f.day, f.image_id, f.face_no, f.box_x, f.box_y, f.box_w, f.box_h, i.uri, i.width, i.height,"
        " a.identity_id, p.name FROM {s}.faces f JOIN {s}.images i ON i.day = f.day AND i.image_id = f.image_id"
        " LEFT JOIN {s}.face_identity a ON a.day = f.day AND a.image_id = f.image_id"
        " AND (a.box_x, a.box_y, a.box_w, a.box_h) = (f.box_x, f.box_y, f.box_w, f.box_h)"
        " LEFT JOIN {s}.identities d ON d.identity_id = a.identity_id LEFT JOIN {s}.people p ON p.person_id = d.person_id"
        " WHERE i.media = 'photo' AND " + where + " ORDER BY f.day, i.uri, f.face_no",
        *args,
    )


def where_is(db, schema, face) -> tuple:
    day, image_id, _no, x, y, w, h = face[:7]
    return q(
        db,
        schema,
        "SELECT a.identity_id, a.how, p.name FROM {s}.face_identity a JOIN {s}.identities i USING (identity_id)"
        " LEFT JOIN {s}.people p USING (person_id) WHERE a.day = %s AND a.image_id = %s"
        " AND (a.box_x, a.box_y, a.box_w, a.box_h) = (%s, %s, %s, %s)",
        day,
        image_id,
        x,
        y,
        w,
        h,
    )


def test_tags_name_add_and_ask_and_a_rerun_changes_nothing(night, db, sample_days):
    from facepipe.people.tasks import assign_people

    schema = night
    # one face each: of an unnamed identity, of no identity, of Eileen Collins; each alone in its photo's tags
    unnamed = faces_of(db, schema, "a.identity_id IS NOT NULL AND p.name IS NULL")
    loose = faces_of(db, schema, "a.identity_id IS NULL")
    eileen = faces_of(db, schema, "p.name = 'eileen_collins'")
    assert unnamed and loose and eileen, "the sample days lack a face of each kind"
    u = unnamed[0]
    lo = next(f for f in loose if f[7] != u[7])
    ei = next(f for f in eileen if f[7] not in (u[7], lo[7]))
    zoe, grace = "Zoë O'Brien", "Grace <b>Hopper</b>"  # names as other systems write them
    for face, name in ((u, zoe), (lo, grace), (ei, zoe)):
        sidecar(face[7], face[8], face[9], face[3:7], name)
    day_of = sorted({u[0], lo[0], ei[0]})
    before_audit = q(db, schema, "SELECT count(*) FROM {s}.audit")[0][0]

    done = assign_people([d.isoformat() for d in day_of])
    tags = {t["day"]: t for t in (d["tags"] for d in done)}
    assert sum(t.get("named", 0) for t in tags.values()) == 1, tags
    assert sum(t.get("added", 0) for t in tags.values()) == 1, tags

    ((ident, how, name),) = where_is(db, schema, u)
    assert (ident, how, name) == (u[10], "manual", zoe)  # the unnamed identity is Zoë now
    ((_gi, how, name),) = where_is(db, schema, lo)
    assert (how, name) == ("manual", grace)  # the face of no identity: a new person, named as written
    ((_ei, how, name),) = where_is(db, schema, ei)
    assert name == "eileen_collins"  # never overridden
    asked = q(
        db,
        schema,
        "SELECT s.identity_id, s.evidence->>'why', s.evidence->>'tag', s.state FROM {s}.suggestions s"
        " WHERE s.day = %s AND s.image_id = %s",
        ei[0],
        ei[1],
    )
    assert asked == [(u[10], "tag", zoe, "open")]
    actors = q(db, schema, "SELECT who, op FROM {s}.audit WHERE op_no > %s ORDER BY op_no", before_audit)
    tagged = [(w, op) for w, op in actors if "face tag: mwg in " in w]
    assert {op for _w, op in tagged} >= {"name", "move"}, actors

    # a re-run of the days: the same tags, nothing changes
    snapshot = q(db, schema, "SELECT identity_id, how, day, image_id, box_x FROM {s}.face_identity ORDER BY 3, 4, 5")
    done = assign_people([d.isoformat() for d in day_of])
    again = [d["tags"] for d in done]
    assert not any(t.get("named") or t.get("added") for t in again), again
    # (the night settles open questions of a day it assigns again; the tag asks its own again)
    assert (
        sum(t.get("agreed", 0) for t in again) == 2
        and sum(t.get("asked", 0) + t.get("asked_before", 0) for t in again) == 1
    )
    assert q(
        db,
        schema,
        "SELECT count(*) FROM {s}.suggestions WHERE day = %s AND image_id = %s AND state = 'open'",
        ei[0],
        ei[1],
    ) == [(1,)]
    assert (
        q(db, schema, "SELECT identity_id, how, day, image_id, box_x FROM {s}.face_identity ORDER BY 3, 4, 5")
        == snapshot
    )

    # the Suggestions page says what the tag says, markup as text
    from facepipe.web.words import evidence_words

    row = {
        "kind": "face",
        "identity_id": u[10],
        "identity_name": zoe,
        "evidence": {"why": "tag", "tag": zoe, "format": "mwg", "file": "x.jpg.xmp"},
    }
    assert evidence_words(row, 0.5)[0].startswith(f"The photo's tag says {zoe}")


def test_sidecars_are_not_photos(tmp_path):
    """A folder of photos with sidecars: the sidecars are neither arrivals nor rejects."""
    import datetime as dt

    from facepipe.core.sources import open_source

    day = tmp_path / "2026-11-20"
    day.mkdir()
    (day / "a.jpg").write_bytes(b"\xff\xd8\xff")
    (day / "a.jpg.xmp").write_text("<x:xmpmeta/>")
    (day / "b.XMP").write_text("<x:xmpmeta/>")
    names = [a.uri.rsplit("/", 1)[-1] for a in open_source(str(tmp_path)).list_day(dt.date(2026, 11, 20))]
    assert names == ["a.jpg"]


def test_a_tagged_face_the_detector_missed_becomes_a_face_found_in_search(night, db, sample_days, tmp_path):
    """A dark photo of Eileen Collins where the detector finds no face, with a digiKam sidecar
    naming her region: the night's load makes the region a face of its own (detector
    xmp-region), the assignment puts it in her identity as her decision, and a search with her
    enrolment photo finds it; a re-run makes it once, not twice."""
    import datetime as dt

    from facepipe.core.db import connect
    from facepipe.core.deployment import settings
    from facepipe.core.specs import model_spec
    from facepipe.ingest.regions import REGION_DETECTOR
    from facepipe.ops.demo import run_day
    from facepipe.ops.samples import enrolment_photos
    from facepipe.search.query import query_vector, search_faces

    schema = night
    people = enrolment_photos(tmp_path / "people")
    ref, seen = people["eileen_collins"][0], people["eileen_collins"][-1]
    spec = model_spec("dlib-resnet-128")
    day = sample_days[-1] + dt.timedelta(days=1)
    (uri,) = q(db, schema, "SELECT uri FROM {s}.images WHERE day = %s LIMIT 1", sample_days[-1])[0]
    folder = Path(uri).parent.parent
    (folder / day.isoformat()).mkdir()
    photo = folder / day.isoformat() / "IMG_0001.jpg"
    box = dark_photo(seen, photo)  # an underexposed photo: her face where the detector sees none
    sidecar(str(photo), 1600, 1200, box, "eileen_collins")
    for _run in range(2):  # a re-run too
        assert run_day("face_ingest", day.isoformat(), source=str(folder)) == "success"
        assert run_day("face_report", day.isoformat()) == "success"
        made = faces_of(db, schema, "f.day = %s", day)
        assert len(made) == 1, made  # the region's face, once
        ((_d, _i, _n, x, y, w, h, _u, _w, _h, _ident, name),) = made
        assert all(abs(a - b) <= 2 for a, b in zip((x, y, w, h), box)), ((x, y, w, h), box)
        assert name == "eileen_collins"
        assert q(db, schema, "SELECT detector FROM {s}.faces WHERE day = %s", day) == [(REGION_DETECTOR,)]
        assert where_is(db, schema, made[0])[0][1] == "manual"  # her decision: the night never moves it
    with connect() as conn:
        found = search_faces(
            conn,
            schema,
            spec,
            query_vector(ref, spec, settings().detector),
            k=10,
            since=sample_days[0],
            until=day,
        )
    mine = [m for m in found if m.day == day]
    assert mine and mine[0].distance < spec.match_threshold, [(m.day, m.distance) for m in found]


def test_regions_beside_a_detected_face_and_each_other_at_the_load(tmp_path):
    """missed_faces compared its boxes with a detected face's, or with one region it had already
    made a face, by unpacking them as tuples: a TypeError that stopped the day's load for any
    photo with a detected face and a named region, or with two named regions. Also: a sidecar
    of many named regions makes at most MAX_REGION_FACES faces."""
    from PIL import Image

    from facepipe.ingest.regions import MAX_REGION_FACES, missed_faces
    from facepipe.models.detect import Box

    w, h = 1600, 1200
    photo = tmp_path / "IMG_0001.jpg"
    Image.new("RGB", (w, h), (90, 110, 90)).save(photo, "JPEG", quality=80)
    found = [Box(100, 100, 200, 200, 0.99)]
    items = [(110, 100, 200, 200, "Ann"), (800, 400, 200, 200, "Bob"), (820, 410, 200, 200, "Bob twice")]
    regions = ",".join(
        f"{{Area={{X={(x + bw / 2) / w:.6f},Y={(y + bh / 2) / h:.6f},W={bw / w:.6f},H={bh / h:.6f},Unit=normalized}},"
        f"Name={n},Type=Face}}"
        for x, y, bw, bh, n in items
    )
    info = f"-XMP-mwg-rs:RegionInfo={{AppliedToDimensions={{W={w},H={h},Unit=pixel}},RegionList=[{regions}]}}"
    out = photo.with_name(photo.name + ".xmp")
    subprocess.run(["exiftool", "-q", "-q", "-o", str(out), info, str(photo)], check=True)
    made = missed_faces(str(photo), photo.read_bytes(), w, h, found)
    # Ann's region is the detected face, Bob's is missed, "Bob twice" overlaps Bob's
    assert [(b.x, b.y, b.w, b.h) for b in made] == [(800, 400, 200, 200)]

    many = [(20 + 40 * (i % 38), 20 + 40 * (i // 38), 30, 30, f"P{i}") for i in range(3 * MAX_REGION_FACES // 2)]
    regions = ",".join(
        f"{{Area={{X={(x + bw / 2) / w:.6f},Y={(y + bh / 2) / h:.6f},W={bw / w:.6f},H={bh / h:.6f},Unit=normalized}},"
        f"Name={n},Type=Face}}"
        for x, y, bw, bh, n in many
    )
    info = f"-XMP-mwg-rs:RegionInfo={{AppliedToDimensions={{W={w},H={h},Unit=pixel}},RegionList=[{regions}]}}"
    out.unlink()
    subprocess.run(["exiftool", "-q", "-q", "-o", str(out), info, str(photo)], check=True)
    assert len(missed_faces(str(photo), photo.read_bytes(), w, h, [])) == MAX_REGION_FACES
