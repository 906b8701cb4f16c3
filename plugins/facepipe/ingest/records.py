"""What process(shard) produces, and how it reads videos: the records that cross into
staging (facepipe.ingest.store) and the video options. Below process and videos, which
both use them."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

import numpy as np

from facepipe.models.detect import Box
from facepipe.models.video import VideoLimits

_IMAGE_NS = uuid.UUID("6f1c2a4e-5d2b-4f61-9a51-2b7c1f0e9d11")


def image_id(uri: str) -> uuid.UUID:
    return uuid.uuid5(_IMAGE_NS, uri)


@dataclass(frozen=True)
class ImageRecord:
    image_id: uuid.UUID
    uri: str
    content_sha256: str
    bytes: int
    width: int | None
    height: int | None
    captured_at: dt.datetime | None
    camera: str | None
    arrived_at: dt.datetime
    status: str  # loaded | duplicate
    duplicate_of: str | None
    face_count: int
    media: str = "photo"  # photo | video
    duration_s: float | None = None  # a video's length


@dataclass(frozen=True)
class FaceRecord:
    image_id: uuid.UUID
    face_no: int
    box: Box  # full-size upright pixels
    img_width: int
    img_height: int
    # a video's face is one track: the time of the frame it was cut from, and the first
    # and last second the track was seen (None for photos)
    frame_s: float | None = None
    first_s: float | None = None
    last_s: float | None = None
    detector: str | None = None  # another than the shard's (facepipe.ingest.regions: a tagged region)


@dataclass(frozen=True)
class RejectRecord:
    uri: str
    reason: str
    detail: str
    bytes: int | None
    arrived_at: dt.datetime


@dataclass
class ShardResult:
    images: list[ImageRecord] = field(default_factory=list)
    faces: list[FaceRecord] = field(default_factory=list)
    embeddings: np.ndarray | None = None
    rejects: list[RejectRecord] = field(default_factory=list)


@dataclass(frozen=True)
class VideoOptions:
    """How a shard reads videos: the source (``head``, ``open_stream``), the limits, and the
    model's same-person distance that tracks faces within a video."""

    source: object
    limits: VideoLimits = VideoLimits()
    match_distance: float = 0.5
    distance_op: str = "<->"
