"""Face tags that photo managers leave in XMP: read, checked, and turned upright.

:func:`read_regions` reads one photo's embedded XMP and its sidecars and returns the
face regions in them as boxes in the photo's upright full-size pixels, the frame
facepipe stores its own boxes in, plus what it skipped and why. Nothing here touches
the database; facepipe.people.tags calls it after the night's assignment. Regions and
names facepipe wrote itself (facepipe.models.xmp_write: ``facepipe:Writer`` in a region,
``facepipe:PersonInImage`` for names) come back with ``ours=True``.

What is read

* MWG regions (``mwg-rs:Regions``, Metadata Working Group Guidelines 2.0, section
  5.9): each ``mwg-rs:RegionList`` item with ``mwg-rs:Type`` Face (or no type) and an
  ``mwg-rs:Area`` in ``stArea:unit`` normalized, whose ``stArea:x``/``y`` are the
  box's CENTRE and ``w``/``h`` its size, as fractions of ``mwg-rs:AppliedToDimensions``.
  digiKam, Lightroom Classic, Picasa 3.9+ and exiftool's MWG tags write these.
* Microsoft Photo regions (``MP:RegionInfo``/``MPRI:Regions``, Windows Photo Gallery,
  digiKam): ``MPReg:Rectangle`` "x, y, w, h" with x, y the TOP-LEFT corner, all
  normalised; ``MPReg:PersonDisplayName`` the name. When a file has MWG face regions
  its MP regions are the same faces written twice (digiKam writes both), so they are
  reported as skipped rather than read again.
* ``Iptc4xmpExt:PersonInImage`` names that no region of the photo carries: returned
  with ``box=None`` and format "iptc-person" (someone is in the photo, nobody said where).

Where it is read from, in this order: ``photo.jpg.xmp`` (digiKam, darktable),
``photo.xmp`` (Lightroom, Capture One), then the XMP embedded in the photo (JPEG APP1
``http://ns.adobe.com/xap/1.0/``, TIFF/DNG tag 700, PNG iTXt, and the RAW formats libexiv2 reads;
HEIC and AVIF through libheif (pillow-heif): the libexiv2 0.28.9 in python-exiv2 0.19.2
reads a HEIC's Exif but not the XMP item that exiftool and phones write). The first of these that
holds any region is the photo's set: a sidecar is what the manager last wrote (the
embedded copy is often the camera's or an older one), so regions elsewhere are
reported as "superseded by ...". PersonInImage names are gathered from all of them.

Orientation. MWG says region coordinates are relative to the stored image, before the
EXIF orientation is applied, and that AppliedToDimensions are the stored image's
dimensions. Lightroom Classic writes exactly that (it does not recognise a region
written in rotated coordinates), and digiKam has done so since its bugs 372340 and
395243 were fixed; exiftool copies the numbers without transforming them. So the box
is taken in stored pixels and turned upright by the orientation (1-8, mirrors
included), with one exception: when AppliedToDimensions are the upright size and not
the stored one (width and height swapped, for orientations 5-8), the writer evidently
worked on the upright image and the box is used as it is. MP regions carry no
dimensions and are treated as MWG regions are.

Hostile input, each a skipped entry with a reason, never an exception or an expansion:

* An XMP packet or sidecar above :data:`MAX_PACKET_BYTES` (refused before a sidecar is
  read; an embedded packet, which libexiv2 has already read, is not parsed further).
* Any DOCTYPE (entity declarations, the "billion laughs" bomb, external entities such
  as ``file:///etc/passwd``): XMP never needs one. defusedxml checks every packet with
  ``forbid_dtd=True`` before its contents are used; libexiv2's XMP toolkit also refuses
  a DTD, so the entity is never expanded by either.
* A sidecar that is a symlink, not a regular file, or that resolves outside the photo's
  folder.
* Boxes with a non-number, NaN or infinite coordinate, zero or negative width or
  height, a unit other than normalized, or less than half their area inside the photo;
  a box partly outside is clipped to the photo.
* Names with control or bidirectional-override characters, or longer than
  :data:`MAX_NAME_CHARS`: the region is skipped, not kept unnamed, so that a tampered
  file cannot put a face in under a misleading name. Markup such as ``<b>`` is text, kept
  as written (NFC-normalised, outer whitespace removed); escaping it is the page's job.
"""

