"""Deployment settings, read from the environment once per process.

Everything a user configures is an environment variable (or a DAG param that
overrides it for one run); the code only names the Airflow connection id.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parents[3]
SQL_DIR = PROJECT_ROOT / "include" / "sql"
DB_CONN_ID = "facepipe_db"
DB_CONN_ENV = f"AIRFLOW_CONN_{DB_CONN_ID.upper()}"


class ConfigError(ValueError):
    """A setting or a param that a retry cannot fix; the message names it."""


def fail_fast(exc: Exception) -> Exception:
    """For a DAG's task: Airflow's AirflowFailException carrying ``exc``'s message, so that an
    error a retry cannot fix (a param, a setting, a model mismatch, failed validation, the schema
    behind) fails
    the task at once. Airflow is imported on use: nothing else here needs it."""
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(str(exc))


DEFAULT_START_DATE = "2026-11-01"


def start_date() -> dt.date:
    """The first day face_ingest covers (FACEPIPE_START_DATE): the schedule runs every day
    from it (catchup), and ``facepipe status`` reports the days since it that never loaded."""
    text = os.environ.get("FACEPIPE_START_DATE") or DEFAULT_START_DATE
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"FACEPIPE_START_DATE must be a date like 2026-11-01, got {text!r}") from None


def retention_days() -> int:
    """FACEPIPE_RETENTION_DAYS: how many days back from a run's day are kept (0: keep forever).
    See retention_horizon and facepipe.privacy.retention."""
    return _whole("FACEPIPE_RETENTION_DAYS", 0, 0, 36500)


def retention_horizon(today: dt.date | None = None, keep_days: int | None = None) -> dt.date | None:
    """The first day retention keeps on ``today`` (default: today, UTC): ``today - keep_days``.
    Every day before it is expired; None when retention is off (0 days)."""
    keep = retention_days() if keep_days is None else keep_days
    if keep <= 0:
        return None
    today = today or dt.datetime.now(dt.UTC).date()
    return today - dt.timedelta(days=keep)


def max_active_shards() -> int:
    """How many process shards of face_ingest may run at once (FACEPIPE_MAX_ACTIVE_SHARDS,
    read when the DAG file is parsed): by default the parsing machine's cores, which fits
    LocalExecutor; with Celery workers, the task slots of all the workers."""
    return _whole("FACEPIPE_MAX_ACTIVE_SHARDS", os.cpu_count() or 2, 1, 1024)


@dataclass(frozen=True)
class Settings:
    home: Path  # state folder: embedded database, staging
    source: str  # folder path (s3:// later)
    reports_dir: Path
    enrol_dir: Path | None  # one sub-folder of photos per enrolled person
    detector: str
    model: str
    db_schema: str
    clip_model_path: str | None
    shard_size: int
    min_face: int  # smallest face to find, in pixels of the original photo
    haar_scale_factor: float  # step between the Haar cascade's scales (> 1)
    staging_keep_days: int  # a run's plan and staged rows are kept this long for a Clear


def _enrol_dir(home: Path) -> Path | None:
    if os.environ.get("FACEPIPE_ENROL_DIR"):
        return Path(os.environ["FACEPIPE_ENROL_DIR"])
    default = home / "people"
    return default if default.is_dir() else None


def settings() -> Settings:
    home = Path(os.environ.get("FACEPIPE_HOME", PROJECT_ROOT / ".facepipe")).resolve()
    return Settings(
        home=home,
        source=os.environ.get("FACEPIPE_SOURCE", str(home / "photos")),
        reports_dir=Path(os.environ.get("FACEPIPE_REPORTS_DIR", home / "reports")),
        enrol_dir=_enrol_dir(home),
        detector=os.environ.get("FACEPIPE_DETECTOR", "mtcnn"),
        model=os.environ.get("FACEPIPE_MODEL", "dlib-resnet-128"),
        db_schema=os.environ.get("FACEPIPE_DB_SCHEMA", "facepipe"),
        clip_model_path=os.environ.get("FACEPIPE_CLIP_MODEL_PATH") or None,
        shard_size=_whole("FACEPIPE_SHARD_SIZE", 200, 1, 100_000),
        min_face=_min_face(os.environ.get("FACEPIPE_MIN_FACE", "64")),
        haar_scale_factor=_scale_factor(os.environ.get("FACEPIPE_HAAR_SCALE_FACTOR", "1.1")),
        staging_keep_days=_whole("FACEPIPE_STAGING_KEEP_DAYS", 7, 1, 3650),
    )


def _min_face(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 12 <= value <= 4096:
        raise ConfigError(f"FACEPIPE_MIN_FACE must be a whole number of pixels from 12 to 4096, got {text!r}")
    return value


def check_settings() -> Settings:
    """All settings, each checked, and the database connection's form: a ConfigError
    naming the setting, before a run starts any work."""
    s = settings()
    name = s.db_schema
    if not name or len(name.encode("utf-8")) > 56 or "\x00" in name:
        raise ConfigError(
            "FACEPIPE_DB_SCHEMA must be a schema name of 1 to 56 bytes (its reader views go in"
            " <schema>_reader, and PostgreSQL cuts names at 63 bytes)"
        )
    if name.endswith("_reader"):
        raise ConfigError("FACEPIPE_DB_SCHEMA cannot end with _reader: that is the name of a schema's reader views")
    upgrade = (os.environ.get("FACEPIPE_SCHEMA_UPGRADE") or "auto").strip().lower()
    if upgrade not in ("auto", "manual"):
        raise ConfigError(f"FACEPIPE_SCHEMA_UPGRADE must be auto or manual, got {upgrade[:40]!r}")
    retention_days()
    check_connection_setting()
    return s


def _whole(name: str, default: int, low: int, high: int) -> int:
    text = os.environ.get(name, "").strip() or str(default)
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ConfigError(f"{name} must be a whole number from {low} to {high}, got {text[:40]!r}")
    return value


def _decimal(name: str, default: float, low: float, high: float) -> float:
    text = os.environ.get(name, "").strip() or str(default)
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ConfigError(f"{name} must be a number from {low} to {high}, got {text[:40]!r}")
    return value


def _scale_factor(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 1.0 < value <= 2.0:
        raise ConfigError(f"FACEPIPE_HAAR_SCALE_FACTOR must be a number above 1 and at most 2, got {text!r}")
    return value


def check_connection_setting() -> None:
    """AIRFLOW_CONN_FACEPIPE_DB, if set, must parse: Airflow reports a URI it cannot
    parse as a connection that "isn't defined". The value is never echoed (it holds
    the password)."""
    value = os.environ.get(DB_CONN_ENV, "").strip()
    if not value:
        return
    if value.startswith("{"):
        try:
            if not isinstance(json.loads(value), dict):
                raise ValueError
        except ValueError:
            raise ConfigError(
                f"{DB_CONN_ENV} is not valid JSON (expected an object such as"
                ' {"conn_type": "postgres", "host": ..., "login": ..., "password": ...})'
            ) from None
        return
    hint = (
        f"{DB_CONN_ENV} is not a valid connection URI: percent-encode the characters / # ? @ : in"
        " the login and password (urllib.parse.quote(password, safe='')), or give the"
        " connection as JSON"
    )
    parts = urlsplit(value)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ConfigError(f"{DB_CONN_ENV} must start with postgres:// or postgresql://")
    try:
        _ = parts.port  # raises ValueError on a port that is not a number
    except ValueError:
        raise ConfigError(hint) from None
    if "@" in parts.path + parts.query + parts.fragment or parts.fragment:
        raise ConfigError(hint)
