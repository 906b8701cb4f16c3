"""Sample days ingested and reported through Airflow in a schema of their own."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def reported_days(prefix: str, photos: Path, people: Path, enrol_dir: Path, sample_days) -> Iterator[str]:
    """face_ingest then face_report for each day, only Eileen Collins enrolled; yields the schema."""
    from facepipe.ops.demo import run_day

    schema = prefix + uuid.uuid4().hex[:8]
    shutil.copytree(people / "eileen_collins", enrol_dir / "eileen_collins")
    saved = {k: os.environ.get(k) for k in ("FACEPIPE_DB_SCHEMA", "FACEPIPE_ENROL_DIR")}
    os.environ.update(FACEPIPE_DB_SCHEMA=schema, FACEPIPE_ENROL_DIR=str(enrol_dir))
    try:
        for day in sample_days:
            assert run_day("face_ingest", day.isoformat(), source=str(photos)) == "success"
        for day in sample_days:
            assert run_day("face_report", day.isoformat()) == "success"
        yield schema
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
