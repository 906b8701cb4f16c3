"""Camera RAW photos (DNG, CR2/CR3, NEF, ARW, RAF, ORF, RW2, ...) through LibRaw (rawpy).

A RAW file is recognised from its header, never from its name:

* TIFF-based: DNG (tag 0xC612 DNGVersion), CR2 ('CR' at byte 8), and TIFFs whose
  Make is a camera maker's (NEF, ARW, PEF, SRW, ...: LibRaw decides; a TIFF it does
  not take, a scanner's say, is decoded as an ordinary TIFF);
* ORF ('IIRO', 'IIRS', 'MMOR') and RW2 ('IIU\\0'): TIFF structures with their own magic;
* RAF ('FUJIFILMCCD-RAW'); CR3 (an ISO media file of brand 'crx ').

Pillow would open a TIFF-based RAW as a TIFF and decode its first IFD, a 160-256 px
thumbnail, or refuse it as not an image: neither happens, RAW is routed here first.

Before any pixel is decoded: every image the TIFF structure declares (raw, previews,
thumbnail) and LibRaw's raw size are held to ``RAW_PIXEL_LIMIT``, and a file whose
strips, boxes or CFA data run past its end is ``truncated``. The camera's embedded
preview is used when it covers the frame and is as large as the detector needs;
otherwise the raw data is demosaiced, at half size (each 2x2 Bayer block one pixel,
no interpolation) when that is large enough, else in full.
"""

from __future__ import annotations

import datetime as dt
import io
import struct
from dataclasses import dataclass

import numpy as np

from facepipe.core.sources import Unreadable
from facepipe.core.text import clean_text, plural

# A 102 MP Fujifilm GFX100 loads. Memory: the file's bytes (LibRaw keeps a copy while
# it reads), 2 bytes a raw pixel, and for a half-size demosaic 8 bytes a quarter pixel
# (LibRaw's 4-channel 16-bit image): about 480 MB at the limit besides the file.
# A full demosaic (only for detectors that need every pixel, HOG) is 8 bytes a pixel.
RAW_PIXEL_LIMIT = 120_000_000
# Previews whose aspect ratio differs from the raw image's by more than this are
# crops (a 16:9 preview of a 3:2 sensor, or a few rows cut): their boxes would not map
# onto the photo. Cameras' full previews differ by rounding only (Sony: 1616x1080 for
# 6000x4000, 0.25%); at 0.5% a box is off by at most 20 px of a 4,000 px side.
PREVIEW_ASPECT_TOLERANCE = 0.005
# Camera makers whose RAW files are plain TIFF structures (NEF, NRW, ARW, SR2, SRF,
# PEF, SRW, 3FR, IIQ, ERF, KDC, DCR, MOS, MEF), as the TIFF's Make tag spells them.
RAW_MAKERS = (
    "NIKON",
    "SONY",
    "PENTAX",
    "RICOH",
    "SAMSUNG",
    "HASSELBLAD",
    "PHASE ONE",
    "LEAF",
    "MAMIYA",
    "SEIKO EPSON",
    "EASTMAN KODAK",
    "KODAK",
    "CANON",
    "OLYMPUS",
    "PANASONIC",
    "LEICA",
    "FUJIFILM",
)
_MAX_IFDS, _MAX_ENTRIES, _MAX_STRIPS = 64, 4096, 1 << 20
# EXIF orientation -> how the stored pixels turn upright (numpy)
_UPRIGHT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}
# LibRaw's flip (dcraw's) -> EXIF orientation
_FLIP_TO_ORIENTATION = {0: 1, 1: 2, 3: 3, 2: 4, 4: 5, 6: 6, 7: 7, 5: 8}