from __future__ import annotations

import logging
import math
import os
import re
import stat
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

Format = Literal["mwg", "mp", "iptc-person"]

# facepipe's own XMP namespace: the mark on the regions and names facepipe writes
# (facepipe.models.xmp_write). The URI is a name, never fetched (.invalid never resolves).
FACEPIPE_NS = "http://ns.facepipe.invalid/xmp/1.0/"
FACEPIPE_PREFIX = "facepipe"
OURS_FIELD = "facepipe:Writer"  # in a region's struct: "facepipe"
OURS_NAMES = "Xmp.facepipe.PersonInImage"  # the PersonInImage names facepipe added

MAX_PACKET_BYTES = 1_000_000
# the head of a photo read for its metadata where the whole is not at hand (an S3 object at the
# night's tags and sidecar writing): a JPEG keeps its Exif and XMP there, libexiv2 reads them from it
HEAD_BYTES = 512 * 1024
MAX_NAME_CHARS = 256
MAX_REGIONS = 1000  # a family photo has tens; more is a file built to be slow
MIN_INSIDE = 0.5  # fraction of a box's area that must lie inside the photo
EMBEDDED = "embedded"
# Differences between AppliedToDimensions and the photo's size that still count as a
# match (a manager may have seen the photo after a lossless crop of a few pixels).
_DIM_TOLERANCE = 0.01
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
_INDEX = re.compile(r"\[(\d+)\]")


@dataclass(frozen=True)
class Box:
    """Upright full-size pixels, top-left corner and size."""

    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class FaceTag:
    name: str | None
    box: Box | None  # None only for an "iptc-person" name
    format: Format
    source: str  # "embedded" or the sidecar's file name
    # written by facepipe itself (facepipe.models.xmp_write marks its regions and names):
    # what facepipe already knows, never a photo manager's decision
    ours: bool = False


@dataclass(frozen=True)
class Skipped:
    reason: str
    source: str
    format: Format | None = None  # None when a whole file or packet was refused
    name: str | None = None  # the name as written (repr-safe), when there was one


