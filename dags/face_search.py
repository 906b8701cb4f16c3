"""
### face_search: keeps the search over every day fast

Daily. Face search over many days reads one index (a *generation* of the search
structure: an HNSW graph, or IVFFlat with `FACEPIPE_SEARCH_INDEX=ivfflat`) for the days
it holds, plus each day loaded since in its own partition.
This DAG logs how far the structure is behind (days loaded since the last build, rows
forget and retention deleted) and, when `FACEPIPE_SEARCH_MAX_OPEN_DAYS` days are open
or `FACEPIPE_SEARCH_MAX_STALE` of its rows are stale, builds a new generation beside
the current one and swaps it in: searches and loads go on meanwhile; the build uses at
most `FACEPIPE_SEARCH_BUILD_MEM` of maintenance_work_mem. The param `force` rebuilds
whatever the lag. Search results never depend on it: an open day is searched in its
partition, a deleted face is never returned (docs/using.md, Face search).
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
    # Opt-in until its recall meets the per-day path's (BENCHMARKS.md section 9: 0.81 against
    # 0.99 at 1M faces over 365 days): with no generation built, every search goes day by day.
    is_paused_upon_creation=True,
    max_active_runs=1,
    params={"force": Param(False, type="boolean", description="rebuild even if the lag is within the policy")},
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
