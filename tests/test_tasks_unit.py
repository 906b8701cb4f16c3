"""The task functions' pure parts, without a database or Airflow: tasks.resolve_day,
tasks.options, and process.process_images (the work of the process_shard task) with
the real HOG detector and dlib embedder on in-memory photos.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json

import numpy as np
import pytest
from PIL import Image
from skimage import data

from facepipe.core.days import resolve_day
from facepipe.core.sources import Arrival, Unreadable
from facepipe.ingest import process as process_mod
from facepipe.ingest.process import image_id, process_images
from facepipe.ingest.tasks import options

UTC = dt.UTC
ARRIVED = dt.datetime(2026, 11, 20, 9, 30, tzinfo=UTC)

# ---------------------------------------------------------------- resolve_day


def test_param_day_wins_over_the_data_interval():
    assert resolve_day("2026-11-24", dt.datetime(2026, 11, 20, tzinfo=UTC)) == "2026-11-24"


def test_data_interval_start_when_no_param():
    assert resolve_day(None, dt.datetime(2026, 11, 20, 0, 0, tzinfo=UTC)) == "2026-11-20"
    assert resolve_day("", dt.datetime(2026, 11, 20, 23, 59, tzinfo=UTC)) == "2026-11-20"


def test_data_interval_start_as_pendulum():
    pendulum = pytest.importorskip("pendulum")
    assert resolve_day(None, pendulum.datetime(2026, 11, 20, tz="UTC")) == "2026-11-20"


def test_param_day_is_normalised():
    assert resolve_day(" 2026-11-24\n", None) == "2026-11-24"
    assert resolve_day(dt.date(2026, 11, 24), None) == "2026-11-24"


@pytest.mark.parametrize(
    "bad", ["2026-13-01", "2026-02-30", "yesterday", "24/11/2026", "2026-11-24T00:00:00", "2026-11", "-"]
)
def test_bad_param_day_is_a_clear_error(bad):
    with pytest.raises(ValueError) as info:
        resolve_day(bad, dt.datetime(2026, 11, 20, tzinfo=UTC))
    msg = str(info.value)
    assert "param day" in msg
    assert "2026-11-24" in msg  # shows the expected format
    assert repr(bad) in msg  # and what was given


def test_no_param_and_no_data_interval():
    with pytest.raises(ValueError, match="no day to process"):
        resolve_day(None, None)
    with pytest.raises(ValueError, match="no day to process"):
        resolve_day("", None)


def test_resolve_day_returns_json_able_iso_string():
    day = resolve_day("2026-11-24", None)
    assert isinstance(day, str)
    assert dt.date.fromisoformat(day) == dt.date(2026, 11, 24)


# ---------------------------------------------------------------- options


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("FACEPIPE_SOURCE", "FACEPIPE_DETECTOR", "FACEPIPE_MODEL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_options_defaults(clean_env):
    opts = options()
    assert opts["detector"] == "mtcnn"
    assert opts["model"] == "dlib-resnet-128"
    assert opts["source"].endswith("photos")
    assert json.loads(json.dumps(opts)) == opts


def test_options_params_win_over_settings(clean_env):
    clean_env.setenv("FACEPIPE_DETECTOR", "hog")
    clean_env.setenv("FACEPIPE_SOURCE", "/srv/photos")
    opts = options(source="/mnt/other", detector="haar", model="imgbeddings-clip-768")
    assert opts == {"source": "/mnt/other", "detector": "haar", "model": "imgbeddings-clip-768"}
    assert options()["source"] == "/srv/photos"


def test_options_rejects_unknown_detector(clean_env):
    with pytest.raises(ValueError, match="unknown detector 'retinaface'"):
        options(detector="retinaface")


def test_options_rejects_unknown_model(clean_env):
    with pytest.raises(ValueError, match="unknown embedding model 'facenet'"):
        options(model="facenet")


def test_options_rejects_unknown_settings_too(clean_env):
    clean_env.setenv("FACEPIPE_DETECTOR", "cnn")
    with pytest.raises(ValueError, match="FACEPIPE_DETECTOR must be one of mtcnn, hog, haar, got 'cnn'"):
        options()
    clean_env.setenv("FACEPIPE_DETECTOR", "haar")
    clean_env.setenv("FACEPIPE_MODEL", "arcface")
    with pytest.raises(ValueError, match="FACEPIPE_MODEL must be one of dlib-resnet-128, imgbeddings-clip-768"):
        options()


@pytest.mark.parametrize("value", ["1.0", "0.9", "3", "fast"])
def test_haar_scale_factor_setting_is_checked(clean_env, value):
    from facepipe.core.deployment import settings

    clean_env.setenv("FACEPIPE_HAAR_SCALE_FACTOR", value)
    with pytest.raises(ValueError, match="FACEPIPE_HAAR_SCALE_FACTOR must be a number above 1"):
        settings()


def test_haar_scale_factor_setting_reaches_the_detector(clean_env):
    from facepipe.core.deployment import settings
    from facepipe.models.detect import make_detector

    clean_env.delenv("FACEPIPE_HAAR_SCALE_FACTOR", raising=False)
    assert settings().haar_scale_factor == 1.1
    clean_env.setenv("FACEPIPE_HAAR_SCALE_FACTOR", "1.25")
    s = settings()
    assert make_detector("haar", s.min_face, s.haar_scale_factor).scale_factor == 1.25


def test_shards_of_a_multi_shard_day_run_opencv_on_one_thread_then_restore_it():
    import cv2

    from facepipe.ingest.tasks import _one_opencv_thread

    before = cv2.getNumThreads()
    cv2.setNumThreads(2)
    try:
        with _one_opencv_thread(True):
            assert cv2.getNumThreads() == 1
        assert cv2.getNumThreads() == 2
        with _one_opencv_thread(False):
            assert cv2.getNumThreads() == 2
    finally:
        cv2.setNumThreads(before)


# ---------------------------------------------------------------- process_images

# The astronaut's face in skimage.data.astronaut() (512x512): HOG box (175, 76, 91, 91).
FACE_X, FACE_Y, FACE_SIZE = 175, 76, 91
# Pasted x3 into a 3000x2000 photo at (PASTE_X, PASTE_Y)
PASTE_X, PASTE_Y, K = 1100, 250, 3


def jpeg(rgb: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=90, **kw)
    return buf.getvalue()


def big_photo() -> np.ndarray:
    canvas = np.full((2000, 3000, 3), 90, np.uint8)
    astro = Image.fromarray(data.astronaut()).resize((512 * K, 512 * K), Image.BICUBIC)
    canvas[PASTE_Y : PASTE_Y + 512 * K, PASTE_X : PASTE_X + 512 * K] = np.asarray(astro)
    return canvas


@pytest.fixture(scope="module")
def blobs() -> dict[str, bytes]:
    return {
        "/p/astronaut.jpg": jpeg(data.astronaut()),
        "/p/big.jpg": jpeg(big_photo()),
        "/p/coffee.jpg": jpeg(data.coffee()),
        "/p/notes.txt": b"this is not a photo\n" * 10,
        "/p/cut.jpg": jpeg(data.astronaut())[:5000],
        "/p/empty.jpg": b"",
    }


def reader(blobs):
    def read(uri: str) -> bytes:
        try:
            return blobs[uri]
        except KeyError:
            raise Unreadable("unreadable", f"cannot open: {uri}") from None

    return read


def arrivals(blobs, uris) -> list[Arrival]:
    return [Arrival(u, len(blobs[u]) if u in blobs else None, ARRIVED) for u in uris]


def never_seen(shas: list[str]) -> dict:
    return {}


@pytest.fixture(scope="module")
def shard(blobs, hog, dlib_embedder):
    uris = list(blobs) + ["/p/vanished.jpg"]
    return process_images(arrivals(blobs, uris), reader(blobs), never_seen, hog, dlib_embedder)


def test_every_arrival_is_an_image_or_a_reject(shard, blobs):
    images = {im.uri for im in shard.images}
    rejects = {r.uri for r in shard.rejects}
    assert images == {"/p/astronaut.jpg", "/p/big.jpg", "/p/coffee.jpg"}
    assert rejects == {"/p/notes.txt", "/p/cut.jpg", "/p/empty.jpg", "/p/vanished.jpg"}


def test_unreadable_and_corrupt_files_become_rejects(shard, blobs):
    by_uri = {r.uri: r for r in shard.rejects}
    assert by_uri["/p/notes.txt"].reason == "not_an_image"
    assert by_uri["/p/cut.jpg"].reason == "truncated"
    assert by_uri["/p/empty.jpg"].reason == "empty"
    assert by_uri["/p/vanished.jpg"].reason == "unreadable"
    assert by_uri["/p/vanished.jpg"].bytes is None
    assert by_uri["/p/cut.jpg"].bytes == 5000
    for r in shard.rejects:
        assert r.arrived_at == ARRIVED
        assert r.detail


def test_image_records(shard, blobs):
    by_uri = {im.uri: im for im in shard.images}
    astro = by_uri["/p/astronaut.jpg"]
    assert astro.status == "loaded" and astro.duplicate_of is None
    assert (astro.width, astro.height) == (512, 512)
    assert astro.bytes == len(blobs["/p/astronaut.jpg"])
    assert astro.content_sha256 == hashlib.sha256(blobs["/p/astronaut.jpg"]).hexdigest()
    assert astro.image_id == image_id("/p/astronaut.jpg")
    assert astro.arrived_at == ARRIVED
    assert (by_uri["/p/big.jpg"].width, by_uri["/p/big.jpg"].height) == (3000, 2000)
    assert by_uri["/p/coffee.jpg"].face_count == 0


def test_face_count_matches_face_records(shard):
    for im in shard.images:
        faces = [f for f in shard.faces if f.image_id == im.image_id]
        assert len(faces) == im.face_count
        assert [f.face_no for f in faces] == list(range(len(faces)))
        for f in faces:
            assert (f.img_width, f.img_height) == (im.width, im.height)


def test_one_embedding_row_per_face(shard):
    assert len(shard.faces) >= 2
    assert shard.embeddings.shape == (len(shard.faces), 128)
    assert shard.embeddings.dtype == np.float32
    assert np.all(np.linalg.norm(shard.embeddings, axis=1) > 0.5)


def best_face(shard, uri):
    iid = image_id(uri)
    faces = [(i, f) for i, f in enumerate(shard.faces) if f.image_id == iid]
    assert faces, f"no face in {uri}"
    return max(faces, key=lambda t: t[1].box.score)


def test_small_image_box(shard):
    _, f = best_face(shard, "/p/astronaut.jpg")
    assert abs(f.box.x - FACE_X) <= 10 and abs(f.box.y - FACE_Y) <= 10
    assert abs(f.box.w - FACE_SIZE) <= 10


def test_boxes_of_a_reduced_image_are_in_full_size_pixels(shard):
    _, f = best_face(shard, "/p/big.jpg")
    ex, ey, es = PASTE_X + K * FACE_X, PASTE_Y + K * FACE_Y, K * FACE_SIZE  # 1625, 478, 273
    assert abs(f.box.x - ex) <= 40, f.box
    assert abs(f.box.y - ey) <= 40, f.box
    assert abs(f.box.w - es) <= 50 and abs(f.box.h - es) <= 50, f.box
    assert f.box.x + f.box.w <= 3000 and f.box.y + f.box.h <= 2000


def test_the_same_face_gets_the_same_vector_at_any_size(shard):
    i, _ = best_face(shard, "/p/astronaut.jpg")
    j, _ = best_face(shard, "/p/big.jpg")
    assert np.linalg.norm(shard.embeddings[i] - shard.embeddings[j]) < 0.3


def test_rotated_photo_boxes_are_in_upright_full_size_pixels(hog, dlib_embedder):
    """Stored sideways with EXIF orientation 6: boxes are where a viewer sees the face."""
    stored = np.ascontiguousarray(np.rot90(big_photo()))  # 90 degrees counter-clockwise: 2000x3000
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise to view
    blobs = {"/p/sideways.jpg": jpeg(stored, exif=exif.tobytes())}
    result = process_images(arrivals(blobs, blobs), reader(blobs), never_seen, hog, dlib_embedder)
    (im,) = result.images
    assert (im.width, im.height) == (3000, 2000)
    _, f = best_face(result, "/p/sideways.jpg")
    assert abs(f.box.x - (PASTE_X + K * FACE_X)) <= 40, f.box
    assert abs(f.box.y - (PASTE_Y + K * FACE_Y)) <= 40, f.box


def test_duplicate_is_recorded_and_not_decoded(blobs, hog, dlib_embedder, monkeypatch):
    decoded = []
    real_decode = process_mod.decode

    def spy(data, max_side=1024, **kw):
        decoded.append(hashlib.sha256(data).hexdigest())
        return real_decode(data, max_side, **kw)

    monkeypatch.setattr(process_mod, "decode", spy)
    astro_sha = hashlib.sha256(blobs["/p/astronaut.jpg"]).hexdigest()
    cut_sha = hashlib.sha256(blobs["/p/cut.jpg"]).hexdigest()
    earlier = {astro_sha: "/old/2026-11-19/astronaut.jpg", cut_sha: "/old/cut.jpg"}
    uris = ["/p/astronaut.jpg", "/p/cut.jpg", "/p/coffee.jpg"]
    result = process_images(
        arrivals(blobs, uris),
        reader(blobs),
        lambda shas: {s: earlier[s] for s in shas if s in earlier},
        hog,
        dlib_embedder,
    )

    by_uri = {im.uri: im for im in result.images}
    dup = by_uri["/p/astronaut.jpg"]
    assert dup.status == "duplicate"
    assert dup.duplicate_of == "/old/2026-11-19/astronaut.jpg"
    assert dup.face_count == 0 and dup.width is None and dup.height is None
    assert dup.content_sha256 == astro_sha and dup.bytes == len(blobs["/p/astronaut.jpg"])
    # a corrupt copy of something already seen is a duplicate too: it is never decoded
    assert by_uri["/p/cut.jpg"].status == "duplicate"
    assert result.rejects == []
    assert result.faces == []
    assert result.embeddings.shape == (0, 128)
    assert decoded == [hashlib.sha256(blobs["/p/coffee.jpg"]).hexdigest()]
    assert by_uri["/p/coffee.jpg"].status == "loaded"


def test_seen_before_is_asked_with_the_content_hash(blobs, hog, dlib_embedder):
    asked = []

    def seen(shas):
        asked.append(list(shas))
        return {}

    process_images(arrivals(blobs, ["/p/coffee.jpg"]), reader(blobs), seen, hog, dlib_embedder)
    assert asked == [[hashlib.sha256(blobs["/p/coffee.jpg"]).hexdigest()]]


def test_seen_before_is_asked_once_per_batch_and_records_keep_their_order(blobs, hog, dlib_embedder):
    asked = []

    def seen(shas):
        asked.append(len(shas))
        return {}

    small = jpeg(data.coffee()[:64, :64])
    many = {f"/p/{i:03d}.jpg": small + bytes([i]) for i in range(40)}  # 40 contents (a trailer after the image)
    uris = list(many) + ["/p/vanished.jpg"]
    result = process_images(arrivals(many, uris), reader(many), seen, hog, dlib_embedder)
    assert asked == [process_mod.LOOKUP_BATCH, process_mod.LOOKUP_BATCH, 40 - 2 * process_mod.LOOKUP_BATCH]
    assert [im.uri for im in result.images] == list(many)
    assert [r.uri for r in result.rejects] == ["/p/vanished.jpg"]


def test_empty_shard(hog, dlib_embedder):
    result = process_images([], reader({}), never_seen, hog, dlib_embedder)
    assert result.images == [] and result.faces == [] and result.rejects == []
    assert result.embeddings.shape == (0, 128)


def test_image_id_is_stable_and_per_uri():
    assert image_id("/p/a.jpg") == image_id("/p/a.jpg")
    assert image_id("/p/a.jpg") != image_id("/p/b.jpg")
    assert image_id("/p/a.jpg").version == 5


def test_cli_prints_no_terminal_escapes():
    from facepipe.ops.status import shown

    assert shown("photo\x1b[31mred\x07.jpg") == "photo\\x1b[31mred\\x07.jpg"
    assert shown("名前 it's.jpg") == "名前 it's.jpg"


def test_the_venv_runs_the_cli_without_pythonpath(tmp_path):
    """The demo and the docs print `.venv/bin/facepipe ...` (the console script that `make
    install`'s editable install of pyproject.toml makes) and `python -m facepipe` does the
    same: both must work from a plain shell (no make, no PYTHONPATH)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for command in (
        [sys.executable, "-m", "facepipe", "--help"],
        [str(Path(sys.executable).parent / "facepipe"), "--help"],
    ):
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-500:]
        assert "search" in done.stdout and "db upgrade" in done.stdout