@dataclass(frozen=True)
class Regions:
    tags: tuple[FaceTag, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    sources: tuple[str, ...] = field(default=())  # where XMP was found and read

    @property
    def named(self) -> tuple[FaceTag, ...]:
        return tuple(t for t in self.tags if t.box is not None and t.name is not None)

    @property
    def unnamed(self) -> tuple[FaceTag, ...]:
        return tuple(t for t in self.tags if t.box is not None and t.name is None)

    @property
    def names_without_regions(self) -> tuple[FaceTag, ...]:
        return tuple(t for t in self.tags if t.box is None)


def sidecar_paths(photo: Path) -> tuple[Path, ...]:
    """The sidecars photo managers write beside ``photo``, in the order they are read:
    ``IMG_1.JPG.xmp`` (digiKam, darktable), then ``IMG_1.xmp`` (Lightroom)."""
    return (photo.with_name(photo.name + ".xmp"), photo.with_suffix(".xmp"))


def read_regions(
    photo: Path | str | bytes,
    *,
    sidecars: Sequence[Path] | None = None,
    width: int | None = None,
    height: int | None = None,
    orientation: int | None = None,
    sidecar_data: Sequence[tuple[str, bytes]] = (),
) -> Regions:
    """The face regions of one photo, upright.

    ``photo`` is a path (its sidecars are looked for beside it unless ``sidecars`` is
    given) or the photo's bytes (then only the ``sidecars`` given are read, and they are
    checked against their own folder). ``width`` and ``height`` are the photo's UPRIGHT
    full-size pixels (``imaging.Decoded.width/height``) and ``orientation`` its EXIF
    orientation; any left out is read from the photo by libexiv2. ``sidecar_data``: sidecars
    as (file name, bytes), read after ``sidecars`` (an S3 source's objects).
    """
    photo_path = None if isinstance(photo, bytes) else Path(photo)
    if sidecars is None:
        sidecars = sidecar_paths(photo_path) if photo_path is not None else ()
    folder = photo_path.parent if photo_path is not None else None
    skipped: list[Skipped] = []
    packets: list[tuple[str, dict[str, object]]] = []

    for path in dict.fromkeys(sidecars):  # photo.xmp == photo.jpg.xmp for a name with no suffix
        data = _read_sidecar(path, folder or path.parent, skipped)
        if data is not None:
            xmp = _parse(data, path.name, skipped)
            if xmp is not None:
                packets.append((path.name, xmp))
    for name, data in sidecar_data:  # sidecars read elsewhere (an S3 source's objects): screened the same
        xmp = _parse(data, name, skipped)
        if xmp is not None:
            packets.append((name, xmp))

    embedded, stored_w, stored_h, exif_orientation = _read_embedded(photo, skipped)
    if embedded is not None:
        packets.append((EMBEDDED, embedded))

    if orientation is None:
        orientation = exif_orientation or 1
    if orientation not in range(1, 9):
        skipped.append(Skipped(f"EXIF orientation {orientation} is not 1-8; taken as 1", EMBEDDED))
        orientation = 1
    if width is None or height is None:
        if stored_w is None or stored_h is None:
            skipped.append(Skipped("photo size unknown: no region can be placed", EMBEDDED))
            return Regions(skipped=tuple(skipped), sources=tuple(s for s, _ in packets))
        width, height = (stored_h, stored_w) if orientation >= 5 else (stored_w, stored_h)
    frame = _Frame(width, height, orientation)

    tags: list[FaceTag] = []
    chosen: str | None = None
    persons: dict[str, str] = {}
    for source, xmp in packets:
        found = _mwg(xmp, source, frame, skipped) + _mp(xmp, source, frame, skipped, has_mwg=_has_mwg(xmp))
        if found and chosen is None:
            chosen = source
            tags.extend(found)
        elif found:
            skipped.extend(Skipped(f"superseded by the regions of {chosen}", source, t.format, t.name) for t in found)
        for name in _persons(xmp, source, skipped):
            persons.setdefault(name, source)
    with_regions = {t.name for t in tags}
    ours = {n for _s, xmp in packets for n in _names_of(xmp.get(OURS_NAMES))}
    tags.extend(FaceTag(n, None, "iptc-person", s, ours=n in ours) for n, s in persons.items() if n not in with_regions)
    return Regions(tuple(tags), tuple(skipped), tuple(s for s, _ in packets))


@dataclass(frozen=True)
class _Frame:
    width: int  # upright
    height: int
    orientation: int

    @property
    def stored(self) -> tuple[int, int]:
        return (self.height, self.width) if self.orientation >= 5 else (self.width, self.height)

    def to_stored(self, x: float, y: float, w: float, h: float) -> tuple[float, ...]:
        """The inverse of :meth:`upright`: a normalised top-left box on the upright image as
        a normalised box on the stored one (turning 90 one way is undone by turning the other)."""
        inverse = {6: 8, 8: 6}.get(self.orientation, self.orientation)
        return _Frame(self.width, self.height, inverse).upright(x, y, w, h, already_upright=False)

    def upright(self, x: float, y: float, w: float, h: float, *, already_upright: bool) -> tuple[float, ...]:
        """A normalised top-left box on the stored image, as a normalised box on the
        upright one (the transforms Pillow's ImageOps.exif_transpose applies)."""
        o = 1 if already_upright else self.orientation
        r, b = 1 - x - w, 1 - y - h  # the distances from the right and bottom edges
        return {
            1: (x, y, w, h),
            2: (r, y, w, h),  # mirrored left-right
            3: (r, b, w, h),  # 180
            4: (x, b, w, h),  # mirrored top-bottom
            5: (y, x, h, w),  # transposed
            6: (b, x, h, w),  # turned 90 clockwise to view
            7: (b, r, h, w),  # transversed
            8: (y, r, h, w),  # turned 90 anticlockwise to view
        }[o]


def _read_sidecar(path: Path, folder: Path, skipped: list[Skipped]) -> bytes | None:
    name = path.name
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        skipped.append(Skipped(f"sidecar unreadable: {exc.strerror}", name))
        return None
    if stat.S_ISLNK(st.st_mode):
        skipped.append(Skipped("sidecar is a symlink: refused", name))
        return None
    if not stat.S_ISREG(st.st_mode):
        skipped.append(Skipped("sidecar is not a regular file: refused", name))
        return None
    if path.resolve().parent != folder.resolve():
        skipped.append(Skipped("sidecar resolves outside the photo's folder: refused", name))
        return None
    if st.st_size > MAX_PACKET_BYTES:
        skipped.append(Skipped(f"sidecar is {st.st_size:,} bytes, over {MAX_PACKET_BYTES:,}: not read", name))
        return None
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        skipped.append(Skipped(f"sidecar unreadable: {exc.strerror}", name))
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            skipped.append(Skipped("sidecar is not a regular file: refused", name))
            return None
        data = f.read(MAX_PACKET_BYTES + 1)  # it may have grown since lstat
    if len(data) > MAX_PACKET_BYTES:
        skipped.append(Skipped(f"sidecar is over {MAX_PACKET_BYTES:,} bytes: not read", name))
        return None
    return data


def _screen(packet: bytes | str, source: str, skipped: list[Skipped]) -> bool:
    """Whether a packet is plain XML without a DTD, checked by defusedxml before
    anything uses what libexiv2 made of it."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    size = len(packet.encode() if isinstance(packet, str) else packet)
    if size > MAX_PACKET_BYTES:
        skipped.append(Skipped(f"XMP packet is {size:,} bytes, over {MAX_PACKET_BYTES:,}: not read", source))
        return False
    try:
        fromstring(packet, forbid_dtd=True)
    except DefusedXmlException as exc:
        skipped.append(Skipped(f"XMP refused: {type(exc).__name__} (a DOCTYPE or entity is never read)", source))
        return False
    except ParseError as exc:
        skipped.append(Skipped(f"XMP is not well-formed XML: {exc}", source))
        return False
    return True


@contextmanager
def _exiv2_messages() -> Iterator[list[str]]:
    """libexiv2's warnings while reading one file (python-exiv2 sends them to the
    "exiv2" logger), collected for the reason instead of printed."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage().strip())

    logger = logging.getLogger("exiv2")
    handler, propagate = Collect(logging.WARNING), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def register_namespace() -> None:
    """facepipe's namespace, known to libexiv2 (once per process): its keys then read and
    write as ``Xmp.facepipe.*``, whatever prefix a file gave it."""
    import exiv2

    try:
        if exiv2.XmpProperties.prefix(FACEPIPE_NS) == FACEPIPE_PREFIX:
            return
    except exiv2.Exiv2Error:
        pass
    exiv2.XmpProperties.registerNs(FACEPIPE_NS, FACEPIPE_PREFIX)