def raw_kind(data: bytes) -> str | None:
    """The RAW format the header announces ('DNG', 'CR2', ..., 'TIFF-RAW' for a TIFF
    from a camera maker), None for anything else."""
    head = data[:16]
    if head.startswith(b"FUJIFILMCCD-RAW"):
        return "RAF"
    if head[:4] in (b"IIRO", b"IIRS", b"MMOR"):
        return "ORF"
    if head[:4] == b"IIU\x00":
        return "RW2"
    if head[4:8] == b"ftyp" and head[8:12] == b"crx ":
        return "CR3"
    if head[:4] not in (b"II*\x00", b"MM\x00*"):
        return None
    if head[8:10] == b"CR" and head[:2] == b"II":
        return "CR2"
    try:
        tiff = _Tiff(data, 0)
        ifd0 = tiff.ifd(tiff.first)
    except Unreadable as exc:
        if exc.reason == "truncated":  # cut short before its first directory ends: any TIFF
            raise
        return None  # a damaged TIFF: the ordinary path says why
    if 0xC612 in ifd0:
        return "DNG"
    make = (tiff.text(ifd0, 0x010F) or "").upper()
    if any(make.startswith(m) for m in RAW_MAKERS):
        return "TIFF-RAW"
    return None


@dataclass(frozen=True)
class RawPicture:
    rgb: np.ndarray  # upright
    width: int  # upright full-size image (LibRaw's output size)
    height: int
    path: str  # "preview" | "demosaic_half" | "demosaic"
    captured_at: dt.datetime | None
    camera: str | None


def decode_raw(data: bytes, kind: str, target, decode_jpeg) -> RawPicture | None:
    """The RAW photo upright, with its long side at least ``target(full long side)``
    (None: a TIFF from a camera maker that LibRaw does not take, for the ordinary TIFF
    path). ``decode_jpeg(bytes, long side)`` decodes the embedded JPEG preview with
    the ordinary JPEG checks."""
    import rawpy

    facts = _facts(data, kind)
    raw = rawpy.RawPy()
    try:
        try:
            raw.open_buffer(io.BytesIO(data))
        except rawpy.LibRawFileUnsupportedError:
            if kind == "TIFF-RAW":
                return None
            raise Unreadable(
                "corrupt", f"{kind} header that LibRaw cannot read (damaged, or a camera it does not know)"
            ) from None
        except rawpy.LibRawError as exc:
            raise _unreadable(kind, exc) from None
        s = raw.sizes
        if max(s.raw_width * s.raw_height, s.width * s.height) > RAW_PIXEL_LIMIT:
            raise Unreadable(
                "too_large",
                f"{s.raw_width}x{s.raw_height} raw pixels is more than {RAW_PIXEL_LIMIT:,} for {kind}",
            )
        if not s.width or not s.height:
            raise Unreadable("corrupt", f"{kind} without an image")
        orientation = _FLIP_TO_ORIENTATION.get(s.flip, 1)
        width, height = (s.height, s.width) if orientation in (5, 6, 7, 8) else (s.width, s.height)
        facts_at = (facts.get("captured_at"), facts.get("camera"))
        needed_side = target(max(width, height))
        preview = _preview(raw, s.width, s.height, orientation, needed_side, decode_jpeg)
        if preview is not None:
            return RawPicture(preview, width, height, "preview", *facts_at)
        half = needed_side <= max(s.width, s.height) / 2
        try:
            rgb = raw.postprocess(
                half_size=half,
                use_camera_wb=True,
                output_bps=8,
                demosaic_algorithm=None if half else rawpy.DemosaicAlgorithm.LINEAR,
            )
        except rawpy.LibRawError as exc:
            raise _unreadable(kind, exc) from None
        return RawPicture(rgb, width, height, "demosaic_half" if half else "demosaic", *facts_at)
    finally:
        raw.close()


def _unreadable(kind: str, exc: Exception) -> Unreadable:
    import rawpy

    if isinstance(exc, rawpy.LibRawIOError):
        return Unreadable("truncated", f"{kind} data ends before its image does (LibRaw: {exc})")
    if isinstance(
        exc, rawpy.LibRawTooBigError | rawpy.LibRawUnsufficientMemoryError | rawpy.LibRawMemPoolOverflowError
    ):
        return Unreadable("too_large", f"{kind}: LibRaw refused the image's size ({type(exc).__name__})")
    return Unreadable("corrupt", f"cannot decode {kind} data: {type(exc).__name__}: {exc}")


