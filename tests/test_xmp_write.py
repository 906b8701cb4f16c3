"""Face regions written to XMP sidecars (setting ``xmp_write``; facepipe.models.xmp_write,
facepipe.people.sidecars), checked with Debian's exiftool, not with the code that wrote them.

First the writer on its own: areas as exiftool reads them, placed back on the photo by
Pillow's exif_transpose (orientations 1 and 6), within a pixel of facepipe's box; another
tool's sidecar keeps its fields and regions; a second write is the same bytes and leaves the
mtime; a Lightroom ``photo.xmp`` is updated in place; a symlinked sidecar is refused; the
reader sees facepipe's own regions as facepipe's. Then the sample days (dag.test, as
tests/test_tags.py): writing off writes nothing; on, the night writes the named faces, a
re-run changes no byte and applies none of its own tags, a rename rewrites at once, and a
forget removes exactly that person's regions and names, or says which sidecars it could not.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers.rows import q
from PIL import Image, ImageDraw, ImageOps

from facepipe.models.xmp import Box, read_regions
from facepipe.models.xmp_write import Region, SidecarError, sync_sidecar

pytestmark = pytest.mark.skipif(
    shutil.which("exiftool") is None,
    reason="exiftool reads what facepipe writes (apt-get install libimage-exiftool-perl)",
)


def exiftool_json(path: Path) -> dict:
    out = subprocess.run(
        ["exiftool", "-j", "-struct", "-XMP:all", str(path)], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out)[0]


def regions_of(path: Path) -> list[dict]:
    return exiftool_json(path).get("RegionInfo", {}).get("RegionList", [])


def photo(path: Path, stored: tuple[int, int], orientation: int = 1) -> Path:
    """A JPEG of ``stored`` pixels with the EXIF orientation given (written by exiftool)."""
    Image.new("RGB", stored, (90, 90, 90)).save(path, quality=80)
    if orientation != 1:
        subprocess.run(
            ["exiftool", "-q", "-q", "-overwrite_original", f"-Orientation#={orientation}", str(path)], check=True
        )
    return path


def upright_box(region: dict, applied: dict, orientation: int) -> tuple[int, int, int, int]:
    """Where an MWG region (as exiftool reads it) lies on the upright photo: drawn on an image
    of AppliedToDimensions, then turned by Pillow's exif_transpose (not by facepipe's code)."""
    w, h = applied["W"], applied["H"]
    a = region["Area"]
    assert a["Unit"] == "normalized"
    canvas = Image.new("L", (w, h), 0)
    left, top = (a["X"] - a["W"] / 2) * w, (a["Y"] - a["H"] / 2) * h
    ImageDraw.Draw(canvas).rectangle([left, top, left + a["W"] * w - 1, top + a["H"] * h - 1], fill=255)
    exif = canvas.getexif()
    exif[0x0112] = orientation
    canvas.info["exif"] = exif.tobytes()
    x0, y0, x1, y1 = ImageOps.exif_transpose(canvas).getbbox()
    return x0, y0, x1 - x0, y1 - y0


def close(a, b, px: int = 1) -> bool:
    return all(abs(u - v) <= px for u, v in zip(a, b, strict=True))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exiftool_reads_the_names_and_areas_on_the_stored_pixels(tmp_path, orientation):
    stored = (300, 200)
    jpg = photo(tmp_path / "IMG_1.JPG", stored, orientation)
    before = hashlib.sha256(jpg.read_bytes()).hexdigest()
    upright = (200, 300) if orientation >= 5 else stored
    faces = [Region("Zoë O'Brien", Box(40, 60, 50, 70)), Region("Grace <b>Hopper</b>", Box(110, 20, 60, 40))]

    outcome, sidecar = sync_sidecar(jpg, faces, width=upright[0], height=upright[1])

    assert (outcome, sidecar.name) == ("written", "IMG_1.JPG.xmp")
    info = exiftool_json(sidecar)
    applied = info["RegionInfo"]["AppliedToDimensions"]
    assert (applied["W"], applied["H"], applied["Unit"]) == (*stored, "pixel")  # the file's pixels, unrotated
    got = {r["Name"]: r for r in info["RegionInfo"]["RegionList"]}
    assert set(got) == {f.name for f in faces}
    for f in faces:
        assert got[f.name]["Type"] == "Face"
        b = f.box
        assert close(upright_box(got[f.name], applied, orientation), (b.x, b.y, b.w, b.h)), (f, got[f.name])
    assert sorted(info["PersonInImage"]) == sorted(f.name for f in faces)
    assert hashlib.sha256(jpg.read_bytes()).hexdigest() == before  # never the photo itself

    # facepipe's reader reads them back as the same names, known to be facepipe's own
    back = read_regions(jpg)
    assert sorted(t.name for t in back.named) == sorted(f.name for f in faces)
    assert all(t.ours for t in back.tags)
    for t in back.named:
        b = next(f.box for f in faces if f.name == t.name)
        assert close((t.box.x, t.box.y, t.box.w, t.box.h), (b.x, b.y, b.w, b.h))


def digikam_sidecar(jpg: Path, stored: tuple[int, int]) -> Path:
    """A sidecar as digiKam leaves it: a rating, keywords, a face of someone facepipe does not
    know, a pet region, and that person in PersonInImage (written by exiftool)."""
    out = jpg.with_name(jpg.name + ".xmp")
    info = (
        f"-XMP-mwg-rs:RegionInfo={{AppliedToDimensions={{W={stored[0]},H={stored[1]},Unit=pixel}},RegionList=["
        "{Area={X=0.8,Y=0.2,W=0.1,H=0.15,Unit=normalized},Name=Aunt Mary,Type=Face},"
        "{Area={X=0.5,Y=0.8,W=0.2,H=0.2,Unit=normalized},Name=Rex,Type=Pet}]}"
    )
    subprocess.run(
        [
            "exiftool", "-q", "-q", "-o", str(out), info, "-XMP-iptcExt:PersonInImage=Aunt Mary",
            "-XMP-xmp:Rating=4", "-XMP-dc:Subject=holiday", "-XMP-dc:Subject=beach", str(jpg),
        ],
        check=True,
    )  # fmt: skip
    return out


def test_another_tools_fields_survive_and_a_second_write_is_the_same_bytes(tmp_path):
    stored = (300, 200)
    jpg = photo(tmp_path / "a.jpg", stored)
    sidecar = digikam_sidecar(jpg, stored)
    before = exiftool_json(sidecar)
    faces = [Region("Zoë", Box(40, 60, 50, 70))]

    assert sync_sidecar(jpg, faces, width=300, height=200)[0] == "written"
    after = exiftool_json(sidecar)
    assert (after["Rating"], after["Subject"]) == (4, ["holiday", "beach"])
    assert [r["Name"] for r in after["RegionInfo"]["RegionList"]] == ["Aunt Mary", "Rex", "Zoë"]
    assert after["RegionInfo"]["RegionList"][:2] == before["RegionInfo"]["RegionList"]
    assert after["PersonInImage"] == ["Aunt Mary", "Zoë"]

    data = sidecar.read_bytes()
    os.utime(sidecar, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    assert sync_sidecar(jpg, faces, width=300, height=200)[0] == "unchanged"
    assert sidecar.read_bytes() == data
    assert sidecar.stat().st_mtime_ns == 1_000_000_000_000_000_000

    # a rename: facepipe's region and name replaced, the others kept
    assert sync_sidecar(jpg, [Region("Zoe O.", Box(40, 60, 50, 70))], width=300, height=200)[0] == "written"
    after = exiftool_json(sidecar)
    assert [r["Name"] for r in after["RegionInfo"]["RegionList"]] == ["Aunt Mary", "Rex", "Zoe O."]
    assert after["PersonInImage"] == ["Aunt Mary", "Zoe O."]

    # nothing of facepipe's left to write: the file says again what digiKam wrote
    assert sync_sidecar(jpg, [], width=300, height=200)[0] == "written"
    after = exiftool_json(sidecar)
    drop = {"SourceFile", "XMPToolkit"}
    assert {k: v for k, v in after.items() if k not in drop} == {k: v for k, v in before.items() if k not in drop}
    # and another tool's sidecar with nothing of facepipe's is never rewritten
    plain = digikam_sidecar(photo(tmp_path / "b.jpg", stored), stored)
    data = plain.read_bytes()
    assert sync_sidecar(tmp_path / "b.jpg", [], width=300, height=200)[0] == "unchanged"
    assert plain.read_bytes() == data


def test_a_forget_finds_a_region_written_under_an_older_name_by_its_box(tmp_path):
    """A rename made while writing was off left the old name in the sidecar: the forget of the
    person (by their name now, and the boxes of their faces) still removes it, and only it."""
    jpg = photo(tmp_path / "e.jpg", (300, 200), orientation=6)
    sidecar = digikam_sidecar(jpg, (300, 200))
    old, other = Region("Zoë", Box(40, 60, 50, 70)), Region("Ada", Box(110, 200, 60, 60))
    sync_sidecar(jpg, [old, other], width=200, height=300)
    outcome, _ = sync_sidecar(
        jpg, None, width=200, height=300, drop_names={"Zoë O'Brien"}, drop_boxes=[Box(41, 59, 50, 71)]
    )
    assert outcome == "written"
    info = exiftool_json(sidecar)
    assert [r["Name"] for r in info["RegionInfo"]["RegionList"]] == ["Aunt Mary", "Rex", "Ada"]
    assert info["PersonInImage"] == ["Aunt Mary", "Ada"]


def test_a_lightroom_sidecar_is_updated_in_place_and_a_symlink_refused(tmp_path):
    jpg = photo(tmp_path / "b.jpg", (300, 200))
    lightroom = tmp_path / "b.xmp"
    subprocess.run(["exiftool", "-q", "-q", "-o", str(lightroom), "-XMP-xmp:Rating=2", str(jpg)], check=True)
    outcome, path = sync_sidecar(jpg, [Region("Zoë", Box(1, 2, 30, 40))], width=300, height=200)
    assert (outcome, path) == ("written", lightroom)
    assert not (tmp_path / "b.jpg.xmp").exists()
    info = exiftool_json(lightroom)
    assert info["Rating"] == 2 and [r["Name"] for r in info["RegionInfo"]["RegionList"]] == ["Zoë"]

    outside = tmp_path / "elsewhere.xmp"
    outside.write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    jpg2 = photo(tmp_path / "c.jpg", (300, 200))
    (tmp_path / "c.jpg.xmp").symlink_to(outside)
    with pytest.raises(SidecarError, match="symlink"):
        sync_sidecar(jpg2, [Region("Zoë", Box(1, 2, 30, 40))], width=300, height=200)
    assert outside.read_text() == "<x:xmpmeta xmlns:x='adobe:ns:meta/'/>"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_hostile_sidecar_is_refused_and_left_as_it_is(tmp_path):
    jpg = photo(tmp_path / "d.jpg", (300, 200))
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        "<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>"
        "<rdf:Description xmlns:dc='http://purl.org/dc/elements/1.1/' dc:format='&b;'/></rdf:RDF></x:xmpmeta>"
    )
    sidecar = tmp_path / "d.jpg.xmp"
    sidecar.write_text(bomb)
    with pytest.raises(SidecarError, match="DOCTYPE"):
        sync_sidecar(jpg, [Region("Zoë", Box(1, 2, 30, 40))], width=300, height=200)
    assert sidecar.read_text() == bomb


def test_a_sidecar_folder_mirrors_the_photos_path(tmp_path):
    source, folder = tmp_path / "photos", tmp_path / "sidecars"
    (source / "2026-11-20").mkdir(parents=True)
    jpg = photo(source / "2026-11-20" / "a.jpg", (300, 200))
    outcome, path = sync_sidecar(
        jpg, [Region("Zoë", Box(1, 2, 30, 40))], width=300, height=200, folder=folder, root=source
    )
    assert (outcome, path) == ("written", folder / "2026-11-20" / "a.jpg.xmp")
    assert [r["Name"] for r in regions_of(path)] == ["Zoë"]
    assert sorted(p.name for p in (source / "2026-11-20").iterdir()) == ["a.jpg"]


# --- the nightly run, people operations and forgets over the sample days ------------------


@pytest.fixture
def night(photos, forget_photos, sample_days, tmp_path, airflow_db, monkeypatch):
    from helpers.nights import photo_folder_night

    with photo_folder_night("xmpw_", photos, forget_photos, sample_days, tmp_path, monkeypatch) as schema:
        yield schema, forget_photos


def set_setting(db, schema: str, name: str, value: str) -> None:
    from facepipe.core.deployment import set_value

    set_value(db, schema, name, value)


def sidecars(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*.xmp"))}


def named_faces(db, schema) -> dict[str, list[tuple]]:
    """Each photo's named faces in the database: uri -> [(name, box)]."""
    rows = q(
        db,
        schema,
        "SELECT i.uri, p.name, a.box_x, a.box_y, a.box_w, a.box_h FROM {s}.face_identity a"
        " JOIN {s}.images i ON i.day = a.day AND i.image_id = a.image_id"
        " JOIN {s}.identities d USING (identity_id) JOIN {s}.people p USING (person_id)"
        " WHERE i.media = 'photo' ORDER BY 1, 3",
    )
    out: dict[str, list[tuple]] = {}
    for uri, name, *box in rows:
        out.setdefault(uri, []).append((name, tuple(box)))
    return out