def _open(data: bytes | str, source: str, skipped: list[Skipped]):  # -> exiv2.Image | None
    import exiv2

    register_namespace()
    with _exiv2_messages() as messages:
        try:
            image = exiv2.ImageFactory.open(data)
            image.readMetadata()
        except exiv2.Exiv2Error as exc:
            skipped.append(Skipped(f"metadata unreadable: {exc}", source))
            return None
    if messages and image.xmpPacket() and image.xmpData().empty():
        skipped.append(Skipped(f"XMP not decoded: {'; '.join(messages)}", source))
    return image


def _parse(data: bytes, source: str, skipped: list[Skipped]) -> dict[str, object] | None:
    if not _screen(data, source, skipped):
        return None
    image = _open(data, source, skipped)
    if image is None:
        return None
    return _flatten(image)


def _read_embedded(
    photo: Path | bytes, skipped: list[Skipped]
) -> tuple[dict[str, object] | None, int | None, int | None, int | None]:
    """The photo's own XMP (None when it has none or it was refused), its stored
    width and height, and its EXIF orientation."""
    import exiv2

    if not isinstance(photo, bytes):
        try:
            st = os.stat(photo)
        except OSError as exc:
            skipped.append(Skipped(f"metadata unreadable: {exc.strerror}", EMBEDDED))
            return None, None, None, None
        if not stat.S_ISREG(st.st_mode):  # a FIFO would never answer, a folder is no photo
            skipped.append(Skipped("the photo is not a regular file: not read", EMBEDDED))
            return None, None, None, None
    if not isinstance(photo, bytes) and not _utf8(str(photo)):
        # libexiv2 takes a path as UTF-8 text: a name that is not UTF-8 (an old camera's, a
        # Windows zip's) is read here and given to it as bytes
        try:
            photo = Path(photo).read_bytes()
        except OSError as exc:
            skipped.append(Skipped(f"metadata unreadable: {exc.strerror}", EMBEDDED))
            return None, None, None, None
    image = _open(photo if isinstance(photo, bytes) else str(photo), EMBEDDED, skipped)
    if image is None:
        return None, None, None, None
    w, h = image.pixelWidth() or None, image.pixelHeight() or None
    exif = image.exifData()
    found = exif.findKey(exiv2.ExifKey("Exif.Image.Orientation"))
    orientation = int(found.toInt64()) if found != exif.end() and found.count() else None
    packet = image.xmpPacket()
    if not packet:  # a HEIC/AVIF: libexiv2 reads its Exif but not its XMP item; libheif does
        heif = _heif_xmp(photo)
        if heif is not None:
            return _parse(heif, EMBEDDED, skipped), w, h, orientation
    if not packet or not _screen(packet, EMBEDDED, skipped):
        return None, w, h, orientation
    return _flatten(image), w, h, orientation


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # surrogate-escaped bytes of a name that is not UTF-8
        return False
    return True


_HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis")


def _heif_xmp(photo: Path | bytes) -> bytes | None:
    """The XMP packet of a HEIF file (HEIC, AVIF), read by libheif (pillow-heif): None for any
    other file, or one without XMP. Only the metadata item is decoded, never the image."""
    head = photo[:12] if isinstance(photo, bytes) else _head(photo)
    if len(head) < 12 or head[4:8] != b"ftyp" or head[8:12] not in _HEIF_BRANDS:
        return None
    try:
        import pillow_heif

        heif = pillow_heif.open_heif(photo if isinstance(photo, bytes) else str(photo), convert_hdr_to_8bit=False)
        xmp = heif.info.get("xmp")
    except Exception:  # damaged: the caller's other reads say so
        return None
    return bytes(xmp) if xmp else None  # its size and content screened as a sidecar's


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(12)
    except OSError:
        return b""


def _flatten(image) -> dict[str, object]:
    """libexiv2's XMP as key -> text, or -> list of texts for an array (a bag of names)."""
    out: dict[str, object] = {}
    for datum in image.xmpData():
        value = datum.value()
        if datum.typeName() in ("XmpBag", "XmpSeq", "XmpAlt"):
            out[datum.key()] = [value.toString(i) for i in range(value.count())]
        else:
            out[datum.key()] = str(value)
    return out


def _items(xmp: dict[str, object], array: str) -> list[str]:
    """The item paths of an XMP array of structs, by index (``array[1]``, ...)."""
    found = set()
    for key in xmp:
        if key.startswith(array + "["):
            m = _INDEX.match(key, len(array))
            if m:
                found.add(int(m.group(1)))
    return [f"{array}[{i}]" for i in sorted(found)]


