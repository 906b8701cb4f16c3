"""Face regions written to XMP sidecars, the other direction of facepipe.models.xmp.

:func:`sync_sidecar` brings one photo's sidecar to the regions facepipe knows for it: MWG
face regions (``mwg-rs:Regions``, Metadata Working Group Guidelines 2.0, section 5.9) and
``Iptc4xmpExt:PersonInImage`` names. Nothing here touches the database
(facepipe.people.sidecars decides what a photo's regions are); the photo file itself is
never written.

Which file: ``photo.xmp`` when one exists (Lightroom's, updated in place), else
``photo.jpg.xmp`` (digiKam, darktable), created when there is something to write. With a
``folder`` (the ``xmp_folder`` setting) the same names inside that folder instead, under the
photo's path relative to its source. A sidecar that is a symlink, not a regular file,
resolves outside its folder or is over ``MAX_PACKET_BYTES`` is refused, as the reader
refuses it; a packet with a DOCTYPE is refused before libexiv2 reads it.

What is kept. The sidecar's XMP is read by libexiv2 and written back by it with every
property facepipe did not write: other namespaces (ratings, keywords), other regions
(another tool's faces, pets, focus areas), other PersonInImage names. facepipe's own
regions carry ``facepipe:Writer`` = facepipe in their struct, and the PersonInImage names
facepipe added are listed in ``facepipe:PersonInImage`` (namespace
:data:`facepipe.models.xmp.FACEPIPE_NS`): a write removes exactly those and adds the
current ones, so a rename replaces the old name and a forget removes it. A name another
tool already wrote in PersonInImage is left to that tool (not listed as facepipe's), and a face
another tool's region already names at the same place (IoU ``DROP_IOU``) gets no second region.

Frames. facepipe's boxes are in the upright (EXIF-rotated) photo; MWG areas are on the
stored pixels, with ``AppliedToDimensions`` the stored size, so a box is turned back by the
orientation (facepipe.models.xmp's frame, inverted). When the sidecar already has
AppliedToDimensions of the upright size (an older writer that measured the rotated image,
which the reader then reads as upright), facepipe's areas follow that file's frame.

Writes are atomic (a temporary file in the same folder, then a rename) and only happen when
the bytes would change: a second write of the same regions leaves the file and its mtime.
A sidecar left with no property at all (facepipe's regions were all it held) is removed.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from facepipe.models.xmp import (
    FACEPIPE_PREFIX,
    MAX_PACKET_BYTES,
    OURS_FIELD,
    OURS_NAMES,
    Box,
    Skipped,
    _applied_upright,
    _Frame,
    _items,
    _name,
    _open,
    _read_embedded,
    _read_sidecar,
    _screen,
    register_namespace,
    sidecar_paths,
)

REGIONS = "Xmp.mwg-rs.Regions"
REGION_LIST = f"{REGIONS}/mwg-rs:RegionList"
DIMENSIONS = f"{REGIONS}/mwg-rs:AppliedToDimensions"
PERSONS = "Xmp.iptcExt.PersonInImage"
_HEADER = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
_FOOTER = '<?xpacket end="w"?>\n'
DROP_IOU = 0.5  # a region of facepipe's this close to a forgotten face is that face (it wrote the box)

Outcome = Literal["written", "unchanged", "removed", "nothing"]


class SidecarError(OSError):
    """A sidecar facepipe may not or cannot write (refused, unreadable, read-only folder)."""


@dataclass(frozen=True)
class Region:
    """A named face, in the upright photo's pixels (facepipe's frame)."""

    name: str
    box: Box


def sidecar_for(photo: Path, *, folder: Path | None = None, root: Path | None = None) -> Path:
    """The sidecar facepipe writes for ``photo``: an existing ``photo.xmp`` (Lightroom), else
    ``photo.jpg.xmp``. With ``folder``, the same names under ``folder`` at the photo's path
    relative to ``root`` (its source folder)."""
    if folder is not None:
        if root is None:
            raise SidecarError(f"{photo.name}: a sidecar folder needs the photo's source folder")
        try:
            rel = photo.relative_to(root)
        except ValueError:
            raise SidecarError(f"{photo.name}: not under the source folder {root}") from None
        photo = folder / rel
    digikam, lightroom = sidecar_paths(photo)
    if lightroom != digikam and os.path.lexists(lightroom) and not os.path.lexists(digikam):
        return lightroom
    return digikam


def sync_sidecar(
    photo: Path,
    regions: Sequence[Region] | None,
    *,
    width: int,
    height: int,
    orientation: int | None = None,
    drop_names: set[str] | None = None,
    drop_boxes: Sequence[Box] = (),
    folder: Path | None = None,
    root: Path | None = None,
) -> tuple[Outcome, Path]:
    """Bring ``photo``'s sidecar to ``regions`` (see the module's doc).

    ``regions`` given: every region and name facepipe wrote before is replaced by these.
    ``regions`` None: only facepipe's regions and names of ``drop_names`` (all of facepipe's
    when None too), and facepipe's regions over one of ``drop_boxes`` (upright pixels: a
    forgotten face, whatever name it was written with), are removed; nothing is added (a forget). ``width``/``height`` are the
    photo's upright pixels (``images.width/height``); ``orientation``, when not given, is
    read from the photo. Raises SidecarError when the sidecar is refused or cannot be
    written; returns what was done and the sidecar's path."""
    path = sidecar_for(photo, folder=folder, root=root)
    skipped: list[Skipped] = []
    existing = _read_sidecar(path, path.parent, skipped) if path.parent.is_dir() else None
    if skipped:
        raise SidecarError(f"{path.name}: {skipped[0].reason}")
    if existing is None and not regions:
        return "nothing", path
    register_namespace()
    xmp = _existing_xmp(existing, path.name)

    if orientation is None:
        _meta, _w, _h, orientation = _read_embedded(photo, skipped)
    frame = _Frame(width, height, orientation if orientation in range(1, 9) else 1)

    new = _rebuilt(xmp, regions, frame, drop_names, drop_boxes)
    if new.empty():
        if existing is None:
            return "nothing", path
        _remove(path)
        return "removed", path
    data = _encode(new)
    if existing is not None and (existing == data or _properties(xmp) == _properties(new)):
        return "unchanged", path  # the same bytes, or the same properties as another tool laid them out
    if existing is None and not regions:
        return "nothing", path
    _write(path, data, folder)
    return "written", path


