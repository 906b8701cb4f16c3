"""Face detectors: MTCNN (the default), OpenCV's Haar cascade and dlib's HOG detector.

Each takes the reduced upright RGB copy from facepipe.models.imaging and returns boxes
in its pixels, clipped to the image. How far a photo is reduced depends on the
smallest face wanted (FaceSizing): each detector has a smallest face it finds
reliably, in pixels of the image it runs on, and the copy is made large enough
for the smallest wanted face to reach it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from facepipe.core.specs import check_detector

# The smallest face each detector finds reliably, in pixels of the image it runs on
# (bench/groups.py on 4032x3024 group photos): HOG's window is 80 px and it found
# none of the faces under 80 px and all from 90 px; the Haar cascade's window is
# 24 px, reliable from about 32. MTCNN's window is 12 px; 32 px is kept so that the
# face chips the embedder aligns are not upscaled from a few pixels.
SMALLEST_FACE = {"mtcnn": 32, "haar": 32, "hog": 90}


@dataclass(frozen=True)
class FaceSizing:
    """How large a copy of a photo the detector needs to see its smallest wanted face.

    ``min_face`` is the smallest face to find, in pixels of the original photo,
    or a 32nd of the photo's long side where that is smaller (but not under
    20 px): a 640 px webcam frame is searched for faces from 20 px, not only
    for faces that fill a tenth of it. The copy is never larger than the photo.
    """

    min_face: int = 64
    detector_face: int = SMALLEST_FACE["mtcnn"]

    def min_face_for(self, long_side: int) -> float:
        return float(min(self.min_face, max(20, long_side / 32)))

    def scale_for(self, long_side: int) -> float:
        """Copy pixels per original pixel (at most 1)."""
        return min(1.0, self.detector_face / self.min_face_for(long_side))

    @classmethod
    def of(cls, detector: str, min_face: int) -> FaceSizing:
        return cls(min_face, SMALLEST_FACE[detector])


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int
    score: float

    def scaled(self, factor: float, width: int, height: int) -> Box:
        """The box in full-size pixels, kept inside the full-size image."""
        x0, y0 = round(self.x * factor), round(self.y * factor)
        x1 = min(width, round((self.x + self.w) * factor))
        y1 = min(height, round((self.y + self.h) * factor))
        return Box(x0, y0, x1 - x0, y1 - y0, self.score)


def _clip(x0: int, y0: int, x1: int, y1: int, score: float, shape, min_face: int) -> Box | None:
    h, w = shape[:2]
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if min(x1 - x0, y1 - y0) < min_face:
        return None
    return Box(int(x0), int(y0), int(x1 - x0), int(y1 - y0), float(score))


class HaarDetector:
    name = "haar"

    def __init__(self, min_face: int = 40, scale_factor: float = 1.1, min_neighbors: int = 5):
        import cv2

        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise RuntimeError(f"cannot load the Haar cascade from {path} (OpenCV 5 removed it: pin 4.x)")
        self._cv2 = cv2
        self.min_face, self.scale_factor, self.min_neighbors = min_face, scale_factor, min_neighbors

    def detect(self, rgb: np.ndarray, min_face: float | None = None) -> list[Box]:
        """Faces of at least ``min_face`` px (default: the detector's own floor)."""
        cv2 = self._cv2
        floor = self.min_face if min_face is None else max(24, math.floor(0.8 * min_face))
        # No histogram equalisation: on the benchmark's photos it cut recall from
        # 1.0 to 0.6, added false positives and made detection 5x slower.
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        rects, _levels, weights = self._cascade.detectMultiScale3(
            gray,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(floor, floor),
            outputRejectLevels=True,
        )
        boxes = []
        for (x, y, w, h), weight in zip(rects, np.ravel(weights) if len(rects) else []):
            box = _clip(x, y, x + w, y + h, float(weight), rgb.shape, floor)
            if box:
                boxes.append(box)
        return boxes


HOG_UPSAMPLE_BELOW = 720  # px, long side


class HogDetector:
    name = "hog"

    def __init__(self, min_face: int = 40):
        import dlib

        self._detector = dlib.get_frontal_face_detector()
        self.min_face = min_face

    def detect(self, rgb: np.ndarray, min_face: float | None = None) -> list[Box]:
        floor = self.min_face if min_face is None else math.floor(0.5 * min_face)
        # HOG finds faces from about 80 px; upsample small images once to find smaller ones.
        # Not the detection copies of large photos: a reduced JPEG decode can leave
        # them at 768 px (facepipe.models.imaging.MIN_SIDE_FRACTION x 1024).
        upsample = 1 if max(rgb.shape[:2]) < HOG_UPSAMPLE_BELOW else 0
        rects, scores, _ = self._detector.run(rgb, upsample, 0.0)
        boxes = []
        for rect, score in zip(rects, scores):
            box = _clip(rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1, score, rgb.shape, floor)
            if box:
                boxes.append(box)
        return boxes


class MtcnnDetector:
    """MTCNN's three-network cascade on onnxruntime (facepipe.models.mtcnn_onnx); finds faces from 12 px."""

    name = "mtcnn"

    def __init__(self, min_face: int = 40, threads: int | None = None):
        from facepipe.models.mtcnn_onnx import Mtcnn

        self._mtcnn = Mtcnn(threads)
        self.min_face = min_face

    def detect(self, rgb: np.ndarray, min_face: float | None = None) -> list[Box]:
        wanted = self.min_face if min_face is None else min_face
        boxes = []
        for x0, y0, x1, y1, score in self._mtcnn.detect(rgb, wanted):
            box = _clip(round(x0), round(y0), round(x1), round(y1), float(score), rgb.shape, math.floor(0.5 * wanted))
            if box:
                boxes.append(box)
        return boxes


def make_detector(name: str, min_face: int = 40, haar_scale_factor: float = 1.1):
    check_detector(name)
    if name == "haar":
        return HaarDetector(min_face, haar_scale_factor)
    return HogDetector(min_face) if name == "hog" else MtcnnDetector(min_face)
