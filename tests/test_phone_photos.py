"""Photos as phones make them: HEIC (upright and turned), JPEGs cut short after
their EXIF thumbnail, WebP cut short; HEIC in a day's ingest and in enrolment."""

from __future__ import annotations

import datetime as dt
import io

import cv2
import numpy as np
import pytest
from helpers.rows import q
from PIL import Image

from facepipe.core.sources import Unreadable
from facepipe.models.imaging import decode
from facepipe.ops import samples

TAKEN = "2026:11:03 09:15:00"


def face_scene(width: int = 1200, height: int = 900, face: int = 260) -> np.ndarray:
    """The astronaut's face on a real texture, upright."""
    rgb, _ = samples.group_photo(width, height, 0, (64, 65), seed=3)
    crop = samples._astronaut_crop(2.0)
    side = face * 2
    y, x = (height - side) // 2, (width - side) // 3
    rgb[y : y + side, x : x + side] = cv2.resize(crop, (side, side), interpolation=cv2.INTER_CUBIC)
    return rgb


def heic_bytes(upright: np.ndarray, orientation: int = 1, model: str = "iPhone 15 Pro") -> bytes:
    """A HEIC as a phone writes it: with orientation 6 the pixels are stored turned
    90 degrees anticlockwise and the file says to turn them back."""
    stored = np.ascontiguousarray(np.rot90(upright, 1)) if orientation == 6 else upright
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F], exif[0x0110] = "Apple", model
    exif.get_ifd(0x8769)[0x9003] = TAKEN
    buf = io.BytesIO()
    Image.fromarray(stored).save(buf, format="HEIF", quality=85, exif=exif.tobytes())
    return buf.getvalue()


@pytest.fixture(scope="module")
def scene():
    return face_scene()


@pytest.mark.parametrize("orientation", [1, 6])
def test_heic_decodes_upright_with_its_camera_and_time(scene, hog, orientation):
    data = heic_bytes(scene, orientation)
    img = decode(data, max_side=1024)
    assert (img.width, img.height) == (1200, 900)  # upright, as the phone shows it
    assert img.rgb.shape[1] > img.rgb.shape[0]
    assert img.camera == "iPhone 15 Pro"
    assert img.captured_at == dt.datetime(2026, 11, 3, 9, 15)
    boxes = hog.detect(img.rgb)
    assert len(boxes) == 1  # the face is found, so it is the right way up
    full = boxes[0].scaled(img.scale, img.width, img.height)
    assert 300 < full.x + full.w / 2 < 600 and 300 < full.y + full.h / 2 < 600


