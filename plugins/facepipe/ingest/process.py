"""process(shard): read, decode, detect, align and embed one shard of a day.

Pure per-image work lives in ``analyse``; ``process_images`` batches the
embedding over the whole shard. Database I/O is in facepipe.ingest.store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from facepipe.core.sources import Arrival, Unreadable
from facepipe.core.text import clean_text
from facepipe.ingest.records import (  # noqa: F401  (the records are process's interface too)
    FaceRecord,
    ImageRecord,
    RejectRecord,
    ShardResult,
    VideoOptions,
    image_id,
)
from facepipe.ingest.regions import REGION_DETECTOR, missed_faces
from facepipe.ingest.videos import process_video
from facepipe.models.detect import Box, FaceSizing
from facepipe.models.imaging import decode
from facepipe.models.video import HEADER_BYTES, is_video, named_video

# Photos read ahead of processing so that their hashes are looked up in one query:
# at most this many, and at most this many bytes.
LOOKUP_BATCH = 16
LOOKUP_BATCH_BYTES = 64 * 1024 * 1024


def process_images(
    arrivals: Iterable[Arrival],
    read: Callable[[str], bytes],
    seen_before: Callable[[list[str]], dict[str, str]],
    detector,
    embedder,
    sizing: FaceSizing | None = None,
    videos: VideoOptions | None = None,
    sidecars: Callable[[str], list[tuple[str, bytes]]] | None = None,
) -> ShardResult:
    """Turn a shard's arrivals into image, face and reject records plus vectors.

    ``seen_before(sha256s)`` maps each hash that was loaded on an earlier day to
    the URI of that copy; such an image is recorded as a duplicate and not
    decoded. It is asked once per batch of photos read ahead, not per photo.
    ``sizing`` decides how large a copy each photo is detected on (default: the
    detector's own smallest face and FaceSizing's default smallest face).

    With ``videos``, a file named like a video or too large to be read whole is
    first looked at by its header, and a video is streamed from the source
    (facepipe.ingest.videos), never read into memory; a video that is read whole
    anyway (under another name) is decoded from memory. Without it, every file is
    a photo. ``sidecars(uri)``: an S3 object's XMP sidecars (facepipe.ingest.regions).
    """
    sizing = sizing or FaceSizing.of(detector.name, FaceSizing.min_face)
    result = ShardResult()
    inputs: list[np.ndarray] = []
    vectors: dict[int, np.ndarray] = {}  # face index -> a video face's vector, already embedded

    def video(arrival: Arrival, data: bytes | None, sha: str | None = None) -> None:
        process_video(arrival, data, sha, videos, seen_before, detector, embedder, sizing, result, vectors)

    for batch in _read_ahead(arrivals, read, result.rejects, videos, video):
        earlier = seen_before([sha for _arrival, _data, sha in batch if sha is not None])
        for arrival, data, sha in batch:
            if videos is not None and is_video(data[:HEADER_BYTES]):
                video(arrival, data, sha)
            else:
                _process_one(arrival, data, sha, earlier.get(sha), detector, embedder, sizing, result, inputs, sidecars)
    photo_vectors = embedder.embed(inputs)
    result.embeddings = _in_face_order(photo_vectors, vectors, len(result.faces))
    return result


def _in_face_order(photo_vectors: np.ndarray, video_vectors: dict[int, np.ndarray], n: int) -> np.ndarray:
    """The faces' vectors in result.faces order: videos' where they were embedded, photos' in turn."""
    if not video_vectors:
        return photo_vectors
    dim = photo_vectors.shape[1] if len(photo_vectors) else len(next(iter(video_vectors.values())))
    out = np.zeros((n, dim), dtype=photo_vectors.dtype if len(photo_vectors) else np.float32)
    k = 0
    for i in range(n):
        if i in video_vectors:
            out[i] = video_vectors[i]
        else:
            out[i] = photo_vectors[k]
            k += 1
    return out


def _read_ahead(
    arrivals: Iterable[Arrival],
    read: Callable[[str], bytes],
    rejects: list[RejectRecord],
    videos: VideoOptions | None = None,
    video: Callable[[Arrival, bytes | None], None] | None = None,
) -> Iterator[list[tuple[Arrival, bytes, str]]]:
    """Batches of (arrival, content, sha256); unreadable files go to rejects. With
    ``videos``, a file that may be a large video is looked at by its header first,
    and a video is handed to ``video`` as it comes (streamed, not read)."""
    batch: list[tuple[Arrival, bytes, str]] = []
    size = 0
    for arrival in arrivals:
        try:
            if videos is not None and _maybe_large_video(arrival):
                if is_video(videos.source.head(arrival.uri, HEADER_BYTES)):
                    video(arrival, None)
                    continue
            data = read(arrival.uri)
        except Unreadable as exc:
            rejects.append(
                RejectRecord(arrival.uri, exc.reason, clean_text(exc.detail, 300), arrival.bytes, arrival.arrived_at)
            )
            continue
        batch.append((arrival, data, hashlib.sha256(data).hexdigest()))
        size += len(data)
        if len(batch) >= LOOKUP_BATCH or size >= LOOKUP_BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _maybe_large_video(arrival: Arrival) -> bool:
    """Named like a video, or of unknown size or too large to be read whole (it may be one)."""
    from facepipe.core.sources import MAX_OBJECT_BYTES

    return named_video(arrival.uri) or arrival.bytes is None or arrival.bytes > MAX_OBJECT_BYTES


def _process_one(
    arrival: Arrival,
    data: bytes,
    sha: str,
    earlier: str | None,
    detector,
    embedder,
    sizing: FaceSizing,
    result: ShardResult,
    inputs: list[np.ndarray],
    sidecars=None,
) -> None:
    iid = image_id(arrival.uri)
    if earlier is not None:
        result.images.append(
            ImageRecord(
                iid, arrival.uri, sha, len(data), None, None, None, None, arrival.arrived_at, "duplicate", earlier, 0
            )
        )
        return
    try:
        img = decode(data, sizing=sizing)
    except Unreadable as exc:
        result.rejects.append(
            RejectRecord(arrival.uri, exc.reason, clean_text(exc.detail, 300), len(data), arrival.arrived_at)
        )
        return
    boxes = detector.detect(img.rgb, img.min_face)
    full = [box.scaled(img.scale, img.width, img.height) for box in boxes]
    for face_no, (box, big) in enumerate(zip(boxes, full)):
        inputs.append(embedder.prepare(img.rgb, box))
        result.faces.append(FaceRecord(iid, face_no, big, img.width, img.height))
    # a face its photo manager tagged that the detector missed: a face of its own (ingest.regions)
    missed = missed_faces(arrival.uri, data, img.width, img.height, full, sidecars)
    for face_no, big in enumerate(missed, start=len(boxes)):
        s = img.scale
        small = Box(round(big.x / s), round(big.y / s), max(1, round(big.w / s)), max(1, round(big.h / s)), 0.0)
        inputs.append(embedder.prepare(img.rgb, small))
        result.faces.append(FaceRecord(iid, face_no, big, img.width, img.height, detector=REGION_DETECTOR))
    result.images.append(
        ImageRecord(
            iid,
            arrival.uri,
            sha,
            len(data),
            img.width,
            img.height,
            img.captured_at,
            img.camera,
            arrival.arrived_at,
            "loaded",
            None,
            len(boxes) + len(missed),
        )
    )
