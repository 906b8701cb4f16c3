"""Bad input end to end: one face_ingest run over a day of awkward files (tests/helpers/bad_inputs.py).

Every file that arrives must end up either as an image (with the right faces,
boxes in the upright image) or as a reject with a reason code and readable
detail; nothing may go missing, and nothing a file holds or is called may
change the database beyond its own rows.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import time
import tracemalloc
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from helpers.bad_inputs import EILEEN, FILE_NAMES, ODD_NAMES, Expect, astronaut_photo, make_bad_inputs
from helpers.rows import q
from psycopg import sql

from facepipe.ops.demo import run_day

pytestmark = pytest.mark.dag

DAY = dt.date(2026, 11, 20)
EMPTY_DAY = dt.date(2026, 11, 21)
ODD_BYTES_DAY = dt.date(2026, 11, 22)


@dataclass
class Ingest:
    schema: str
    root: Path
    day_dir: Path
    expect: dict[str, Expect]
    state: str
    seconds: float
    images: dict  # file name -> images row (dict)
    faces: dict  # file name -> [faces row (dict)]
    rejects: dict  # file name -> rejects row (dict)


def _rows(db, schema, query, *params) -> list[dict]:
    cur = db.execute(sql.SQL(query).format(s=sql.Identifier(schema)), params)
    names = [c.name for c in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, pg_uri, airflow_db):
    """make_bad_inputs in one dated folder, then ONE face_ingest run over that day."""
    import psycopg

    schema = "bad_" + uuid.uuid4().hex[:8]
    root = tmp_path_factory.mktemp("bad-source").absolute()
    day_dir = root / DAY.isoformat()
    expect = make_bad_inputs(day_dir, tmp_path_factory.mktemp("bad-outside"))
    (root / EMPTY_DAY.isoformat()).mkdir()
    saved = os.environ.get("FACEPIPE_DB_SCHEMA")
    os.environ["FACEPIPE_DB_SCHEMA"] = schema
    try:
        started = time.monotonic()
        state = run_day("face_ingest", DAY.isoformat(), source=str(root))
        seconds = time.monotonic() - started
        with psycopg.connect(pg_uri, autocommit=True) as db:
            prefix = str(day_dir) + "/"

            def name(uri: str) -> str:
                assert uri.startswith(prefix), uri
                return uri[len(prefix) :]

            images = {name(r["uri"]): r for r in _rows(db, schema, "SELECT * FROM {s}.images WHERE day = %s", DAY)}
            faces: dict = {}
            for r in _rows(
                db,
                schema,
                "SELECT i.uri, i.width, i.height, f.face_no, f.box_x, f.box_y, f.box_w,"
                " f.box_h, f.embedding::text AS embedding FROM {s}.faces f"
                " JOIN {s}.images i USING (day, image_id) WHERE f.day = %s"
                " ORDER BY i.uri, f.face_no",
                DAY,
            ):
                r["embedding"] = np.asarray([float(v) for v in r["embedding"].strip("[]").split(",")])
                faces.setdefault(name(r["uri"]), []).append(r)
            rejects = {name(r["uri"]): r for r in _rows(db, schema, "SELECT * FROM {s}.rejects WHERE day = %s", DAY)}
        yield Ingest(schema, root, day_dir, expect, state, seconds, images, faces, rejects)
    finally:
        os.environ.pop("FACEPIPE_DB_SCHEMA", None) if saved is None else os.environ.__setitem__(
            "FACEPIPE_DB_SCHEMA", saved
        )
        with psycopg.connect(pg_uri, autocommit=True) as db:
            db.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def in_schema(ingested, monkeypatch):
    monkeypatch.setenv("FACEPIPE_DB_SCHEMA", ingested.schema)
    return ingested


def test_the_day_loads_despite_its_bad_files(ingested):
    assert ingested.state == "success"
    assert ingested.seconds < 120, f"one run over {len(FILE_NAMES)} files took {ingested.seconds:.0f} s"


@pytest.mark.parametrize("name", FILE_NAMES)
def test_each_file_gets_its_outcome(ingested, name):
    want = ingested.expect[name]
    if want.outcome == "rejected":
        assert name not in ingested.images, f"{name} was loaded: {ingested.images.get(name)}"
        assert name in ingested.rejects, f"{name} is neither loaded nor rejected"
        assert ingested.rejects[name]["reason"] == want.reason, ingested.rejects[name]
        return
    assert name not in ingested.rejects, f"{name} was rejected: {ingested.rejects.get(name)}"
    row = ingested.images[name]
    assert row["status"] == "loaded"
    n = len(ingested.faces.get(name, []))
    assert row["face_count"] == n
    assert want.face_count_ok(n), f"{name}: {n} faces, expected {want.faces if want.faces is not None else want}"
    if want.size is not None:
        assert (row["width"], row["height"]) == want.size


def test_every_file_that_arrived_is_an_image_or_a_reject(ingested, db):
    arrived = sorted(os.listdir(ingested.day_dir))
    assert sorted(ingested.expect) == arrived
    assert not set(ingested.images) & set(ingested.rejects)
    assert sorted([*ingested.images, *ingested.rejects]) == arrived  # nothing missing, nothing extra
    runs = q(db, ingested.schema, "SELECT images, duplicates, faces, rejects FROM {s}.load_runs WHERE day = %s", DAY)
    n_faces = sum(len(v) for v in ingested.faces.values())
    assert runs == [(len(ingested.images), 0, n_faces, len(ingested.rejects))]
    assert len(ingested.images) + len(ingested.rejects) == len(arrived)


def test_every_face_box_is_inside_its_upright_image(ingested):
    boxes = [f for fs in ingested.faces.values() for f in fs]
    assert len(boxes) >= 17
    for f in boxes:
        assert f["box_w"] > 0 and f["box_h"] > 0, f
        assert 0 <= f["box_x"] and f["box_x"] + f["box_w"] <= f["width"], f
        assert 0 <= f["box_y"] and f["box_y"] + f["box_h"] <= f["height"], f


@pytest.mark.parametrize(
    "name",
    [n for n in FILE_NAMES if n.startswith("rotated_")]
    + ["twenty_megapixel.jpg", "cmyk.jpg", "animated.gif", ODD_NAMES[2]],
)
def test_the_box_is_where_the_face_is_in_the_upright_image(ingested, name):
    want = ingested.expect[name]
    (face,) = ingested.faces[name]
    x, y, w, h = want.face_box
    cx, cy = face["box_x"] + face["box_w"] / 2, face["box_y"] + face["box_h"] / 2
    assert abs(cx - (x + w / 2)) < 0.25 * w and abs(cy - (y + h / 2)) < 0.25 * h, (face, want.face_box)
    assert 0.7 < face["box_w"] / w < 1.45, (face, want.face_box)
    if want.size:
        assert (face["width"], face["height"]) == want.size


def test_every_photo_of_eileen_embeds_as_the_same_person(ingested):
    """Formats and colour models decode to the right colours: each face is Eileen's, not a stranger's."""
    from facepipe.core.specs import model_spec

    threshold = model_spec("dlib-resnet-128").match_threshold
    hers = {
        n: ingested.faces[n][0]["embedding"]
        for n, e in ingested.expect.items()
        if e.who == EILEEN and len(ingested.faces.get(n, [])) == 1
    }
    assert len(hers) >= 12
    centre = np.mean(list(hers.values()), axis=0)
    far = {n: round(float(np.linalg.norm(v - centre)), 3) for n, v in hers.items()}
    assert max(far.values()) < threshold / 2, far


_BYTES_REPR = re.compile(r"""\bb['"]|\\x[0-9a-fA-F]{2}|object at 0x|<class '|bytearray\(""")


def test_rejects_say_why_in_readable_text(ingested):
    assert ingested.rejects
    for name, r in ingested.rejects.items():
        detail = r["detail"]
        assert isinstance(detail, str) and detail.strip(), r
        assert detail.isprintable(), (name, detail)
        assert not _BYTES_REPR.search(detail), (name, detail)
        assert len(detail) < 300, (name, detail)
        assert r["source"] == str(ingested.root)
    sizes = {name: r["bytes"] for name, r in ingested.rejects.items()}
    assert sizes["empty.jpg"] == 0
    assert sizes["bomb.png"] == (ingested.day_dir / "bomb.png").stat().st_size


def test_names_with_quotes_sql_and_unicode_are_stored_exactly(ingested, db):
    from facepipe.ingest.process import image_id

    assert q(db, ingested.schema, "SELECT to_regclass(%s) IS NOT NULL", f"{ingested.schema}.faces") == [(True,)]
    assert q(db, ingested.schema, "SELECT count(*) FROM {s}.faces WHERE day = %s", DAY)[0][0] == sum(
        len(v) for v in ingested.faces.values()
    )
    for name in ODD_NAMES:
        row = ingested.images[name]
        assert row["uri"] == str(ingested.day_dir / name)
        assert row["image_id"] == image_id(str(ingested.day_dir / name))
        found = q(db, ingested.schema, "SELECT count(*) FROM {s}.images WHERE uri = %s", str(ingested.day_dir / name))
        assert found == [(1,)]


def test_the_decompression_bomb_is_refused_without_allocating_it(ingested):
    from facepipe.core.sources import Unreadable
    from facepipe.models.imaging import decode

    data = (ingested.day_dir / "bomb.png").read_bytes()
    tracemalloc.start()
    try:
        with pytest.raises(Unreadable) as info:
            decode(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.reason == "too_large"
    assert peak < 16 * 2**20, f"{peak / 2**20:.0f} MiB allocated to refuse a {len(data)}-byte file"
    assert (
        "50000" in ingested.rejects["bomb.png"]["detail"].replace(",", "")
        or "2500000000" in ingested.rejects["bomb.png"]["detail"]
    )


def test_an_empty_day_succeeds_with_zero_rows(in_schema, db):
    assert not any((in_schema.root / EMPTY_DAY.isoformat()).iterdir())
    assert run_day("face_ingest", EMPTY_DAY.isoformat(), source=str(in_schema.root)) == "success"
    s = in_schema.schema
    for table in ("images", "faces", "rejects"):
        count = db.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE day = %s").format(sql.Identifier(s, table)), (EMPTY_DAY,)
        ).fetchone()
        assert count == (0,), table
    assert q(db, s, "SELECT images, duplicates, faces, rejects FROM {s}.load_runs WHERE day = %s", EMPTY_DAY) == [
        (0, 0, 0, 0)
    ]
    # the day before is untouched
    assert q(db, s, "SELECT count(*) FROM {s}.images WHERE day = %s", DAY) == [(len(in_schema.images),)]


def _ingest_without_airflow(day: dt.date, root: Path) -> dict:
    """The ingest's steps as the DAG's tasks call them, in this process (no retries to wait for)."""
    from facepipe.ingest.tasks import index, load, options, plan, process_shard, validate

    opts = options(str(root), "hog", "dlib-resnet-128")
    run_id = f"manual__{uuid.uuid4().hex[:8]}"
    shards = plan(day.isoformat(), run_id, opts)
    for shard in shards:
        process_shard(shard)
    validate(day.isoformat(), run_id, opts)
    counts = load(day.isoformat(), run_id, opts)
    index(day.isoformat(), opts)
    return counts


def test_a_newline_in_a_file_name_is_stored_exactly(in_schema, db):
    from facepipe.ops.samples import jpeg_bytes

    day = ODD_BYTES_DAY
    folder = in_schema.root / day.isoformat()
    folder.mkdir(exist_ok=True)
    (folder / "two\nlines.jpg").write_bytes(jpeg_bytes(astronaut_photo(51)[0]))
    counts = _ingest_without_airflow(day, in_schema.root)
    assert (counts["images"], counts["rejects"], counts["faces"]) == (1, 0, 1)
    assert q(db, in_schema.schema, "SELECT uri FROM {s}.images WHERE day = %s", day) == [
        (str(folder / "two\nlines.jpg"),)
    ]


def test_a_file_name_that_is_not_utf8_does_not_sink_the_day(in_schema, db):
    """A Latin-1 name (old cameras, zip files from Windows): the other photos of the day must still load."""
    from facepipe.ops.samples import jpeg_bytes

    day = ODD_BYTES_DAY + dt.timedelta(days=1)
    folder = in_schema.root / day.isoformat()
    folder.mkdir()
    (folder / "fine.jpg").write_bytes(jpeg_bytes(astronaut_photo(50)[0]))
    latin1 = os.path.join(os.fsencode(folder), b"caf\xe9 cr\xe8me.jpg")
    with open(latin1, "wb") as f:
        f.write(jpeg_bytes(astronaut_photo(52)[0]))
    assert len(os.listdir(folder)) == 2

    counts = _ingest_without_airflow(day, in_schema.root)
    assert counts["images"] + counts["rejects"] == 2, counts
    images = dict(q(db, in_schema.schema, "SELECT uri, face_count FROM {s}.images WHERE day = %s", day))
    assert images[str(folder / "fine.jpg")] == 1
    assert images[str(folder / "caf\\xe9 cr\\xe8me.jpg")] == 1  # loaded, its odd bytes written as \xNN
    rejects = q(db, in_schema.schema, "SELECT uri, reason, detail FROM {s}.rejects WHERE day = %s", day)
    for uri, _reason, detail in rejects:  # if it is rejected, the row must still be readable text
        uri.encode("utf-8")
        assert detail.isprintable()