def test_heic_cut_short_is_a_reject_not_a_crash(scene):
    data = heic_bytes(scene)
    with pytest.raises(Unreadable) as info:
        decode(data[: len(data) // 2])
    assert info.value.reason in ("truncated", "corrupt")


def phone_jpeg(rgb: np.ndarray) -> bytes:
    """A JPEG with an EXIF thumbnail in APP1, as every phone writes it."""
    thumb = Image.fromarray(rgb).resize((160, 120))
    tbuf = io.BytesIO()
    thumb.save(tbuf, format="JPEG", quality=70)
    exif = Image.Exif()
    exif[0x0110] = "Pixel 9"
    buf = io.BytesIO()
    img = Image.fromarray(rgb)
    # Pillow writes the thumbnail IFD1 from exif's tobytes when given raw APP1 data:
    # build the APP1 by hand (IFD0 + IFD1 pointing at the thumbnail).
    app1 = _exif_with_thumbnail(tbuf.getvalue())
    img.save(buf, format="JPEG", quality=90, exif=app1)
    return buf.getvalue()


def _exif_with_thumbnail(thumb: bytes) -> bytes:
    """TIFF-structured EXIF (little endian): IFD0 with Model, IFD1 with the JPEG thumbnail."""
    import struct

    model = b"Pixel 9\x00"
    ifd0_at = 8
    ifd0 = 2 + 1 * 12 + 4
    model_at = ifd0_at + ifd0
    ifd1_at = model_at + len(model)
    ifd1 = 2 + 2 * 12 + 4
    thumb_at = ifd1_at + ifd1
    out = b"II*\x00" + struct.pack("<I", ifd0_at)
    out += struct.pack("<H", 1) + struct.pack("<HHII", 0x0110, 2, len(model), model_at) + struct.pack("<I", ifd1_at)
    out += model
    out += struct.pack("<H", 2)
    out += struct.pack("<HHII", 0x0201, 4, 1, thumb_at)  # JPEGInterchangeFormat
    out += struct.pack("<HHII", 0x0202, 4, 1, len(thumb))  # JPEGInterchangeFormatLength
    out += struct.pack("<I", 0)
    return b"Exif\x00\x00" + out + thumb


def test_jpeg_with_exif_thumbnail_cut_short_is_truncated(scene):
    data = phone_jpeg(scene)
    assert data.count(b"\xff\xd8") >= 2 and data.count(b"\xff\xda") >= 2  # the thumbnail is in there
    decode(data)  # whole: fine
    for cut in (0.3, 0.6, 0.95):
        with pytest.raises(Unreadable) as info:
            decode(data[: int(len(data) * cut)])
        assert info.value.reason == "truncated", cut


def test_webp_cut_short_is_truncated(scene):
    buf = io.BytesIO()
    Image.fromarray(scene).save(buf, format="WEBP", quality=80)
    data = buf.getvalue()
    decode(data)
    with pytest.raises(Unreadable) as info:
        decode(data[: len(data) // 2])
    assert info.value.reason == "truncated"


@pytest.mark.dag
def test_heic_photos_load_through_the_dag_and_enrol(airflow_db, schema, db, scene, tmp_path):
    from facepipe.ops.demo import run_day
    from facepipe.people.tasks import enrol

    day = dt.date(2026, 11, 3)
    folder = tmp_path / "photos" / day.isoformat()
    folder.mkdir(parents=True)
    (folder / "IMG_0001.HEIC").write_bytes(heic_bytes(scene, 1))
    (folder / "IMG_0002.HEIC").write_bytes(heic_bytes(scene[:, ::-1].copy(), 6))
    assert run_day("face_ingest", day.isoformat(), source=str(tmp_path / "photos")) == "success"
    rows = q(
        db,
        schema,
        "SELECT uri, status, width, height, face_count, camera FROM {s}.images WHERE day = %s ORDER BY uri",
        day,
    )
    assert [(r[1], r[2], r[3], r[4], r[5]) for r in rows] == [("loaded", 1200, 900, 1, "iPhone 15 Pro")] * 2
    assert q(db, schema, "SELECT count(*) FROM {s}.rejects WHERE day = %s", day) == [(0,)]

    people = tmp_path / "people" / "eileen_collins"
    people.mkdir(parents=True)
    (people / "portrait.heic").write_bytes(heic_bytes(scene, 6))
    result = enrol(str(tmp_path / "people"), upgrade=True)
    assert (result["added"], result["skipped"]) == (1, 0)
    assert q(db, schema, "SELECT count(*) FROM {s}.person_refs") == [(1,)]


# ---------------------------------------------------------------- small faces in big photos


def test_face_sizing_follows_the_smallest_face():
    from facepipe.models.detect import FaceSizing

    default = FaceSizing.of("mtcnn", 64)
    assert default.scale_for(4032) == 0.5  # a 12 MP phone photo is detected at 2016 px
    assert default.scale_for(6000) == 0.5  # 24 MP at 3000 px
    assert FaceSizing.of("mtcnn", 128).scale_for(4032) == 32 / 126  # a 32nd of 4032 is smaller than 128
    assert FaceSizing.of("hog", 64).scale_for(4032) == 1.0  # HOG needs 90 px faces: the full photo
    assert default.min_face_for(640) == 20  # a small frame is searched for proportionally small faces
    assert default.min_face_for(1920) == 60 and default.min_face_for(2048) == 64
    assert default.scale_for(640) == 1.0


def test_decode_sizes_the_copy_for_the_smallest_face():
    from facepipe.models.detect import FaceSizing

    rgb, _ = samples.group_photo(4032, 3024, 0, (64, 65), seed=1)
    data = samples.jpeg_bytes(rgb)
    img = decode(data, sizing=FaceSizing.of("mtcnn", 64))
    assert img.rgb.shape[:2] == (1512, 2016) and img.scale == 2.0
    assert img.min_face == 32
    hog = decode(data, sizing=FaceSizing.of("hog", 64))
    assert hog.rgb.shape[:2] == (3024, 4032) and hog.min_face == 64


BANDS = ((64, 100), (100, 401))


def recall_by_band(truth, boxes):
    from photos import iou

    found = {b: [0, 0] for b in BANDS}
    boxes = list(boxes)
    for t in truth:
        band = next(b for b in BANDS if b[0] <= t.size < b[1])
        found[band][1] += 1
        tb = (t.x, t.y, t.size, t.size)
        best = max(range(len(boxes)), key=lambda k: iou(tb, boxes[k]), default=None)
        if best is not None and iou(tb, boxes[best]) >= 0.3:
            found[band][0] += 1
            boxes.pop(best)
    return {b: f / n for b, (f, n) in found.items() if n}, len(boxes)


@pytest.fixture(scope="module")
def mtcnn():
    from facepipe.models.detect import make_detector

    return make_detector("mtcnn")


@pytest.mark.parametrize("size", [(4032, 3024), (6000, 4000)])
def test_mtcnn_finds_the_faces_of_a_group_photo_at_the_default_setting(mtcnn, size):
    """Faces of 64-400 px on real textures: the targets of the default setting."""
    import sys
    from pathlib import Path

    from facepipe.models.detect import FaceSizing

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    rgb, truth = samples.group_photo(*size, 30, (64, 400), seed=size[0])
    img = decode(samples.jpeg_bytes(rgb), sizing=FaceSizing.of("mtcnn", 64))
    boxes = [b.scaled(img.scale, img.width, img.height) for b in mtcnn.detect(img.rgb, img.min_face)]
    recall, false_positives = recall_by_band(truth, [(b.x, b.y, b.w, b.h) for b in boxes])
    assert recall[(100, 401)] >= 0.95, recall
    assert recall[(64, 100)] >= 0.8, recall
    assert false_positives <= 1


def test_mtcnn_finds_nothing_in_textures_and_a_blank_image(mtcnn):
    rgb, _ = samples.group_photo(2016, 1512, 0, (64, 65), seed=8)
    assert mtcnn.detect(rgb, 32) == []
    assert mtcnn.detect(np.full((300, 400, 3), 128, np.uint8), 20) == []


def test_mtcnn_refuses_weights_that_are_not_its_networks():
    from facepipe.models.mtcnn_onnx import build_onnx, load_weights

    pnet = load_weights("pnet")
    build_onnx("pnet", pnet)
    with pytest.raises(ValueError, match="fewer weight arrays"):
        build_onnx("pnet", pnet[:-2])
    with pytest.raises(ValueError, match="more weight arrays"):
        build_onnx("pnet", pnet + [pnet[-1]])
    with pytest.raises(ValueError, match="filters"):
        build_onnx("rnet", pnet)


@pytest.mark.dag
def test_a_phone_group_photo_loads_every_face_through_the_dag(airflow_db, schema, db, tmp_path):
    """4032x3024, 20 faces of 100-250 px: all 20 are in the faces table."""
    from facepipe.ops.demo import run_day

    day = dt.date(2026, 11, 4)
    folder = tmp_path / "photos" / day.isoformat()
    folder.mkdir(parents=True)
    rgb, truth = samples.group_photo(4032, 3024, 20, (100, 250), seed=20)
    (folder / "PXL_20261104_group.jpg").write_bytes(samples.jpeg_bytes(rgb, camera=1))
    assert run_day("face_ingest", day.isoformat(), source=str(tmp_path / "photos")) == "success"
    assert q(db, schema, "SELECT face_count, width, height FROM {s}.images WHERE day = %s", day) == [(20, 4032, 3024)]
    boxes = q(db, schema, "SELECT box_x, box_y, box_w, box_h FROM {s}.faces WHERE day = %s", day)
    recall, false_positives = recall_by_band(truth, boxes)
    assert recall == {(100, 401): 1.0} and false_positives == 0
    assert q(db, schema, "SELECT DISTINCT detector FROM {s}.faces WHERE day = %s", day) == [("mtcnn",)]


def test_jpeg_with_bytes_between_segments_is_not_called_truncated(scene):
    """Some writers pad between segments: the segment walk gives up and searches instead."""
    data = phone_jpeg(scene)
    app1_len = int.from_bytes(data[4:6], "big")
    padded = data[: 4 + app1_len] + b"\x00\x00" + data[4 + app1_len :]
    try:
        decode(padded)
    except Unreadable as exc:
        assert exc.reason != "truncated"
