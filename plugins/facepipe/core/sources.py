"""Where photos come from, and which of them arrived on a given day.

Folder source: a day's photos are the files under ``<root>/YYYY-MM-DD/`` (any
depth), plus the files anywhere else under root (outside any dated folder)
whose modification time falls in [day, day+1) UTC. Hidden files and folders (a leading dot) are skipped.

S3 source (``s3://bucket/prefix``): a day's photos are the objects under the
prefix whose LastModified (the upload) falls in [day, day+1) UTC. Read through
the Amazon provider's S3Hook and an Airflow AWS connection (id from
FACEPIPE_S3_CONN_ID, default ``aws_default``); the provider is imported only
when an S3 source is used.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import functools
import hashlib
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

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
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)


# Larger files and objects are rejected as too_large from their size, never read.
MAX_OBJECT_BYTES = 512 * 1024 * 1024
# URIs longer than this (UTF-8 bytes) are rejected as path_too_long under a shortened
# URI: PostgreSQL's btree keys (rejects, staging) hold at most about 2,700 bytes.
MAX_URI_BYTES = 2000


class FirstSeen(Protocol):
    """Where a folder source remembers when it first saw each loose file (facepipe.ingest.first_seen)."""

    def arrivals(self, entries: list[tuple[str, dt.datetime, dt.datetime]]) -> dict[str, dt.datetime]:
        """(uri, mtime, ctime) of files -> their arrival time, decided once and kept."""


class FolderSource:
    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().absolute()
        self.name = str(self.root)

    def list_day(self, day: dt.date, first_seen: FirstSeen | None = None) -> Iterator[Arrival]:
        """The day's files: its dated folder, and the loose files that arrived that day.

        Everything the walk meets is listed, also what cannot be loaded (links to
        folders, folders that cannot be listed, paths too long, folders named like
        an impossible date): ``read`` then rejects it with the reason. A loose
        file's arrival is its mtime, or with ``first_seen`` the time kept for it
        when facepipe first saw it (see docs/operating.md, "Source folder: which day a photo belongs to").
        """
        if not self.root.is_dir():
            raise SourceError(f"photo folder {self.root} does not exist")
        start, end = day_bounds(day)
        dated = self.root / day.isoformat()
        if dated.is_dir():
            for path, st in _walk(dated):
                yield Arrival(uri=uri_of(path), bytes=_size(st), arrived_at=_time(st, "st_mtime") or start)
        loose = self._loose()
        if first_seen is None:
            for path, st in loose:
                mtime = _time(st, "st_mtime")
                if mtime is not None and start <= mtime < end:
                    yield Arrival(uri=uri_of(path), bytes=_size(st), arrived_at=mtime)
            return
        for batch in _batched(((uri_of(p), st) for p, st in loose if st is not None), 1000):
            arrived = first_seen.arrivals([(uri, _time(st, "st_mtime"), _time(st, "st_ctime")) for uri, st in batch])
            for uri, st in batch:
                if start <= arrived[uri] < end:
                    yield Arrival(uri=uri, bytes=_size(st), arrived_at=arrived[uri])

    def _loose(self) -> Iterator[tuple[Path, os.stat_result | None]]:
        """Entries outside the dated folders (folders named like an impossible date included)."""
        try:
            tops = sorted(os.scandir(self.root), key=lambda e: e.name)
        except OSError as exc:
            raise SourceError(f"cannot list photo folder {self.root}: {exc.strerror}") from None
        for top in tops:
            if _skipped_name(top.name) or (_DATED.match(top.name) and _is_date(top.name) and top.is_dir()):
                continue
            yield from _walk(Path(top.path), top_is_entry=True)

    def read(self, uri: str) -> bytes:
        """The file's bytes; anything that cannot be loaded raises Unreadable with the reason."""
        return read_limited(self._checked(uri))

    def head(self, uri: str, n: int = 64) -> bytes:
        """The file's first ``n`` bytes (what it is), with read's checks."""
        path = self._checked(uri)
        try:
            with path.open("rb") as f:
                return f.read(n)
        except OSError as exc:
            raise _os_unreadable("cannot read", exc) from None

    @contextlib.contextmanager
    def open_stream(self, uri: str, max_bytes: int) -> Iterator[tuple[str, int]]:
        """(path, size) of a large file read as a stream (a video), with read's checks;
        refused as too_large from its size past ``max_bytes``, never read."""
        path = self._checked(uri)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise _os_unreadable("cannot open", exc) from None
        if size > max_bytes:
            raise Unreadable("too_large", f"{size} bytes is more than {max_bytes} for a video")
        yield str(path), size

    def _checked(self, uri: str) -> Path:
        """The regular file inside the source behind ``uri``, or Unreadable with the reason."""
        if len(uri.encode("utf-8", "surrogatepass")) > MAX_URI_BYTES:
            raise Unreadable("path_too_long", f"path longer than {MAX_URI_BYTES} bytes: not listed or read")
        path = path_of(uri)
        self._refuse_undated(path)
        try:
            st = path.lstat()
        except OSError as exc:
            raise _os_unreadable("cannot open", exc) from None
        if stat.S_ISDIR(st.st_mode):
            raise _folder_unreadable(path)
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            raise Unreadable("unreadable", f"cannot open: {getattr(exc, 'strerror', None) or exc}") from None
        if not real.is_relative_to(self.root.resolve()):
            raise Unreadable("outside_source", "link points outside the source folder")
        if real.is_dir():
            raise Unreadable(
                "directory_link",
                "a link to a folder: links to folders are not followed"
                " (copy or move the folder into the source instead)",
            )
        if not real.is_file():
            raise Unreadable("unreadable", "not a regular file")
        return real

    def _refuse_undated(self, path: Path) -> None:
        """Files in a top folder named like a date that is no date (2026-02-30) belong to no day."""
        try:
            top = path.relative_to(self.root).parts[0]
        except (ValueError, IndexError):
            return
        if _DATED.match(top) and not _is_date(top):
            raise Unreadable(
                "not_a_date",
                f"folder {top} is named like a date but is none: rename it to the day its photos belong to",
            )