def _has_mwg(xmp: dict[str, object]) -> bool:
    return bool(_items(xmp, "Xmp.mwg-rs.Regions/mwg-rs:RegionList"))


def _mwg(xmp: dict[str, object], source: str, frame: _Frame, skipped: list[Skipped]) -> list[FaceTag]:
    root = "Xmp.mwg-rs.Regions"
    items = _items(xmp, f"{root}/mwg-rs:RegionList")
    if not items:
        return []
    dims = f"{root}/mwg-rs:AppliedToDimensions/stDim:"
    already_upright = _applied_upright(xmp.get(dims + "w"), xmp.get(dims + "h"), frame)
    tags = []
    for n, item in enumerate(items):
        raw_name = xmp.get(f"{item}/mwg-rs:Name")
        kind = str(xmp.get(f"{item}/mwg-rs:Type", "Face"))
        if n >= MAX_REGIONS:
            skipped.append(Skipped(f"more than {MAX_REGIONS} regions: the rest not read", source, "mwg"))
            break
        if kind.strip().lower() != "face":
            skipped.append(Skipped(f"region type {kind[:40]!r} is not a face", source, "mwg", _shown(raw_name)))
            continue
        area = f"{item}/mwg-rs:Area/stArea:"
        unit = str(xmp.get(area + "unit", "normalized")).strip()
        if unit != "normalized":
            skipped.append(Skipped(f"area unit {unit[:40]!r} is not normalized", source, "mwg", _shown(raw_name)))
            continue
        numbers = _numbers([xmp.get(area + k) for k in "xywh"])
        if isinstance(numbers, str):
            skipped.append(Skipped(numbers, source, "mwg", _shown(raw_name)))
            continue
        cx, cy, w, h = numbers
        tag = _tag(raw_name, (cx - w / 2, cy - h / 2, w, h), "mwg", source, frame, already_upright, skipped)
        if tag is not None:
            ours = str(xmp.get(f"{item}/{OURS_FIELD}", "")).strip() == FACEPIPE_PREFIX
            tags.append(replace(tag, ours=ours) if ours else tag)
    return tags


def _mp(xmp: dict[str, object], source: str, frame: _Frame, skipped: list[Skipped], *, has_mwg: bool) -> list[FaceTag]:
    items = _items(xmp, "Xmp.MP.RegionInfo/MPRI:Regions")
    tags = []
    for n, item in enumerate(items):
        raw_name = xmp.get(f"{item}/MPReg:PersonDisplayName")
        rect = xmp.get(f"{item}/MPReg:Rectangle")
        if has_mwg:
            skipped.append(
                Skipped("MP region beside MWG regions in the same file: read those", source, "mp", _shown(raw_name))
            )
            continue
        if n >= MAX_REGIONS:
            skipped.append(Skipped(f"more than {MAX_REGIONS} regions: the rest not read", source, "mp"))
            break
        if rect is None:
            skipped.append(Skipped("MP region without a Rectangle", source, "mp", _shown(raw_name)))
            continue
        parts = str(rect).split(",")
        if len(parts) != 4:
            skipped.append(Skipped(f"Rectangle {str(rect)[:60]!r} is not 'x, y, w, h'", source, "mp", _shown(raw_name)))
            continue
        numbers = _numbers(parts)
        if isinstance(numbers, str):
            skipped.append(Skipped(numbers, source, "mp", _shown(raw_name)))
            continue
        tag = _tag(raw_name, numbers, "mp", source, frame, False, skipped)
        if tag is not None:
            tags.append(tag)
    return tags


def _persons(xmp: dict[str, object], source: str, skipped: list[Skipped]) -> list[str]:
    value = xmp.get("Xmp.iptcExt.PersonInImage")
    if value is None:
        return []
    names = []
    for raw in value if isinstance(value, list) else [value]:
        name = _name(raw)
        if isinstance(name, _Refused):
            skipped.append(Skipped(name.reason, source, "iptc-person", _shown(raw)))
        elif name is not None:
            names.append(name)
    return names


