"""Videos: recognised from their header, decoded as a stream, sampled about once a second.

A video is never read whole: PyAV (FFmpeg) demuxes it from a seekable file and only
the sampled frames are converted to RGB, already reduced by swscale to the size the
detector needs (FaceSizing, as for photos). Key frames only are decoded while they
come at least as often as the sampling asks (a phone writes one about every second);
once they come sparser, every frame is decoded and the sampled ones kept. Frames are
turned upright from the stream's display matrix (or an old ``rotate`` tag), and the
capture time is the container's creation time.

Limits (VideoLimits, settings FACEPIPE_VIDEO_*) are checked from the container before
any frame is decoded: longer than max_seconds or larger than max_pixels is a reject
with its reason; a video that would need more than max_frames samples at the asked
interval is sampled sparsely (max_frames spread over it). A video FFmpeg cannot open
or decode (truncated, corrupt) is a reject with the reason.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from facepipe.core.sources import Unreadable
from facepipe.core.text import clean_text, plural
from facepipe.models.detect import FaceSizing

# ISO BMFF major brands that are still images (HEIF/AVIF, read as photos) or RAW
# (Canon CR3): every other ``ftyp`` file is taken for a video (MP4, MOV, M4V, 3GP...).
_STILL_BRANDS = {
    b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"mif2",
    b"avif", b"avis", b"avci", b"jpeg", b"crx ",
}  # fmt: skip
# Old QuickTime files begin with one of these atoms instead of ftyp.
_QT_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
HEADER_BYTES = 400  # what is_video looks at (an MPEG-TS's third packet starts at 376, M2TS's at 388)
# File names that are videos whatever they hold (a zero-byte or damaged .mov is a
# rejected video, not a rejected photo).
VIDEO_SUFFIXES = (
    ".mp4", ".m4v", ".mov", ".qt", ".3gp", ".3g2", ".mkv", ".webm", ".avi", ".mts", ".m2ts", ".ts", ".wmv", ".flv",
)  # fmt: skip


def is_video(head: bytes) -> str | None:
    """The container a file's first bytes say it is (mp4, matroska, avi, ...), or None."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return None if head[8:12] in _STILL_BRANDS else "mp4"
    if len(head) >= 8 and head[4:8] in _QT_ATOMS:
        return "mov"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"  # WebM too
    if head[:4] == b"RIFF" and head[8:11] == b"AVI":
        return "avi"
    if head[:3] == b"FLV":
        return "flv"
    if head[:16] == bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c"):
        return "asf"
    if head[:4] == b"\x00\x00\x01\xba":
        return "mpeg-ps"
    # MPEG-TS (.ts): 188-byte packets, each starting with the sync byte 0x47; AVCHD's
    # .mts/.m2ts: 192-byte packets, a 4-byte time code before each
    if len(head) >= 377 and head[0] == head[188] == head[376] == 0x47:
        return "mpegts"
    if len(head) >= 389 and head[4] == head[196] == head[388] == 0x47:
        return "m2ts"
    return None


def _main_stream(container):
    """The video stream to read: the one of most pixels that is not a cover picture or a
    thumbnail track (a phone's MOV may carry a preview stream; an MKV a cover), else None."""
    from av.stream import Disposition

    skip = Disposition.attached_pic | Disposition.timed_thumbnails | Disposition.still_image
    streams = [s for s in container.streams.video if not (s.disposition & skip)] or list(container.streams.video)
    if not streams:
        return None
    return max(streams, key=lambda s: (s.codec_context.width or 0) * (s.codec_context.height or 0))


def named_video(uri: str) -> bool:
    return uri.lower().endswith(VIDEO_SUFFIXES)


