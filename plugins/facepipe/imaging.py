"""Decode a photo once, upright and at reduced size, with its EXIF facts.

Detection, alignment and embedding all work on this reduced copy; boxes are
scaled back to the upright full-size image. JPEGs are decoded by libjpeg at
1/2, 1/4 or 1/8 size, which is several times faster than a full decode; a
reduced size within a quarter below max_side is used as it is, not resized
(a 1920x1080 frame is detected at 960x540, a 4032x3024 photo at 1008x756).
"""
from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageOps

from facepipe.sources import Unreadable

MAX_PIXELS = 120_000_000  # refuse larger images before allocating them
# libjpeg's reduced decode is taken down to this fraction of max_side: the
# bench measured 11.5 -> 3.8 ms a camera frame, 30 -> 19 ms a phone photo.
MIN_SIDE_FRACTION = 0.75
# Decoded straight to RGB (libjpeg writes RGB; no BGR copy to convert).
_REDUCED = {f: (flag & ~cv2.IMREAD_COLOR) | cv2.IMREAD_COLOR_RGB for f, flag in (
    (1, cv2.IMREAD_COLOR), (2, cv2.IMREAD_REDUCED_COLOR_2),
    (4, cv2.IMREAD_REDUCED_COLOR_4), (8, cv2.IMREAD_REDUCED_COLOR_8))}
_TAG_ORIENTATION, _TAG_MODEL, _IFD_EXIF, _TAG_TAKEN = 0x0112, 0x0110, 0x8769, 0x9003


@dataclass(frozen=True)
class Decoded:
    rgb: np.ndarray  # upright, long side at most max_side, uint8 HxWx3
    width: int  # upright full-size image
    height: int
    scale: float  # full-size pixels per pixel of rgb
    captured_at: dt.datetime | None
    camera: str | None


def decode(data: bytes, max_side: int = 1024) -> Decoded:
    if not data:
        raise Unreadable("empty", "zero-byte file")
    try:
        header = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise Unreadable("too_large", str(exc)) from None
    except Exception as exc:
        raise Unreadable("not_an_image", f"not a readable image: {type(exc).__name__}") from None
    width, height = header.size
    if width * height > MAX_PIXELS:
        raise Unreadable("too_large", f"{width}x{height} pixels is more than {MAX_PIXELS}")
    exif = _exif(header)
    orientation = exif.get("orientation", 1)
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    # Entropy-coded data cannot contain FF D9, so the main image is complete
    # when an end-of-image marker follows its start-of-scan (trailers such as
    # motion photos' video come after it).
    if header.format == "JPEG" and data.rfind(b"\xff\xd9") < data.find(b"\xff\xda"):
        raise Unreadable("truncated", "JPEG data ends before its end-of-image marker")

    rgb = _decode_cv2(data, header.format, max(width, height), max_side)
    if rgb is None:
        rgb = _decode_pil(header, max_side)
    if width != height and (rgb.shape[1] > rgb.shape[0]) != (width > height):
        width, height = height, width  # some readers (TIFF) report the size upright already
    long_side = max(rgb.shape[:2])
    if long_side > max_side:
        f = max_side / long_side
        rgb = cv2.resize(rgb, (max(1, round(rgb.shape[1] * f)), max(1, round(rgb.shape[0] * f))),
                         interpolation=cv2.INTER_AREA)
    scale = max(width, height) / max(rgb.shape[:2])
    return Decoded(np.ascontiguousarray(rgb), width, height, scale,
                   exif.get("captured_at"), exif.get("camera"))


def _decode_cv2(data: bytes, fmt: str | None, long_side: int, max_side: int) -> np.ndarray | None:
    if fmt not in ("JPEG", "PNG", "WEBP", "BMP", "TIFF"):
        return None
    factor = 1
    if fmt == "JPEG":
        for f in (8, 4, 2):
            if long_side / f >= MIN_SIDE_FRACTION * max_side:
                factor = f
                break
    return cv2.imdecode(np.frombuffer(data, np.uint8), _REDUCED[factor])


def _decode_pil(header: Image.Image, max_side: int) -> np.ndarray:
    try:
        header.seek(0)
        if header.format == "JPEG":
            header.draft("RGB", (max_side, max_side))
        img = ImageOps.exif_transpose(header)
        if img.mode not in ("RGB", "L"):
            if "A" in img.getbands() or img.mode == "P":
                img = img.convert("RGBA")
                background = Image.new("RGBA", img.size, (255, 255, 255, 255))
                img = Image.alpha_composite(background, img)
            elif img.mode.startswith("I"):  # 16-bit grayscale
                arr = np.asarray(img, dtype=np.float64)
                img = Image.fromarray(np.clip(arr / 256.0, 0, 255).astype(np.uint8))
        img.thumbnail((max_side, max_side))
        return np.asarray(img.convert("RGB"))
    except Exception as exc:
        raise Unreadable("corrupt", f"cannot decode image data: {type(exc).__name__}: {exc}") from None


def _exif(img: Image.Image) -> dict:
    out: dict = {}
    try:
        if img.format in ("JPEG", "TIFF", "WEBP", "MPO"):
            exif = img.getexif()
        else:
            # Pillow's getexif() decodes a whole PNG to find a trailing eXIf
            # chunk (and would hide a decoding error): only read what the
            # header already holds.
            exif = Image.Exif()
            if img.info.get("exif"):
                exif.load(img.info["exif"])
    except Exception:
        return out
    if exif.get(_TAG_ORIENTATION) in range(1, 9):
        out["orientation"] = exif[_TAG_ORIENTATION]
    model = exif.get(_TAG_MODEL)
    if isinstance(model, str) and model.strip():
        out["camera"] = model.strip().strip("\x00")[:200]
    try:
        taken = exif.get_ifd(_IFD_EXIF).get(_TAG_TAKEN)
        if isinstance(taken, str):
            out["captured_at"] = dt.datetime.strptime(taken.strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except Exception:
        pass
    return out
