"""Sample days ingested and reported through Airflow, in a schema of their own per caller.

The three days go through face_ingest and face_report (dag.test) once per photo folder and
test session, about 17 s; every caller after that gets a copy: the schema (and its reader
schema) restored from pg_dump's text under a new name, its column statistics included, the enrolment folder as
it was before the runs, and the report and validation files the runs wrote, copied into the
caller's FACEPIPE_REPORTS_DIR. Photos and enrolment photos stay at the paths the runs read
(image ids are uuid5 of the path), so a caller that changes its photos passes a folder of
its own at a fixed path and puts the photos back before each call.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Night:
    schema: str
    enrol_dir: Path  # Eileen Collins's enrolment photos, as the runs read them


@dataclass(frozen=True)
class _Template:
    schema: str  # the name the dump uses (the schema itself is dropped after the dump)
    dump: str
    enrol_dir: Path
    enrol_snapshot: Path
    reports: Path  # what the runs wrote


_templates: dict[Path, _Template] = {}


@contextmanager
def _env(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def _uri() -> str:
    from facepipe.core.db import embedded_uri
    from facepipe.core.deployment import settings

    return embedded_uri(settings().home)  # the tests' server: they never configure another


def _bin(name: str) -> str:
    from fixtures.make_schema_dumps import pg_bin

    from facepipe.core.deployment import settings

    return pg_bin(settings().home, name)


def _run(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run(args, input=stdin, capture_output=True, text=True)
    assert done.returncode == 0, f"{Path(args[0]).name} failed: {done.stderr}"
    return done.stdout


def _build(photos: Path, sample_days) -> _Template:
    """face_ingest then face_report for each day, only Eileen Collins enrolled; dumped."""
    from facepipe.core.db import connect
    from facepipe.ops.demo import run_day
    from facepipe.ops.samples import enrolment_photos

    base = Path(tempfile.mkdtemp(prefix="facepipe-nights-"))
    atexit.register(shutil.rmtree, base, True)
    enrolment_photos(base / "people")
    enrol = base / "enrol"
    shutil.copytree(base / "people" / "eileen_collins", enrol / "eileen_collins")
    shutil.copytree(enrol, base / "enrol-snapshot")
    schema = "tpl_" + uuid.uuid4().hex[:12]
    with _env(FACEPIPE_DB_SCHEMA=schema, FACEPIPE_ENROL_DIR=str(enrol), FACEPIPE_REPORTS_DIR=str(base / "reports")):
        for day in sample_days:
            assert run_day("face_ingest", day.isoformat(), source=str(photos)) == "success"
        for day in sample_days:
            assert run_day("face_report", day.isoformat()) == "success"
    dump = _run(
        _bin("pg_dump"),
        "--dbname",
        _uri(),
        "--schema",
        schema,
        "--schema",
        schema + "_reader",
        "--no-owner",
        "--statistics",
    )
    with connect() as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}_reader" CASCADE')
    return _Template(schema, dump, enrol, base / "enrol-snapshot", base / "reports")


@contextmanager
def reported_days(prefix: str, photos: Path, sample_days) -> Iterator[Night]:
    """The sample days of ``photos`` ingested and reported (only Eileen Collins enrolled) in a
    new schema ``prefix...``, with FACEPIPE_DB_SCHEMA and FACEPIPE_ENROL_DIR set to it while the
    caller holds it."""
    key = photos.resolve()
    if key not in _templates:
        _templates[key] = _build(photos, sample_days)
    t = _templates[key]
    schema = prefix + uuid.uuid4().hex[:8]
    shutil.rmtree(t.enrol_dir, ignore_errors=True)
    shutil.copytree(t.enrol_snapshot, t.enrol_dir)
    reports = Path(os.environ["FACEPIPE_REPORTS_DIR"])
    if t.reports.exists():
        shutil.copytree(t.reports, reports, dirs_exist_ok=True)
    psql = [_bin("psql"), "--dbname", _uri(), "--quiet", "--no-psqlrc", "--set", "ON_ERROR_STOP=1"]
    _run(*psql, stdin=t.dump.replace(t.schema, schema))
    with _env(FACEPIPE_DB_SCHEMA=schema, FACEPIPE_ENROL_DIR=str(t.enrol_dir)):
        yield Night(schema, t.enrol_dir)


@contextmanager
def photo_folder_night(prefix: str, photos: Path, copy: Path, sample_days, tmp_path: Path, monkeypatch):
    """The sample days reported from ``copy``, a fresh copy of ``photos`` a test may add sidecars
    to; FACEPIPE_REPORTS_DIR, FACEPIPE_DB_SCHEMA and FACEPIPE_ENROL_DIR set to it. Yields the schema."""
    monkeypatch.setenv("FACEPIPE_REPORTS_DIR", str(tmp_path / "reports"))
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(photos, copy, symlinks=True)
    with reported_days(prefix, copy, sample_days) as n:
        monkeypatch.setenv("FACEPIPE_DB_SCHEMA", n.schema)
        monkeypatch.setenv("FACEPIPE_ENROL_DIR", str(n.enrol_dir))
        yield n.schema
