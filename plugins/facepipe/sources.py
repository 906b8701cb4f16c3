"""Where photos come from, and which of them arrived on a given day.

Folder source: a day's photos are the files under ``<root>/YYYY-MM-DD/`` (any
depth), plus the files anywhere else under root (outside any dated folder)
whose modification time falls in [day, day+1) UTC. Hidden files and folders (a leading dot) are skipped.
"""
from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_DATED = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Arrival:
    uri: str
    bytes: int | None
    arrived_at: dt.datetime


class SourceError(RuntimeError):
    """The source itself cannot be read (missing folder, bad credentials...)."""


class Unreadable(Exception):
    """One object cannot be read; it goes to rejects with this reason."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
    return start, start + dt.timedelta(days=1)


class FolderSource:
    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().absolute()
        self.name = str(self.root)

    def list_day(self, day: dt.date) -> Iterator[Arrival]:
        if not self.root.is_dir():
            raise SourceError(f"photo folder {self.root} does not exist")
        start, end = day_bounds(day)
        dated = self.root / day.isoformat()
        if dated.is_dir():
            for path in _walk(dated):
                yield self._arrival(path, fallback=start)
        for top in sorted(self.root.iterdir(), key=lambda p: p.name):
            if top.name.startswith(".") or (top.is_dir() and _DATED.match(top.name)):
                continue
            for path in _walk(top) if top.is_dir() else [top]:
                mtime = _mtime(path)
                if mtime is not None and start <= mtime < end:
                    yield self._arrival(path, fallback=mtime)

    def _arrival(self, path: Path, fallback: dt.datetime) -> Arrival:
        mtime = _mtime(path)
        size = None
        try:
            size = path.lstat().st_size
        except OSError:
            pass
        return Arrival(uri=str(path), bytes=size, arrived_at=mtime or fallback)

    def read(self, uri: str) -> bytes:
        path = Path(uri)
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            raise Unreadable("unreadable", f"cannot open: {exc.strerror or exc}") from None
        if not real.is_relative_to(self.root.resolve()):
            raise Unreadable("outside_source", "link points outside the source folder")
        if not real.is_file():
            raise Unreadable("unreadable", "not a regular file")
        try:
            return real.read_bytes()
        except OSError as exc:
            raise Unreadable("unreadable", f"cannot read: {exc.strerror}") from None


def _walk(folder: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


def _mtime(path: Path) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(path.lstat().st_mtime, tz=dt.timezone.utc)
    except OSError:
        return None


def open_source(spec: str):
    if spec.startswith("s3://"):
        raise SourceError("the S3 source is not implemented yet (issue: Photos from S3)")
    return FolderSource(spec)
