"""Face tags from photo managers (facepipe.models.xmp): photos and sidecars tagged by
exiftool in the layouts digiKam, Lightroom and Picasa / Windows Photo Gallery write,
read back as upright boxes; rotated and mirrored photos checked against Pillow's
exif_transpose; hostile packets and sidecars refused with reasons.

The well-formed fixtures are written by exiftool (Debian's libimage-exiftool-perl), not
by the code under test; without exiftool those tests are skipped. The hostile ones
(a DTD, a NaN, a control character) are exiftool's output edited the way a tampered
file would be, or hand-built where exiftool refuses to write them at all."""

from __future__ import annotations

import shutil
import struct
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps
from test_phone_photos import face_scene, heic_bytes

from facepipe.models.xmp import MAX_PACKET_BYTES, Box, read_regions
from facepipe.ops.sample_raws import dng_bytes
from facepipe.ops.samples import jpeg_bytes

needs_exiftool = pytest.mark.skipif(
    shutil.which("exiftool") is None,
    reason="exiftool is not installed (apt-get install libimage-exiftool-perl): the fixtures are written by it",
)

W, H = 1200, 900
# face_scene puts the astronaut's 520 px face square here
FACE = Box((W - 520) // 3, (H - 520) // 2, 520, 520)


def exiftool(*args: str | Path) -> None:
    subprocess.run(["exiftool", "-q", "-q", "-overwrite_original", *map(str, args)], check=True)


def _esc(value: str) -> str:
    """exiftool's structure syntax: a pipe before , ] } and | in a value."""
    return "".join("|" + c if c in ",]}|" else c for c in value)


def mwg(dims: tuple[int, int] | None, *regions: tuple[float, float, float, float, str | None]) -> str:
    """-XMP-mwg-rs:RegionInfo=... for regions given as top-left x, y, w, h (normalised),
    written the MWG way, as centres."""
    items = []
    for x, y, w, h, name in regions:
        area = f"Area={{X={x + w / 2:.6f},Y={y + h / 2:.6f},W={w:.6f},H={h:.6f},Unit=normalized}}"
        items.append("{" + area + (f",Name={_esc(name)}" if name else "") + ",Type=Face}")
    applied = f"AppliedToDimensions={{W={dims[0]},H={dims[1]},Unit=pixel}}," if dims else ""
    return f"-XMP-mwg-rs:RegionInfo={{{applied}RegionList=[{','.join(items)}]}}"


def mp(*regions: tuple[float, float, float, float, str]) -> str:
    items = [
        "{Rectangle=" + _esc(f"{x:.6f}, {y:.6f}, {w:.6f}, {h:.6f}") + f",PersonDisplayName={_esc(n)}}}"
        for x, y, w, h, n in regions
    ]
    return f"-XMP-MP:RegionInfoMP={{Regions=[{','.join(items)}]}}"


def norm(box: Box, w: int = W, h: int = H) -> tuple[float, float, float, float]:
    return box.x / w, box.y / h, box.w / w, box.h / h


def close(a: Box | None, b: Box, tol: int = 1) -> bool:
    assert a is not None
    return all(abs(p - q) <= tol for p, q in zip((a.x, a.y, a.w, a.h), (b.x, b.y, b.w, b.h), strict=True))


@pytest.fixture(scope="module")
def scene():
    return face_scene(W, H)


@pytest.fixture
def photo(tmp_path, scene) -> Path:
    p = tmp_path / "IMG_0001.JPG"
    p.write_bytes(jpeg_bytes(scene))
    return p


# --- the layouts photo managers write --------------------------------------------


@needs_exiftool
def test_digikam_sidecar_wins_over_embedded_and_mp_twin(photo):
    """digiKam writes MWG and MP regions for the same faces, into the photo and into
    IMG_0001.JPG.xmp; the sidecar is the newer, and MP is the MWG twin."""
    stranger = Box(900, 100, 150, 150)
    exiftool(
        "-o",
        photo.with_name(photo.name + ".xmp"),
        mwg((W, H), (*norm(FACE), "Eileen Collins"), (*norm(stranger), None)),
        mp((*norm(FACE), "Eileen Collins")),
        "-XMP-iptcExt:PersonInImage=Eileen Collins",
        "-XMP-iptcExt:PersonInImage+=Someone Behind",
        photo,
    )
    # the embedded copy is older (written after the sidecar only because exiftool's -o
    # copies the photo's own XMP into a new sidecar)
    exiftool(mwg((W, H), (*norm(FACE), "Old name")), mp((*norm(FACE), "Old name")), photo)
    got = read_regions(photo)
    assert got.sources == ("IMG_0001.JPG.xmp", "embedded")
    [named] = got.named
    assert (named.name, named.format, named.source) == ("Eileen Collins", "mwg", "IMG_0001.JPG.xmp")
    assert close(named.box, FACE)
    [unnamed] = got.unnamed
    assert close(unnamed.box, stranger) and unnamed.format == "mwg"
    [person] = got.names_without_regions
    assert (person.name, person.format, person.box) == ("Someone Behind", "iptc-person", None)
    reasons = {(s.source, s.format, s.reason.split(":")[0]) for s in got.skipped}
    assert ("embedded", "mwg", "superseded by the regions of IMG_0001.JPG.xmp") in reasons
    assert ("IMG_0001.JPG.xmp", "mp", "MP region beside MWG regions in the same file") in reasons


@needs_exiftool
def test_digikam_embedded_only(photo):
    exiftool(mwg((W, H), (*norm(FACE), "Eileen Collins")), photo)
    got = read_regions(photo)
    assert [(t.name, t.source) for t in got.tags] == [("Eileen Collins", "embedded")]
    assert close(got.tags[0].box, FACE) and got.skipped == ()


@needs_exiftool
def test_lightroom_sidecar_beside_a_raw_style_name(photo):
    """Lightroom writes IMG_0001.xmp (the photo's suffix replaced)."""
    exiftool("-o", photo.with_suffix(".xmp"), mwg((W, H), (*norm(FACE), "Eileen Collins")), photo)
    got = read_regions(photo)
    assert [(t.name, t.format, t.source) for t in got.tags] == [("Eileen Collins", "mwg", "IMG_0001.xmp")]
    assert close(got.tags[0].box, FACE)


@needs_exiftool
def test_picasa_windows_mp_regions_are_top_left(photo):
    other = Box(850, 80, 200, 240)
    exiftool(mp((*norm(FACE), "Eileen Collins"), (*norm(other), "Visitor")), photo)
    got = read_regions(photo)
    assert [(t.name, t.format) for t in got.tags] == [("Eileen Collins", "mp"), ("Visitor", "mp")]
    assert close(got.tags[0].box, FACE) and close(got.tags[1].box, other)


@needs_exiftool
def test_person_in_image_only(photo):
    exiftool("-XMP-iptcExt:PersonInImage=Eileen Collins", "-XMP-iptcExt:PersonInImage+=Anna, Maria", photo)
    got = read_regions(photo)
    assert [(t.name, t.box, t.format) for t in got.tags] == [
        ("Eileen Collins", None, "iptc-person"),
        ("Anna, Maria", None, "iptc-person"),  # one name with a comma, not two
    ]


@needs_exiftool
def test_markup_in_a_name_is_text(photo):
    exiftool(mwg((W, H), (*norm(FACE), "<b>Eileen</b> & <script>x</script>")), photo)
    [tag] = read_regions(photo).tags
    assert tag.name == "<b>Eileen</b> & <script>x</script>"


@needs_exiftool
@pytest.mark.parametrize(
    "kind",
    [
        "png",
        "tiff",
        "dng",
        "heic",  # libexiv2 reads its Exif but not the XMP item exiftool writes: libheif reads that
    ],
)
def test_embedded_in_other_formats(tmp_path, scene, kind):
    p = tmp_path / f"photo.{kind}"
    if kind == "heic":
        p.write_bytes(heic_bytes(scene))
    elif kind == "dng":
        p.write_bytes(dng_bytes(scene))
    else:
        cv2.imwrite(str(p), cv2.cvtColor(scene, cv2.COLOR_RGB2BGR))
    exiftool(mwg((W, H), (*norm(FACE), "Eileen Collins")), p)
    got = read_regions(p)
    assert [(t.name, t.source) for t in got.tags] == [("Eileen Collins", "embedded")], got.skipped
    assert close(got.tags[0].box, FACE)


# --- orientation -----------------------------------------------------------------


@needs_exiftool
@pytest.mark.parametrize("orientation", [1, 2, 3, 4, 5, 6, 7, 8])
def test_regions_on_the_stored_image_are_turned_upright(tmp_path, orientation):
    """A white square marks the face. The region is written on the stored pixels with
    AppliedToDimensions of the stored image (Lightroom, digiKam); read back, the box is
    where the square is once Pillow has turned the photo upright."""
    sw, sh = 400, 300
    stored = np.full((sh, sw, 3), 40, np.uint8)
    sq = Box(40, 30, 100, 80)
    stored[sq.y : sq.y + sq.h, sq.x : sq.x + sq.w] = 255
    p = tmp_path / "rot.jpg"
    Image.fromarray(stored).save(p, quality=95)
    exiftool(f"-EXIF:Orientation={orientation}", "-n", mwg((sw, sh), (*norm(sq, sw, sh), "Ann")), p)

    with Image.open(p) as img:
        upright = np.asarray(ImageOps.exif_transpose(img))
    ys, xs = np.nonzero(upright[..., 0] > 150)
    seen = Box(int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))

    [tag] = read_regions(p).tags  # size and orientation read from the file
    assert close(tag.box, seen, tol=2), (tag.box, seen)
    uw, uh = upright.shape[1], upright.shape[0]
    [given] = read_regions(p, width=uw, height=uh, orientation=orientation).tags
    assert given.box == tag.box