@pytest.mark.dag
def test_the_night_writes_named_faces_and_a_forget_removes_only_that_persons(night, db, sample_days, capsys):
    from facepipe.core.deployment import forget_cached
    from facepipe.core.specs import model_spec
    from facepipe.people.tasks import assign_people, change_people
    from facepipe.privacy.forget import FilesLeft, forget_person

    schema, folder = night
    days = [d.isoformat() for d in sample_days]

    # off, the default: nothing written
    done = assign_people(days)
    assert not any("sidecars" in d for d in done)
    assert sidecars(folder) == {}

    # an unnamed identity named Zoë beside Eileen Collins, so that two people have regions
    ((unnamed,),) = q(
        db,
        schema,
        "SELECT a.identity_id FROM {s}.face_identity a JOIN {s}.identities d USING (identity_id)"
        " WHERE d.person_id IS NULL GROUP BY 1 ORDER BY count(DISTINCT (a.day, a.image_id)) DESC, 1 LIMIT 1",
    )
    change_people("name", identity_id=unnamed, name="Zoë")
    assert sidecars(folder) == {}  # still off

    set_setting(db, schema, "xmp_write", "on")
    forget_cached()
    done = assign_people(days)
    written = {k: sum(d["sidecars"].get(k, 0) for d in done) for k in ("written", "failed")}
    expected = named_faces(db, schema)
    assert {"eileen_collins", "Zoë"} <= {n for faces in expected.values() for n, _ in faces}
    assert written == {"written": len(expected), "failed": 0}, done
    files = sidecars(folder)
    assert len(files) == len(expected)
    for uri, faces in expected.items():
        jpg = Path(uri)
        sidecar = jpg.with_name(jpg.name + ".xmp")
        info = exiftool_json(sidecar)
        applied = info["RegionInfo"]["AppliedToDimensions"]
        orientation = Image.open(jpg).getexif().get(0x0112, 1)
        got = sorted((r["Name"], upright_box(r, applied, orientation)) for r in info["RegionInfo"]["RegionList"])
        assert [n for n, _ in got] == sorted(n for n, _ in faces)
        for (_n, box), (_m, want) in zip(got, sorted(faces), strict=True):
            assert close(box, want), (uri, box, want)
        assert sorted(info["PersonInImage"]) == sorted({n for n, _ in faces})

    # a re-run: the same bytes, no mtime touched, and none of facepipe's own regions applied as a tag
    stamps = {p: p.stat().st_mtime_ns for p in files}
    how = q(db, schema, "SELECT day, image_id, box_x, how FROM {s}.face_identity ORDER BY 1, 2, 3")
    done = assign_people(days)
    assert sum(d["sidecars"].get("unchanged", 0) for d in done) == len(expected)
    assert sum(d["tags"].get("own_regions", 0) for d in done) == sum(len(f) for f in expected.values())
    assert not any(d["tags"].get(k) for d in done for k in ("agreed", "named", "added", "asked")), done
    assert sidecars(folder) == files and {p: p.stat().st_mtime_ns for p in files} == stamps
    assert q(db, schema, "SELECT day, image_id, box_x, how FROM {s}.face_identity ORDER BY 1, 2, 3") == how
    assert q(db, schema, "SELECT count(*) FROM {s}.suggestions WHERE evidence->>'why' = 'tag'") == [(0,)]

    # a rename (the command line's) rewrites its photos at once, and says so
    from facepipe.ops.cli import main

    zoe_photos = [u for u, faces in expected.items() if any(n == "Zoë" for n, _ in faces)]
    assert len(zoe_photos) >= 2, "Zoë's identity should have faces in two photos at least"
    capsys.readouterr()
    assert main(["people", "name", str(unnamed), "Zoë O'Brien"]) == 0
    assert f"XMP sidecars: {len(zoe_photos)} written" in capsys.readouterr().out
    for uri in zoe_photos:
        names = [x["Name"] for x in regions_of(Path(uri + ".xmp"))]
        assert "Zoë O'Brien" in names and "Zoë" not in names

    # another tool's fields and regions in one of Zoë's sidecars
    target = Path(zoe_photos[0] + ".xmp")
    subprocess.run(
        ["exiftool", "-q", "-q", "-overwrite_original", "-XMP-xmp:Rating=5", "-XMP-dc:Subject=family",
         "-XMP-iptcExt:PersonInImage+=Aunt Mary", str(target)],
        check=True,
    )  # fmt: skip
    others_before = {u: [x["Name"] for x in regions_of(Path(u + ".xmp"))] for u in expected}

    # a forget whose sidecar cannot be written says so, and is done in the database
    blocked = Path(zoe_photos[-1] + ".xmp")
    blocked_data = blocked.read_bytes()
    real_replace, real_unlink = os.replace, os.unlink

    def read_only(real, path_arg: int):
        def call(*a, **kw):
            if Path(a[path_arg]) == blocked:
                raise OSError(30, "Read-only file system")
            return real(*a, **kw)

        return call

    spec = model_spec("dlib-resnet-128")
    mp = pytest.MonkeyPatch()
    mp.setattr(os, "replace", read_only(real_replace, 1))  # a rewrite, or
    mp.setattr(os, "unlink", read_only(real_unlink, 0))  # the removal of a sidecar only facepipe's regions filled
    try:
        with pytest.raises(FilesLeft, match=r"XMP sidecar\(s\) still hold the regions facepipe wrote.*Read-only"):
            forget_person(db, schema, "Zoë O'Brien", spec)
    finally:
        mp.undo()
    assert blocked.read_bytes() == blocked_data

    for uri in expected:
        path = Path(uri + ".xmp")
        names = [x["Name"] for x in regions_of(path)] if path.exists() else []
        if path == blocked:
            assert "Zoë O'Brien" in names
            continue
        assert "Zoë O'Brien" not in names
        assert names == [n for n in others_before[uri] if n != "Zoë O'Brien"]
        if path.exists():
            assert "Zoë O'Brien" not in exiftool_json(path).get("PersonInImage", [])
    info = exiftool_json(target)
    assert (info["Rating"], info["Subject"], info["PersonInImage"]) == (5, ["family"], ["Aunt Mary"])
    eileen = [u for u, faces in expected.items() if any(n == "eileen_collins" for n, _ in faces)]
    assert eileen and all("eileen_collins" in [x["Name"] for x in regions_of(Path(u + ".xmp"))] for u in eileen)

    # a forgotten photo loses every region facepipe wrote into its sidecar
    from facepipe.privacy.forget import forget_photo

    gone = Path(eileen[0] + ".xmp")
    forget_photo(db, schema, eileen[0], spec)
    left = regions_of(gone) if gone.exists() else []
    assert not [x for x in left if x["Name"] in ("eileen_collins", "Zoë O'Brien")]
    assert all("eileen_collins" in [x["Name"] for x in regions_of(Path(u + ".xmp"))] for u in eileen[1:])


