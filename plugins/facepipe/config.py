"""Deployment settings, read from the environment once per process.

Everything a user configures is an environment variable (or a DAG param that
overrides it for one run); the code only names the Airflow connection id.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SQL_DIR = PROJECT_ROOT / "include" / "sql"
DB_CONN_ID = "facepipe_db"


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
        shard_size=int(os.environ.get("FACEPIPE_SHARD_SIZE", "200")),
        min_face=_min_face(os.environ.get("FACEPIPE_MIN_FACE", "64")),
        haar_scale_factor=_scale_factor(os.environ.get("FACEPIPE_HAAR_SCALE_FACTOR", "1.1")),
    )


def _min_face(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 12 <= value <= 4096:
        raise ValueError(f"FACEPIPE_MIN_FACE must be a whole number of pixels from 12 to 4096, got {text!r}")
    return value


def _scale_factor(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 1.0 < value <= 2.0:
        raise ValueError(f"FACEPIPE_HAAR_SCALE_FACTOR must be a number above 1 and at most 2, got {text!r}")
    return value
