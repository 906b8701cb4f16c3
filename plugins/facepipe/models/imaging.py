"""Decode a photo once, upright and at reduced size, with its EXIF facts.

Detection, alignment and embedding all work on this reduced copy; boxes are
scaled back to the upright full-size image. JPEGs are decoded by libjpeg at
1/2, 1/4 or 1/8 size, which is several times faster than a full decode; a
reduced size within a quarter below max_side is used as it is, not resized
(a 1920x1080 frame is detected at 960x540, a 4032x3024 photo at 1008x756).
Camera RAW files are recognised from their header first and go through LibRaw
(facepipe.models.raw): the embedded preview when it is large enough, else a demosaic.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageOps
from pillow_heif import register_heif_opener

from facepipe.core.sources import Unreadable
from facepipe.core.text import clean_text
from facepipe.models.detect import FaceSizing
from facepipe.models.raw import decode_raw, raw_kind

# HEIC/HEIF (the iPhone's default) through libheif. libheif applies the file's own
# rotation (irot/imir) while decoding and pillow-heif then reports EXIF orientation
# 1, so such photos are upright without being turned twice.
register_heif_opener()

# Decoding bounds, checked from the header before any pixel is decoded, so that one
# hostile file costs a shard (one per core on a 2-core, 4 GB worker) at most about
# 500 MB and seconds (120 MP in 100 scans: about 15 s). JPEGs are decoded by libjpeg at 1/2-1/8 size, so their
# limit is high; the other formats are decoded at full size (about 3-4 bytes a
# pixel, GIF and palette images about 16 through their RGBA conversion, HEIF/AVIF
# about 11 with the decoder's planes). 50 MP keeps a 48 MP iPhone HEIC.
MAX_PIXELS = 120_000_000  # JPEG/MPO
PIXEL_LIMITS = {
    "JPEG": MAX_PIXELS,
    "MPO": MAX_PIXELS,
    "PNG": 64_000_000,
    "WEBP": 64_000_000,
    "BMP": 64_000_000,
    "TIFF": 64_000_000,
    "HEIF": 50_000_000,
    "AVIF": 50_000_000,
}
OTHER_PIXEL_LIMIT = 25_000_000  # GIF and anything else Pillow reads
# A progressive JPEG may hold any number of scans, each a pass over the whole image
# (20,000 tiny repeated scans took 92 s to decode). Encoders write about 10;
# libjpeg-turbo's own guard (TJPARAM_SCANLIMIT, djpeg -maxscans) suggests 500.
MAX_JPEG_SCANS = 100
# libjpeg's reduced decode is taken down to this fraction of max_side: the
# bench measured 11.5 -> 3.8 ms a camera frame, 30 -> 19 ms a phone photo.
MIN_SIDE_FRACTION = 0.75
# Decoded straight to RGB (libjpeg writes RGB; no BGR copy to convert).
_REDUCED = {
    f: (flag & ~cv2.IMREAD_COLOR) | cv2.IMREAD_COLOR_RGB
    for f, flag in (
        (1, cv2.IMREAD_COLOR),
        (2, cv2.IMREAD_REDUCED_COLOR_2),
        (4, cv2.IMREAD_REDUCED_COLOR_4),
        (8, cv2.IMREAD_REDUCED_COLOR_8),
    )
}
_TAG_ORIENTATION, _TAG_MODEL, _IFD_EXIF, _TAG_TAKEN = 0x0112, 0x0110, 0x8769, 0x9003


@dataclass(frozen=True)
class Decoded:
    rgb: np.ndarray  # upright, long side at most max_side, uint8 HxWx3
    width: int  # upright full-size image
    height: int
    scale: float  # full-size pixels per pixel of rgb
    captured_at: dt.datetime | None
    camera: str | None
    min_face: float | None = None  # smallest face wanted, in pixels of rgb (with a FaceSizing)


def decode(data: bytes, max_side: int = 1024, *, sizing: FaceSizing | None = None) -> Decoded:
    """The photo upright and reduced: to ``max_side`` on its long side, or, with
    ``sizing``, to the size at which its smallest wanted face is as large as the
    detector needs (a 4032x3024 photo is detected at 2016x1512 by default)."""
    if not data:
        raise Unreadable("empty", "zero-byte file")
    kind = raw_kind(data)
    if kind is not None:
        decoded = _decode_raw(data, kind, max_side, sizing)
        if decoded is not None:
            return decoded
    try:
        header = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise Unreadable("too_large", str(exc)) from None
    except Exception as exc:
        if _isobmff_cut_short(data):
            raise Unreadable("truncated", "HEIF/AVIF data ends inside one of its boxes") from None
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            _refuse_truncated(data, "WEBP")
        raise Unreadable("not_an_image", f"not a readable image: {type(exc).__name__}") from None
    width, height = header.size
    limit = PIXEL_LIMITS.get(header.format, OTHER_PIXEL_LIMIT)
    if width * height > limit:
        raise Unreadable("too_large", f"{width}x{height} pixels is more than {limit:,} for {header.format}")
    exif = _exif(header)
    orientation = exif.get("orientation", 1)
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    _refuse_truncated(data, header.format)

    full_long = max(width, height)
    fraction = MIN_SIDE_FRACTION
    if sizing is not None:
        # Not below the size the detector needs; a little above is cheaper than a resize.
        max_side, fraction = max(1, round(full_long * sizing.scale_for(full_long))), 1.0
    rgb = _decode_cv2(data, header.format, full_long, max_side, fraction)
    if rgb is None:
        rgb = _decode_pil(header, max_side)
    if width != height and (rgb.shape[1] > rgb.shape[0]) != (width > height):
        width, height = height, width  # some readers (TIFF) report the size upright already
    return _finish(rgb, width, height, max_side, sizing, exif.get("captured_at"), exif.get("camera"))


def _finish(
    rgb: np.ndarray,
    width: int,
    height: int,
    max_side: int,
    sizing: FaceSizing | None,
    captured_at: dt.datetime | None,
    camera: str | None,
) -> Decoded:
    """The decoded pixels brought down to ``max_side`` (with a FaceSizing, a little above it is kept)."""
    long_side = max(rgb.shape[:2])
    if long_side > max_side * (1.15 if sizing is not None else 1.0):
        f = max_side / long_side
        rgb = cv2.resize(
            rgb, (max(1, round(rgb.shape[1] * f)), max(1, round(rgb.shape[0] * f))), interpolation=cv2.INTER_AREA
        )
    scale = max(width, height) / max(rgb.shape[:2])
    min_face = sizing.min_face_for(max(width, height)) / scale if sizing is not None else None
    return Decoded(np.ascontiguousarray(rgb), width, height, scale, captured_at, camera, min_face)


def _decode_raw(data: bytes, kind: str, max_side: int, sizing: FaceSizing | None) -> Decoded | None:
    """A camera RAW through LibRaw (facepipe.models.raw): its embedded preview when that is
    large enough for the smallest wanted face, else a demosaic; None for a TIFF from a
    camera maker that LibRaw does not take (decoded as a TIFF)."""

    def target(full_long: int) -> int:
        if sizing is None:
            return min(full_long, max_side)
        return max(1, round(full_long * sizing.scale_for(full_long)))

    def preview_jpeg(jpeg: bytes, needed: float) -> np.ndarray:
        # The preview is a JPEG like any other: the same limits and checks first.
        header = Image.open(io.BytesIO(jpeg))
        w, h = header.size
        if header.format != "JPEG" or w * h > MAX_PIXELS:
            raise Unreadable("corrupt", "preview is not a JPEG within the limits")
        _refuse_truncated(jpeg, "JPEG")
        # Stored as the sensor saw it: LibRaw's flip turns it (facepipe.models.raw), so the
        # orientation in the EXIF that LibRaw writes into the preview is not applied here.
        rgb = _decode_cv2(jpeg, "JPEG", max(w, h), round(needed), 1.0, ignore_orientation=True)
        if rgb is None:
            raise Unreadable("corrupt", "preview JPEG cannot be decoded")
        return rgb

    picture = decode_raw(data, kind, target, preview_jpeg)
    if picture is None:
        return None
    side = target(max(picture.width, picture.height))
    return _finish(picture.rgb, picture.width, picture.height, side, sizing, picture.captured_at, picture.camera)


def _refuse_truncated(data: bytes, fmt: str | None) -> None:
    """A file cut short in transfer is ``truncated``, told apart from damaged data."""
    if fmt in ("JPEG", "MPO"):
        # Entropy-coded data cannot contain FF D9, so the main image is complete when
        # an end-of-image marker follows its first scan (trailers such as motion
        # photos' video come after it). The scan is found by walking the segments:
        # the EXIF thumbnail inside APP1 has a scan and an end marker of its own.
        scan = _jpeg_first_scan(data)
        if scan is None or data.rfind(b"\xff\xd9") < scan:
            raise Unreadable("truncated", "JPEG data ends before its end-of-image marker")
        scans = _jpeg_scan_count(data, scan)
        if scans > MAX_JPEG_SCANS:
            raise Unreadable("too_complex", f"progressive JPEG with {scans} scans (more than {MAX_JPEG_SCANS})")
    elif fmt == "WEBP":
        declared = int.from_bytes(data[4:8], "little") + 8 if len(data) >= 8 else 0
        if len(data) < declared:
            raise Unreadable("truncated", f"WebP data ends at byte {len(data)} of {declared}")
    elif fmt == "PNG" and data.rfind(b"IEND") < 0:
        raise Unreadable("truncated", "PNG data ends before its IEND chunk")


def _isobmff_cut_short(data: bytes) -> bool:
    """A HEIF/AVIF file (ISO base media boxes) whose last box runs past the end of the data."""
    if data[4:8] != b"ftyp":
        return False
    pos = 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        if size == 1 and pos + 16 <= len(data):  # 64-bit size
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        if size == 0:  # runs to the end of the file
            return False
        if size < 8:
            return False
        pos += size
    return pos > len(data) or 0 < len(data) - pos < 8


def _jpeg_first_scan(data: bytes) -> int | None:
    """Offset of the main image's first start-of-scan marker, None if the data stops before it."""
    pos = 2  # after SOI
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:  # not a segment where one should start: fall back to a search
            found = data.find(b"\xff\xda", pos)
            return found if found >= 0 else None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA:
            return pos
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            pos += 2
            continue
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return None


