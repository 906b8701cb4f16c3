"""facepipe.models.detect: Box scaling, the HOG and Haar detectors on real photos, make_detector."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from facepipe.models.detect import Box, HaarDetector, HogDetector, make_detector

# The astronaut's (Eileen Collins') face in skimage.data.astronaut(), 512x512.
FACE_X, FACE_Y, FACE_SIZE = 175, 76, 90


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()


@pytest.fixture(scope="module")
def hog() -> HogDetector:
    return HogDetector()


@pytest.fixture(scope="module")
def haar() -> HaarDetector:
    return HaarDetector()


def near_face(box: Box, x=FACE_X, y=FACE_Y, size=FACE_SIZE, tol=20) -> bool:
    return abs(box.x - x) <= tol and abs(box.y - y) <= tol and abs(box.w - size) <= tol and abs(box.h - size) <= tol


# ---------------------------------------------------------------- Box.scaled


def test_box_scaled_multiplies_and_rounds():
    b = Box(10, 20, 30, 40, 0.5).scaled(2.5, 1000, 1000)
    assert (b.x, b.y, b.w, b.h) == (25, 50, 75, 100)
    assert b.score == 0.5


def test_box_scaled_identity():
    box = Box(3, 4, 50, 60, 1.0)
    assert box.scaled(1.0, 100, 100) == box


def test_box_scaled_is_kept_inside_the_full_image():
    # 6000x4000 decoded to 1024x683: scale 5.859; a box touching the bottom-right corner
    scale = 6000 / 1024
    b = Box(1000, 650, 24, 33, 1.0).scaled(scale, 6000, 4000)
    assert b.x + b.w <= 6000
    assert b.y + b.h <= 4000
    assert b.y + b.h == 4000  # 683 * 5.859 = 4002 is clipped to the edge, not beyond
    assert b.w > 0 and b.h > 0


@pytest.mark.parametrize("scale", [1.0, 1.5, 2.0, 3.3, 5.859375, 7.9])
def test_box_scaled_stays_inside_for_any_box_of_the_reduced_image(scale):
    width, height = 4000, 3000
    rw, rh = round(width / scale), round(height / scale)
    rng = np.random.default_rng(7)
    for _ in range(200):
        x, y = int(rng.integers(0, rw - 2)), int(rng.integers(0, rh - 2))
        w, h = int(rng.integers(1, rw - x + 1)), int(rng.integers(1, rh - y + 1))
        b = Box(x, y, w, h, 0.0).scaled(scale, width, height)
        assert 0 <= b.x and 0 <= b.y
        assert b.w > 0 and b.h > 0
        assert b.x + b.w <= width and b.y + b.h <= height


# ---------------------------------------------------------------- detectors


def test_hog_finds_the_astronaut(hog, astronaut):
    boxes = hog.detect(astronaut)
    assert boxes, "HOG found no face in the astronaut"
    best = max(boxes, key=lambda b: b.score)
    assert near_face(best), best
    assert best.score > 0.5
    for b in boxes:
        assert b.x >= 0 and b.y >= 0 and b.x + b.w <= 512 and b.y + b.h <= 512
        assert isinstance(b.x, int) and isinstance(b.score, float)


def test_haar_finds_the_astronaut(haar, astronaut):
    boxes = haar.detect(astronaut)
    assert any(near_face(b) for b in boxes), boxes
    assert len(boxes) <= 2


def test_hog_finds_no_face_in_coffee(hog):
    assert hog.detect(data.coffee()) == []


def test_haar_finds_no_face_in_coffee(haar):
    assert haar.detect(data.coffee()) == []


def test_hog_finds_a_face_in_a_large_image(hog, astronaut):
    """Images of 720 px and more are not upsampled: the face is found at its own size."""
    import cv2

    big = cv2.resize(astronaut, (1024, 1024), interpolation=cv2.INTER_CUBIC)
    boxes = hog.detect(big)
    assert any(near_face(b, 2 * FACE_X, 2 * FACE_Y, 2 * FACE_SIZE, tol=40) for b in boxes), boxes


def test_detectors_find_nothing_in_a_blank_image(hog, haar):
    grey = np.full((300, 400, 3), 128, np.uint8)
    assert hog.detect(grey) == []
    assert haar.detect(grey) == []


@pytest.mark.parametrize("cls", [HogDetector, HaarDetector])
def test_min_face_filters_small_boxes(cls, astronaut):
    assert any(near_face(b) for b in cls(min_face=40).detect(astronaut))
    assert cls(min_face=120).detect(astronaut) == []  # the face is ~90 px


def test_faces_cut_by_the_border_are_clipped(hog, astronaut):
    # crop so that the face runs off the left edge: boxes must stay inside the image
    crop = np.ascontiguousarray(astronaut[:, FACE_X + 20 :])
    boxes = hog.detect(crop)
    assert any(b.x == 0 and 40 <= b.w < FACE_SIZE for b in boxes), boxes  # dlib says left = -24
    for b in boxes:
        assert b.x >= 0 and b.y >= 0
        assert b.x + b.w <= crop.shape[1] and b.y + b.h <= crop.shape[0]


# ---------------------------------------------------------------- make_detector


def test_make_detector_unknown_name():
    with pytest.raises(ValueError, match="nope"):
        make_detector("nope")


@pytest.mark.parametrize("name, cls", [("hog", HogDetector), ("haar", HaarDetector)])
def test_make_detector_known_names(name, cls):
    det = make_detector(name, min_face=55)
    assert isinstance(det, cls)
    assert det.name == name
    assert det.min_face == 55