@needs_exiftool
@pytest.mark.parametrize("orientation", [6, 8])
def test_regions_measured_on_the_upright_image_are_kept(tmp_path, orientation):
    """A writer that measured the upright photo says so with swapped dimensions."""
    p = tmp_path / "rot.jpg"
    Image.fromarray(np.full((300, 400, 3), 40, np.uint8)).save(p)
    box = Box(30, 40, 80, 100)  # on the 300x400 upright image
    exiftool(f"-EXIF:Orientation={orientation}", "-n", mwg((300, 400), (*norm(box, 300, 400), "Ann")), p)
    [tag] = read_regions(p).tags
    assert close(tag.box, box)


# --- hostile input ---------------------------------------------------------------

_RDF = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">'
    "<Iptc4xmpExt:PersonInImage><rdf:Bag><rdf:li>{}</rdf:li></rdf:Bag></Iptc4xmpExt:PersonInImage>"
    "</rdf:Description></rdf:RDF></x:xmpmeta>"
)
BOMB = (
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
    + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
    + "]>"
    + _RDF.format("&j;")
)
EXTERNAL = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + _RDF.format("&e;")


def _with_app1_xmp(jpeg: bytes, packet: str) -> bytes:
    body = b"http://ns.adobe.com/xap/1.0/\0" + packet.encode()
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + jpeg[2:]