def test_airflow_finds_the_plugin_through_its_entry_point(tmp_path):
    """Packaged the way Airflow plugins are: the airflow.plugins entry point of the installed
    package, not a file in the plugins folder (which ignores facepipe/, .airflowignore)."""
    import importlib.metadata

    points = [e for e in importlib.metadata.entry_points(group="airflow.plugins") if e.name == "facepipe"]
    assert [e.value for e in points] == ["facepipe.ops.plugin:FacepipePlugin"]
    from airflow import plugins_manager

    plugin = points[0].load()
    assert issubclass(plugin, plugins_manager.AirflowPlugin) and plugin.name == "facepipe"


# ---------------------------------------------------------------- issue 12: messages that name the setting


@pytest.mark.parametrize("day", ["9999-12-31", "1969-12-31", "2999-01-01"])
def test_days_out_of_range_are_refused_by_name(day):
    from facepipe.core.config import ConfigError

    with pytest.raises(ConfigError, match=f"day {day} is out of range"):
        resolve_day(day, None)


@pytest.mark.parametrize(
    "name, value",
    [
        ("FACEPIPE_SHARD_SIZE", "0"),
        ("FACEPIPE_SHARD_SIZE", "-5"),
        ("FACEPIPE_SHARD_SIZE", "ten"),
        ("FACEPIPE_MIN_FACE", "0"),
        ("FACEPIPE_MIN_FACE", "1.5"),
    ],
)
def test_bad_settings_are_refused_when_read_naming_the_setting(monkeypatch, name, value):
    from facepipe.core.config import ConfigError
    from facepipe.core.deployment import settings

    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        settings()


