"""Faces a photo manager tagged that the detector missed.

A named face region of a photo (its sidecars and embedded XMP, read by facepipe.models.xmp)
that overlaps no face the detector found (IoU below ``MATCH_IOU``) becomes a face of its
own: its box is embedded as a detected face's is, it is validated, loaded and searched with
the rest of the day, and its ``detector`` is ``REGION_DETECTOR`` (``det_score`` 0). After the
night's assignment facepipe.people.tags finds the region on it (the same box) and gives it
to the region's person. At most ``MAX_REGION_FACES`` of one photo. Photos of folder and S3
sources (an object's sidecars are fetched beside it), not videos. One photo's metadata never stops the day: what cannot be read is
logged by its kind and skipped.
"""

from __future__ import annotations

import logging

from facepipe.core.suppression import iou
from facepipe.models.detect import Box

log = logging.getLogger(__name__)

MATCH_IOU = 0.3  # a photo manager's box is drawn by hand or by its own detector: looser than a re-run's 0.5
REGION_DETECTOR = "xmp-region"  # faces.detector of a face made from a named region
MIN_REGION_PX = 20  # a region smaller than this on a side (full-size pixels) is not embedded
# at most this many faces made from one photo's regions: a class photo has tens, a sidecar
# from the internet can hold a thousand small ones, each an embedding of the day's load
MAX_REGION_FACES = 100


def missed_faces(uri: str, data: bytes, width: int, height: int, found: list[Box], sidecars=None) -> list[Box]:
    """The named regions of the photo at ``uri`` (its bytes ``data``; ``width`` x ``height``
    upright full-size pixels) that overlap none of the ``found`` boxes (full-size), as
    full-size boxes inside the photo. A folder's sidecars are read beside the file; an S3
    object's through ``sidecars(uri)`` (S3Source.read_sidecars)."""
    from facepipe.core.sources import path_of
    from facepipe.models.xmp import read_regions, sidecar_paths

    try:
        if "://" in uri:
            given = sidecars(uri) if sidecars is not None else []
            regions = read_regions(data, sidecars=(), sidecar_data=given, width=width, height=height)
        else:
            regions = read_regions(data, sidecars=sidecar_paths(path_of(uri)), width=width, height=height)
    except Exception as exc:  # one photo's metadata never stops the day
        log.warning("face regions: a photo's XMP could not be read (%s)", type(exc).__name__)
        return []
    out: list[Box] = []
    for tag in regions.named:
        if tag.ours:  # a region facepipe wrote (xmp_write): its own decision, not a person's
            continue
        b = tag.box
        x0, y0 = max(0, b.x), max(0, b.y)
        x1, y1 = min(width, b.x + b.w), min(height, b.y + b.h)
        if min(x1 - x0, y1 - y0) < MIN_REGION_PX:
            continue
        box = Box(x0, y0, x1 - x0, y1 - y0, 0.0)
        if all(iou(_xywh(box), _xywh(f)) < MATCH_IOU for f in [*found, *out]):
            if len(out) == MAX_REGION_FACES:
                log.warning(
                    "face regions: a photo has more than %d named regions without a face: the rest not made faces",
                    MAX_REGION_FACES,
                )
                break
            out.append(box)
    return out


def _xywh(box: Box) -> tuple[int, int, int, int]:
    return box.x, box.y, box.w, box.h
