"""
### face_search: keeps the search over every day fast

Daily. Face search over many days reads an inverted file facepipe keeps itself: every
face sits in the list of its nearest centroid, and a search reads the faces of the lists
nearest the query (docs/using.md, Face search). Loads, forgets and retention change its
rows in their own transactions, so search results never wait for this DAG. What it does:
log the structure's state; train new centroids (online: the new version is filled beside
the current one and swapped in, searches and loads go on) when none exist yet and the faces
reach 20,000, when the faces have grown `FACEPIPE_SEARCH_RETRAIN_GROWTH` times since the
current centroids were trained, or when the param `force` asks; else VACUUM its table.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import CronDataIntervalTimetable, Param, dag, task


@dag(
    dag_id="face_search",
    # after the night's load (face_ingest at 00:00 UTC) and retention
    schedule=CronDataIntervalTimetable("0 3 * * *", timezone="UTC"),
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    catchup=False,
    # On from the start: until it trains the first centroids, searches read every face of
    # their range (exact, and slow past a few 100,000 faces).
    is_paused_upon_creation=False,
    max_active_runs=1,
    params={"force": Param(False, type="boolean", description="train new centroids even if none are due")},
    default_args={
        "owner": "facepipe",
        "retries": 1,
        "retry_delay": timedelta(minutes=10),
        "execution_timeout": timedelta(hours=6),
    },
    tags=["facepipe", "search"],
    doc_md=__doc__,
)
def face_search():
    @task
    def maintain(params=None) -> dict:
        from facepipe.core.config import ConfigError, fail_fast
        from facepipe.core.db import ModelMismatch
        from facepipe.search.tasks import maintain

        try:
            return maintain(force=bool((params or {}).get("force")))
        except (ConfigError, ModelMismatch) as exc:  # a setting a retry cannot fix
            raise fail_fast(exc) from exc

    maintain()


face_search()