def read_limited(path: Path) -> bytes:
    """A file's bytes, refused as too_large from its size past MAX_OBJECT_BYTES (never
    reading more than that); OSError becomes Unreadable."""
    try:
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_OBJECT_BYTES:
                raise Unreadable("too_large", f"{size} bytes is more than {MAX_OBJECT_BYTES}")
            data = f.read(MAX_OBJECT_BYTES + 1)  # never more, should the file grow meanwhile
    except OSError as exc:
        raise _os_unreadable("cannot read", exc) from None
    if len(data) > MAX_OBJECT_BYTES:
        raise Unreadable("too_large", f"more than {MAX_OBJECT_BYTES} bytes")
    return data


def _os_unreadable(action: str, exc: OSError) -> Unreadable:
    if exc.errno == errno.ENAMETOOLONG:
        return Unreadable("path_too_long", f"{action}: path longer than the system allows")
    return Unreadable("unreadable", f"{action}: {exc.strerror or exc}")


def _folder_unreadable(path: Path) -> Unreadable:
    """A folder listed as an entry: the walk could not list it."""
    try:
        with os.scandir(path):
            pass
    except OSError as exc:
        return _os_unreadable("cannot list the folder", exc)
    return Unreadable(
        "unreadable", "the folder could not be listed when the day was planned; run the day again to load its photos"
    )


def uri_of(path: Path) -> str:
    """The path as text the database can hold, one URI per path.

    A path that is valid UTF-8 and holds no backslash is its own URI. Any other
    path (a file name that is not UTF-8: old cameras, zip files from Windows) has
    its odd bytes and its backslashes written as ``\\xNN``, so that no two paths
    share a URI; ``path_of`` maps them back. A URI longer than MAX_URI_BYTES is
    shortened, made unique by the path's SHA-256 (and longer than any URI that is
    not shortened); such files are rejected as path_too_long.
    """
    text = str(path)
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:
        raw = None
    if raw is None or "\\" in text:
        raw = text.encode("utf-8", "surrogateescape")
        text = raw.replace(b"\\", b"\\x5c").decode("utf-8", "backslashreplace")
    if len(text.encode("utf-8")) > MAX_URI_BYTES:
        digest = hashlib.sha256(raw).hexdigest()[:16]
        head = text.encode("utf-8")[:MAX_URI_BYTES].decode("utf-8", "ignore")
        text = f"{head}...[{len(raw)} bytes, sha256 {digest}]"
    return text