def _existing_xmp(existing: bytes | None, source: str):  # -> exiv2.XmpData
    import exiv2

    if existing is None:
        return exiv2.XmpData()
    skipped: list[Skipped] = []
    if not _screen(existing, source, skipped):
        raise SidecarError(f"{source}: {skipped[0].reason}; not rewritten")
    image = _open(existing, source, skipped)
    if image is None or (skipped and image.xmpData().empty()):
        raise SidecarError(f"{source}: {skipped[0].reason if skipped else 'not XMP'}; not rewritten")
    return image.xmpData()


def _properties(xmp) -> list[tuple[str, str, str]]:
    """What an XMP packet says, whatever the order of its properties (an array's items keep
    theirs: their keys carry their index)."""
    return sorted((d.key(), d.typeName(), str(d.value())) for d in xmp)


def _flat(xmp) -> dict[str, str]:
    return {d.key(): str(d.value()) for d in xmp}


def _rebuilt(
    xmp,
    regions: Sequence[Region] | None,
    frame: _Frame,
    drop_names: set[str] | None,
    drop_boxes: Sequence[Box] = (),
):
    """A new XmpData: ``xmp`` without facepipe's regions and names (or only those of
    ``drop_names`` and over ``drop_boxes``), then ``regions`` added."""
    import exiv2

    flat = _flat(xmp)
    items = _items(flat, REGION_LIST)
    # facepipe's areas go in the file's frame: the stored image's, unless its dimensions say upright
    dims = flat.get(f"{DIMENSIONS}/stDim:w"), flat.get(f"{DIMENSIONS}/stDim:h")
    upright = dims[0] is not None and _applied_upright(dims[0], dims[1], frame)

    def dropped(name: object) -> bool:
        return regions is not None or (drop_names is None and not drop_boxes) or _name(name) in (drop_names or ())

    def over_dropped_box(item: str) -> bool:
        box = _upright_box(flat, item, frame, upright)
        return box is not None and any(_iou(box, b) >= DROP_IOU for b in drop_boxes)

    mine = [i for i in items if flat.get(f"{i}/{OURS_FIELD}", "").strip() == FACEPIPE_PREFIX]
    ours = {i for i in mine if dropped(flat.get(f"{i}/mwg-rs:Name")) or over_dropped_box(i)}
    kept_items = [i for i in items if i not in ours]
    renumber = {old: f"{REGION_LIST}[{n}]" for n, old in enumerate(kept_items, 1)}
    our_names = [n for n in _bag(xmp, OURS_NAMES) if isinstance(n, str)]
    # a name goes with its last region of facepipe's, or by name
    still_named = {_name(flat.get(f"{i}/mwg-rs:Name")) for i in mine if i not in ours}
    gone_with_regions = {_name(flat.get(f"{i}/mwg-rs:Name")) for i in ours} - still_named
    removed_names = {n for n in our_names if dropped(n) or n in gone_with_regions}
    others = [n for n in _bag(xmp, PERSONS) if n not in removed_names]
    kept_ours = [n for n in our_names if n not in removed_names]

    new = exiv2.XmpData()
    region_keys_left = False
    for datum in xmp:
        key = datum.key()
        if key in (PERSONS, OURS_NAMES):
            continue
        if key.startswith(REGION_LIST + "["):
            item = next((i for i in items if key == i or key.startswith(i + "/")), None)
            if item is None or item in ours:
                continue
            key = renumber[item] + key[len(item) :]
        elif key == REGION_LIST and not kept_items and not regions:
            continue
        new.add(exiv2.XmpKey(key), datum.value())
        region_keys_left |= key.startswith(REGIONS + "/") and not key.startswith(DIMENSIONS)
    if not regions and not region_keys_left:  # nothing but facepipe's regions were there
        _drop_regions(new)

    names = list(others)
    if regions:
        # a face another tool's region already names, at the same place, is not tagged twice
        theirs = [
            (_name(flat.get(f"{i}/mwg-rs:Name")), _upright_box(flat, i, frame, upright))
            for i in kept_items
            if i not in mine
        ]
        regions = [
            r
            for r in regions
            if not any(n == r.name and b is not None and _iou(b, r.box) >= DROP_IOU for n, b in theirs)
        ]
    if regions:
        _ensure_struct(new, REGIONS)
        if not any(d.key() == f"{DIMENSIONS}/stDim:w" for d in new):
            sw, sh = frame.stored
            _ensure_struct(new, DIMENSIONS)
            new[f"{DIMENSIONS}/stDim:w"] = str(sw)
            new[f"{DIMENSIONS}/stDim:h"] = str(sh)
            new[f"{DIMENSIONS}/stDim:unit"] = "pixel"
        if not any(d.key() == REGION_LIST for d in new):
            bag = exiv2.XmpTextValue()
            bag.setXmpArrayType(exiv2.XmpValue.XmpArrayType.xaBag)
            new.add(exiv2.XmpKey(REGION_LIST), bag)
        for n, region in enumerate(sorted(regions, key=_order), len(kept_items) + 1):
            _add_region(new, f"{REGION_LIST}[{n}]", region, frame, upright)
        kept_ours = []
        for region in sorted(regions, key=_order):
            if region.name not in names:
                names.append(region.name)
                kept_ours.append(region.name)
    else:
        names += [n for n in kept_ours if n not in names]
    _set_bag(new, PERSONS, names)
    _set_bag(new, OURS_NAMES, kept_ours)
    return new


