"""Issue 12 through Airflow on the embedded PostgreSQL: one day holding every case
that used to fail a day or hide a file, run as a worker with a memory limit.

The day (today, UTC: loose files are placed by when they arrived) holds, next to
ordinary photos: an EXIF camera model with a NUL byte, an 8 GiB (sparse) phone
video, an hour of 4K video (streamed, sampled sparsely), a Latin-1 file name next to a file literally named with its ``\\xNN``
escape, declared-huge HEIF and GIF files, a JPEG of 20,000 scans, links to
folders inside and outside the source, a folder the worker may not list, a path
longer than PATH_MAX, a folder named like an impossible date, and photos copied
with an old mtime (``cp -p``) into ``archive/2026-10-07/`` and ``2026/10/07/``
after that day ran. The worker runs in a subprocess under RLIMIT_AS (``ulimit
-v``) and, when the tests run as root, without root's power to read any folder.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.bad_inputs import astronaut_photo
from helpers.hostile import avif_declaring, deep_file, gif_declaring, jpeg_with_camera, progressive_jpeg_with_scans
from helpers.rows import q
from helpers.videos import long_4k_video
from psycopg import sql

pytestmark = pytest.mark.dag

OLD_DAY = dt.date(2026, 10, 7)
WORKER_MEMORY_GIB = 4  # the address space the worker may use: half of the video
VIDEO_BYTES = 8 * 2**30
HELPERS = Path(__file__).parent / "helpers"


def _photo(seed: int) -> bytes:
    from facepipe.ops.samples import jpeg_bytes

    return jpeg_bytes(astronaut_photo(seed)[0])


def _old_copy(path: Path, data: bytes) -> None:
    """What ``cp -p`` / ``rsync -a`` leave: today's ctime, the original's old mtime."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    old = dt.datetime(2026, 10, 7, 9, 30, tzinfo=dt.UTC).timestamp()
    os.utime(path, (old, old))


def walk_as_the_worker(root: Path, day: dt.date) -> list[bytes]:
    """helpers/walk.py's independent count, with the worker's powers over files."""
    out = subprocess.run(
        [sys.executable, str(HELPERS / "walk.py"), str(root), day.isoformat(), "--drop-dac"],
        capture_output=True,
        text=True,
        check=True,
        cwd=HELPERS,
    )
    return [bytes.fromhex(h) for h in json.loads(out.stdout)]


def _worker_env(pg_uri: str, tmp_path_factory) -> dict:
    """The environment of a worker that runs as root without root's power over files:
    it cannot enter the embedded server's data folder, which holds the server's socket,
    so it reaches the server through a hard link to the socket, as an external server
    through AIRFLOW_CONN_FACEPIPE_DB."""
    from psycopg.conninfo import conninfo_to_dict

    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]),
        # a 2-core worker's threads and malloc arenas, whatever this machine has: many
        # cores reserve address space (64 MiB an arena) that a 2-core worker never would
        "MALLOC_ARENA_MAX": "2",
        "OMP_NUM_THREADS": "2",
        "OPENBLAS_NUM_THREADS": "2",
        # the hour of 4K video: 8 frames spread over it (sampled sparsely), detected at full size by HOG
        "FACEPIPE_VIDEO_MAX_FRAMES": "8",
    }
    if os.geteuid() != 0:
        return env
    info = conninfo_to_dict(pg_uri)
    sockets = tmp_path_factory.mktemp("pg-socket")
    (socket,) = [p for p in Path(info["host"]).glob(".s.PGSQL.*") if not p.name.endswith(".lock")]
    os.link(socket, sockets / socket.name)
    env["AIRFLOW_CONN_FACEPIPE_DB"] = json.dumps(
        {
            "conn_type": "postgres",
            "host": str(sockets),
            "port": int(socket.name.rsplit(".", 1)[1]),
            "login": info.get("user", "postgres"),
            "schema": info.get("dbname", "postgres"),
        }
    )
    return env


@dataclass
class Day:
    schema: str
    root: Path
    day: dt.date
    worker: dict
    seconds: float
    images: dict  # uri -> row
    rejects: dict  # uri -> row
    expect_rejects: dict  # uri -> reason
    expect_loaded: set  # uri


