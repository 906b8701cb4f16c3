"""process(shard) for one video: stream it, sample frames, detect, embed, track.

The video is one row of images (media 'video') and one face row per track: the
track's best frame's box and vector, that frame's time and the track's first and
last second. Probing comes first (cheap, from the container), so that a file over
the limits or unreadable costs nothing more; then the content hash (streamed in
1 MB parts) for the duplicate check; then the frames.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable

import numpy as np

from facepipe.core.sources import Arrival, Unreadable
from facepipe.core.text import clean_text
from facepipe.ingest.records import FaceRecord, ImageRecord, RejectRecord, ShardResult, VideoOptions, image_id
from facepipe.models.detect import FaceSizing
from facepipe.models.tracks import track_faces
from facepipe.models.video import VideoReader

EMBED_BATCH = 64  # faces prepared for the embedder at a time (a prepared face is up to ~0.6 MB)


def process_video(
    arrival: Arrival,
    data: bytes | None,
    sha: str | None,
    videos: VideoOptions,
    seen_before: Callable[[list[str]], dict[str, str]],
    detector,
    embedder,
    sizing: FaceSizing,
    result: ShardResult,
    vectors: dict[int, np.ndarray],
) -> None:
    """Append the video's image record and track faces (their vectors into ``vectors`` by face
    index) to ``result``, or its reject. ``data`` is the whole file when it was read already."""
    try:
        if data is not None:
            _one(arrival, io.BytesIO(data), len(data), sha, videos, seen_before, detector, embedder, sizing, result,
                 vectors)  # fmt: skip
            return
        with videos.source.open_stream(arrival.uri, videos.limits.max_bytes) as (path, size):
            _one(arrival, path, size, None, videos, seen_before, detector, embedder, sizing, result, vectors)
    except Unreadable as exc:
        size = len(data) if data is not None else arrival.bytes
        result.rejects.append(
            RejectRecord(arrival.uri, exc.reason, clean_text(exc.detail, 300), size, arrival.arrived_at)
        )


def _one(arrival, file, size, sha, videos, seen_before, detector, embedder, sizing, result, vectors) -> None:
    iid = image_id(arrival.uri)
    with VideoReader(file, videos.limits, sizing) as reader:
        info = reader.info
        if sha is None:
            sha = _sha256(file)
        earlier = seen_before([sha]).get(sha)
        if earlier is not None:
            result.images.append(
                ImageRecord(
                    iid,
                    arrival.uri,
                    sha,
                    size,
                    None,
                    None,
                    None,
                    None,
                    arrival.arrived_at,
                    "duplicate",
                    earlier,
                    0,
                    "video",
                    info.seconds,
                )  # fmt: skip
            )
            return
        frames: list[tuple[float, list]] = []
        pending: list[tuple[int, int, np.ndarray]] = []  # (frame no, face no in frame, prepared input)

        def flush() -> None:
            if pending:
                embedded = embedder.embed([p for _f, _i, p in pending])
                for (f, i, _p), vec in zip(pending, embedded):
                    box = frames[f][1][i][0]
                    frames[f][1][i] = (box, np.asarray(vec))
                pending.clear()

        for frame in reader.frames():
            boxes = detector.detect(frame.rgb, frame.min_face)
            faces = []
            for i, box in enumerate(boxes):
                pending.append((len(frames), i, embedder.prepare(frame.rgb, box)))
                faces.append((box.scaled(frame.scale, info.width, info.height), None))
            frames.append((frame.seconds, faces))
            if len(pending) >= EMBED_BATCH:
                flush()
        flush()
    # a track survives a few missed samples: 3 s, or 2.5 samples where they are sparser
    tracks = track_faces(frames, videos.match_distance, videos.distance_op, max_gap=max(3.0, 2.5 * info.interval))
    for face_no, track in enumerate(tracks[:32767]):
        best = track.best()
        vectors[len(result.faces)] = best.vector
        result.faces.append(
            FaceRecord(iid, face_no, best.box, info.width, info.height, best.seconds, track.first, track.last)
        )
    result.images.append(
        ImageRecord(
            iid,
            arrival.uri,
            sha,
            size,
            info.width,
            info.height,
            info.captured_at,
            info.camera,
            arrival.arrived_at,
            "loaded",
            None,
            min(len(tracks), 32767),
            "video",
            _length(info.seconds, reader.last_seconds),
        )  # fmt: skip
    )


def _length(stated: float | None, decoded: float | None) -> float | None:
    """A video's length: what its container says, or the last frame decoded if that is later
    (a header that says less than the stream holds)."""
    if decoded is None:
        return stated
    return max(stated or 0.0, decoded)


def _sha256(file) -> str:
    """The content hash, streamed: a path is read in 1 MB parts, a file object from its start."""
    h = hashlib.sha256()
    if isinstance(file, str):
        with open(file, "rb") as f:
            while chunk := f.read(1024 * 1024):
                h.update(chunk)
        return h.hexdigest()
    pos = file.tell()
    file.seek(0)
    while chunk := file.read(1024 * 1024):
        h.update(chunk)
    file.seek(pos)
    return h.hexdigest()