def path_of(uri: str) -> Path:
    """The file behind a folder source's URI (see ``uri_of``)."""
    if "\\" not in uri:
        return Path(uri)
    return Path(os.fsdecode(re.sub(rb"\\x([0-9a-f]{2})", lambda m: bytes([int(m.group(1), 16)]), uri.encode("utf-8"))))


def _walk(folder: Path, top_is_entry: bool = False) -> Iterator[tuple[Path, os.stat_result | None]]:
    """Every non-hidden entry under ``folder`` with its lstat, in name order, that is
    not a folder the walk went into: files, links (to folders too), other specials,
    and folders it could not list or whose path is too long (as entries)."""
    if top_is_entry:
        try:
            st = folder.lstat()
        except OSError:
            yield folder, None
            return
        if not stat.S_ISDIR(st.st_mode):
            yield folder, st
            return
    stack = [folder]
    while stack:
        current = stack.pop()
        if len(str(current).encode("utf-8", "surrogateescape")) > MAX_URI_BYTES:
            yield current, _lstat(current)
            continue
        try:
            with os.scandir(current) as it:
                entries = sorted((e for e in it if not _skipped_name(e.name)), key=lambda e: e.name)
        except OSError:
            yield current, _lstat(current)
            continue
        subfolders = []
        for e in entries:
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                st = None
            if st is not None and stat.S_ISDIR(st.st_mode):
                subfolders.append(Path(e.path))
            else:
                yield Path(e.path), st
        stack.extend(reversed(subfolders))


SIDECARS = (".xmp",)  # photo managers' metadata beside a photo (facepipe.people.tags reads them)
SIDECAR_MAX_BYTES = 1_000_000  # as facepipe.models.xmp.MAX_PACKET_BYTES: a larger sidecar is not read


def sidecar_uris(uri: str) -> tuple[str, ...]:
    """The sidecars beside a photo's URI: ``IMG.JPG.xmp`` (digiKam), then ``IMG.xmp``
    (Lightroom), as facepipe.models.xmp.sidecar_paths names them beside a file."""
    head, _, name = uri.rpartition("/")
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return tuple(dict.fromkeys((f"{head}/{name}.xmp", f"{head}/{stem}.xmp")))


def _skipped_name(name: str) -> bool:
    """Hidden entries, and sidecars: metadata of a photo, not a photo (nor a reject)."""
    return name.startswith(".") or name.lower().endswith(SIDECARS)


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return path.lstat()
    except OSError:
        return None


def _size(st: os.stat_result | None) -> int | None:
    return None if st is None or stat.S_ISDIR(st.st_mode) else st.st_size


def _time(st: os.stat_result | None, field: str) -> dt.datetime | None:
    if st is None:
        return None
    return dt.datetime.fromtimestamp(getattr(st, field), tz=dt.UTC)


def _is_date(name: str) -> bool:
    try:
        dt.date.fromisoformat(name)
        return True
    except ValueError:
        return False


def _batched(items, n: int):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


# ---------------------------------------------------------------- S3

S3_CONN_ID_ENV = "FACEPIPE_S3_CONN_ID"
S3_DEFAULT_CONN_ID = "aws_default"
# AWS's rules are stricter; S3-compatible stores accept some more (capitals, underscores).
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$")