def _rows(db, schema, query, *params) -> list[dict]:
    cur = db.execute(sql.SQL(query).format(s=sql.Identifier(schema)), params)
    names = [c.name for c in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


@pytest.fixture(scope="module")
def day_run(tmp_path_factory, pg_uri, airflow_db):
    import psycopg

    from facepipe.core.sources import MAX_URI_BYTES, uri_of
    from facepipe.ingest.tasks import options, plan

    schema = "every_" + uuid.uuid4().hex[:8]
    saved = os.environ.get("FACEPIPE_DB_SCHEMA")
    os.environ["FACEPIPE_DB_SCHEMA"] = schema
    root = tmp_path_factory.mktemp("every-source").absolute()
    outside = tmp_path_factory.mktemp("every-outside").absolute()
    today = dt.datetime.now(dt.UTC).date()
    d = root / today.isoformat()
    d.mkdir()
    loaded, rejected = set(), {}

    def put(path: Path, data: bytes, reason: str | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        (rejected.__setitem__(uri_of(path), reason) if reason else loaded.add(uri_of(path)))

    put(d / "fine 1.jpg", _photo(61))
    put(d / "fine 2.jpg", _photo(62))
    put(d / "nul camera.jpg", jpeg_with_camera(astronaut_photo(63)[0], "Canon\x00EOS R5\x00"))
    video = d / "phone video.mp4"
    with open(video, "wb") as f:
        f.truncate(VIDEO_BYTES)  # sparse: costs no disk, and no read if never read
    rejected[uri_of(video)] = "too_large"
    long_video = long_4k_video(d / "an hour of 4k.mp4", seconds=3600)  # streamed: a few frames sampled
    loaded.add(uri_of(long_video))
    latin1 = os.path.join(os.fsencode(d), b"caf\xe9.jpg")
    with open(latin1, "wb") as f:
        f.write(_photo(64))
    loaded.add(uri_of(Path(os.fsdecode(latin1))))
    put(d / "caf\\xe9.jpg", _photo(65))  # the literal name of the escape
    put(d / "bomb.heic", avif_declaring(10_900, 10_900), "too_large")
    put(d / "huge.gif", gif_declaring(9_000, 9_000), "too_large")
    put(d / "scans.jpg", progressive_jpeg_with_scans(20_000), "too_complex")
    put(root / "elsewhere" / "inside.jpg", _photo(66))  # a loose photo of today, and a link's target
    (d / "link to inside").symlink_to(root / "elsewhere", target_is_directory=True)
    rejected[uri_of(d / "link to inside")] = "directory_link"
    put(outside / "not yours.jpg", _photo(67))
    loaded.discard(uri_of(outside / "not yours.jpg"))
    (d / "link to outside").symlink_to(outside, target_is_directory=True)
    rejected[uri_of(d / "link to outside")] = "outside_source"
    put(d / "locked" / "private.jpg", _photo(68))
    loaded.discard(uri_of(d / "locked" / "private.jpg"))
    rejected[uri_of(d / "locked")] = "unreadable"
    deep_names = ["deep", *["d" * 199] * 22, "bottom.jpg"]
    deep_file(d, deep_names, _photo(69))
    put(root / "2026-02-30" / "a.jpg", _photo(70), "not_a_date")

    # face_ingest has been running: the old day was planned before the copies arrive
    opts = options(str(root), "hog", "dlib-resnet-128")
    plan(OLD_DAY.isoformat(), "before_the_copies", opts)
    for where in ("archive/2026-10-07/old.jpg", "2026/10/07/old.jpg"):
        _old_copy(root / where, _photo(71 + len(where) % 7))
        loaded.add(uri_of(root / where))

    os.chmod(d / "locked", 0)
    try:
        started = time.monotonic()
        out = subprocess.run(
            [
                sys.executable,
                str(HELPERS / "limited_run.py"),
                today.isoformat(),
                str(root),
                "--address-space-gib",
                str(WORKER_MEMORY_GIB),
                "--drop-dac",
            ],
            capture_output=True,
            text=True,
            timeout=900,
            env=_worker_env(pg_uri, tmp_path_factory),
        )
        seconds = time.monotonic() - started
        log = tmp_path_factory.mktemp("every-worker") / "worker.log"
        log.write_text(out.stdout + out.stderr)
        assert out.returncode == 0, f"the worker failed: {log}"
        worker = json.loads(out.stdout.strip().splitlines()[-1])
        with psycopg.connect(pg_uri, autocommit=True) as db:
            images = {r["uri"]: r for r in _rows(db, schema, "SELECT * FROM {s}.images WHERE day = %s", today)}
            rejects = {r["uri"]: r for r in _rows(db, schema, "SELECT * FROM {s}.rejects WHERE day = %s", today)}
        long_rejects = [u for u in rejects if len(u.encode()) > MAX_URI_BYTES]
        assert len(long_rejects) == 1, (worker, sorted(rejects), f"worker log: {log}")
        rejected[long_rejects[0]] = "path_too_long"
        yield Day(schema, root, today, worker, seconds, images, rejects, rejected, loaded)
    finally:
        os.chmod(d / "locked", 0o755)
        shutil.rmtree(d / "deep", ignore_errors=True)
        os.environ.pop("FACEPIPE_DB_SCHEMA", None) if saved is None else os.environ.__setitem__(
            "FACEPIPE_DB_SCHEMA", saved
        )
        with psycopg.connect(pg_uri, autocommit=True) as db:
            db.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def test_an_hour_of_4k_video_is_streamed_within_the_memory_limit(day_run):
    row = day_run.images[str(day_run.root / day_run.day.isoformat() / "an hour of 4k.mp4")]
    assert (row["media"], row["width"], row["height"], row["status"]) == ("video", 3840, 2160, "loaded")
    assert row["duration_s"] == pytest.approx(3600, abs=2)
    assert day_run.worker["state"] == "success", day_run.worker


def test_the_day_loads_under_a_memory_limit_beside_an_8_gib_video(day_run):
    assert day_run.worker["state"] == "success", day_run.worker
    assert day_run.worker["peak_kib"] < WORKER_MEMORY_GIB * 2**20
    assert VIDEO_BYTES > WORKER_MEMORY_GIB * 2**30  # reading it whole could not have worked
    assert day_run.rejects[str(day_run.root / day_run.day.isoformat() / "phone video.mp4")]["bytes"] == VIDEO_BYTES


def test_the_other_photos_loaded(day_run):
    assert set(day_run.images) == day_run.expect_loaded
    photos = [r for r in day_run.images.values() if r["media"] == "photo"]
    assert all(r["status"] == "loaded" and r["face_count"] == 1 for r in photos)
    assert len(photos) == len(day_run.images) - 1  # and the hour of 4K video (no face in it)


def test_each_bad_entry_is_a_reject_with_its_reason(day_run):
    got = {uri: r["reason"] for uri, r in day_run.rejects.items()}
    assert got == day_run.expect_rejects
    for r in day_run.rejects.values():
        assert r["detail"].isprintable() and len(r["detail"]) < 300, r


def test_images_and_rejects_are_what_an_independent_walk_finds(day_run):
    from facepipe.core.sources import MAX_URI_BYTES, uri_of

    os.chmod(day_run.root / day_run.day.isoformat() / "locked", 0)
    walked = walk_as_the_worker(day_run.root, day_run.day)
    stored = set(day_run.images) | set(day_run.rejects)
    assert not set(day_run.images) & set(day_run.rejects)
    assert len(stored) == len(walked)
    short = {uri_of(Path(os.fsdecode(p))) for p in walked if len(p) <= MAX_URI_BYTES}
    assert short == {u for u in stored if len(u.encode()) <= MAX_URI_BYTES}


def test_the_camera_model_lost_its_nul_bytes(day_run):
    row = day_run.images[str(day_run.root / day_run.day.isoformat() / "nul camera.jpg")]
    assert row["camera"] == "CanonEOS R5"


def test_old_mtime_copies_are_not_taken_by_a_rerun_of_their_old_day(day_run, db, monkeypatch):
    """A re-run of 2026-10-07 lists what it listed before the copies; today's re-run the same files."""
    from facepipe.ingest.tasks import options, plan

    monkeypatch.setenv("FACEPIPE_DB_SCHEMA", day_run.schema)
    opts = options(str(day_run.root), "hog", "dlib-resnet-128")
    for day in (OLD_DAY, day_run.day):
        plan(day.isoformat(), f"again_{day}", opts)
    manifest = dict(
        q(db, day_run.schema, "SELECT run_id, array_agg(uri ORDER BY uri) FROM {s}.stage_manifest GROUP BY run_id")
    )
    assert manifest.get("before_the_copies", []) == manifest.get(f"again_{OLD_DAY}", [])
    locked = str(day_run.root / day_run.day.isoformat() / "locked")  # this process may list it
    assert {u for u in manifest[f"again_{day_run.day}"] if not u.startswith(locked)} == {
        u for u in [*day_run.images, *day_run.rejects] if not u.startswith(locked)
    }
    why = dict(q(db, day_run.schema, "SELECT uri, why FROM {s}.first_seen"))
    assert why[str(day_run.root / "archive" / "2026-10-07" / "old.jpg")] == "ctime"
    assert why[str(day_run.root / "elsewhere" / "inside.jpg")] == "mtime"


# ---------------------------------------------------------------- enrolment and face_report


def test_face_report_runs_with_a_non_utf8_person_and_enrolment_says_what_it_skipped(
    day_run, db, tmp_path, monkeypatch, capsys
):
    from helpers.bad_inputs import no_face_photo

    from facepipe.ops.cli import main
    from facepipe.ops.demo import run_day
    from facepipe.ops.samples import jpeg_bytes

    folder = tmp_path / "people"
    jose = os.path.join(os.fsencode(folder), b"Jos\xe9")  # a name from a Windows zip: not UTF-8
    os.makedirs(jose)
    same = _photo(80)
    with open(os.path.join(jose, b"ref.jpg"), "wb") as f:
        f.write(same)
    (folder / "twin").mkdir()
    (folder / "twin" / "same photo.jpg").write_bytes(same)  # the same photo under a second name
    (folder / "nobody").mkdir()
    (folder / "nobody" / "scenery.jpg").write_bytes(jpeg_bytes(no_face_photo(81)))
    (folder / "nobody" / "notes.jpg").write_text("not a photo")
    (folder / "readme.txt").write_text("one folder per person")
    monkeypatch.setenv("FACEPIPE_DB_SCHEMA", day_run.schema)
    monkeypatch.setenv("FACEPIPE_ENROL_DIR", str(folder))
    assert run_day("face_report", day_run.day.isoformat()) == "success"

    # a person is stored with a reference photo, never without one
    assert q(db, day_run.schema, "SELECT name FROM {s}.people ORDER BY 1") == [("Jos\\xe9",)]
    sightings = q(
        db,
        day_run.schema,
        "SELECT person_name, count(*) FROM {s}.report_sightings WHERE day = %s GROUP BY 1",
        day_run.day,
    )
    assert sightings and sightings[0][0] == "Jos\\xe9" and len(sightings) == 1

    assert main(["enrol", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "3 people: 0 reference photos added, 1 already enrolled, 4 skipped" in out
    assert f"skipped {folder}/twin/same photo.jpg: the same photo is already enrolled as Jos\\xe9" in out
    assert f"skipped {folder}/nobody/scenery.jpg: no face found" in out
    assert f"skipped {folder}/nobody/notes.jpg: not_an_image" in out
    assert f"skipped {folder}/readme.txt: not in a person's folder" in out
    assert "nobody has no reference photo" in out and "twin has no reference photo" in out


def test_threshold_zero_means_zero(day_run, db, monkeypatch):
    from facepipe.reports.tasks import report

    monkeypatch.setenv("FACEPIPE_DB_SCHEMA", day_run.schema)
    monkeypatch.delenv("FACEPIPE_ENROL_DIR", raising=False)
    if not q(db, day_run.schema, "SELECT count(*) FROM {s}.person_refs")[0][0]:
        pytest.skip("needs the enrolment of the test before")
    matched = "SELECT DISTINCT matched_by FROM {s}.report_sightings WHERE day = %s"
    assert report(day_run.day.isoformat())["sightings"] > 0
    assert ("reference",) in q(db, day_run.schema, matched, day_run.day)
    # Sightings are the faces of a person's identity (facepipe.people.identities); the threshold
    # decides which reference photo lies close enough: at 0, none does (0 was "the default").
    report(day_run.day.isoformat(), threshold=0)
    assert q(db, day_run.schema, matched, day_run.day) == [("identity",)]


# ---------------------------------------------------------------- errors a retry cannot fix


@pytest.mark.parametrize(
    "setting, day",
    [
        ({}, "9999-12-31"),
        ({"FACEPIPE_SHARD_SIZE": "0"}, None),
        ({"AIRFLOW_CONN_FACEPIPE_DB": "postgres://user:pa/ss#wo?rd@db.example:5432/faces"}, None),
        ({"FACEPIPE_SHARD_SIZE": "1", "AIRFLOW__CORE__MAX_MAP_LENGTH": "3"}, None),
    ],
    ids=["day_9999_12_31", "shard_size_0", "connection_uri_unencoded", "more_shards_than_map_length"],
)
def test_what_a_retry_cannot_fix_fails_the_run_at_once(day_run, db, monkeypatch, setting, day):
    from facepipe.ops.demo import run_day

    monkeypatch.setenv("FACEPIPE_DB_SCHEMA", day_run.schema)
    for key, value in setting.items():
        monkeypatch.setenv(key, value)
    before = q(db, day_run.schema, "SELECT count(*) FROM {s}.load_runs")
    started = time.monotonic()
    assert run_day("face_ingest", day or day_run.day.isoformat(), source=str(day_run.root)) == "failed"
    assert time.monotonic() - started < 30  # the first retry would wait 30 s
    assert q(db, day_run.schema, "SELECT count(*) FROM {s}.load_runs") == before


def test_too_many_shards_names_the_setting_to_raise(day_run, monkeypatch):
    from facepipe.core.config import ConfigError
    from facepipe.ingest.tasks import options, plan

    monkeypatch.setenv("FACEPIPE_DB_SCHEMA", day_run.schema)
    monkeypatch.setenv("FACEPIPE_SHARD_SIZE", "1")
    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "3")
    with pytest.raises(
        ConfigError,
        match=r"shards of FACEPIPE_SHARD_SIZE=1 are more than Airflow's"
        r" \[core\] max_map_length of 3\. Raise FACEPIPE_SHARD_SIZE to at least",
    ):
        plan(day_run.day.isoformat(), "too_many", options(str(day_run.root), "hog", "dlib-resnet-128"))
