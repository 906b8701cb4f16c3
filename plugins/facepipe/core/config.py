"""Settings: one typed model declares each of them once (type, range, default, scope,
description), and every process reads them through it (this module: the model and this
process's environment; facepipe.core.deployment: the deployment's values in the database).

Two scopes (docs/operating.md, Configuration):

- **process** settings say where this process keeps its state and how it is reached (its
  home, the schema's name, host, port, threads): each process's own environment.
- **deployment** settings decide what is kept, loaded or shown (retention, start date,
  source, detector, model, people, search, ...): one value for the deployment, kept in
  facepipe's database (table ``settings``, revision 0010, every change audited) and read
  there by every process. Where the database holds no value, the process's environment
  variable sets it, as before the table existed, else the default. An environment
  variable that disagrees with the database's value is not used, and the process's log
  says so (``differences``).

A bad value is a ConfigError of one line naming the setting and what it accepts.
The code itself names only the Airflow connection id.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, TypeAdapter, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[3]
SQL_DIR = PROJECT_ROOT / "include" / "sql"
DB_CONN_ID = "facepipe_db"
DB_CONN_ENV = f"AIRFLOW_CONN_{DB_CONN_ID.upper()}"
ENV_PREFIX = "FACEPIPE_"
DEFAULT_START_DATE = "2026-11-01"
SCHEMA_NAME_MAX_BYTES = 56  # <schema>_reader must fit PostgreSQL's 63 bytes
CACHE_SECONDS = 5.0  # a long-lived process (the api-server) reads the database's values again after this


class ConfigError(ValueError):
    """A setting or a param that a retry cannot fix; the message names it."""


def fail_fast(exc: Exception) -> Exception:
    """For a DAG's task: Airflow's AirflowFailException carrying ``exc``'s message, so that an
    error a retry cannot fix (a param, a setting, a model mismatch, failed validation, the schema
    behind) fails the task at once. Airflow is imported on use: nothing else here needs it."""
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(str(exc))


def _choice(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _text(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _path(value: Any) -> Any:
    """A path as text: trimmed, and no control character (a pasted newline, a NUL)."""
    if isinstance(value, str):
        value = value.strip()
        if not value or any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("not a path")
    return value


def _absolute(value: Any) -> Any:
    """A deployment's folder: one value for every process, so an absolute path (a relative one
    would be resolved from each process's own working folder)."""
    value = _path(value)
    if isinstance(value, str) and not value.startswith("/"):
        raise ValueError("not an absolute path")
    return value


