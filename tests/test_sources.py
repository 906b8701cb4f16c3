"""facepipe.core.sources.FolderSource on a temporary folder: which files a day holds, and reading them."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from facepipe.core.sources import FolderSource, SourceError, Unreadable, day_bounds, open_source

DAY = dt.date(2026, 11, 20)
START = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
END = START + dt.timedelta(days=1)
LONG_AGO = dt.datetime(2020, 1, 1, 12, tzinfo=dt.UTC)


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
    offsets = [
        -86_400_000_000_000,
        -1_000_000,
        -1_000,
        -1,
        0,
        1,
        999,
        1_000,
        43_200_000_000_000,
        86_400_000_000_000 - 1_000,
        86_400_000_000_000 - 1,
        86_400_000_000_000,
    ]
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
    from facepipe.core.sources import S3Source

    assert isinstance(open_source("/tmp"), FolderSource)
    assert isinstance(open_source("s3://bucket/photos"), S3Source)


# ---------------------------------------------------------------- read


def test_read_returns_the_bytes(tmp_path):
    p = put(tmp_path / "2026-11-20" / "a.jpg", b"\xff\xd8hello")
    assert FolderSource(tmp_path).read(str(p)) == b"\xff\xd8hello"


@pytest.mark.parametrize(
    "name",
    [
        "with space.jpg",
        'it\'s "quoted".jpg',
        "Åsa på stranden ✈ 日本.jpg",
        "semi;colon & dollar$.jpg",
        "tab\there.jpg",
        "new\nline.jpg",
    ],
)
def test_odd_file_names_list_and_read(tmp_path, name):
    p = put(tmp_path / "2026-11-20" / name, name.encode())
    src = FolderSource(tmp_path)
    (a,) = src.list_day(DAY)
    assert a.uri == str(p)
    assert src.read(a.uri) == name.encode()


def test_a_backslash_in_a_name_is_written_x5c(tmp_path):
    """So that no file's URI is the \\xNN form of another's (see the next tests)."""
    p = put(tmp_path / "2026-11-20" / "back\\slash.jpg", b"abc")
    src = FolderSource(tmp_path)
    (a,) = src.list_day(DAY)
    assert a.uri == str(tmp_path / "2026-11-20" / "back\\x5cslash.jpg")
    assert src.read(a.uri) == b"abc" and p.exists()


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

    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", denied)
    with pytest.raises(Unreadable) as info:
        FolderSource(tmp_path).read(str(p))
    assert info.value.reason == "unreadable"
    assert "Permission denied" in info.value.detail


def test_a_name_that_is_not_utf8_round_trips_through_its_uri(tmp_path):
    import os

    from facepipe.core.sources import path_of, uri_of

    raw = os.path.join(os.fsencode(tmp_path), b"caf\xe9.jpg")
    with open(raw, "wb") as f:
        f.write(b"\xff\xd8x")
    [path] = list(tmp_path.iterdir())
    uri = uri_of(path)
    uri.encode("utf-8")  # the database can hold it
    assert uri.endswith("caf\\xe9.jpg")
    assert FolderSource(tmp_path).read(uri) == b"\xff\xd8x"
    assert path_of(str(tmp_path / "plain.jpg")) == tmp_path / "plain.jpg"


# ---------------------------------------------------------------- issue 12: every file counted, none too costly


def _reason(src: FolderSource, uri: str) -> str:
    with pytest.raises(Unreadable) as info:
        src.read(uri)
    assert info.value.detail.isprintable()
    return info.value.reason


def test_a_latin1_name_and_its_literal_escape_get_two_uris(tmp_path):
    folder = tmp_path / "2026-11-20"
    folder.mkdir()
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.jpg"), "wb") as f:
        f.write(b"latin-1 bytes")
    (folder / "caf\\xe9.jpg").write_bytes(b"literal backslash")
    src = FolderSource(tmp_path)
    got = {a.uri: src.read(a.uri) for a in src.list_day(DAY)}
    assert len(got) == 2
    assert sorted(got.values()) == [b"latin-1 bytes", b"literal backslash"]


def test_a_file_over_the_size_limit_is_refused_from_its_size_without_reading(tmp_path, monkeypatch):
    from facepipe.core import sources

    video = tmp_path / "2026-11-20" / "clip.mp4"
    video.parent.mkdir()
    with open(video, "wb") as f:
        f.truncate(8 * 2**30)  # 8 GiB, sparse: nothing is written
    (a,) = FolderSource(tmp_path).list_day(DAY)
    assert a.bytes == 8 * 2**30
    assert _reason(FolderSource(tmp_path), a.uri) == "too_large"
    monkeypatch.setattr(sources, "MAX_OBJECT_BYTES", 10)
    small = put(tmp_path / "2026-11-20" / "eleven.jpg", b"x" * 11)
    assert _reason(FolderSource(tmp_path), str(small)) == "too_large"


def test_links_to_folders_are_listed_and_rejected(tmp_path):
    inside = put(tmp_path / "elsewhere" / "a.jpg", mtime=LONG_AGO).parent
    outside = put(tmp_path.parent / (tmp_path.name + "-out") / "b.jpg").parent
    day = tmp_path / "2026-11-20"
    day.mkdir()
    (day / "inside").symlink_to(inside, target_is_directory=True)
    (day / "outside").symlink_to(outside, target_is_directory=True)
    src = FolderSource(tmp_path)
    got = {os.path.basename(u): _reason(src, u) for u in uris(src)}
    assert got == {"inside": "directory_link", "outside": "outside_source"}


def test_a_folder_that_cannot_be_listed_is_one_entry(tmp_path, monkeypatch):
    put(tmp_path / "2026-11-20" / "ok.jpg")
    locked = tmp_path / "2026-11-20" / "locked"
    put(locked / "hidden from us.jpg")
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    src = FolderSource(tmp_path)
    assert rel(tmp_path, src) == {"2026-11-20/ok.jpg", "2026-11-20/locked"}
    with pytest.raises(Unreadable) as info:
        src.read(str(locked))
    assert info.value.reason == "unreadable" and "Permission denied" in info.value.detail


def test_paths_too_long_are_rejected_under_a_short_unique_uri(tmp_path):
    from helpers.hostile import deep_file

    from facepipe.core.sources import MAX_URI_BYTES, uri_of

    deep = tmp_path / "2026-11-20"
    # 24 x 200 bytes: past PATH_MAX (4096)
    assert len(deep_file(tmp_path, ["2026-11-20", *["d" * 199] * 24, "a.jpg"], b"x")) > 4096
    put(deep / "short.jpg")
    src = FolderSource(tmp_path)
    got = uris(src)
    assert len(got) == 2 and str(deep / "short.jpg") in got
    (long_uri,) = [u for u in got if u != str(deep / "short.jpg")]
    assert MAX_URI_BYTES < len(long_uri.encode()) < MAX_URI_BYTES + 100
    assert _reason(src, long_uri) == "path_too_long"
    a, b = tmp_path / ("x" * 2100), tmp_path / ("x" * 2099 + "y")
    assert uri_of(a) != uri_of(b)


def test_files_in_a_folder_named_like_an_impossible_date_are_rejected(tmp_path):
    put(tmp_path / "2026-02-30" / "a.jpg", mtime=START + dt.timedelta(hours=2))
    put(tmp_path / "2026-11-20" / "b.jpg", mtime=LONG_AGO)
    src = FolderSource(tmp_path)
    assert rel(tmp_path, src) == {"2026-02-30/a.jpg", "2026-11-20/b.jpg"}
    assert _reason(src, str(tmp_path / "2026-02-30" / "a.jpg")) == "not_a_date"


class _Memory:
    """facepipe.ingest.first_seen.FirstSeenStore's rule, kept in a dict."""

    def __init__(self, horizon, now):
        from facepipe.ingest.first_seen import FirstSeenStore

        self.store = FirstSeenStore.__new__(FirstSeenStore)
        self.store.horizon, self.store.now = horizon, now
        self.kept = {}

    def arrivals(self, entries):
        for uri, m, c in entries:
            self.kept.setdefault(uri, self.store.decide(m, c)[0])
        return {uri: self.kept[uri] for uri, _, _ in entries}