@dataclass(frozen=True)
class VideoLimits:
    sample_seconds: float = 1.0  # a frame about this often
    max_seconds: float = 3 * 3600.0  # longer videos are rejected (too_long)
    max_pixels: int = 7680 * 4320  # larger frames are rejected (too_large): 8K is kept
    max_frames: int = 1800  # more samples than this: sampled sparsely, spread over the video
    max_bytes: int = 16 * 1024**3  # larger files are rejected from their size, never opened

    @classmethod
    def from_settings(cls, s) -> VideoLimits:
        """The video_* settings of ``s`` (facepipe.core.deployment.settings())."""
        return cls(**{f.name: getattr(s, f"video_{f.name}") for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class VideoInfo:
    width: int  # upright
    height: int
    seconds: float | None
    captured_at: dt.datetime | None
    camera: str | None
    rotation: int  # degrees the stored frames are turned counter-clockwise to be upright
    interval: float  # seconds between samples actually used


@dataclass(frozen=True)
class Frame:
    rgb: np.ndarray  # upright, reduced
    seconds: float  # from the start of the video
    scale: float  # full-size upright pixels per pixel of rgb
    min_face: float | None  # smallest face wanted, in pixels of rgb


class VideoReader:
    """One open video: ``info`` from its container, ``frames()`` the sampled frames.

    ``file`` is a path or a seekable binary file object. Use as a context manager.
    """

    def __init__(self, file, limits: VideoLimits, sizing: FaceSizing | None = None, max_side: int = 1024):
        import av

        self.limits = limits
        self.last_seconds: float | None = None  # the last frame decoded (frames())
        self.sizing = sizing
        self.max_side = max_side
        try:
            self._container = av.open(file, mode="r", metadata_errors="ignore")
        except av.FFmpegError as exc:
            raise Unreadable("corrupt_video", f"not a readable video: {_ff(exc)}") from None
        try:
            self.info = self._probe()
        except BaseException:
            self._container.close()
            raise

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self._container.close()

    def _probe(self) -> VideoInfo:
        c = self._container
        vs = _main_stream(c)
        if vs is None:
            raise Unreadable("no_video_stream", "the file holds no video stream")
        self._stream = vs
        w, h = vs.codec_context.width, vs.codec_context.height
        if not w or not h:
            raise Unreadable("corrupt_video", "the video stream has no frame size")
        if w * h > self.limits.max_pixels:
            raise Unreadable("too_large", f"{w}x{h} pixels is more than {self.limits.max_pixels:,} for a video")
        seconds = _seconds(c, vs)
        if seconds is None:
            seconds = self._demuxed_seconds(vs)  # no stated length (a live WebM): read it from the packets
        if seconds is not None and seconds > self.limits.max_seconds:
            raise Unreadable(
                "too_long", f"{seconds:,.0f} s is longer than FACEPIPE_VIDEO_MAX_SECONDS={self.limits.max_seconds:g}"
            )
        rotation = _rotation(self._first_frame(), vs)
        if rotation in (90, 270):
            w, h = h, w
        interval = self.limits.sample_seconds
        if seconds is not None and seconds / interval > self.limits.max_frames:
            interval = seconds / self.limits.max_frames  # sparse: max_frames spread over the video
        self._start = vs.start_time * vs.time_base if vs.start_time is not None and vs.time_base else 0
        meta = {**c.metadata, **vs.metadata}
        return VideoInfo(w, h, seconds, _captured_at(meta), _camera(meta), rotation, float(interval))

    def _demuxed_seconds(self, vs) -> float | None:
        """The stream's length from its packets' times (read, not decoded), then back to the start."""
        import av

        last = None
        try:
            for packet in self._container.demux(vs):
                if packet.pts is not None:
                    last = packet.pts if last is None else max(last, packet.pts)
            self._container.seek(0)
        except av.FFmpegError as exc:
            raise Unreadable("corrupt_video", f"the packets cannot be read: {_ff(exc)}") from None
        if last is None or not vs.time_base:
            return None
        start = vs.start_time if vs.start_time is not None else 0
        return max(0.0, float((last - start) * vs.time_base))

    def _first_frame(self):
        """The first frame (for its display matrix), then back to the start; None if there is none."""
        import av

        try:
            first = next(self._container.decode(self._stream), None)
            self._container.seek(0)
        except av.FFmpegError as exc:
            raise Unreadable("corrupt_video", f"the first frame cannot be decoded: {_ff(exc)}") from None
        if first is None:
            raise Unreadable("corrupt_video", "the video stream holds no frame")
        return first

    def _keyframes_suffice(self, interval: float, look: int = 3000) -> bool:
        """Whether the key frames among the index's first ``look`` entries come at least every
        1.5 intervals; True when the index says nothing (then decided while reading)."""
        vs = self._stream
        try:
            entries = vs.index_entries
            n = min(len(entries), look)
            keys = [entries[i].timestamp for i in range(n) if entries[i].is_keyframe]
        except (AttributeError, TypeError, IndexError):
            return True
        if n < 2 or not vs.time_base:
            return True
        last = entries[n - 1].timestamp
        gaps = [b - a for a, b in zip(keys, [*keys[1:], last])]
        return max(gaps) * float(vs.time_base) <= 1.5 * interval

    def frames(self) -> Iterator[Frame]:
        """The sampled frames in order: the first frame at or after 0, interval, 2*interval...

        Decoding errors raise Unreadable("corrupt_video"). A stream that runs on past the
        length its container states (a header that lies) and past max_seconds, or past the
        last planned sample, raises Unreadable("too_long"): it is never cut short silently.
        ``last_seconds`` is the time of the last frame decoded.
        """
        import av

        info, vs = self.info, self._stream
        full_long = max(info.width, info.height)
        side = self.max_side
        if self.sizing is not None:
            side = max(1, round(full_long * self.sizing.scale_for(full_long)))
        f = min(1.0, side / full_long)
        out_w = max(2, round(vs.codec_context.width * f)) // 2 * 2
        out_h = max(2, round(vs.codec_context.height * f)) // 2 * 2
        scale = full_long / max(out_w, out_h)
        min_face = self.sizing.min_face_for(full_long) / scale if self.sizing is not None else None

        # Key frames only while they come at least every 1.5 intervals (from the container's
        # index where it has one, as MP4 and AVI do); once they are sparser, every frame from
        # that key frame on (it decodes whole from there).
        ctx = vs.codec_context
        keyframes_only = self._keyframes_suffice(info.interval)
        ctx.skip_frame = "NONKEY" if keyframes_only else "DEFAULT"
        next_at, last_key, taken = 0.0, None, 0
        try:
            for packet in self._container.demux(vs):
                if keyframes_only and packet.is_keyframe and packet.pts is not None:
                    # a key frame depends on no other: one before the next sample is not decoded
                    pt = float(packet.pts * vs.time_base - self._start)
                    if last_key is not None and pt - last_key > 1.5 * info.interval:
                        keyframes_only = False
                        ctx.skip_frame = "DEFAULT"
                    last_key = pt
                    if keyframes_only and pt + 1e-6 < next_at:
                        continue
                for frame in packet.decode():
                    if frame.pts is None:
                        continue
                    t = float(frame.pts * vs.time_base - self._start)
                    self.last_seconds = max(self.last_seconds or 0.0, t)
                    if t > self.limits.max_seconds:
                        raise Unreadable(
                            "too_long",
                            f"the video runs past FACEPIPE_VIDEO_MAX_SECONDS={self.limits.max_seconds:g}"
                            f" (its container said {info.seconds or 0:,.0f} s)",
                        )
                    if t + 1e-6 < next_at:
                        continue
                    if taken >= self.limits.max_frames:
                        if info.seconds is not None and t <= info.seconds + 2 * info.interval:
                            return  # the planned samples are taken: the stated length's last moments
                        raise Unreadable(
                            "too_long",
                            f"more than FACEPIPE_VIDEO_MAX_FRAMES={self.limits.max_frames} samples: the video runs"
                            f" past the {info.seconds or 0:,.0f} s its container said",
                        )
                    rgb = frame.to_ndarray(format="rgb24", width=out_w, height=out_h, interpolation="AREA")
                    yield Frame(_upright(rgb, info.rotation), t, scale, min_face)
                    taken += 1
                    next_at = max(next_at + info.interval, t + 0.5 * info.interval)
        except av.FFmpegError as exc:
            raise Unreadable("corrupt_video", f"decoding failed after {plural(taken, 'frame')}: {_ff(exc)}") from None


def _ff(exc: Exception) -> str:
    """FFmpeg's error without the file name it may quote."""
    text = getattr(exc, "strerror", None) or type(exc).__name__
    return clean_text(str(text), 200)


def _seconds(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return None


def _rotation(first_frame, stream) -> int:
    """Degrees to turn the stored frames clockwise to show them upright: FFmpeg's display
    matrix (as phones write it, carried on each decoded frame; counter-clockwise there),
    else an old ``rotate`` tag (clockwise)."""
    angle = -float(first_frame.rotation or 0) if first_frame is not None else 0.0
    if not angle:
        tag = (stream.metadata.get("rotate") or "").strip()
        if re.fullmatch(r"-?\d{1,3}", tag):
            angle = float(tag)
    return int(round(angle / 90.0)) * 90 % 360


def _upright(rgb: np.ndarray, rotation: int) -> np.ndarray:
    """The frame turned clockwise by ``rotation`` degrees (the way a player shows it)."""
    if rotation == 90:
        return np.ascontiguousarray(np.rot90(rgb, k=-1))
    if rotation == 180:
        return np.ascontiguousarray(rgb[::-1, ::-1])
    if rotation == 270:
        return np.ascontiguousarray(np.rot90(rgb, k=1))
    return rgb


def _captured_at(meta: dict) -> dt.datetime | None:
    """When the video was recorded, as camera local time like EXIF's: Apple's local date
    where written, else the container's creation_time (UTC)."""
    for key in ("com.apple.quicktime.creationdate", "creation_time", "date"):
        text = (meta.get(key) or "").strip()
        if not text:
            continue
        try:
            when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            continue
        if key != "com.apple.quicktime.creationdate" and when.tzinfo is not None:
            when = when.astimezone(dt.UTC)
        when = when.replace(tzinfo=None, microsecond=0)
        if when.year < 1971:  # an unset QuickTime date (1904 epoch)
            continue
        return when
    return None


def _camera(meta: dict) -> str | None:
    for key in ("com.apple.quicktime.model", "model", "com.android.manufacturer"):
        text = (meta.get(key) or "").strip()
        if text:
            return clean_text(text, 100)
    return None


def frame_jpeg(file, seconds: float, limits: VideoLimits | None = None) -> bytes:
    """The upright full-size frame shown at ``seconds`` as a JPEG (quality 95), found by seeking
    to the key frame before it and decoding forward: what a video face's crop is cut from.
    Used for a few crops at a time (the Faces view, the report), never for a night's frames."""
    import av
    import cv2

    limits = limits or VideoLimits()
    with VideoReader(file, limits) as reader:
        vs, c = reader._stream, reader._container
        try:
            if seconds > 0 and vs.time_base:
                c.seek(int((seconds + float(reader._start)) / vs.time_base), stream=vs, backward=True)
            chosen = None
            for frame in c.decode(vs):
                if frame.pts is None:
                    continue
                chosen = frame
                if float(frame.pts * vs.time_base - reader._start) + 1e-3 >= seconds:
                    break
        except av.FFmpegError as exc:
            raise Unreadable("corrupt_video", f"the frame cannot be decoded: {_ff(exc)}") from None
        if chosen is None:
            raise Unreadable("corrupt_video", "no frame at that time")
        rgb = _upright(chosen.to_ndarray(format="rgb24"), reader.info.rotation)
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    if not ok:
        raise ValueError("the frame could not be encoded")
    return jpeg.tobytes()
