"""Camera RAW files for the tests and the bench, written by hand from real photos.

:func:`dng_bytes` writes a DNG (Adobe's TIFF-based RAW, what LibRaw reads for
hundreds of cameras) laid out as Adobe DNG Converter and cameras that write DNG
(Leica, Pentax, Ricoh, phones) lay it out:

* IFD0: a small RGB thumbnail (256 px, uncompressed), NewSubFileType 1, with the
  camera's tags: DNGVersion, Make, Model, UniqueCameraModel, Orientation,
  ColorMatrix1 with CalibrationIlluminant1, AsShotNeutral, DateTime, an Exif IFD
  (DateTimeOriginal) and SubIFDs;
* SubIFD 0: the raw image, NewSubFileType 0: one 16-bit sample a pixel holding 12
  bits (BlackLevel 256, WhiteLevel 4095), PhotometricInterpretation 32803 (CFA),
  CFARepeatPatternDim 2x2, CFAPattern RGGB, uncompressed strips;
* SubIFD 1 (``preview=`` a long side): a baseline JPEG preview, NewSubFileType 1,
  Compression 7, YCbCr, as cameras embed it.

The mosaic is the photo taken back to the sensor: sRGB decoded to linear light,
each channel divided by the camera's white balance (AsShotNeutral), one colour a
pixel in the RGGB pattern, 12 bits above the black level. Pixels are stored as the
sensor saw them: with ``orientation`` 6 the upright photo is stored turned 90
degrees anticlockwise and the file says to turn it back, as a camera held upright does.
The preview is stored like the raw image (not turned).

Only DNG is written here: the other RAW formats (CR2/CR3, NEF, ARW, RAF, ORF, RW2)
are proprietary layouts with maker notes and compressed data that LibRaw reads by
camera model; writing them by hand would test the writer, not the reader.
"""

from __future__ import annotations

import datetime
import io
import struct

import cv2
import numpy as np
from PIL import Image

BLACK, WHITE = 256, 4095
# The camera's response to a neutral grey, as AsShotNeutral gives it (a daylight
# Bayer sensor: red and blue less sensitive than green).
NEUTRAL = (0.48, 1.0, 0.66)
# XYZ (D65) -> linear sRGB: the "camera" is an sRGB sensor, so LibRaw's colour
# conversion gives the photo's colours back.
_XYZ_TO_SRGB = (
    (3.2406, -1.5372, -0.4986),
    (-0.9689, 1.8758, 0.0415),
    (0.0557, -0.2040, 1.0570),
)
_SHORT, _LONG, _ASCII, _BYTE, _RATIONAL, _SRATIONAL = 3, 4, 2, 1, 5, 10


def _stored(upright: np.ndarray, orientation: int) -> np.ndarray:
    """The pixels as the sensor holds them, for a file that says ``orientation``."""
    turn = {1: 0, 3: 2, 6: 1, 8: -1}[orientation]
    return np.ascontiguousarray(np.rot90(upright, turn))


def mosaic(rgb: np.ndarray) -> np.ndarray:
    """RGGB 12-bit mosaic (uint16, black level included) of an sRGB photo."""
    x = rgb.astype(np.float32) / 255.0
    linear = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    linear *= np.asarray(NEUTRAL, np.float32)
    h, w = rgb.shape[:2]
    cfa = np.empty((h, w), np.float32)
    cfa[0::2, 0::2] = linear[0::2, 0::2, 0]
    cfa[0::2, 1::2] = linear[0::2, 1::2, 1]
    cfa[1::2, 0::2] = linear[1::2, 0::2, 1]
    cfa[1::2, 1::2] = linear[1::2, 1::2, 2]
    return np.clip(np.rint(BLACK + cfa * (WHITE - BLACK)), 0, WHITE).astype(np.uint16)