def test_an_old_mtime_first_seen_after_its_day_ran_arrives_at_its_ctime(tmp_path):
    """cp -p / rsync -a into archive/2026-10-07/ or 2026/10/07/: the copy's ctime is today."""
    today = dt.datetime.now(dt.UTC)
    for where in ("archive/2026-10-07", "2026/10/07"):
        put(tmp_path / where / "old.jpg", mtime=dt.datetime(2026, 10, 7, 9, tzinfo=dt.UTC))
    put(tmp_path / "new.jpg", mtime=today)
    src = FolderSource(tmp_path)
    seen = _Memory(horizon=today.date() - dt.timedelta(days=1), now=today)
    assert rel(tmp_path, src, today.date()) == {"new.jpg"}  # without first_seen: the old mtime day
    got = {os.path.relpath(a.uri, tmp_path) for a in src.list_day(today.date(), seen)}
    assert got == {"archive/2026-10-07/old.jpg", "2026/10/07/old.jpg", "new.jpg"}
    # a re-run of 2026-10-07 does not take them, nor does any other day
    assert list(src.list_day(dt.date(2026, 10, 7), seen)) == []
    assert list(src.list_day(today.date() - dt.timedelta(days=1), seen)) == []


def test_before_any_day_is_planned_and_after_the_horizon_a_file_arrives_at_its_mtime():
    from facepipe.ingest.first_seen import FirstSeenStore

    store = FirstSeenStore.__new__(FirstSeenStore)
    now = dt.datetime(2026, 11, 29, 12, tzinfo=dt.UTC)
    m, c = dt.datetime(2026, 10, 7, tzinfo=dt.UTC), dt.datetime(2026, 11, 28, 5, tzinfo=dt.UTC)
    store.horizon, store.now = None, now
    assert store.decide(m, c) == (m, "mtime")
    store.horizon = dt.date(2026, 10, 6)
    assert store.decide(m, c) == (m, "mtime")
    store.horizon = dt.date(2026, 11, 27)
    assert store.decide(m, c) == (c, "ctime")
    store.horizon = dt.date(2026, 11, 28)  # the copy's day ran too: the time it was first seen
    assert store.decide(m, c) == (now, "first_seen")