def _no_leak(got) -> None:
    text = repr(got)
    assert "root:" not in text and "aaaaaaaaaa" not in text
    assert got.tags == ()


@pytest.mark.parametrize("packet", [BOMB, EXTERNAL], ids=["entity-bomb", "external-entity"])
def test_dtd_in_a_sidecar_is_refused(photo, packet):
    photo.with_name(photo.name + ".xmp").write_text(packet)
    start = time.monotonic()
    got = read_regions(photo)
    assert time.monotonic() - start < 5
    _no_leak(got)
    [refused] = got.skipped
    assert refused.source == "IMG_0001.JPG.xmp" and "DTDForbidden" in refused.reason


@pytest.mark.parametrize("packet", [BOMB, EXTERNAL], ids=["entity-bomb", "external-entity"])
def test_dtd_in_an_embedded_packet_is_refused(scene, packet):
    data = _with_app1_xmp(jpeg_bytes(scene), packet)
    start = time.monotonic()
    got = read_regions(data)
    assert time.monotonic() - start < 5  # 10**10 characters, had libexiv2 expanded the bomb
    _no_leak(got)
    assert any("DTDForbidden" in s.reason and s.source == "embedded" for s in got.skipped)


def test_a_50_mb_sidecar_is_not_read(photo):
    big = photo.with_name(photo.name + ".xmp")
    with big.open("wb") as f:
        f.truncate(50 * 1024 * 1024)  # sparse: costs no disk and no time
    got = read_regions(photo)
    [refused] = got.skipped
    assert "52,428,800 bytes" in refused.reason and "not read" in refused.reason
    assert MAX_PACKET_BYTES < 50 * 1024 * 1024


def test_not_well_formed_and_not_an_image(photo, tmp_path):
    photo.with_name(photo.name + ".xmp").write_text(_RDF.format("Ann&#7;"))  # not allowed in XML 1.0
    got = read_regions(photo)
    assert [s.reason.split(":")[0] for s in got.skipped] == ["XMP is not well-formed XML"]
    junk = read_regions(b"not a photo at all")
    assert junk.tags == () and junk.skipped and "metadata unreadable" in junk.skipped[0].reason