def _source(value: Any) -> Any:
    value = _path(value)
    if isinstance(value, str) and value.startswith("s3://"):
        if not re.match(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$", value):
            raise ValueError("not s3://bucket/prefix")
        return value
    return _absolute(value)


Choice = BeforeValidator(_choice)
Stripped = BeforeValidator(_text)
PathText = BeforeValidator(_path)
AbsolutePath = BeforeValidator(_absolute)
SourceText = BeforeValidator(_source)
NAME = r"^[A-Za-z0-9_.\-]{1,250}$"  # an Airflow connection or DAG id, a host name
PROCESS, DEPLOYMENT = "process", "deployment"


def setting(default: Any, description: str, *, scope: str, accepts: str | None = None, **limits: Any) -> Any:
    """A field of the model: its default, its description (the docs table's), its scope and,
    where the type cannot say it, what it accepts (for the one-line error)."""
    extra = {"scope": scope} | ({"accepts": accepts} if accepts else {})
    return Field(default, description=description, json_schema_extra=extra, **limits)


class FacepipeSettings(BaseSettings):
    """Every setting facepipe has. A field ``name`` is the environment variable
    ``FACEPIPE_<NAME>`` and the name ``facepipe settings set`` takes."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_ignore_empty=True, extra="ignore", frozen=True, validate_default=True
    )

    # --- process: each process's own environment -------------------------------------------
    home: Annotated[Path, PathText] = setting(
        PROJECT_ROOT / ".facepipe",
        "state folder: the embedded database, staging files, the local Airflow's home",
        scope=PROCESS,
        accepts="a folder path",
    )
    db_schema: Annotated[str, Stripped] = setting(
        "facepipe",
        "schema of facepipe's tables (and of this table of settings); the reader views are in `<schema>_reader`",
        scope=PROCESS,
        accepts=f"a schema name of 1 to {SCHEMA_NAME_MAX_BYTES} bytes, not ending in _reader",
    )
    airflow_host: Annotated[str, Stripped] = setting(
        "127.0.0.1",
        "where `facepipe airflow` (`make airflow`) serves the UI and REST API; 0.0.0.0 opens it to the network",
        scope=PROCESS,
        accepts="a host name or address",
        pattern=r"^[A-Za-z0-9.:\-\[\]]{1,253}$",
    )
    airflow_port: int = setting(
        8080,
        "the port of that UI and REST API",
        scope=PROCESS,
        accepts="a TCP port, a whole number from 1 to 65535",
        ge=1,
        le=65535,
    )
    model_threads: int = setting(
        1,
        "onnxruntime threads per task (a day's shards already run one per core)",
        scope=PROCESS,
        ge=1,
        le=256,
    )
    clip_model_path: Annotated[Path | None, PathText] = setting(
        None,
        "this machine's copy of imgbeddings' `patch32_v1.onnx`; unset: downloaded from the Hugging Face repo"
        " `minimaxir/imgbeddings`",
        scope=PROCESS,
        accepts="a file path",
    )
    tmp_dir: Annotated[Path | None, PathText] = setting(
        None,
        "where a large S3 object is copied before it is decoded; unset: the system's temporary folder",
        scope=PROCESS,
        accepts="a folder path",
    )
    worker_name: Annotated[str | None, Stripped] = setting(
        None,
        "this worker's host name in Airflow's task logs (with `AIRFLOW__CORE__HOSTNAME_CALLABLE="
        "facepipe.ops.worker.hostname`); unset: the FQDN",
        scope=PROCESS,
        accepts="a host name (letters, digits, . _ -)",
        pattern=NAME,
    )
    web_upload_max_mb: int = setting(
        50, "the largest photo the Faces view's search accepts, in MB", scope=PROCESS, ge=1, le=2048
    )
    embedded_db: bool = setting(
        False,
        "1: use the embedded database even where Airflow knows a connection `facepipe_db`",
        scope=PROCESS,
        accepts="0 or 1",
    )

    # --- deployment: one value, kept in the database ---------------------------------------
    start_date: dt.date = setting(
        dt.date.fromisoformat(DEFAULT_START_DATE),
        "the first day `face_ingest` covers: the schedule runs every day from it (catchup), and"
        " `facepipe status` lists the days since it that never loaded",
        scope=DEPLOYMENT,
        accepts="a date like 2026-11-01, from 1970-01-01 to 2999-12-31",
        ge=dt.date(1970, 1, 1),
        le=dt.date(2999, 12, 31),
    )
    retention_days: int = setting(
        0,
        "days kept (0: every day is kept forever). With N, a run on day D keeps D - N and later days;"
        " `face_retention` removes every earlier one and records that horizon, before which no day"
        " is loaded again",
        scope=DEPLOYMENT,
        ge=0,
        le=36500,
    )
    source: Annotated[str | None, SourceText] = setting(
        None,
        "the photo folder, or `s3://bucket/prefix` (param `source`); unset: `$FACEPIPE_HOME/photos`",
        scope=DEPLOYMENT,
        accepts="an absolute folder path or s3://bucket/prefix",
    )
    s3_conn_id: Annotated[str, Stripped] = setting(
        "aws_default",
        "the Airflow AWS connection of an S3 source",
        scope=DEPLOYMENT,
        accepts="an Airflow connection id (letters, digits, . _ -)",
        pattern=NAME,
    )
    reports_dir: Annotated[Path | None, AbsolutePath] = setting(
        None,
        "the daily reports and validation results; unset: `$FACEPIPE_HOME/reports`",
        scope=DEPLOYMENT,
        accepts="an absolute folder path",
    )
    enrol_dir: Annotated[Path | None, AbsolutePath] = setting(
        None,
        "the people folder `face_report` enrols (a sub-folder of photos per person); unset:"
        " `$FACEPIPE_HOME/people` if it exists",
        scope=DEPLOYMENT,
        accepts="an absolute folder path",
    )
    detector: Annotated[Literal["mtcnn", "hog", "haar"], Choice] = setting(
        "mtcnn", "the face detector: `mtcnn`, `hog` (dlib) or `haar` (OpenCV) (param `detector`)", scope=DEPLOYMENT
    )
    model: Annotated[Literal["dlib-resnet-128", "imgbeddings-clip-768"], Choice] = setting(
        "dlib-resnet-128",
        "the embedding model (param `model`); it must match the vectors the tables hold",
        scope=DEPLOYMENT,
    )
    schema_upgrade: Annotated[Literal["auto", "manual"], Choice] = setting(
        "auto",
        "whether the DAGs' first tasks and the command line upgrade a database that is behind (`auto`),"
        " or only `facepipe db upgrade` does (`manual`)",
        scope=DEPLOYMENT,
    )
    shard_size: int = setting(
        200,
        "photos per mapped `process` task; a day may have at most Airflow's `max_map_length` (1,024) shards",
        scope=DEPLOYMENT,
        ge=1,
        le=100_000,
    )
    min_face: int = setting(
        64,
        "the smallest face to find, in pixels of the original photo",
        scope=DEPLOYMENT,
        accepts="a whole number of pixels from 12 to 4096",
        ge=12,
        le=4096,
    )
    haar_scale_factor: float = setting(
        1.1,
        "step between the Haar cascade's scales (OpenCV's default); 1.2 is about 1.8x faster and may miss faces",
        scope=DEPLOYMENT,
        accepts="a number above 1 and at most 2",
        gt=1.0,
        le=2.0,
    )
    max_active_shards: int = setting(
        os.cpu_count() or 2,
        "`process` shards of a day running at once; with Celery workers, the task slots of all workers"
        " (read when the DAG file is parsed); default: the parsing machine's cores",
        scope=DEPLOYMENT,
        ge=1,
        le=1024,
    )
    staging_keep_days: int = setting(
        7, "how long a run's plan and staged rows are kept for a Clear of its tasks", scope=DEPLOYMENT, ge=1, le=3650
    )
    video_sample_seconds: float = setting(
        1.0, "a video frame is sampled about this often, in seconds", scope=DEPLOYMENT, ge=0.04, le=3600.0
    )
    video_max_seconds: float = setting(
        3 * 3600.0, "longer videos are rejected (`too_long`), in seconds", scope=DEPLOYMENT, ge=1.0, le=7 * 86400.0
    )
    video_max_pixels: int = setting(
        7680 * 4320, "videos of larger frames are rejected (`too_large`)", scope=DEPLOYMENT, ge=64 * 64, le=16384**2
    )
    video_max_frames: int = setting(
        1800,
        "more samples than this: the video is sampled sparsely, spread over its length",
        scope=DEPLOYMENT,
        ge=1,
        le=1_000_000,
    )
    video_max_bytes: int = setting(
        16 * 1024**3,
        "larger video files are rejected from their size, never opened",
        scope=DEPLOYMENT,
        ge=1024,
        le=2**50,
    )
    people_min_faces: int = setting(
        3, "a new identity needs this many close unassigned faces", scope=DEPLOYMENT, ge=2, le=100
    )
    people_pool_days: int = setting(
        30, "unassigned faces wait this many days for a group", scope=DEPLOYMENT, ge=1, le=3660
    )
    people_neighbours: int = setting(20, "pooled faces examined per new face", scope=DEPLOYMENT, ge=2, le=1000)
    people_join: float = setting(
        0.9,
        "a face joins an identity whose centroid and nearest member are at most this far (a fraction of the"
        " model's threshold)",
        scope=DEPLOYMENT,
        ge=0.1,
        le=1.0,
    )
    people_margin: float = setting(
        0.1,
        "... and the next identity's centroid is at least this much farther (else a question)",
        scope=DEPLOYMENT,
        ge=0.0,
        le=1.0,
    )
    people_radius_slack: float = setting(
        0.3, "... and within the identity's radius plus this", scope=DEPLOYMENT, ge=0.0, le=1.0
    )
    people_members: int = setting(
        32, "newest faces of the nearest identity compared with a new face", scope=DEPLOYMENT, ge=1, le=1000
    )
    people_duplicate: float = setting(
        0.5, "a new group this near an identity's centroid is not made", scope=DEPLOYMENT, ge=0.0, le=1.0
    )
    search_lists: int = setting(
        0,
        "lists of the search structure's next centroids; 0: a list per 64 faces (at most 65,536)",
        scope=DEPLOYMENT,
        ge=0,
        le=65_536,
    )
    search_probes: int = setting(
        128,
        "lists a search reads: more, higher recall and slower (bench/HISTORY.md section 13)",
        scope=DEPLOYMENT,
        ge=1,
        le=65_536,
    )
    search_retrain_growth: float = setting(
        2.0,
        "`face_search` trains new centroids when the faces have grown this many times since the current ones",
        scope=DEPLOYMENT,
        ge=1.1,
        le=1000.0,
    )
    xmp_write: Annotated[Literal["off", "on"], Choice] = setting(
        "off",
        "`on`: the night (after its assignment and face tags) and every rename, merge or move write the"
        " named faces of folder photos as MWG regions and PersonInImage names into XMP sidecars"
        " (`photo.jpg.xmp`, or an existing `photo.xmp`); never into a photo (docs/using.md)",
        scope=DEPLOYMENT,
    )
    xmp_folder: Annotated[Path | None, AbsolutePath] = setting(
        None,
        "where `xmp_write` puts the sidecars, at each photo's path relative to `source` (for a read-only"
        " photo folder); unset: beside each photo",
        scope=DEPLOYMENT,
        accepts="an absolute folder path",
    )
    web_dag: Annotated[str, Stripped] = setting(
        "face_report",
        "the DAG whose permissions the Faces view follows (read: GET access to it; changes: edit access)",
        scope=DEPLOYMENT,
        accepts="a DAG id (letters, digits, . _ -)",
        pattern=NAME,
    )

    @model_validator(mode="after")
    def _together(self) -> FacepipeSettings:
        name = self.db_schema
        if not name or len(name.encode("utf-8")) > SCHEMA_NAME_MAX_BYTES or "\x00" in name or name.endswith("_reader"):
            raise ValueError("db_schema")
        return self

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        return (init_settings, env_settings)  # the database's values (given as init), then the environment


FIELDS = FacepipeSettings.model_fields


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def field_name(text: str) -> str:
    """A setting's field name from what a person typed: ``retention_days``, ``RETENTION_DAYS`` or
    ``FACEPIPE_RETENTION_DAYS``; a ConfigError naming the choices for anything else."""
    name = text.strip().lower().replace("-", "_")
    name = name[len(ENV_PREFIX) :] if name.startswith(ENV_PREFIX.lower()) else name
    if name not in FIELDS:
        raise ConfigError(f"no setting {text[:60]!r}: `facepipe settings` lists them")
    return name


def scope(name: str) -> str:
    return FIELDS[name].json_schema_extra["scope"]


def accepts(name: str) -> str:
    """What a setting accepts, in words, from its declaration."""
    info = FIELDS[name]
    if "accepts" in info.json_schema_extra:
        return info.json_schema_extra["accepts"]
    low = high = None
    above = False
    for m in info.metadata:
        low = getattr(m, "ge", low)
        if getattr(m, "gt", None) is not None:
            low, above = m.gt, True
        high = getattr(m, "le", high)
    kind = info.annotation
    choices = getattr(kind, "__args__", None)
    if getattr(kind, "__origin__", None) is Literal or (choices and all(isinstance(c, str) for c in choices)):
        return "one of " + ", ".join(choices)
    if kind is int:
        return f"a whole number from {low} to {high}"
    if kind is float:
        return f"a number {'above' if above else 'from'} {low:g} {'and at most' if above else 'to'} {high:g}"
    return "text of at least one character"


def _first_error(exc: ValidationError, origins: dict[str, str]) -> ConfigError:
    err = exc.errors()[0]
    loc = err.get("loc") or ()
    name = loc[0] if loc and loc[0] in FIELDS else None
    if name is None:  # the model's own check: its message is the field's name
        text = str(err.get("msg", ""))
        name = next((n for n in FIELDS if text.endswith(n)), None)
    if name is None:
        return ConfigError(f"a setting is not valid: {err.get('msg')}")
    got = err.get("input")
    if not loc or loc[0] not in FIELDS:  # a check of two fields: show the value that failed
        got = origins.get(name + ":value")
    where = origins.get(name, "environment")
    shown = f"{str(got)[:40]!r}" if isinstance(got, str) else repr(got)
    return ConfigError(f"{env_name(name)} must be {accepts(name)}, got {shown}{_where(where)}")


def _where(origin: str) -> str:
    return "" if origin == "environment" else f" ({origin})"


# --- this process's settings -------------------------------------------------------------------


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX) and v.strip()}


def build(values: dict[str, str], where: dict[str, str] | None = None) -> FacepipeSettings:
    """The model from ``values`` (field name -> text; they win over the environment) and this
    process's environment; ``where``: where each of ``values`` came from, for the error."""
    env = _environment()
    origins: dict[str, str] = {}
    for name in FIELDS:
        if name in values:
            origins[name] = (where or {}).get(name, "given")
            origins[name + ":value"] = values[name]
        elif env_name(name) in env:
            origins[name] = "environment"
            origins[name + ":value"] = env[env_name(name)]
    try:
        return FacepipeSettings(**values)
    except ValidationError as exc:
        raise _first_error(exc, origins) from None


_env_cache: dict[tuple, FacepipeSettings] = {}


def process_settings() -> FacepipeSettings:
    """The settings from this process's environment only (no database): enough for the
    process ones (home, schema, host, port, threads)."""
    key = tuple(sorted(_environment().items()))
    if key not in _env_cache:
        _env_cache.clear()
        _env_cache[key] = build({})
    return _env_cache[key]


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


def parse_value(name: str, text: str) -> Any:
    """``text`` as the setting ``name`` reads it, or the one-line ConfigError naming it."""
    info = FIELDS[name]
    try:
        kind = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        return TypeAdapter(kind).validate_python(text)
    except ValidationError:
        shown = f"{text[:40]!r}"
        raise ConfigError(f"{env_name(name)} must be {accepts(name)}, got {shown}") from None
