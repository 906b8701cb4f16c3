"""Face detectors: OpenCV's Haar cascade and dlib's HOG detector.

Both take the reduced upright RGB copy from facepipe.imaging and return boxes
in its pixels, clipped to the image.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facepipe.models import check_detector


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int
    score: float

    def scaled(self, factor: float, width: int, height: int) -> "Box":
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

    def detect(self, rgb: np.ndarray) -> list[Box]:
        cv2 = self._cv2
        # No histogram equalisation: on the benchmark's photos it cut recall from
        # 1.0 to 0.6, added false positives and made detection 5x slower.
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        rects, _levels, weights = self._cascade.detectMultiScale3(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=(self.min_face, self.min_face), outputRejectLevels=True)
        boxes = []
        for (x, y, w, h), weight in zip(rects, np.ravel(weights) if len(rects) else []):
            box = _clip(x, y, x + w, y + h, float(weight), rgb.shape, self.min_face)
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

    def detect(self, rgb: np.ndarray) -> list[Box]:
        # HOG finds faces from about 80 px; upsample small images once to find smaller ones.
        # Not the detection copies of large photos: a reduced JPEG decode can leave
        # them at 768 px (facepipe.imaging.MIN_SIDE_FRACTION x 1024).
        upsample = 1 if max(rgb.shape[:2]) < HOG_UPSAMPLE_BELOW else 0
        rects, scores, _ = self._detector.run(rgb, upsample, 0.0)
        boxes = []
        for rect, score in zip(rects, scores):
            box = _clip(rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1, score,
                        rgb.shape, self.min_face)
            if box:
                boxes.append(box)
        return boxes


def make_detector(name: str, min_face: int = 40, haar_scale_factor: float = 1.1):
    check_detector(name)
    return HaarDetector(min_face, haar_scale_factor) if name == "haar" else HogDetector(min_face)