def test_a_forget_counts_a_sidecar_that_raised_and_goes_on(tmp_path, monkeypatch):
    """An unexpected error in one photo's sidecar (it was a TypeError for a photo named in bytes
    that are not UTF-8) is a problem the forget reports, not an exception that skips its
    other steps after the commit (the tables' VACUUM FULL)."""
    from types import SimpleNamespace

    import facepipe.models.xmp_write as xmp_write
    from facepipe.people.sidecars import forget_in_sidecars

    first, second = photo(tmp_path / "a.jpg", (400, 300)), photo(tmp_path / "b.jpg", (400, 300))
    for p in (first, second):
        sync_sidecar(p, [Region("Ann", Box(100, 100, 80, 80))], width=400, height=300)
    real = xmp_write.sync_sidecar

    def flaky(path, *args, **kwargs):
        if path.name == "a.jpg":
            raise TypeError("in method 'ImageFactory_open'")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(xmp_write, "sync_sidecar", flaky)
    photos = [{"uri": str(p), "width": 400, "height": 300, "boxes": [(100, 100, 80, 80)]} for p in (first, second)]
    done, problems = forget_in_sidecars(photos, "Ann", SimpleNamespace(xmp_folder=None, source=str(tmp_path)))
    assert done == {"removed": 1}  # b.jpg's sidecar held only facepipe's region
    [problem] = problems
    assert problem.startswith("1 XMP sidecar(s) still hold") and "TypeError" in problem


