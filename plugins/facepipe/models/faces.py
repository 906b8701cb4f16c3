"""The largest face of one photo, decoded, detected and embedded: for photos of one
known person (enrolment, a search query), not for a day's photos."""

from __future__ import annotations

import numpy as np

from facepipe.models.detect import Box, FaceSizing
from facepipe.models.imaging import decode


def embed_largest_face(data: bytes, detector, embedder, sizing: FaceSizing) -> tuple[Box, np.ndarray] | None:
    """The largest face of one photo: its box in full-size pixels and its vector (None: no face).

    For photos of one known person (enrolment, a search query), not for a day's photos.
    """
    img = decode(data, sizing=sizing)
    boxes = detector.detect(img.rgb, img.min_face)
    if not boxes:
        return None
    box = max(boxes, key=lambda b: b.w * b.h)
    vector = embedder.embed([embedder.prepare(img.rgb, box)])[0]
    return box.scaled(img.scale, img.width, img.height), vector


def embed_faces(data: bytes, detector, embedder, sizing: FaceSizing, limit: int = 20):
    """Every face of one photo, largest first (at most ``limit``): the decoded photo (upright)
    and a list of (box in full-size pixels, vector). For a search photo, where the person
    searching chooses which face to search for."""
    img = decode(data, sizing=sizing)
    boxes = sorted(detector.detect(img.rgb, img.min_face), key=lambda b: b.w * b.h, reverse=True)[:limit]
    if not boxes:
        return img, []
    vectors = embedder.embed([embedder.prepare(img.rgb, b) for b in boxes])
    return img, [(b.scaled(img.scale, img.width, img.height), v) for b, v in zip(boxes, vectors)]
