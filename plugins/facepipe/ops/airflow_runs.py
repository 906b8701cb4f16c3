"""What Airflow's metadata database says about face_ingest, for ``facepipe status``: whether
it is paused, and the runs queued behind that (a backfill of a paused DAG waits).

Read with plain SQL over SQLAlchemy (which Airflow installs), not Airflow's models: status
stays fast and works where Airflow is not configured. The metadata database is the one
``make airflow`` uses (AIRFLOW__DATABASE__SQL_ALCHEMY_CONN, else the database ``airflow`` of
the embedded PostgreSQL, else the SQLite file of AIRFLOW_HOME); nothing found: None.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestState:
    paused: bool | None  # None: Airflow has not seen the DAG yet
    waiting: list[tuple[str, dt.date | None, str]]  # (run_id, day, run_type) of queued runs


def _metadata_urls(home: Path) -> list[str]:
    """The metadata databases this machine's Airflow may use: the configured one, else both the
    one `make airflow` uses and the SQLite file `make demo` (dag.test) uses."""
    url = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
    if url:
        return [url]
    urls = []
    import psycopg

    from facepipe.core.db import EmbeddedStopped, embedded_uri

    try:
        uri = embedded_uri(home, start=False)
        with psycopg.connect(uri, autocommit=True) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = 'airflow'").fetchone()
        if found:
            from facepipe.ops.local_airflow import embedded_metadata_url

            urls.append(embedded_metadata_url(home))
    except (EmbeddedStopped, psycopg.Error):
        pass
    sqlite = Path(os.environ.get("AIRFLOW_HOME") or home / "airflow") / "airflow.db"
    if sqlite.is_file():
        urls.append(f"sqlite:///{sqlite}")
    return urls


def ingest_state(home: Path, dag_id: str = "face_ingest") -> IngestState | None:
    """face_ingest's pause flag and queued runs, or None when no metadata database answers; of
    several, the one that parsed face_ingest last."""
    found = [got for url in _metadata_urls(home) if (got := _state(url, dag_id)) is not None]
    if not found:
        return None
    return max(found, key=lambda f: str(f[0] or ""))[1]


def _state(url: str, dag_id: str) -> tuple[object, IngestState] | None:
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(url)
        try:
            with engine.connect() as c:
                row = c.execute(
                    sa.text("SELECT is_paused, last_parsed_time FROM dag WHERE dag_id = :d"), {"d": dag_id}
                ).fetchone()
                paused, parsed = (row[0], row[1]) if row else (None, None)
                rows = c.execute(
                    sa.text(
                        "SELECT run_id, data_interval_start, run_type, conf FROM dag_run"
                        " WHERE dag_id = :d AND state = 'queued' ORDER BY data_interval_start"
                    ),
                    {"d": dag_id},
                ).fetchall()
        finally:
            engine.dispose()
    except Exception as exc:  # not migrated, another version, unreachable: status goes on without it
        log.debug("Airflow's metadata database not read: %s", exc)
        return None
    waiting = []
    for run_id, start, run_type, _conf in rows:
        day = start.date() if isinstance(start, dt.datetime) else None
        if isinstance(start, str):
            try:
                day = dt.datetime.fromisoformat(start).date()
            except ValueError:
                day = None
        waiting.append((str(run_id), day, str(run_type)))
    return parsed, IngestState(None if paused is None else bool(paused), waiting)
