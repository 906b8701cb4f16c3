"""facepipe.sources.FolderSource on a temporary folder: which files a day holds, and reading them."""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from facepipe.sources import FolderSource, SourceError, Unreadable, day_bounds, open_source

DAY = dt.date(2026, 11, 20)
START = dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc)
END = START + dt.timedelta(days=1)
LONG_AGO = dt.datetime(2020, 1, 1, 12, tzinfo=dt.timezone.utc)


def put(path: Path, content: bytes = b"jpeg?", mtime: dt.datetime | None = None, *, ns: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    if ns is not None:
        os.utime(path, ns=(ns, ns))
    elif mtime is not None:
        ts = mtime.timestamp()
        os.utime(path, (ts, ts))
    return path


def ns_of(t: dt.datetime) -> int:
    return int(t.timestamp()) * 1_000_000_000


def uris(source: FolderSource, day: dt.date = DAY) -> list[str]:
    return [a.uri for a in source.list_day(day)]


def rel(root: Path, source: FolderSource, day: dt.date = DAY) -> set[str]:
    return {os.path.relpath(u, root) for u in uris(source, day)}


# ---------------------------------------------------------------- day bounds


def test_day_bounds_are_utc_and_one_day_long():
    start, end = day_bounds(DAY)
    assert start == START and end == END
    assert start.utcoffset() == dt.timedelta(0)


# ---------------------------------------------------------------- dated folders


def test_dated_folder_files_belong_to_that_day_whatever_their_mtime(tmp_path):
    put(tmp_path / "2026-11-20" / "a.jpg", mtime=LONG_AGO)
    put(tmp_path / "2026-11-20" / "trip" / "day 1" / "b.jpg", mtime=END + dt.timedelta(days=30))
    put(tmp_path / "2026-11-21" / "c.jpg", mtime=START + dt.timedelta(hours=1))  # another day's folder
    src = FolderSource(tmp_path)
    assert rel(tmp_path, src) == {"2026-11-20/a.jpg", "2026-11-20/trip/day 1/b.jpg"}
    assert rel(tmp_path, src, dt.date(2026, 11, 21)) == {"2026-11-21/c.jpg"}
    assert rel(tmp_path, src, dt.date(2026, 11, 19)) == set()


def test_dated_folder_file_with_an_mtime_in_the_day_is_listed_once(tmp_path):
    put(tmp_path / "2026-11-20" / "a.jpg", mtime=START + dt.timedelta(hours=3))
    assert rel(tmp_path, FolderSource(tmp_path)) == {"2026-11-20/a.jpg"}
    assert len(uris(FolderSource(tmp_path))) == 1


def test_arrival_fields(tmp_path):
    t = START + dt.timedelta(hours=5, minutes=7)
    p = put(tmp_path / "2026-11-20" / "a.jpg", b"x" * 1234, mtime=t)
    (a,) = FolderSource(tmp_path).list_day(DAY)
    assert a.uri == str(p)
    assert Path(a.uri).is_absolute()
    assert a.bytes == 1234
    assert a.arrived_at == t
    assert a.arrived_at.tzinfo is not None


# ---------------------------------------------------------------- loose files by mtime


def test_loose_files_belong_to_the_day_of_their_mtime(tmp_path):
    put(tmp_path / "in.jpg", mtime=START + dt.timedelta(hours=12))
    put(tmp_path / "phone" / "DCIM" / "deep.jpg", mtime=START + dt.timedelta(hours=23))
    put(tmp_path / "before.jpg", mtime=START - dt.timedelta(hours=1))
    put(tmp_path / "after.jpg", mtime=END + dt.timedelta(hours=1))
    put(tmp_path / "phone" / "old.jpg", mtime=LONG_AGO)
    assert rel(tmp_path, FolderSource(tmp_path)) == {"in.jpg", "phone/DCIM/deep.jpg"}


def test_loose_file_bounds_are_start_inclusive_end_exclusive(tmp_path):
    us = 1000  # mtimes are compared at datetime's microsecond resolution
    put(tmp_path / "at_start.jpg", ns=ns_of(START))
    put(tmp_path / "last_us.jpg", ns=ns_of(END) - us)
    put(tmp_path / "at_end.jpg", ns=ns_of(END))
    put(tmp_path / "just_before.jpg", ns=ns_of(START) - us)
    src = FolderSource(tmp_path)
    assert rel(tmp_path, src) == {"at_start.jpg", "last_us.jpg"}
    assert rel(tmp_path, src, DAY + dt.timedelta(days=1)) == {"at_end.jpg"}
    assert rel(tmp_path, src, DAY - dt.timedelta(days=1)) == {"just_before.jpg"}


def test_every_loose_file_falls_in_exactly_one_day(tmp_path):
    offsets = [-86_400_000_000_000, -1_000_000, -1_000, -1, 0, 1, 999, 1_000, 43_200_000_000_000,
               86_400_000_000_000 - 1_000, 86_400_000_000_000 - 1, 86_400_000_000_000]
    for i, off in enumerate(offsets):
        put(tmp_path / f"f{i:02d}.jpg", ns=ns_of(START) + off)
    src = FolderSource(tmp_path)
    days = [DAY + dt.timedelta(days=k) for k in (-2, -1, 0, 1, 2)]
    seen = [name for d in days for name in rel(tmp_path, src, d)]
    assert sorted(seen) == [f"f{i:02d}.jpg" for i in range(len(offsets))]


def test_loose_files_use_utc_not_local_time(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14: local date is the next day
    import time

    time.tzset()
    try:
        put(tmp_path / "late.jpg", mtime=START + dt.timedelta(hours=20))
        assert rel(tmp_path, FolderSource(tmp_path)) == {"late.jpg"}
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_loose_arrival_is_the_mtime(tmp_path):
    t = START + dt.timedelta(hours=8, seconds=3)
    put(tmp_path / "a.jpg", b"abc", mtime=t)
    (a,) = FolderSource(tmp_path).list_day(DAY)
    assert a.arrived_at == t and a.bytes == 3


# ---------------------------------------------------------------- hidden files


def test_hidden_files_are_skipped(tmp_path):
    inside = START + dt.timedelta(hours=2)
    put(tmp_path / "2026-11-20" / ".DS_Store", mtime=inside)
    put(tmp_path / "2026-11-20" / "sub" / "._a.jpg", mtime=inside)
    put(tmp_path / "2026-11-20" / "a.jpg", mtime=inside)
    put(tmp_path / "loose" / ".b.jpg.part", mtime=inside)
    put(tmp_path / "loose" / "b.jpg", mtime=inside)
    assert rel(tmp_path, FolderSource(tmp_path)) == {"2026-11-20/a.jpg", "loose/b.jpg"}


def test_hidden_file_directly_in_root_is_skipped(tmp_path):
    put(tmp_path / ".DS_Store", mtime=START + dt.timedelta(hours=2))
    put(tmp_path / "a.jpg", mtime=START + dt.timedelta(hours=2))
    assert rel(tmp_path, FolderSource(tmp_path)) == {"a.jpg"}


def test_files_in_hidden_folders_are_skipped(tmp_path):
    inside = START + dt.timedelta(hours=2)
    put(tmp_path / ".Trash" / "deleted.jpg", mtime=inside)
    put(tmp_path / "2026-11-20" / ".thumbnails" / "a.jpg", mtime=inside)
    put(tmp_path / "2026-11-20" / "a.jpg", mtime=inside)
    assert rel(tmp_path, FolderSource(tmp_path)) == {"2026-11-20/a.jpg"}


# ---------------------------------------------------------------- the root itself


def test_missing_root_raises_source_error(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        list(FolderSource(tmp_path / "no-such-folder").list_day(DAY))


def test_root_that_is_a_file_raises_source_error(tmp_path):
    put(tmp_path / "file")
    with pytest.raises(SourceError):
        list(FolderSource(tmp_path / "file").list_day(DAY))


def test_empty_root_lists_nothing(tmp_path):
    assert uris(FolderSource(tmp_path)) == []


def test_relative_root_is_made_absolute(tmp_path, monkeypatch):
    put(tmp_path / "photos" / "2026-11-20" / "a.jpg", b"abc")
    monkeypatch.chdir(tmp_path)
    src = FolderSource("photos")
    assert src.root == tmp_path / "photos"
    (a,) = src.list_day(DAY)
    assert Path(a.uri).is_absolute()
    monkeypatch.chdir("/")
    assert src.read(a.uri) == b"abc"


def test_root_reached_through_a_symlink(tmp_path):
    real = tmp_path / "real"
    put(real / "2026-11-20" / "a.jpg", b"abc")
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    src = FolderSource(tmp_path / "link")
    (a,) = src.list_day(DAY)
    assert src.read(a.uri) == b"abc"


def test_open_source():
    from facepipe.sources import S3Source

    assert isinstance(open_source("/tmp"), FolderSource)
    assert isinstance(open_source("s3://bucket/photos"), S3Source)


# ---------------------------------------------------------------- read


def test_read_returns_the_bytes(tmp_path):
    p = put(tmp_path / "2026-11-20" / "a.jpg", b"\xff\xd8hello")
    assert FolderSource(tmp_path).read(str(p)) == b"\xff\xd8hello"


@pytest.mark.parametrize("name", [
    "with space.jpg", "it's \"quoted\".jpg", "Åsa på stranden ✈ 日本.jpg", "semi;colon & dollar$.jpg",
    "tab\there.jpg", "back\\slash.jpg", "new\nline.jpg",
])
def test_odd_file_names_list_and_read(tmp_path, name):
    p = put(tmp_path / "2026-11-20" / name, name.encode())
    src = FolderSource(tmp_path)
    (a,) = src.list_day(DAY)
    assert a.uri == str(p)
    assert src.read(a.uri) == name.encode()


def test_symlink_to_outside_the_root_is_refused(tmp_path):
    secret = put(tmp_path / "outside" / "secret.jpg", b"secret")
    root = tmp_path / "photos"
    (root / "2026-11-20").mkdir(parents=True)
    link = root / "2026-11-20" / "evil.jpg"
    link.symlink_to(secret)
    src = FolderSource(root)
    assert uris(src) == [str(link)]  # listed, so that it ends up in rejects
    with pytest.raises(Unreadable) as info:
        src.read(str(link))
    assert info.value.reason == "outside_source"


def test_dotdot_path_outside_the_root_is_refused(tmp_path):
    put(tmp_path / "outside.jpg", b"secret")
    root = tmp_path / "photos"
    root.mkdir()
    with pytest.raises(Unreadable) as info:
        FolderSource(root).read(str(root / ".." / "outside.jpg"))
    assert info.value.reason == "outside_source"


def test_symlink_inside_the_root_is_read(tmp_path):
    target = put(tmp_path / "2026-11-19" / "a.jpg", b"abc")
    link = tmp_path / "2026-11-20" / "again.jpg"
    link.parent.mkdir()
    link.symlink_to(target)
    assert FolderSource(tmp_path).read(str(link)) == b"abc"


def test_dangling_symlink_is_listed_and_unreadable(tmp_path):
    link = tmp_path / "2026-11-20" / "gone.jpg"
    link.parent.mkdir()
    link.symlink_to(tmp_path / "nowhere.jpg")
    src = FolderSource(tmp_path)
    assert uris(src) == [str(link)]
    with pytest.raises(Unreadable) as info:
        src.read(str(link))
    assert info.value.reason == "unreadable"


def test_missing_file_is_unreadable(tmp_path):
    with pytest.raises(Unreadable) as info:
        FolderSource(tmp_path).read(str(tmp_path / "vanished.jpg"))
    assert info.value.reason == "unreadable"


def test_directory_is_unreadable(tmp_path):
    (tmp_path / "2026-11-20" / "dir.jpg").mkdir(parents=True)
    with pytest.raises(Unreadable) as info:
        FolderSource(tmp_path).read(str(tmp_path / "2026-11-20" / "dir.jpg"))
    assert info.value.reason == "unreadable"


def test_read_error_is_unreadable(tmp_path, monkeypatch):
    """An OSError while reading (permissions, I/O error) rejects the file, it does not fail the shard."""
    p = put(tmp_path / "a.jpg", b"abc")

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(Unreadable) as info:
        FolderSource(tmp_path).read(str(p))
    assert info.value.reason == "unreadable"
    assert "Permission denied" in info.value.detail


def test_a_name_that_is_not_utf8_round_trips_through_its_uri(tmp_path):
    import os

    from facepipe.sources import path_of, uri_of

    raw = os.path.join(os.fsencode(tmp_path), b"caf\xe9.jpg")
    with open(raw, "wb") as f:
        f.write(b"\xff\xd8x")
    [path] = list(tmp_path.iterdir())
    uri = uri_of(path)
    uri.encode("utf-8")  # the database can hold it
    assert uri.endswith("caf\\xe9.jpg")
    assert FolderSource(tmp_path).read(uri) == b"\xff\xd8x"
    assert path_of(str(tmp_path / "plain.jpg")) == tmp_path / "plain.jpg"