def _jpeg(rgb: np.ndarray, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _rational(value: float, signed: bool = False) -> tuple[int, int]:
    return (round(value * 10000), 10000)


def dng_bytes(
    upright: np.ndarray,
    *,
    orientation: int = 1,
    preview: int | None = None,
    taken: datetime.datetime | None = None,
    model: str = "facepipe RAW-1",
    make: str = "facepipe",
) -> bytes:
    """A DNG of the upright RGB photo ``upright`` (even width and height), see the module's text."""
    stored = _stored(upright, orientation)
    h, w = stored.shape[:2]
    raw = mosaic(stored)
    thumb_side = 256
    f = thumb_side / max(w, h)
    thumb = cv2.resize(stored, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    blobs: list[bytes] = [np.ascontiguousarray(thumb).tobytes(), raw.astype("<u2").tobytes()]
    stamp = (taken or datetime.datetime(2026, 11, 3, 9, 15)).strftime("%Y:%m:%d %H:%M:%S")
    ifd0 = {
        0x00FE: (_LONG, [1]),
        0x0100: (_LONG, [thumb.shape[1]]),
        0x0101: (_LONG, [thumb.shape[0]]),
        0x0102: (_SHORT, [8, 8, 8]),
        0x0103: (_SHORT, [1]),
        0x0106: (_SHORT, [2]),
        0x010F: (_ASCII, make),
        0x0110: (_ASCII, model),
        0x0111: (_LONG, ("blob", 0)),
        0x0112: (_SHORT, [orientation]),
        0x0115: (_SHORT, [3]),
        0x0116: (_LONG, [thumb.shape[0]]),
        0x0117: (_LONG, [len(blobs[0])]),
        0x011C: (_SHORT, [1]),
        0x0131: (_ASCII, "facepipe.ops.sample_raws"),
        0x0132: (_ASCII, stamp),
        0x014A: (_LONG, ("ifds", [1, 2] if preview else [1])),
        0x8769: (_LONG, ("ifds", [3 if preview else 2])),
        0xC612: (_BYTE, bytes([1, 4, 0, 0])),  # DNGVersion 1.4
        0xC613: (_BYTE, bytes([1, 1, 0, 0])),
        0xC614: (_ASCII, f"{make} {model}"),
        0xC621: (_SRATIONAL, [_rational(v) for row in _XYZ_TO_SRGB for v in row]),  # ColorMatrix1
        0xC628: (_RATIONAL, [_rational(v) for v in NEUTRAL]),  # AsShotNeutral
        0xC65A: (_SHORT, [21]),  # CalibrationIlluminant1: D65
    }
    raw_ifd = {
        0x00FE: (_LONG, [0]),
        0x0100: (_LONG, [w]),
        0x0101: (_LONG, [h]),
        0x0102: (_SHORT, [16]),
        0x0103: (_SHORT, [1]),
        0x0106: (_SHORT, [32803]),
        0x0111: (_LONG, ("blob", 1)),
        0x0115: (_SHORT, [1]),
        0x0116: (_LONG, [h]),
        0x0117: (_LONG, [len(blobs[1])]),
        0x011C: (_SHORT, [1]),
        0x828D: (_SHORT, [2, 2]),  # CFARepeatPatternDim
        0x828E: (_BYTE, bytes([0, 1, 1, 2])),  # CFAPattern: RGGB
        0xC617: (_SHORT, [1]),  # CFALayout: rectangular
        0xC61A: (_LONG, [BLACK]),  # BlackLevel
        0xC61D: (_LONG, [WHITE]),  # WhiteLevel
    }
    ifds = [ifd0, raw_ifd]
    if preview:
        g = min(1.0, preview / max(w, h))
        small = cv2.resize(stored, (round(w * g), round(h * g)), interpolation=cv2.INTER_AREA) if g < 1 else stored
        blobs.append(_jpeg(small))
        ifds.append(
            {
                0x00FE: (_LONG, [1]),
                0x0100: (_LONG, [small.shape[1]]),
                0x0101: (_LONG, [small.shape[0]]),
                0x0102: (_SHORT, [8, 8, 8]),
                0x0103: (_SHORT, [7]),
                0x0106: (_SHORT, [6]),
                0x0111: (_LONG, ("blob", 2)),
                0x0115: (_SHORT, [3]),
                0x0116: (_LONG, [small.shape[0]]),
                0x0117: (_LONG, [len(blobs[2])]),
                0x011C: (_SHORT, [1]),
            }
        )
    ifds.append({0x9003: (_ASCII, stamp), 0x9004: (_ASCII, stamp)})  # the Exif IFD
    return tiff(ifds, blobs)


def _value_bytes(kind: int, values) -> tuple[bytes, int]:
    if kind == _ASCII:
        raw = values.encode("ascii") + b"\x00"
        return raw, len(raw)
    if kind == _BYTE:
        return bytes(values), len(values)
    if kind == _SHORT:
        return struct.pack(f"<{len(values)}H", *values), len(values)
    if kind == _LONG:
        return struct.pack(f"<{len(values)}I", *values), len(values)
    if kind == _RATIONAL:
        return b"".join(struct.pack("<II", *v) for v in values), len(values)
    if kind == _SRATIONAL:
        return b"".join(struct.pack("<ii", *v) for v in values), len(values)
    raise ValueError(kind)


def tiff(ifds: list[dict], blobs: list[bytes]) -> bytes:
    """A little-endian TIFF: IFD 0 first, the others reached through ("ifds", [k]) values,
    strips through ("blob", k) values; IFDs, then their out-of-line values, then the blobs."""

    def entries(ifd: dict, at_ifd: list[int], at_blob: list[int]) -> list[tuple[int, int, bytes, int]]:
        out = []
        for tag in sorted(ifd):
            kind, values = ifd[tag]
            if isinstance(values, tuple) and values[0] == "blob":
                values = [at_blob[values[1]]]
            elif isinstance(values, tuple) and values[0] == "ifds":
                values = [at_ifd[k] for k in values[1]]
            raw, count = _value_bytes(kind, values)
            out.append((tag, kind, raw, count))
        return out

    def layout(at_ifd: list[int], at_blob: list[int]) -> tuple[list[int], list[int], bytes]:
        body = bytearray(b"II*\x00" + struct.pack("<I", 8))
        starts = []
        for ifd in ifds:
            starts.append(len(body))
            items = entries(ifd, at_ifd, at_blob)
            extra_at = len(body) + 2 + 12 * len(items) + 4
            head, extra = bytearray(struct.pack("<H", len(items))), bytearray()
            for tag, kind, raw, count in items:
                if len(raw) <= 4:
                    head += struct.pack("<HHI", tag, kind, count) + raw.ljust(4, b"\x00")
                else:
                    head += struct.pack("<HHII", tag, kind, count, extra_at + len(extra))
                    extra += raw + (b"\x00" if len(raw) % 2 else b"")
            head += struct.pack("<I", 0)
            body += head + extra
        blob_at = []
        for blob in blobs:
            body += b"\x00" * (len(body) % 2)
            blob_at.append(len(body))
            body += blob
        return starts, blob_at, bytes(body)

    # Offsets do not change a value's size: the first pass finds them, the second writes them.
    starts, blob_at, _ = layout([0] * len(ifds), [0] * len(blobs))
    starts2, blob_at2, out = layout(starts, blob_at)
    assert (starts2, blob_at2) == (starts, blob_at)
    return out