def _preview(raw, width: int, height: int, orientation: int, needed_side: float, decode_jpeg) -> np.ndarray | None:
    """The embedded preview, upright, if it covers the frame and is large enough."""
    import rawpy

    try:
        thumb = raw.extract_thumb()
    except rawpy.LibRawError:
        return None  # no preview, or one LibRaw cannot give: the raw data is there
    if thumb.format == rawpy.ThumbFormat.JPEG:
        size = _jpeg_size(thumb.data)
        if size is None or not _usable(size, width, height, needed_side):
            return None
        try:
            pixels = decode_jpeg(thumb.data, needed_side)
        except Unreadable:
            return None  # a damaged preview: demosaic the raw data instead
    elif thumb.format == rawpy.ThumbFormat.BITMAP and thumb.data.ndim == 3 and thumb.data.shape[2] == 3:
        pixels = thumb.data
        if not _usable((pixels.shape[1], pixels.shape[0]), width, height, needed_side):
            return None
    else:
        return None
    stored_landscape = width >= height
    if orientation in (5, 6, 7, 8) and (pixels.shape[1] >= pixels.shape[0]) != stored_landscape:
        return np.ascontiguousarray(pixels)  # a camera that stored its preview upright already
    turn = _UPRIGHT.get(orientation)
    return np.ascontiguousarray(turn(pixels) if turn else pixels)


def _usable(size: tuple[int, int], width: int, height: int, needed_side: float) -> bool:
    pw, ph = size
    if max(pw, ph) < min(needed_side, max(width, height)):
        return False
    ratio = max(pw, ph) / max(1, min(pw, ph))
    want = max(width, height) / max(1, min(width, height))
    return abs(ratio / want - 1) <= PREVIEW_ASPECT_TOLERANCE


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size if img.format == "JPEG" else None
    except Exception:
        return None


# ---------------------------------------------------------------- headers


def _facts(data: bytes, kind: str) -> dict:
    """Capture time and camera from the header; refuses declared sizes over the limit
    and data cut short, before LibRaw reads anything."""
    if kind == "CR3":
        return _cr3_facts(data)
    if kind == "RAF":
        return _raf_facts(data)
    tiff = _Tiff(data, 0)
    tiff.check_images(kind)
    return tiff.facts()


def _cr3_facts(data: bytes) -> dict:
    pos = 0
    while pos + 8 <= len(data):  # the top-level boxes must all be there
        size = int.from_bytes(data[pos : pos + 4], "big")
        if size == 1 and pos + 16 <= len(data):
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        if size == 0:
            break
        if size < 8:
            raise Unreadable("corrupt", "CR3 box of impossible size")
        pos += size
    if pos > len(data):
        raise Unreadable("truncated", "CR3 data ends inside one of its boxes")
    out: dict = {}
    head = data[: 1 << 20]
    for box in (b"CMT1", b"CMT2"):  # IFD0 and the Exif IFD, each a TIFF of its own
        at = head.find(box)
        if at >= 4:
            try:
                tiff = _Tiff(data, at + 4)
                ifd = tiff.ifd(tiff.first)
            except Unreadable:
                continue
            if box == b"CMT1":
                out.update({k: v for k, v in tiff.facts().items() if k == "camera"})
            else:
                taken = _taken(tiff.text(ifd, 0x9003))
                if taken:
                    out["captured_at"] = taken
    return out


def _raf_facts(data: bytes) -> dict:
    if len(data) < 108:
        raise Unreadable("truncated", "RAF data ends inside its header")
    jpeg_at, jpeg_len, cfa_at, cfa_len = struct.unpack(">II4xII", data[84:104])
    if jpeg_at + jpeg_len > len(data) or cfa_at + cfa_len > len(data):
        raise Unreadable("truncated", f"RAF data ends at byte {len(data)} before its image data")
    exif = data.find(b"Exif\x00\x00", jpeg_at, jpeg_at + 65536)
    if exif < 0:
        return {}
    try:
        return _Tiff(data, exif + 6).facts()
    except Unreadable:
        return {}