# Error codes a retry cannot fix: the task fails at once instead of retrying.
_REFUSED = {
    "NoSuchBucket": "the bucket does not exist",
    "InvalidBucketName": "invalid bucket name",
    "AccessDenied": "access denied",
    "AllAccessDisabled": "access denied",
    "AccountProblem": "access denied",
    "InvalidAccessKeyId": "the connection's credentials were refused",
    "SignatureDoesNotMatch": "the connection's credentials were refused",
    "InvalidToken": "the connection's credentials were refused",
    "AuthorizationHeaderMalformed": "the connection's credentials or region were refused",
    "NoCredentialsError": "the connection gives no credentials",
    "PartialCredentialsError": "the connection gives incomplete credentials",
    "ParamValidationError": "invalid bucket name or key",
    "ConnectionNotDefined": "the Airflow connection is not defined",
}
_TRANSIENT = {
    "EndpointConnectionError": "cannot connect to the S3 endpoint",
    "ConnectTimeoutError": "cannot connect to the S3 endpoint",
    "ReadTimeoutError": "the S3 endpoint did not answer in time",
    "ExpiredToken": "the connection's session token has expired",
    "SlowDown": "the store asks to slow down",
}


def _s3_conn_id() -> str:
    from facepipe.core.deployment import settings

    return settings().s3_conn_id


