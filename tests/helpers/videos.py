"""Videos made by the tests with PyAV's real encoders (libx264, mpeg4, libvpx-vp9...):
the package's sample people (the astronaut, the visitor) composited into frames,
entering and leaving at given seconds, with a display-matrix rotation where asked."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


@dataclass(frozen=True)
class Appearance:
    person: str  # "astronaut" or "visitor"
    start: float  # seconds
    end: float
    x: int  # left edge at start; drifts right by `drift` px a second
    y: int
    drift: int = 4


def person_image(person: str) -> np.ndarray:
    """The sample person's enrolment-style portrait (RGB, face about 60% of it)."""
    from facepipe.ops.samples import ASTRONAUT_NAME, VISITOR_NAME, enrolment_images

    images = enrolment_images()
    return images[ASTRONAUT_NAME]["closeup.jpg"] if person == "astronaut" else images[VISITOR_NAME]["front.jpg"]


def frame_at(t: float, size: tuple[int, int], people: list[Appearance], portraits: dict) -> np.ndarray:
    w, h = size
    frame = np.full((h, w, 3), 96, np.uint8)
    frame[:, :, 2] = 110
    for a in people:
        if a.start <= t < a.end:
            img = portraits[a.person]
            x = min(w - img.shape[1], a.x + round(a.drift * (t - a.start)))
            frame[a.y : a.y + img.shape[0], x : x + img.shape[1]] = img
    return frame


def write_video(
    path: Path,
    seconds: float,
    people: list[Appearance] = (),
    *,
    size: tuple[int, int] = (1280, 720),
    fps: int | Fraction = 10,
    codec: str = "libx264",
    gop: int | None = None,
    rotation: int = 0,
    created: dt.datetime | None = None,
    container: str | None = None,
    faststart: bool = False,
    people_scale: float = 1.0,
) -> Path:
    """Encode ``seconds`` of frames of the upright scene ``size`` (width, height). With
    ``rotation`` (the display matrix's counter-clockwise degrees: -90 for a phone held
    upright) the frames are stored turned the other way, as a camera stores them."""
    portraits = {a.person: person_image(a.person) for a in people}
    if people_scale != 1.0:
        import cv2

        portraits = {
            k: cv2.resize(v, None, fx=people_scale, fy=people_scale, interpolation=cv2.INTER_CUBIC)
            for k, v in portraits.items()
        }
    options = {"movflags": "+faststart"} if faststart else {}
    out = av.open(str(path), "w", format=container, options=options)
    if created is not None:
        out.metadata["creation_time"] = created.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    stream = out.add_stream(codec, rate=fps)
    k = (-rotation // 90) % 4
    stream.width, stream.height = (size[1], size[0]) if k % 2 else size
    stream.pix_fmt = "yuv420p"
    stream.gop_size = gop or max(1, int(fps))
    if codec == "libx264":
        stream.options = {"preset": "ultrafast", "crf": "28"}
    elif codec == "libx265":  # HEVC in MOV, tagged hvc1, as an iPhone records
        stream.options = {"preset": "ultrafast", "crf": "28", "x265-params": "log-level=error"}
        stream.codec_tag = "hvc1"
    if rotation:
        stream.set_display_rotation(rotation)
    for i in range(round(seconds * fps)):
        rgb = frame_at(i / fps, size, people, portraits)
        if k:  # what the camera stored: the upright scene turned back
            rgb = np.ascontiguousarray(np.rot90(rgb, k=k))
        for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    return path


def long_4k_video(path: Path, seconds: int) -> Path:
    """A long 2160p H.264 video without encoding every frame: a few key frames encoded,
    then their packets written again and again at later times (1 fps)."""
    rng = np.random.default_rng(3)
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=1)
        s.width, s.height, s.pix_fmt, s.gop_size = 3840, 2160, "yuv420p", 1
        s.options = {"preset": "ultrafast", "crf": "35"}
        packets = []
        for i in range(4):
            img = np.full((2160, 3840, 3), 60 + 30 * i, np.uint8)
            img[::64, :, :] = rng.integers(0, 255, 3)
            packets += [p for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24"))]
        packets += list(s.encode())
        payloads = [(bytes(p), p.time_base) for p in packets]
        for t in range(seconds):
            data, time_base = payloads[t % len(payloads)]
            p = av.Packet(data)
            p.pts = p.dts = t
            p.time_base, p.stream, p.is_keyframe = time_base, s, True
            out.mux(p)
    return path
