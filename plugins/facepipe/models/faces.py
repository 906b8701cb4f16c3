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