def _taken(text: str | None) -> dt.datetime | None:
    try:
        return dt.datetime.strptime((text or "").strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None


class _Tiff:
    """A bounded reader of a TIFF structure at ``base`` (offsets are relative to it)."""

    _SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}

    def __init__(self, data: bytes, base: int):
        self.data, self.base = data, base
        order = data[base : base + 2]
        if order not in (b"II", b"MM") or len(data) < base + 8:
            raise Unreadable("corrupt", "TIFF header not readable")
        self.end = "<" if order == b"II" else ">"
        self.first = struct.unpack(self.end + "I", data[base + 4 : base + 8])[0]

    def ifd(self, offset: int) -> dict[int, tuple[int, int, int]]:
        """tag -> (type, count, where its value is, absolute)."""
        at = self.base + offset
        if offset < 8 or at + 2 > len(self.data):
            raise Unreadable("truncated", "TIFF directory lies past the end of the data")
        n = struct.unpack(self.end + "H", self.data[at : at + 2])[0]
        if n > _MAX_ENTRIES:
            raise Unreadable("corrupt", f"TIFF directory of {plural(n, 'entry')}")
        if at + 2 + 12 * n + 4 > len(self.data):
            raise Unreadable("truncated", "TIFF directory runs past the end of the data")
        out = {}
        for k in range(n):
            e = at + 2 + 12 * k
            tag, kind, count = struct.unpack(self.end + "HHI", self.data[e : e + 8])
            size = self._SIZES.get(kind, 1) * count
            where = e + 8 if size <= 4 else self.base + struct.unpack(self.end + "I", self.data[e + 8 : e + 12])[0]
            out[tag] = (kind, count, where)
        return out

    def next_ifd(self, offset: int, n: int) -> int:
        at = self.base + offset + 2 + 12 * n
        return struct.unpack(self.end + "I", self.data[at : at + 4])[0]

    def ints(self, ifd: dict, tag: int, limit: int = 64) -> list[int]:
        if tag not in ifd:
            return []
        kind, count, where = ifd[tag]
        if kind not in (3, 4, 13) or count > limit:
            return []
        size = 2 if kind == 3 else 4
        if where + size * count > len(self.data):
            raise Unreadable("truncated", "TIFF value lies past the end of the data")
        return list(np.frombuffer(self.data, self.end + ("u2" if size == 2 else "u4"), count, where).tolist())

    def text(self, ifd: dict, tag: int) -> str | None:
        if tag not in ifd or ifd[tag][0] != 2:
            return None
        _kind, count, where = ifd[tag]
        raw = self.data[where : where + min(count, 256)]
        return raw.split(b"\x00", 1)[0].decode("latin-1")

    def images(self) -> list[dict]:
        """Every directory reachable from IFD0 (its chain and its SubIFDs), bounded."""
        seen, todo, out = set(), [self.first], []
        while todo and len(out) < _MAX_IFDS:
            offset = todo.pop(0)
            if offset == 0 or offset in seen:
                continue
            seen.add(offset)
            ifd = self.ifd(offset)
            out.append(ifd)
            todo.extend(self.ints(ifd, 0x014A, _MAX_IFDS))
            nxt = self.next_ifd(offset, len(ifd)) if len(ifd) < _MAX_ENTRIES else 0
            todo.append(nxt)
        return out

    def check_images(self, kind: str) -> None:
        """Declared sizes within the limit, every strip and tile inside the data."""
        for ifd in self.images():
            w, h = (self.ints(ifd, 0x0100, 1) or [0])[0], (self.ints(ifd, 0x0101, 1) or [0])[0]
            if w * h > RAW_PIXEL_LIMIT:
                raise Unreadable("too_large", f"{w}x{h} pixels is more than {RAW_PIXEL_LIMIT:,} for {kind}")
            for offsets_tag, counts_tag in ((0x0111, 0x0117), (0x0144, 0x0145)):
                offsets = self.ints(ifd, offsets_tag, _MAX_STRIPS)
                counts = self.ints(ifd, counts_tag, _MAX_STRIPS)
                if offsets and counts:
                    end = max(o + c for o, c in zip(offsets, counts))
                    if self.base + end > len(self.data):
                        raise Unreadable(
                            "truncated", f"{kind} data ends at byte {len(self.data)}; its image data runs to {end}"
                        )

    def facts(self) -> dict:
        out: dict = {}
        ifd0 = self.ifd(self.first)
        camera = clean_text(self.text(ifd0, 0x0110) or "") or clean_text(self.text(ifd0, 0xC614) or "")
        if camera:
            out["camera"] = camera
        exif = self.ints(ifd0, 0x8769, 1)
        if exif:
            try:
                taken = _taken(self.text(self.ifd(exif[0]), 0x9003))
            except Unreadable:
                taken = None
            if taken:
                out["captured_at"] = taken
        return out