def _upright_box(flat: dict[str, str], item: str, frame: _Frame, upright: bool) -> Box | None:
    """A region's area as upright pixels (None when it is not a number)."""
    area = f"{item}/mwg-rs:Area/stArea:"
    try:
        cx, cy, w, h = (float(flat[area + k]) for k in "xywh")
    except (KeyError, ValueError):
        return None
    x, y, w, h = frame.upright(cx - w / 2, cy - h / 2, w, h, already_upright=upright)
    return Box(round(x * frame.width), round(y * frame.height), round(w * frame.width), round(h * frame.height))


def _iou(a: Box, b: Box) -> float:
    ix = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    union = a.w * a.h + b.w * b.h - ix * iy
    return ix * iy / union if union > 0 else 0.0


def _order(region: Region) -> tuple:
    return (region.box.x, region.box.y, region.box.w, region.box.h, region.name)


def _bag(xmp, key: str) -> list[str]:
    for datum in xmp:
        if datum.key() == key:
            value = datum.value()
            return [value.toString(i) for i in range(value.count())]
    return []


def _set_bag(xmp, key: str, names: list[str]) -> None:
    import exiv2

    if not names:
        return
    value = exiv2.Value.create(exiv2.TypeId.xmpBag)
    for name in names:
        value.read(name)
    xmp.add(exiv2.XmpKey(key), value)