@pytest.mark.parametrize(
    "uri",
    [
        "postgres://facepipe:pa/ss@db.example:5432/faces",
        "postgres://facepipe:pa#ss@db.example:5432/faces",
        "postgres://facepipe:pa?ss@db.example:5432/faces",
        "mysql://facepipe:secret@db.example/faces",
        '{"conn_type": "postgres", "password": ',
    ],
)
def test_a_malformed_connection_is_refused_without_echoing_it(monkeypatch, uri):
    from facepipe.core.config import ConfigError
    from facepipe.core.deployment import check_settings

    monkeypatch.setenv("AIRFLOW_CONN_FACEPIPE_DB", uri)
    with pytest.raises(ConfigError, match="AIRFLOW_CONN_FACEPIPE_DB") as info:
        check_settings()
    assert "db.example" not in str(info.value) and "pa/ss" not in str(info.value)  # nothing of the value


def test_a_well_formed_connection_passes(monkeypatch):
    from facepipe.core.deployment import check_settings

    for ok in (
        "postgres://facepipe:pa%2Fss%23@db.example:5432/faces",
        "postgresql://u@/faces?host=/run/pg",
        '{"conn_type": "postgres", "host": "db", "password": "a/b#c?d"}',
    ):
        monkeypatch.setenv("AIRFLOW_CONN_FACEPIPE_DB", ok)
        check_settings()