def test_a_face_another_tool_already_names_there_is_not_tagged_twice(tmp_path):
    """digiKam's region names Aunt Mary; facepipe's face of her (the same box, as the load's face
    made from that region has) was written as a second, identical region beside it: a photo
    manager then showed her tagged twice on one face. Another name at that place is written
    (facepipe and the photo manager disagree, and both are shown)."""
    stored = (300, 200)
    jpg = photo(tmp_path / "a.jpg", stored)
    sidecar = digikam_sidecar(jpg, stored)
    mary = Box(225, 25, 30, 30)  # digiKam's area: centre 0.8, 0.2, size 0.1 x 0.15
    faces = [Region("Aunt Mary", Box(226, 24, 30, 31)), Region("Zoë", Box(40, 60, 50, 70))]
    assert sync_sidecar(jpg, faces, width=300, height=200)[0] == "written"
    after = exiftool_json(sidecar)
    assert [(r["Name"], r.get("Writer")) for r in after["RegionInfo"]["RegionList"]] == [
        ("Aunt Mary", None),
        ("Rex", None),
        ("Zoë", "facepipe"),
    ]
    assert after["PersonInImage"] == ["Aunt Mary", "Zoë"]
    assert sync_sidecar(jpg, faces, width=300, height=200)[0] == "unchanged"

    assert sync_sidecar(jpg, [Region("Mary Smith", mary)], width=300, height=200)[0] == "written"
    names = [(r["Name"], r.get("Writer")) for r in regions_of(sidecar)]
    assert names == [("Aunt Mary", None), ("Rex", None), ("Mary Smith", "facepipe")]