def _ensure_struct(xmp, key: str) -> None:
    import exiv2

    if any(d.key() == key for d in xmp):
        return
    value = exiv2.XmpTextValue()
    value.setXmpStruct()
    xmp.add(exiv2.XmpKey(key), value)


def _drop_regions(xmp) -> None:
    """``mwg-rs:Regions`` gone, its dimensions with it: nothing of another tool's was in it."""
    import exiv2

    while True:
        found = next((d.key() for d in xmp if d.key() == REGIONS or d.key().startswith(REGIONS + "/")), None)
        if found is None:
            return
        xmp.erase(xmp.findKey(exiv2.XmpKey(found)))


def _number(v: float) -> str:
    return f"{min(max(v, 0.0), 1.0):.6f}"


def _add_region(xmp, item: str, region: Region, frame: _Frame, upright: bool) -> None:
    b = region.box
    box = (b.x / frame.width, b.y / frame.height, b.w / frame.width, b.h / frame.height)
    x, y, w, h = box if upright else frame.to_stored(*box)
    _ensure_struct(xmp, item)
    _ensure_struct(xmp, f"{item}/mwg-rs:Area")
    area = f"{item}/mwg-rs:Area/stArea:"
    xmp[area + "x"] = _number(x + w / 2)  # MWG: the centre
    xmp[area + "y"] = _number(y + h / 2)
    xmp[area + "w"] = _number(w)
    xmp[area + "h"] = _number(h)
    xmp[area + "unit"] = "normalized"
    xmp[f"{item}/mwg-rs:Name"] = region.name
    xmp[f"{item}/mwg-rs:Type"] = "Face"
    xmp[f"{item}/{OURS_FIELD}"] = FACEPIPE_PREFIX


def _encode(xmp) -> bytes:
    import exiv2

    flags = exiv2.XmpParser.XmpFormatFlags
    rc, packet = exiv2.XmpParser.encode(xmp, flags.omitPacketWrapper | flags.useCompactFormat)
    if rc != 0:
        raise SidecarError(f"libexiv2 could not encode the XMP (code {rc})")
    data = (_HEADER + packet + _FOOTER).encode("utf-8")
    for _ in range(4):  # libexiv2 orders a packet as it read it: written as a re-read would write it
        image = _open(data, "facepipe", [])
        if image is None:
            raise SidecarError("libexiv2 could not read the XMP it encoded")
        rc, packet = exiv2.XmpParser.encode(image.xmpData(), flags.omitPacketWrapper | flags.useCompactFormat)
        again = (_HEADER + packet + _FOOTER).encode("utf-8")
        if rc != 0 or again == data:
            break
        data = again
    if len(data) > MAX_PACKET_BYTES:
        raise SidecarError(f"the sidecar would be {len(data):,} bytes, over {MAX_PACKET_BYTES:,}: not written")
    return data


def _inside(path: Path, folder: Path | None) -> None:
    """The sidecar's folder must be the photo's (or under the sidecar folder), reached without
    leaving it through a symlink."""
    if folder is not None:
        base = folder.resolve()
        where = path.parent.resolve()
        if where != base and base not in where.parents:
            raise SidecarError(f"{path.name}: its folder resolves outside the sidecar folder: refused")


def _write(path: Path, data: bytes, folder: Path | None) -> None:
    if folder is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SidecarError(f"{path.parent}: cannot make the sidecar's folder ({exc.strerror})") from None
    _inside(path, folder)
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            raise SidecarError(f"{path.name}: not a regular file: refused")
        mode = stat.S_IMODE(st.st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise SidecarError(f"{path.name}: cannot write in {path.parent} ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise SidecarError(f"{path.name}: not written ({exc.strerror})") from None


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise SidecarError(f"{path.name}: not removed ({exc.strerror})") from None