def _names_of(value: object) -> list[str]:
    if value is None:
        return []
    return [n for n in (_name(v) for v in (value if isinstance(value, list) else [value])) if isinstance(n, str)]


def _applied_upright(w: object, h: object, frame: _Frame) -> bool:
    """Whether AppliedToDimensions say the writer measured the upright image: they
    match the upright size and not the stored one."""
    numbers = _numbers([w, h])
    if isinstance(numbers, str) or frame.orientation < 5 or frame.width == frame.height:
        return False
    aw, ah = numbers

    def matches(fw: int, fh: int) -> bool:
        # the same aspect ratio: a manager may have measured a smaller preview
        return abs(aw / ah - fw / fh) <= _DIM_TOLERANCE * fw / fh

    return matches(frame.width, frame.height) and not matches(*frame.stored)


def _numbers(values: Iterable[object]) -> tuple[float, ...] | str:
    out = []
    for v in values:
        if v is None:
            return "a coordinate is missing"
        try:
            f = float(str(v).strip())
        except ValueError:
            return f"coordinate {str(v)[:40]!r} is not a number"
        if not math.isfinite(f):
            return f"coordinate {str(v).strip()[:40]} is not finite (NaN or infinite)"
        out.append(f)
    return tuple(out)


def _tag(
    raw_name: object,
    box: tuple[float, ...],
    fmt: Format,
    source: str,
    frame: _Frame,
    already_upright: bool,
    skipped: list[Skipped],
) -> FaceTag | None:
    name = _name(raw_name)
    if isinstance(name, _Refused):
        skipped.append(Skipped(name.reason, source, fmt, _shown(raw_name)))
        return None
    x, y, w, h = box
    if w <= 0 or h <= 0:
        skipped.append(Skipped(f"zero or negative area ({w:g} x {h:g})", source, fmt, name))
        return None
    ux, uy, uw, uh = frame.upright(x, y, w, h, already_upright=already_upright)
    left, top = max(ux, 0.0), max(uy, 0.0)
    right, bottom = min(ux + uw, 1.0), min(uy + uh, 1.0)
    inside = max(right - left, 0.0) * max(bottom - top, 0.0)
    if inside < MIN_INSIDE * uw * uh:
        where = "outside the photo" if inside == 0 else f"{inside / (uw * uh):.0%} inside the photo"
        skipped.append(Skipped(f"box {where}", source, fmt, name))
        return None
    px = round(left * frame.width)
    py = round(top * frame.height)
    pw = min(round(right * frame.width), frame.width) - px
    ph = min(round(bottom * frame.height), frame.height) - py
    if pw <= 0 or ph <= 0:
        skipped.append(Skipped("box smaller than a pixel", source, fmt, name))
        return None
    return FaceTag(name, Box(px, py, pw, ph), fmt, source)


@dataclass(frozen=True)
class _Refused:
    reason: str


def _name(raw: object) -> str | None | _Refused:
    """The name as stored: NFC, stripped; None when empty; refused when it carries
    control or direction-override characters or is too long."""
    if raw is None:
        return None
    name = unicodedata.normalize("NFC", str(raw)).strip()
    if not name:
        return None
    if any(unicodedata.category(c) == "Cc" or c in _BIDI_CONTROLS for c in name):
        return _Refused("name refused: it contains control or text-direction characters")
    if len(name) > MAX_NAME_CHARS:
        return _Refused(f"name refused: {len(name)} characters, over {MAX_NAME_CHARS}")
    return name


def _shown(raw: object) -> str | None:
    """A name for a skipped entry: printable (repr of anything unusual) and short."""
    if raw is None:
        return None
    text = str(raw)
    if not text.isprintable():
        text = repr(text)[1:-1]
    return text[:80]
