"""facepipe's named faces written into XMP sidecars, for photo managers (setting ``xmp_write``).

What a photo's sidecar gets: each face of a named identity that is not hidden, as an MWG
face region with the person's name, and the names in ``Iptc4xmpExt:PersonInImage``
(facepipe.models.xmp_write writes them and keeps everything else in the file).

When:

* ``write_days``: the night, after the assignment and the face tags (facepipe.people.tasks
  ``assign_people``), every photo with faces of the days it assigned;
* ``write_identities``: a rename, merge, move, unmerge, hide or answered suggestion
  (``change_people``), at once, every photo with a face of the identities it touched;
* ``forget_in_sidecars``: a forget (facepipe.privacy.forget), before it reports done: the
  regions and names facepipe wrote for the person (or, for a forgotten photo, all of
  facepipe's), whatever ``xmp_write`` says now.

An S3 photo's sidecar is the object beside it (``IMG.JPG.xmp``, or an ``IMG.xmp`` there
already), rewritten through a private temporary folder and put back (or deleted when
facepipe's regions were all it held). One photo's sidecar that cannot be written (a read-only folder, a refused symlink) is counted as
``failed`` and logged; it never stops the night or the operation.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from facepipe.core.db import dict_rows, load_sql

log = logging.getLogger(__name__)

CHUNK = 1000  # photos read from the database at a time


def _on(s) -> bool:
    return s.xmp_write == "on"


def _place(s) -> dict:
    """Where sidecars go: beside each photo, or under ``xmp_folder`` at its path in the source."""
    folder = s.xmp_folder
    if folder is None or "://" in str(s.source):
        return {"folder": None, "root": None}
    return {"folder": Path(folder), "root": Path(s.source)}


def write_photos(conn, schema: str, keys: Iterable[tuple[dt.date, object]], s=None) -> dict[str, int]:
    """Each photo's sidecar (photos as (day, image_id)) brought to its named faces; counts
    of what was done. Nothing when ``xmp_write`` is off."""
    if s is None:
        from facepipe.core.deployment import settings

        s = settings()
    counts: Counter = Counter()
    if not _on(s):
        return {}
    keys = list(
        dict.fromkeys((d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d)), str(i)) for d, i in keys)
    )
    place = _place(s)
    opened: dict = {}  # S3 sources, opened once
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        rows = dict_rows(
            conn,
            load_sql("sidecar_regions.sql", schema=schema),
            {"days": [d for d, _ in chunk], "image_ids": [i for _, i in chunk]},
        )
        photos: dict[tuple, list[dict]] = {}
        for row in rows:
            photos.setdefault((row["day"], row["image_id"]), []).append(row)
        for faces in photos.values():
            _write_one(faces, counts, place, opened, getattr(s, "tmp_dir", None))
    return {k: v for k, v in sorted(counts.items()) if v}


def _sync(photo: dict, regions, opened: dict, place: dict, tmp_dir=None, **kw) -> str:
    """facepipe.models.xmp_write.sync_sidecar for the photo's sidecar: beside its file (or
    under ``xmp_folder``), or for an S3 object through a private temporary folder (its head, for
    the orientation, and the sidecar objects beside it), the result put back beside it or
    deleted. ``opened``: the S3 sources opened so far. An S3 sidecar that is there but cannot
    be read (or is over 1 MB) is not replaced: SidecarError."""
    import tempfile

    from facepipe.core.sources import open_source, path_of
    from facepipe.models.xmp import HEAD_BYTES
    from facepipe.models.xmp_write import SidecarError, sync_sidecar

    size = {"width": photo["width"], "height": photo["height"]}
    if "://" not in photo["uri"]:
        return sync_sidecar(path_of(photo["uri"]), regions, **size, **place, **kw)[0]
    spec = photo["source"]
    if spec not in opened:
        opened[spec] = open_source(spec)
    source = opened[spec]
    uri = photo["uri"]
    beside, _, name = uri.rpartition("/")
    found = source.fetch_sidecars(uri)
    if any(data is None for _n, data in found):
        raise SidecarError(f"{name}: a sidecar object beside it cannot be read or is over 1 MB; not rewritten")
    with tempfile.TemporaryDirectory(prefix="facepipe-xmp-", dir=tmp_dir) as tmp:
        local = Path(tmp) / name
        local.write_bytes(source.head(uri, HEAD_BYTES))
        for n, data in found:
            (Path(tmp) / n).write_bytes(data)
        outcome, path = sync_sidecar(local, regions, **size, **kw)
        if outcome == "written":
            source.put_sidecar(f"{beside}/{path.name}", path.read_bytes())
        elif outcome == "removed":
            source.delete_sidecar(f"{beside}/{path.name}")
    return outcome


def _write_one(faces: list[dict], counts: Counter, place: dict, opened: dict, tmp_dir=None) -> None:
    from facepipe.core.sources import SourceError
    from facepipe.models.xmp import Box
    from facepipe.models.xmp_write import Region, SidecarError

    photo = faces[0]
    regions = [
        Region(f["name"], Box(f["box_x"], f["box_y"], f["box_w"], f["box_h"])) for f in faces if f["name"] is not None
    ]
    try:
        outcome = _sync(photo, regions, opened, place, tmp_dir)
    except (SidecarError, SourceError) as exc:
        log.warning("XMP sidecar not written: %s", str(exc)[:300])
        counts["failed"] += 1
        return
    except Exception as exc:  # one photo's sidecar never stops the night
        log.warning("XMP sidecar not written (%s)", type(exc).__name__)
        counts["failed"] += 1
        return
    counts[outcome] += 1


def write_days(conn, schema: str, days: Iterable[dt.date], s=None) -> dict[str, dict[str, int]]:
    """The sidecars of the days' photos with faces, per day (the night's step)."""
    out = {}
    for day in days:
        keys = [
            (r["day"], r["image_id"])
            for r in dict_rows(conn, load_sql("sidecar_photos_of_days.sql", schema=schema), {"days": [day]})
        ]
        out[day.isoformat()] = write_photos(conn, schema, keys, s)
        if out[day.isoformat()]:
            log.info("XMP sidecars of %s: %s", day, out[day.isoformat()])
    return out


def write_identities(conn, schema: str, identity_ids, also=(), s=None) -> dict[str, int]:
    """The sidecars of every photo with a face of these identities, and of the photos ``also``
    ((day, image_id): a face moved out of every identity)."""
    ids = sorted({i for i in identity_ids if i is not None})
    keys = list(also)
    if ids:
        keys += [
            (r["day"], r["image_id"])
            for r in dict_rows(conn, load_sql("sidecar_photos_of_identities.sql", schema=schema), {"ids": ids})
        ]
    return write_photos(conn, schema, keys, s)


def forget_in_sidecars(photos: list[dict], name: str | None, s=None) -> tuple[dict[str, int], list[str]]:
    """A forget's step: from the sidecars of ``photos`` (dicts of uri, width, height, and the
    forgotten faces' ``boxes`` for a person), the regions and PersonInImage names facepipe
    wrote for ``name`` or over one of those faces (written under an older name), or all of
    facepipe's when ``name`` is None (a forgotten photo). Returns the counts and the problems, each a
    sentence (a sidecar that could not be rewritten still holds them)."""
    from facepipe.core.sources import SourceError
    from facepipe.models.xmp import Box
    from facepipe.models.xmp_write import SidecarError

    if s is None:
        from facepipe.core.deployment import settings

        s = settings()
    place = _place(s)
    counts: Counter = Counter()
    failed: list[str] = []
    opened: dict = {}
    for photo in photos:
        boxes = [Box(*b) for b in photo.get("boxes") or [] if name is not None]
        try:
            outcome = _sync(
                photo,
                None,
                opened,
                place if "://" not in photo["uri"] else {},
                getattr(s, "tmp_dir", None),
                orientation=None if boxes else 1,  # the photo's, to place the boxes
                drop_names=None if name is None else {name},
                drop_boxes=boxes,
            )
        except (SidecarError, SourceError, OSError) as exc:
            failed.append(str(exc)[:200] if name is not None else type(exc).__name__)
            continue
        except Exception as exc:  # one photo's sidecar never stops the forget's other steps
            failed.append(type(exc).__name__)
            continue
        if outcome in ("written", "removed"):
            counts[outcome] += 1
    problems = []
    if failed:
        shown = "; ".join(failed[:5]) + (f"; and {len(failed) - 5} more" if len(failed) > 5 else "")
        problems.append(
            f"{len(failed)} XMP sidecar(s) still hold the regions facepipe wrote ({shown}): make their"
            " folder writable and remove facepipe's regions there (the regions marked facepipe:Writer)"
        )
    return {k: v for k, v in sorted(counts.items()) if v}, problems
