"""Test fixtures: a real embedded PostgreSQL with pgvector and a real Airflow home.

The environment is set here, before anything imports Airflow, so every test
and every dag.test() run uses a throwaway state folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

_STATE = Path(tempfile.mkdtemp(prefix="fp-test-"))
os.environ["FACEPIPE_HOME"] = str(_STATE)
os.environ["FACEPIPE_REPORTS_DIR"] = str(_STATE / "reports")
os.environ.pop("AIRFLOW_CONN_FACEPIPE_DB", None)
os.environ.pop("FACEPIPE_SOURCE", None)
os.environ.pop("FACEPIPE_MODEL", None)
os.environ.pop("FACEPIPE_DETECTOR", None)
from facepipe.ops.local_airflow import airflow_env  # noqa: E402  (no Airflow import)

os.environ.update(airflow_env(_STATE))

# the Faces view's api-server (fixtures web, people): tests/test_web.py, tests/test_web_browser.py
pytest_plugins = ["helpers.webstack"]


@pytest.fixture(scope="session")
def pg_uri():
    from facepipe.core.db import embedded_uri, stop_embedded

    uri = embedded_uri(_STATE)
    yield uri
    stop_embedded(_STATE)
    shutil.rmtree(_STATE, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db(pg_uri):
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )


@pytest.fixture
def schema(pg_uri, monkeypatch):
    """A schema of its own for each test, dropped afterwards."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    monkeypatch.setenv("FACEPIPE_DB_SCHEMA", name)
    yield name
    with psycopg.connect(pg_uri, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}_reader" CASCADE')


@pytest.fixture
def db(pg_uri):
    import psycopg

    with psycopg.connect(pg_uri, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def sample_days():
    import datetime as dt

    return [dt.date(2026, 11, 20), dt.date(2026, 11, 21), dt.date(2026, 11, 22)]


@pytest.fixture(scope="session")
def photos(sample_days, tmp_path_factory) -> Path:
    """Real faces from scikit-image laid out over three days, one corrupt upload."""
    from facepipe.ops.samples import lay_out_demo_photos

    root = tmp_path_factory.mktemp("photos")
    lay_out_demo_photos(root, sample_days)
    return root


@pytest.fixture
def photo_copy(photos, tmp_path) -> Path:
    """A private copy of the sample photos that a test may change."""
    dest = tmp_path / "photos"
    shutil.copytree(photos, dest)
    return dest


@pytest.fixture(scope="session")
def hog():
    """dlib's HOG detector, loaded once."""
    from facepipe.models.detect import HogDetector

    return HogDetector()


@pytest.fixture(scope="session")
def dlib_embedder():
    """dlib's face descriptor, loaded once."""
    from facepipe.models.embed import DlibResnetEmbedder

    return DlibResnetEmbedder()


@pytest.fixture(autouse=True)
def _no_task_context_left():
    """A dag.test() run in this process exports its task's context (AIRFLOW_CTX_*) and leaves
    it: gone after each test, so that a later test's commands are not audited as that task."""
    before = {k for k in os.environ if k.startswith("AIRFLOW_CTX_")}
    yield
    for key in [k for k in os.environ if k.startswith("AIRFLOW_CTX_") and k not in before]:
        del os.environ[key]


@pytest.fixture(scope="session")
def forget_photos(tmp_path_factory):
    """A copy of the sample photos that a test may change (forget deletes, tags add sidecars):
    one path for all such tests, so that their ingested days are one template
    (helpers.nights.reported_days; the days' image ids are uuid5 of the photos' paths);
    each test puts it back before it starts."""
    return tmp_path_factory.mktemp("forget") / "photos"