# A marker inside entropy-coded data: 0xFF followed by anything but a stuffed zero,
# a restart marker (D0-D7) or a fill byte.
_JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def _jpeg_scan_count(data: bytes, first_scan: int) -> int:
    """Start-of-scan markers of the main image, from its first scan to its end-of-image
    marker (stops counting past MAX_JPEG_SCANS)."""
    scans, pos = 0, first_scan
    while scans <= MAX_JPEG_SCANS:
        m = _JPEG_MARKER.search(data, pos)
        if m is None:
            break
        at, marker = m.start(), data[m.start() + 1]
        if marker == 0xD9:  # end of image: a trailer (a motion photo's video) may follow
            break
        if marker == 0xDA:
            scans += 1
        if marker in (0x01, *range(0xD0, 0xD8)):
            pos = at + 2
        else:  # a segment with a length: skip its header (for SOS, then its data is searched)
            pos = at + 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    return scans


def _decode_cv2(
    data: bytes,
    fmt: str | None,
    long_side: int,
    max_side: int,
    fraction: float = MIN_SIDE_FRACTION,
    *,
    ignore_orientation: bool = False,
) -> np.ndarray | None:
    if fmt not in ("JPEG", "PNG", "WEBP", "BMP", "TIFF"):
        return None
    factor = 1
    if fmt == "JPEG":
        for f in (8, 4, 2):
            if long_side / f >= fraction * max_side:
                factor = f
                break
    flags = _REDUCED[factor] | (cv2.IMREAD_IGNORE_ORIENTATION if ignore_orientation else 0)
    return cv2.imdecode(np.frombuffer(data, np.uint8), flags)


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
        if img.format in ("JPEG", "TIFF", "WEBP", "MPO", "HEIF", "AVIF"):
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
    if isinstance(model, str) and clean_text(model):
        out["camera"] = clean_text(model)  # no NUL or other control characters reach the database
    try:
        taken = exif.get_ifd(_IFD_EXIF).get(_TAG_TAKEN)
        if isinstance(taken, str):
            out["captured_at"] = dt.datetime.strptime(taken.strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except Exception:
        pass
    return out
