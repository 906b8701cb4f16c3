"""Camera RAW photos: DNGs written by hand (facepipe.ops.sample_raws) from a real face
photo, decoded through LibRaw on the preview path and the demosaic path, turned
upright, with their camera and capture time; hostile RAW headers refused with reasons;
a day of RAWs loaded through Airflow with the face's box where the JPEG's is."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.rows import q
from PIL import Image
from test_phone_photos import face_scene

from facepipe.core.sources import Unreadable
from facepipe.models.detect import FaceSizing, make_detector
from facepipe.models.imaging import decode
from facepipe.models.raw import RAW_PIXEL_LIMIT, decode_raw, raw_kind
from facepipe.ops.sample_raws import dng_bytes
from facepipe.ops.samples import jpeg_bytes

TAKEN = dt.datetime(2026, 11, 3, 9, 15)
SIZING = FaceSizing.of("mtcnn", 64)


@pytest.fixture(scope="module")
def scene():
    return face_scene()  # 1200x900, the astronaut's face at about (359, 248), 268 px


@pytest.fixture(scope="module")
def mtcnn():
    return make_detector("mtcnn")


def full_boxes(img, detector):
    return [b.scaled(img.scale, img.width, img.height) for b in detector.detect(img.rgb, img.min_face)]


@pytest.fixture(scope="module")
def jpeg_box(scene, mtcnn):
    img = decode(jpeg_bytes(scene), sizing=SIZING)
    (box,) = full_boxes(img, mtcnn)
    return box


def near(a, b, tol: int = 16) -> bool:
    return all(abs(u - v) <= tol for u, v in zip((a.x, a.y, a.w, a.h), (b.x, b.y, b.w, b.h)))


def test_a_tiff_based_raw_is_not_read_as_its_first_ifd(scene):
    """Pillow alone opens a DNG as a TIFF: its first directory, the 256 px thumbnail."""
    data = dng_bytes(scene, preview=1200)
    assert Image.open(io.BytesIO(data)).size == (256, 192)
    assert raw_kind(data) == "DNG"
    img = decode(data, sizing=SIZING)
    assert (img.width, img.height) == (1200, 900)
    assert max(img.rgb.shape) == 1024  # the detection copy, not the thumbnail


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
@pytest.mark.parametrize("preview", [1200, None], ids=["preview", "no_preview"])
def test_dng_upright_with_its_face_camera_and_time(scene, mtcnn, jpeg_box, orientation, preview):
    data = dng_bytes(scene, orientation=orientation, preview=preview, taken=TAKEN, model="RAW-1")
    img = decode(data, sizing=SIZING)
    assert (img.width, img.height) == (1200, 900)  # upright, as the camera shows it
    assert img.camera == "RAW-1"
    assert img.captured_at == TAKEN
    (box,) = full_boxes(img, mtcnn)
    assert near(box, jpeg_box), (box, jpeg_box)


def _target(side):
    return lambda full_long: side


def test_the_preview_is_used_when_large_enough_else_the_raw_data_is_demosaiced(scene, mtcnn, jpeg_box):
    def jpeg(data, side):
        import cv2

        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION)

    big = dng_bytes(scene, preview=1200)
    small = dng_bytes(scene, preview=400)
    assert decode_raw(big, "DNG", _target(1024), jpeg).path == "preview"
    assert decode_raw(small, "DNG", _target(400), jpeg).path == "preview"
    assert decode_raw(small, "DNG", _target(1024), jpeg).path == "demosaic"  # 400 px: too small
    assert decode_raw(small, "DNG", _target(600), jpeg).path == "demosaic_half"
    assert decode_raw(dng_bytes(scene), "DNG", _target(600), jpeg).path == "demosaic_half"  # thumbnail only
    # each path finds the face where the JPEG has it (HOG sizing needs every pixel: a full demosaic)
    for data, sizing in ((big, SIZING), (small, SIZING), (small, FaceSizing.of("hog", 64))):
        img = decode(data, sizing=sizing)
        (box,) = full_boxes(img, mtcnn)
        assert near(box, jpeg_box), (box, jpeg_box)


def test_demosaic_keeps_the_colours(scene):
    img = decode(dng_bytes(scene), 600)
    import cv2

    want = cv2.resize(scene, (img.rgb.shape[1], img.rgb.shape[0]), interpolation=cv2.INTER_AREA)
    assert np.abs(img.rgb.astype(int) - want).mean() < 12


def _entry(data: bytes, tag: int, kind: int, value: int) -> int:
    fmt = "<H" if kind == 3 else "<I"
    at = data.find(struct.pack("<HHI", tag, kind, 1) + struct.pack(fmt, value))
    assert at > 0
    return at + 8


def hostile_raws(scene) -> dict[str, tuple[bytes, str]]:
    """name -> (bytes, the reject's reason)"""
    rng = np.random.default_rng(5)
    junk = rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()
    dng = dng_bytes(scene, preview=1200)
    plain = dng_bytes(scene)
    huge = bytearray(plain)
    huge[_entry(plain, 0x0100, 4, 1200) : _entry(plain, 0x0100, 4, 1200) + 4] = struct.pack("<I", 60000)
    huge[_entry(plain, 0x0101, 4, 900) : _entry(plain, 0x0101, 4, 900) + 4] = struct.pack("<I", 60000)
    bad_cfa = bytearray(plain)
    at = _entry(plain, 0x0106, 3, 32803)
    bad_cfa[at : at + 2] = struct.pack("<H", 12345)
    return {
        "raf_header.raf": (b"FUJIFILMCCD-RAW 0201FF383501" + junk, "truncated"),
        "orf_header.orf": (b"IIRO\x08\x00\x00\x00" + junk, "corrupt"),
        "rw2_header.rw2": (b"IIU\x00\x08\x00\x00\x00" + junk, "corrupt"),
        "cr2_header.cr2": (b"II*\x00\x10\x00\x00\x00CR\x02\x00" + junk, "corrupt"),
        "cr3_header.cr3": (struct.pack(">I", 24) + b"ftypcrx \x00\x00\x00\x01crx isom" + junk, "truncated"),
        "dng_unknown_photometric.dng": (bytes(bad_cfa), "corrupt"),
        "dng_60000x60000.dng": (bytes(huge), "too_large"),
        "dng_cut_half.dng": (dng[: len(dng) // 2], "truncated"),
        "dng_cut_near_end.dng": (plain[: len(plain) - 100], "truncated"),
        "dng_cut_in_header.dng": (dng[:200], "truncated"),
    }


def test_hostile_raws_are_refused_from_their_headers_with_reasons(scene):
    for name, (data, reason) in hostile_raws(scene).items():
        with pytest.raises(Unreadable) as info:
            decode(data, sizing=SIZING)
        assert info.value.reason == reason, (name, info.value.detail)
    assert RAW_PIXEL_LIMIT >= 102_000_000  # a Fujifilm GFX100's 102 MP loads


def test_a_tiff_from_a_camera_maker_that_is_no_raw_decodes_as_a_tiff(scene):
    exif = Image.Exif()
    exif[0x010F] = "NIKON CORPORATION"
    buf = io.BytesIO()
    Image.fromarray(scene).save(buf, format="TIFF", exif=exif.tobytes())
    assert raw_kind(buf.getvalue()) == "TIFF-RAW"
    img = decode(buf.getvalue())
    assert (img.width, img.height) == (1200, 900)


HELPER = """
import resource, sys, json
limit = int(sys.argv[2]) * 2**30
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from facepipe.models.imaging import decode
from facepipe.models.detect import FaceSizing
data = open(sys.argv[1], "rb").read()
img = decode(data, sizing=FaceSizing.of(sys.argv[3], 64))
with open("/proc/self/status") as f:
    peak = [int(line.split()[1]) for line in f if line.startswith("VmPeak:")][0]
print(json.dumps({"shape": list(img.rgb.shape), "width": img.width, "peak_kib": peak}))
"""


@pytest.fixture(scope="module")
def big_dng(tmp_path_factory) -> Path:
    from facepipe.ops.samples import group_photo

    rgb, _faces = group_photo(6000, 4000, 6, (120, 300), seed=2)
    path = tmp_path_factory.mktemp("raw") / "big.dng"
    path.write_bytes(dng_bytes(rgb))
    return path


@pytest.mark.parametrize("detector", ["mtcnn", "hog"])
def test_a_24_mp_raw_decodes_within_a_workers_address_space(big_dng, detector):
    """A 6000x4000 DNG without a preview, half-size (MTCNN) and full (HOG) demosaic,
    in a process limited to 2 GiB of address space (a worker has 4 GiB for two shards)."""
    path = big_dng
    env = {**os.environ, "MALLOC_ARENA_MAX": "2", "OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2"}
    done = subprocess.run(
        [sys.executable, "-c", HELPER, str(path), "2", detector],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert (out["width"], out["shape"][1]) == (6000, 3000 if detector == "mtcnn" else 6000)


@pytest.mark.dag
def test_a_day_of_raws_loads_with_the_faces_where_the_jpeg_has_them(airflow_db, schema, db, scene, tmp_path):
    from facepipe.ops.demo import run_day

    day = dt.date(2026, 11, 3)
    folder = tmp_path / "photos" / day.isoformat()
    folder.mkdir(parents=True)
    (folder / "a.jpg").write_bytes(jpeg_bytes(scene))
    (folder / "b_preview.dng").write_bytes(dng_bytes(scene, preview=1200, taken=TAKEN, model="RAW-1"))
    (folder / "c_turned.dng").write_bytes(dng_bytes(scene, orientation=6, taken=TAKEN, model="RAW-1"))
    bad = hostile_raws(scene)
    for name in ("cr2_header.cr2", "dng_cut_half.dng", "dng_60000x60000.dng"):
        (folder / name).write_bytes(bad[name][0])
    assert run_day("face_ingest", day.isoformat(), source=str(tmp_path / "photos")) == "success"
    rows = q(
        db,
        schema,
        "SELECT i.uri, i.width, i.height, i.face_count, i.camera, i.captured_at, f.box_x, f.box_y, f.box_w, f.box_h"
        " FROM {s}.images i JOIN {s}.faces f USING (day, image_id) WHERE i.day = %s ORDER BY i.uri",
        day,
    )
    assert [Path(r[0]).name for r in rows] == ["a.jpg", "b_preview.dng", "c_turned.dng"]
    assert all(r[1:4] == (1200, 900, 1) for r in rows)
    assert [r[4:6] for r in rows[1:]] == [("RAW-1", TAKEN)] * 2
    jx, jy, jw, jh = rows[0][6:]
    for r in rows[1:]:
        assert all(abs(u - v) <= 16 for u, v in zip(r[6:], (jx, jy, jw, jh))), r
    rejects = q(db, schema, "SELECT uri, reason FROM {s}.rejects WHERE day = %s ORDER BY uri", day)
    assert [(Path(u).name, r) for u, r in rejects] == [
        ("cr2_header.cr2", "corrupt"),
        ("dng_60000x60000.dng", "too_large"),
        ("dng_cut_half.dng", "truncated"),
    ]
