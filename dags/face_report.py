"""
### face_report: what the face index says about a day

Runs after each day that face_ingest loads (scheduled on the `facepipe_faces`
Asset; the days come from its events, plus any day loaded since its report was
built, whose event Airflow may have dropped) and by hand for any day (`day` param).

enrol (FACEPIPE_ENROL_DIR, if set) -> assign each day's new faces to identities
(facepipe.people.identities: the nearest identity, or a new one from a dense group of
unassigned faces) -> build the report tables for each day -> write the day's
HTML page and CSV files under FACEPIPE_REPORTS_DIR/DAY/.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Param, dag, task

from facepipe.core.assets import FACES
from facepipe.core.config import fail_fast


@dag(
    dag_id="face_report",
    schedule=[FACES],
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    catchup=False,
    # Not paused when first parsed: it only runs after face_ingest loads a day (or by hand),
    # and a paused report DAG drops the Asset events of the nights it missed.
    is_paused_upon_creation=False,
    max_active_runs=1,
    default_args={
        "owner": "facepipe",
        "retries": 1,
        "retry_delay": timedelta(seconds=30),
        "execution_timeout": timedelta(hours=1),
    },
    params={
        "day": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Day to report, YYYY-MM-DD. Empty: the days face_ingest just loaded.",
        ),
        "threshold": Param(
            None,
            type=["null", "number"],
            minimum=0,
            description="Same person below this distance. Empty: the model's default.",
        ),
        "min_days": Param(
            2,
            type="integer",
            minimum=1,
            maximum=3660,
            description="A recurring unknown is an unnamed identity seen on at least this many days.",
        ),
        "lookback_days": Param(
            7,
            type="integer",
            minimum=1,
            maximum=366,
            description="Its faces and days before the report's day are counted over this many days.",
        ),
        "range_days": Param(
            30, type="integer", minimum=1, maximum=366, description="Days covered by the per-person table."
        ),
    },
    tags=["facepipe", "report"],
    doc_md=__doc__,
)
def face_report():
    @task(retries=0)
    def resolve(params=None, triggering_asset_events=None) -> list[str]:
        from facepipe.reports.tasks import ready, report_days, stale_report_days

        event_days = [(e.extra or {}).get("day") for events in (triggering_asset_events or {}).values() for e in events]
        try:
            ready()  # the run's first task: the schema upgraded if behind (FACEPIPE_SCHEMA_UPGRADE=auto)
            return report_days(params.get("day"), event_days, [] if params.get("day") else stale_report_days())
        except ValueError as exc:  # a param, a setting, the schema
            raise fail_fast(exc) from exc

    @task
    def enrol(days: list[str]) -> dict:
        from facepipe.core.config import ConfigError
        from facepipe.people.tasks import enrol

        try:
            return enrol(counts_only=True)  # Airflow stores and logs the return value: no names, no paths
        except ConfigError as exc:
            raise fail_fast(exc) from exc

    @task
    def assign(days: list[str], enrolled: dict, params=None) -> list[dict]:
        from facepipe.core.config import ConfigError
        from facepipe.people.tasks import assign_people

        try:
            return assign_people(days, params.get("threshold"))
        except ConfigError as exc:
            raise fail_fast(exc) from exc

    @task
    def build(days: list[str], assigned: list[dict], params=None) -> list[dict]:
        from facepipe.core.config import ConfigError
        from facepipe.reports.tasks import report

        try:
            return [
                report(day, params.get("threshold"), params["min_days"], params["lookback_days"], params["range_days"])
                for day in days
            ]
        except ConfigError as exc:
            raise fail_fast(exc) from exc

    days = resolve()
    build(days, assign(days, enrol(days)))


face_report()