def test_cli_errors_are_one_line_with_exit_code_2(tmp_path, capsys, monkeypatch):
    from facepipe.ops.cli import main

    assert main(["db", "upgrade"]) == 0  # an upgrade first is said on stderr: not part of this test
    capsys.readouterr()
    assert main(["search", str(tmp_path / "missing.jpg")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing.jpg" in err and "Traceback" not in err
    (tmp_path / "notes.jpg").write_text("not a photo")
    assert main(["search", str(tmp_path / "notes.jpg")]) == 2
    assert "not_an_image" in capsys.readouterr().err
    for argv in (
        ["search", "x.jpg", "--k", "0"],
        ["search", "x.jpg", "--since", "2026-02-30"],
        ["rejects", "yesterday"],
        ["report", "2026-13-01"],
    ):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
        assert "Traceback" not in capsys.readouterr().err
    monkeypatch.setenv("FACEPIPE_SHARD_SIZE", "0")
    assert main(["status"]) == 2
    assert capsys.readouterr().err.startswith("error: FACEPIPE_SHARD_SIZE must be")
    with pytest.raises(Exception):
        main(["--debug", "status"])


def test_plural_says_counts_right():
    from facepipe.core.text import plural

    assert [plural(n, "day") for n in (0, 1, 2)] == ["0 days", "1 day", "2 days"]
    assert plural(1, "identity") == "1 identity" and plural(3, "identity") == "3 identities"
    assert plural(2, "key") == "2 keys" and plural(2, "process") == "2 processes" and plural(2, "entry") == "2 entries"
    assert plural(1, "person", "people") == "1 person" and plural(5, "person", "people") == "5 people"
    assert plural(1, "day is", "days are") == "1 day is" and plural(2, "day is", "days are") == "2 days are"