class S3Source:
    """Objects under ``s3://bucket/prefix``; a day's are those whose LastModified is in that UTC day.

    The prefix is a folder: ``s3://bucket/photos`` holds ``photos/...``, not
    ``photos2/...``. Keys ending in ``/`` (folder markers) and keys with a
    hidden part (a leading dot) below the prefix are skipped. URIs are
    ``s3://bucket/key``. Credentials come only from the Airflow connection.
    """

    def __init__(self, spec: str, conn_id: str | None = None, page_size: int | None = None):
        if not spec.startswith("s3://"):
            raise SourceError("an S3 source must look like s3://bucket/prefix")
        bucket, _, prefix = spec[len("s3://") :].partition("/")
        if not _BUCKET.match(bucket):
            # not echoed: a mistyped source may hold anything, credentials included
            raise SourceError("the S3 source's bucket name is missing or invalid (expected s3://bucket/prefix)")
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.conn_id = conn_id or _s3_conn_id()
        self.page_size = page_size
        self.name = f"s3://{bucket}/{self.prefix}"
        self._hook = None

    def __repr__(self) -> str:
        return f"S3Source({self.name!r}, conn_id={self.conn_id!r})"

    def _s3_hook(self):
        """The provider's S3Hook on the configured connection (which must exist)."""
        if self._hook is None:
            from airflow.providers.amazon.aws.hooks.s3 import S3Hook
            from airflow.providers.common.compat.sdk import AirflowNotFoundException

            hook = S3Hook(aws_conn_id=self.conn_id)
            try:
                hook.get_connection(self.conn_id)
            except AirflowNotFoundException:
                # without this check the provider would fall back to boto3's own credential search
                raise self._error("cannot open", "ConnectionNotDefined") from None
            self._hook = hook
        return self._hook

    def _client(self):
        from botocore.exceptions import BotoCoreError

        hook = self._s3_hook()
        try:
            return hook.get_conn()
        except BotoCoreError as exc:
            raise self._error("cannot open", type(exc).__name__) from None

    def list_day(self, day: dt.date, first_seen: FirstSeen | None = None) -> Iterator[Arrival]:
        """Arrivals of the day, one listing page (at most 1,000 keys) in memory at a time.

        An object's LastModified is its upload and no copy keeps an old one, so
        ``first_seen`` (for folder sources) is not needed here."""
        from botocore.exceptions import BotoCoreError, ClientError

        start, end = day_bounds(day)
        hook = self._s3_hook()
        self._client()  # fails here, named, if the client cannot be made
        try:
            for obj in hook.iter_file_metadata(prefix=self.prefix, bucket_name=self.bucket, page_size=self.page_size):
                key = obj["Key"]
                if _skipped_key(key[len(self.prefix) :]):
                    continue
                arrived = obj["LastModified"].astimezone(dt.UTC)
                if start <= arrived < end:
                    yield Arrival(uri=f"s3://{self.bucket}/{key}", bytes=obj.get("Size"), arrived_at=arrived)
        except ClientError as exc:
            raise self._error("cannot list", _client_error_code(exc)) from None
        except BotoCoreError as exc:
            raise self._error("cannot list", type(exc).__name__) from None

    def read(self, uri: str) -> bytes:
        """One object's bytes, fetched when the shard needs them."""
        from botocore.exceptions import BotoCoreError

        response = self._get(uri)
        body = response["Body"]
        try:
            size = response.get("ContentLength")
            if size is not None and size > MAX_OBJECT_BYTES:
                raise Unreadable("too_large", f"{size} bytes is more than {MAX_OBJECT_BYTES}")
            return body.read()
        except BotoCoreError as exc:  # the connection broke mid-object: a retry may read it
            raise self._error("cannot read an object of", type(exc).__name__) from None
        finally:
            body.close()

    def read_sidecars(self, uri: str) -> list[tuple[str, bytes]]:
        """The XMP sidecars photo managers keep beside the object (``IMG.JPG.xmp``, then
        ``IMG.xmp``; facepipe.models.xmp.sidecar_paths names them so for folders), as (name,
        bytes): those that exist, at most SIDECAR_MAX_BYTES each (larger ones are left out)."""
        return [(n, d) for n, d in self.fetch_sidecars(uri) if d is not None]

    def fetch_sidecars(self, uri: str) -> list[tuple[str, bytes | None]]:
        """As read_sidecars, with a sidecar over SIDECAR_MAX_BYTES (or unreadable) as (name,
        None): it is there, and a writer must not put another in its place."""
        out: list[tuple[str, bytes | None]] = []
        for sidecar in sidecar_uris(uri):
            try:
                response = self._get(sidecar)
            except Unreadable as exc:  # none there (the usual case), or not ours to read
                if exc.detail != "object no longer exists":
                    out.append((sidecar.rsplit("/", 1)[-1], None))
                continue
            body = response["Body"]
            data = None
            try:
                size = response.get("ContentLength")
                if size is None or size <= SIDECAR_MAX_BYTES:
                    data = body.read(SIDECAR_MAX_BYTES + 1)
                    data = data if len(data) <= SIDECAR_MAX_BYTES else None
            except self._boto_errors():  # cannot be read now: there, but not to be replaced
                data = None
            finally:
                body.close()
            out.append((sidecar.rsplit("/", 1)[-1], data))
        return out

    def put_sidecar(self, uri: str, data: bytes) -> None:
        """Write an XMP sidecar object (``.xmp``, inside the source: never a photo)."""
        self._put_or_delete(uri, data)

    def delete_sidecar(self, uri: str) -> None:
        """Delete an XMP sidecar object facepipe emptied (``.xmp``, inside the source)."""
        self._put_or_delete(uri, None)

    def _put_or_delete(self, uri: str, data: bytes | None) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        head = f"s3://{self.bucket}/"
        key = uri[len(head) :]
        if not uri.startswith(head) or not key.startswith(self.prefix) or not key.lower().endswith(SIDECARS):
            raise SourceError("only an XMP sidecar inside the source is written or deleted")
        client = self._client()
        try:
            if data is None:
                client.delete_object(Bucket=self.bucket, Key=key)
            else:
                client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="application/rdf+xml")
        except ClientError as exc:
            raise self._error("cannot write a sidecar in", _client_error_code(exc)) from None
        except BotoCoreError as exc:
            raise self._error("cannot write a sidecar in", type(exc).__name__) from None

    def head(self, uri: str, n: int = 64) -> bytes:
        """The object's first ``n`` bytes (a ranged GET): what it is, before it is fetched."""
        response = self._get(uri, Range=f"bytes=0-{n - 1}")
        body = response["Body"]
        try:
            return body.read(n)
        except self._boto_errors() as exc:
            raise self._error("cannot read an object of", type(exc).__name__) from None
        finally:
            body.close()

    @contextlib.contextmanager
    def open_stream(self, uri: str, max_bytes: int) -> Iterator[tuple[str, int]]:
        """(path, size) of a temporary copy of a large object (a video), refused as too_large
        from its size past ``max_bytes``. FFmpeg seeks in a video (its index may be at the end),
        so the object is copied in 8 MB parts to a file in FACEPIPE_TMP_DIR (default: the
        system's temporary folder), private to this process and deleted when the block ends,
        also on errors (only a killed process leaves it behind)."""
        response = self._get(uri)
        body = response["Body"]
        size = response.get("ContentLength")
        try:
            if size is not None and size > max_bytes:
                raise Unreadable("too_large", f"{size} bytes is more than {max_bytes} for a video")
            from facepipe.core.deployment import settings

            folder = settings().tmp_dir
            with tempfile.NamedTemporaryFile(prefix="facepipe-video-", dir=folder) as tmp:
                copied = 0
                try:
                    while chunk := body.read(8 * 1024 * 1024):
                        copied += len(chunk)
                        if copied > max_bytes:
                            raise Unreadable("too_large", f"more than {max_bytes} bytes for a video")
                        tmp.write(chunk)
                except self._boto_errors() as exc:
                    raise self._error("cannot read an object of", type(exc).__name__) from None
                except OSError as exc:
                    raise SourceError(f"cannot copy a video to the temporary folder: {exc.strerror}") from None
                tmp.flush()
                body.close()
                yield tmp.name, copied
        finally:
            body.close()

    def _boto_errors(self):
        from botocore.exceptions import BotoCoreError

        return BotoCoreError

    def _get(self, uri: str, **kwargs) -> dict:
        """get_object on an object of the source, its errors as for read."""
        from botocore.exceptions import BotoCoreError, ClientError

        head = f"s3://{self.bucket}/"
        key = uri[len(head) :]
        if not uri.startswith(head) or not key.startswith(self.prefix) or not key:
            raise Unreadable("outside_source", "object is outside the source's bucket and prefix")
        client = self._client()
        try:
            return client.get_object(Bucket=self.bucket, Key=key, **kwargs)
        except ClientError as exc:
            code = _client_error_code(exc)
            if code in ("NoSuchKey", "404", "NotFound"):
                raise Unreadable("unreadable", "object no longer exists") from None
            if code == "AccessDenied":
                raise Unreadable("unreadable", "access to the object denied (AccessDenied)") from None
            if code == "InvalidObjectState":
                raise Unreadable("unreadable", "object is archived (InvalidObjectState)") from None
            if code == "InvalidRange":  # a zero-byte object has no first byte
                return {"Body": _Empty(), "ContentLength": 0}
            raise self._error("cannot read an object of", code) from None
        except BotoCoreError as exc:
            raise self._error("cannot read an object of", type(exc).__name__) from None

    def _error(self, action: str, code: str) -> SourceError:
        """A SourceError naming the source and the error code, never the server's text or credentials."""
        what = _REFUSED.get(code) or _TRANSIENT.get(code) or "error"
        message = f"{action} {self.name} (Airflow connection {self.conn_id!r}): {what} ({code})"
        return _refused_error_type()(message) if code in _REFUSED else SourceError(message)


