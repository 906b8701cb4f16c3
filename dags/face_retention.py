"""
### face_retention: the days past retention_days leave the database and the reports

Daily, unpaused from the start. With the deployment setting `retention_days` N (N > 0;
`facepipe settings set retention_days N`) a run on day D keeps D - N and every
later day, and removes every earlier one: the day partitions of `images` and `faces`
(dropped, with their indexes), the days' rows of every other table keyed by day
(rejects, load runs, reports, staging, identity assignments and pool), and the
days' report folders and validation files. Identities that lost faces are counted
again; unnamed ones left without a face go. Enrolled people stay until forgotten.
One `audit` row per run (op `retention`) holds the counts and the days.

The horizon it applied (D - N) is recorded in the database: no load, assignment, report
or search touches a day before it again, whatever a process's environment says
(`facepipe retention --reopen-from DAY` sets it back, audited).

With 0 (the default) every day is kept and the run does nothing. There is no param:
only the setting decides what goes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import dag, task


@dag(
    dag_id="face_retention",
    schedule="@daily",
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    catchup=False,
    is_paused_upon_creation=False,  # a promise to readers: it runs from the first day (a no-op at 0)
    max_active_runs=1,
    default_args={
        "owner": "facepipe",
        "retries": 1,
        "retry_delay": timedelta(minutes=5),
        "execution_timeout": timedelta(hours=1),
    },
    tags=["facepipe", "privacy"],
    doc_md=__doc__,
)
def face_retention():
    @task
    def expire(logical_date=None, dag_run=None) -> dict:
        from facepipe.core.config import ConfigError, fail_fast
        from facepipe.privacy.tasks import retention

        # the run's day: its logical date (a manual run without one: when it was queued);
        # facepipe.privacy.tasks.retention never counts back from a day after today
        when = logical_date or getattr(dag_run, "run_after", None)
        try:
            # the run's one task: the schema upgraded if behind (schema_upgrade auto)
            return retention(when.date().isoformat() if when else None, upgrade=True)
        except ConfigError as exc:  # a setting, a model mismatch, the schema: a retry cannot fix it
            raise fail_fast(exc) from exc

    expire()


face_retention()
