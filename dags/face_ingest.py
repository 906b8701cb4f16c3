"""
### face_ingest: one day's photos into the day partitions of facepipe's tables

plan -> process (mapped over shards) -> validate -> load -> index -> publish.

One run per calendar day (UTC). The day comes from the `day` param when given
(manual runs, re-runs), else from the run's data interval. A run replaces the
rows of its (day, source), never another source's, and never adds to them.
`source`, `detector` and `model` override the deployment's settings for one run;
`allow_shrink` lets it remove most of what its (day, source) holds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task

from facepipe.core.assets import FACES
from facepipe.core.config import fail_fast
from facepipe.core.deployment import max_active_shards, start_date
from facepipe.core.text import plural

# Read when the file is parsed, from the deployment's settings in facepipe's database (one
# small query; where it cannot be reached, the environment's and the defaults: the tasks
# then check the day against the deployment's start date and retention horizon themselves).
# max_active_shards: a day's shards running at once, the cores or all workers' slots.
MAX_SHARDS = max_active_shards(strict=False)
START = start_date(strict=False)


@dag(
    dag_id="face_ingest",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    # Every day from the deployment's start_date runs: after downtime the missed nights run
    # too, oldest first, three at a time (a new deployment: every day since the start).
    start_date=datetime.combine(START, datetime.min.time(), tzinfo=UTC),
    catchup=True,
    max_active_runs=3,
    default_args={
        "owner": "facepipe",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "execution_timeout": timedelta(hours=2),
    },
    params={
        "day": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Day to (re)load, YYYY-MM-DD. Empty: the run's data interval.",
        ),
        "source": Param(
            None,
            type=["null", "string"],
            description="Photo folder, or s3://bucket/prefix (see docs/operating.md). Empty: the setting source.",
        ),
        # "setting" rather than null: the trigger form shows an enum's values as they are
        "detector": Param(
            "setting",
            type="string",
            enum=["setting", "mtcnn", "haar", "hog"],
            values_display={"setting": "as the setting detector says (default mtcnn)"},
            description="Face detector. 'setting': the deployment's setting detector (default mtcnn).",
        ),
        "model": Param(
            "setting",
            type="string",
            enum=["setting", "dlib-resnet-128", "imgbeddings-clip-768"],
            values_display={"setting": "as the setting model says (default dlib-resnet-128)"},
            description="Embedding model. 'setting': the deployment's setting model. Must match the tables.",
        ),
        "allow_shrink": Param(
            False,
            type="boolean",
            description="Let this run remove most or all of the images the day holds from"
            " its source (the photos really are gone). Off: such a load fails"
            " and changes nothing.",
        ),
    },
    tags=["facepipe", "ingest"],
    doc_md=__doc__,
)
def face_ingest():
    @task(retries=0)
    def resolve(params=None, data_interval_start=None, run_id=None, dag_run=None) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from facepipe.core.days import before_start, resolve_day
        from facepipe.ingest.tasks import options

        try:
            opts = options(params.get("source"), params.get("detector"), params.get("model"))
            day = resolve_day(params.get("day"), data_interval_start)
            # only the scheduler's own runs: a backfill or a Trigger of an earlier day is asked for
            scheduled = str(getattr(dag_run, "run_type", "")).lower().endswith("scheduled")
            start = before_start(day) if scheduled and not params.get("day") else None
        except ValueError as exc:
            raise fail_fast(exc) from exc
        if start is not None:  # scheduled from a start date the deployment no longer has
            raise AirflowSkipException(f"day {day} is before the deployment's start_date {start}: nothing to load")
        return {"day": day, "run_id": run_id, **opts}

    @task
    def plan(run: dict) -> list[dict]:
        from facepipe.core.config import ConfigError
        from facepipe.ingest.tasks import plan

        try:
            return plan(run["day"], run["run_id"], _opts(run))
        except ConfigError as exc:  # a setting, a model mismatch, the schema
            raise fail_fast(exc) from exc

    @task(map_index_template="{{ shard_label }}", max_active_tis_per_dag=MAX_SHARDS)
    def process(shard: dict) -> dict:
        from facepipe.core.config import ConfigError
        from facepipe.ingest.store import PlanGone
        from facepipe.ingest.tasks import process_shard

        get_current_context()["shard_label"] = (
            f"{shard['day']} shard {shard['shard']} ({plural(shard['files'], 'file')})"
        )
        try:
            return process_shard(shard)
        except (PlanGone, ConfigError) as exc:  # ConfigError: the schema is behind, a model mismatch
            raise fail_fast(exc) from exc

    @task(retries=0)
    def validate(run: dict, staged: list[dict]) -> dict:
        from facepipe.core.config import ConfigError
        from facepipe.ingest.tasks import validate
        from facepipe.ingest.validate import ValidationFailed

        try:
            return validate(run["day"], run["run_id"], _opts(run))
        except (ValidationFailed, ConfigError) as exc:
            raise fail_fast(exc) from exc

    @task
    def load(run: dict, validated: dict, params=None) -> dict:
        from facepipe.core.config import ConfigError
        from facepipe.ingest.store import IncompleteStaging, OverlappingSources, PlanGone, ShrinkRefused
        from facepipe.ingest.tasks import load

        try:
            return load(run["day"], run["run_id"], _opts(run), allow_shrink=bool(params.get("allow_shrink")))
        except (ConfigError, IncompleteStaging, OverlappingSources, PlanGone, ShrinkRefused) as exc:
            raise fail_fast(exc) from exc

    @task
    def index(run: dict, loaded: dict) -> dict:
        from facepipe.core.config import ConfigError
        from facepipe.ingest.tasks import index

        try:
            index(run["day"], _opts(run))
        except ConfigError as exc:
            raise fail_fast(exc) from exc
        return loaded

    @task(outlets=[FACES])
    def publish(counts: dict, outlet_events=None) -> dict:
        outlet_events[FACES].extra = counts
        return counts

    run = resolve()
    staged = process.expand(shard=plan(run))
    loaded = load(run, validate(run, staged))
    publish(index(run, loaded))


def _opts(run: dict) -> dict:
    return {k: run[k] for k in ("source", "detector", "model")}


face_ingest()