class _Empty:
    def read(self, n: int = -1) -> bytes:
        return b""

    def close(self) -> None:
        pass


def _skipped_key(relative: str) -> bool:
    """Folder markers, hidden keys (a part with a leading dot) and sidecars below the prefix."""
    return (
        not relative
        or relative.endswith("/")
        or any(p.startswith(".") for p in relative.split("/"))
        or relative.lower().endswith(SIDECARS)
    )


def _client_error_code(exc) -> str:
    code = str(exc.response.get("Error", {}).get("Code") or "")
    return code if re.fullmatch(r"[A-Za-z0-9.]{1,64}", code) else "unknown"


@functools.cache
def _refused_error_type() -> type[SourceError]:
    """SourceError that is also Airflow's AirflowFailException: the task fails without retrying.

    Made on first use so that the folder source never imports Airflow.
    """
    from airflow.sdk.exceptions import AirflowFailException

    class SourceRefused(SourceError, AirflowFailException):
        """The source refused us for a reason a retry cannot fix (no such bucket, bad credentials...)."""

    SourceRefused.__module__ = __name__
    SourceRefused.__qualname__ = "SourceRefused"
    return SourceRefused


def open_source(spec: str):
    if spec.startswith("s3://"):
        return S3Source(spec)
    return FolderSource(spec)