@needs_exiftool
def test_sidecar_symlink_out_of_the_folder_is_refused(photo, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / "planted.xmp"
    exiftool("-o", target, mwg((W, H), (*norm(FACE), "Planted")), photo)
    photo.with_name(photo.name + ".xmp").symlink_to(target)
    got = read_regions(photo)
    assert got.tags == ()
    assert [(s.source, s.reason) for s in got.skipped] == [("IMG_0001.JPG.xmp", "sidecar is a symlink: refused")]
    # named explicitly, from another folder than the photo's
    explicit = read_regions(photo, sidecars=[target])
    assert explicit.tags == ()
    assert explicit.skipped[0].reason == "sidecar resolves outside the photo's folder: refused"


@needs_exiftool
def test_bad_boxes_are_skipped_with_reasons(photo):
    """Outside, mostly outside, zero and negative sizes from exiftool; NaN, infinity and
    a word edited into its output afterwards (exiftool will not write them)."""
    sidecar = photo.with_name(photo.name + ".xmp")
    exiftool(
        "-o",
        sidecar,
        mwg(
            (W, H),
            (0.2, 0.2, 0.2, 0.2, "Kept"),
            (1.5, 0.5, 0.1, 0.1, "Outside"),
            (0.95, 0.5, 0.2, 0.2, "Mostly outside"),
            (0.9, 0.5, 0.12, 0.2, "Clipped"),
            (0.5, 0.5, 0.0, 0.2, "Zero"),
            (0.5, 0.5, -0.2, 0.2, "Negative"),
            (0.1, 0.1, 0.1, 0.1, "NaN"),
            (0.1, 0.1, 0.1, 0.1, "Inf"),
            (0.1, 0.1, 0.1, 0.1, "Word"),
        ),
        photo,
    )
    text = sidecar.read_text()
    x = "<stArea:x>0.150000</stArea:x>"
    assert text.count(x) == 3
    for bad in ("NaN", "INF", "twelve"):
        text = text.replace(x, f"<stArea:x>{bad}</stArea:x>", 1)
    sidecar.write_text(text)

    got = read_regions(photo)
    assert {t.name: t.box for t in got.tags}.keys() == {"Kept", "Clipped"}
    clipped = next(t.box for t in got.tags if t.name == "Clipped")
    assert clipped.x + clipped.w == W  # cut at the right edge
    reasons = {s.name: s.reason for s in got.skipped}
    assert reasons["Outside"] == "box outside the photo"
    assert reasons["Mostly outside"] == "box 25% inside the photo"
    assert reasons["Zero"].startswith("zero or negative area")
    assert reasons["Negative"].startswith("zero or negative area")
    assert "not finite" in reasons["NaN"] and "not finite" in reasons["Inf"]
    assert reasons["Word"] == "coordinate 'twelve' is not a number"


@needs_exiftool
@pytest.mark.parametrize(
    "name",
    ["Eileen\u202eevil", "Eil\u0085een", "Eileen\tCollins", "Eileen\nCollins", "E" * 300],
    ids=["bidi-override", "c1-control", "tab", "newline", "too-long"],
)
def test_names_with_control_characters_are_refused(photo, name):
    sidecar = photo.with_name(photo.name + ".xmp")
    exiftool("-o", sidecar, mwg((W, H), (*norm(FACE), "PLACEHOLDER")), photo)
    escaped = name.replace("\t", "&#9;").replace("\n", "&#10;")  # exiftool writes "." for these
    sidecar.write_text(sidecar.read_text().replace("PLACEHOLDER", escaped))
    got = read_regions(photo)
    assert got.tags == ()
    [skip] = got.skipped
    assert skip.reason.startswith("name refused") and skip.format == "mwg"
    assert skip.name is not None and skip.name.isprintable()


@needs_exiftool
def test_a_photo_named_in_bytes_that_are_not_utf8_is_read(tmp_path, scene):
    """A folder source keeps such names (facepipe.core.sources.uri_of); libexiv2 takes a path as
    UTF-8 text, so the reader gave it the photo's bytes instead of raising TypeError."""
    import os

    plain = tmp_path / "x.jpg"
    plain.write_bytes(jpeg_bytes(scene))
    exiftool("-o", tmp_path / "x.xmp", mwg((W, H), (*norm(FACE), "Eileen Collins")), plain)
    photo = plain.rename(tmp_path / os.fsdecode(b"IMG_\xff\xfe.JPG"))
    (tmp_path / "x.xmp").rename(photo.with_name(photo.name + ".xmp"))
    got = read_regions(photo)
    assert [t.name for t in got.tags] == ["Eileen Collins"] and close(got.tags[0].box, FACE)
    assert got.skipped == ()
    alone = read_regions(photo, sidecars=[])  # the size and orientation from the photo itself
    assert alone.tags == () and alone.skipped == ()


def test_a_photo_that_is_a_fifo_or_a_folder_is_not_read(tmp_path):
    import os

    fifo = tmp_path / "IMG_0002.JPG"
    os.mkfifo(fifo)  # opened for reading, it would wait for a writer forever
    folder = tmp_path / "IMG_0003.JPG"
    folder.mkdir()
    for path in (fifo, folder):
        got = read_regions(path)
        assert got.tags == ()
        assert got.skipped[0].reason == "the photo is not a regular file: not read"
