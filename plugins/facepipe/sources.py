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

import datetime as dt
import functools
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
        return Arrival(uri=uri_of(path), bytes=size, arrived_at=mtime or fallback)

    def read(self, uri: str) -> bytes:
        path = path_of(uri)
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


def uri_of(path: Path) -> str:
    """The path as text the database can hold.

    A file name that is not valid UTF-8 (old cameras, zip files from Windows)
    has its odd bytes written as ``\\xNN``; ``path_of`` maps them back.
    """
    text = str(path)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def path_of(uri: str) -> Path:
    """The file behind a folder source's URI (see ``uri_of``)."""
    if "\\x" in uri and not os.path.lexists(uri):
        return Path(re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(0xDC00 + int(m.group(1), 16)), uri))
    return Path(uri)


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


# ---------------------------------------------------------------- S3

S3_CONN_ID_ENV = "FACEPIPE_S3_CONN_ID"
S3_DEFAULT_CONN_ID = "aws_default"
MAX_OBJECT_BYTES = 512 * 1024 * 1024  # larger objects are rejected as too_large, never downloaded
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
        bucket, _, prefix = spec[len("s3://"):].partition("/")
        if not _BUCKET.match(bucket):
            # not echoed: a mistyped source may hold anything, credentials included
            raise SourceError("the S3 source's bucket name is missing or invalid (expected s3://bucket/prefix)")
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.conn_id = conn_id or os.environ.get(S3_CONN_ID_ENV) or S3_DEFAULT_CONN_ID
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

    def list_day(self, day: dt.date) -> Iterator[Arrival]:
        """Arrivals of the day, one listing page (at most 1,000 keys) in memory at a time."""
        from botocore.exceptions import BotoCoreError, ClientError

        start, end = day_bounds(day)
        hook = self._s3_hook()
        self._client()  # fails here, named, if the client cannot be made
        try:
            for obj in hook.iter_file_metadata(prefix=self.prefix, bucket_name=self.bucket,
                                               page_size=self.page_size):
                key = obj["Key"]
                if _skipped_key(key[len(self.prefix):]):
                    continue
                arrived = obj["LastModified"].astimezone(dt.timezone.utc)
                if start <= arrived < end:
                    yield Arrival(uri=f"s3://{self.bucket}/{key}", bytes=obj.get("Size"), arrived_at=arrived)
        except ClientError as exc:
            raise self._error("cannot list", _client_error_code(exc)) from None
        except BotoCoreError as exc:
            raise self._error("cannot list", type(exc).__name__) from None

    def read(self, uri: str) -> bytes:
        """One object's bytes, fetched when the shard needs them."""
        from botocore.exceptions import BotoCoreError, ClientError

        head = f"s3://{self.bucket}/"
        key = uri[len(head):]
        if not uri.startswith(head) or not key.startswith(self.prefix) or not key:
            raise Unreadable("outside_source", "object is outside the source's bucket and prefix")
        client = self._client()
        try:
            response = client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            code = _client_error_code(exc)
            if code in ("NoSuchKey", "404", "NotFound"):
                raise Unreadable("unreadable", "object no longer exists") from None
            if code == "AccessDenied":  # this object only: the listing was allowed
                raise Unreadable("unreadable", "access to the object denied (AccessDenied)") from None
            if code == "InvalidObjectState":
                raise Unreadable("unreadable", "object is archived (InvalidObjectState)") from None
            raise self._error("cannot read an object of", code) from None
        except BotoCoreError as exc:
            raise self._error("cannot read an object of", type(exc).__name__) from None
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

    def _error(self, action: str, code: str) -> SourceError:
        """A SourceError naming the source and the error code, never the server's text or credentials."""
        what = _REFUSED.get(code) or _TRANSIENT.get(code) or "error"
        message = f"{action} {self.name} (Airflow connection {self.conn_id!r}): {what} ({code})"
        return _refused_error_type()(message) if code in _REFUSED else SourceError(message)


def _skipped_key(relative: str) -> bool:
    """Folder markers and hidden keys (a part with a leading dot) below the prefix."""
    return not relative or relative.endswith("/") or any(p.startswith(".") for p in relative.split("/"))


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

