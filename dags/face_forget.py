"""
### face_forget: remove one person or one photo from everything facepipe keeps

Triggered by hand only (Trigger DAG w/ config). Give **either** `person` (an identity
number from `python -m facepipe people list`, or a name) **or** `photo` (a URI as in
the tables, or the photo's SHA-256).

With the defaults the run is a **dry run**: its log shows how many rows would go and
nothing changes. Untick `dry_run` to forget. A forget cannot be undone.

It removes the person's enrolment, their identity, every face assigned to them or
within the threshold of their reference photos, on every day and in staging, their
rows in every report table, and rewrites the affected days' HTML and CSV files. The
photos and boxes it removed are kept as suppressions (a hash and a box, no vector,
no name), so a re-run of any day or a copy of the photo does not index them again.
Their faces in *new* photos are indexed again unless `block_future` is ticked, which
keeps one vector of theirs to recognise them by (docs/privacy.md). One row of the
`audit` table records the counts.

Prefer the identity number to the name here: a run's params stay in Airflow's
metadata database.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Param, dag, task


@dag(
    dag_id="face_forget",
    schedule=None,
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "facepipe", "retries": 0, "execution_timeout": timedelta(hours=2)},
    params={
        "person": Param(
            "",
            type=["null", "string"],
            maxLength=200,
            description="An identity number (people list), or a name. Leave empty to forget a photo.",
        ),
        "photo": Param(
            "",
            type=["null", "string"],
            maxLength=4096,
            description="A photo's URI (as in the tables) or its SHA-256. Leave empty to forget a person.",
        ),
        "threshold": Param(
            None,
            type=["null", "number"],
            minimum=0,
            description="Person: faces this close to a reference photo go too (at most 1.5 times the"
            " model's). Empty: the model's.",
        ),
        "block_future": Param(
            False,
            type="boolean",
            description="Person: keep one vector of theirs so that their faces in later photos"
            " are not indexed either (docs/privacy.md).",
        ),
        "dry_run": Param(
            True,
            type="boolean",
            description="Count what would go and change nothing. Untick to forget (cannot be undone).",
        ),
    },
    tags=["facepipe", "privacy"],
    doc_md=__doc__,
)
def face_forget():
    @task
    def forget(params=None) -> dict:
        from facepipe.core.config import fail_fast
        from facepipe.privacy.tasks import forget

        try:
            return forget(
                person=params.get("person"),
                photo=params.get("photo"),
                threshold=params.get("threshold"),
                dry_run=bool(params.get("dry_run", True)),
                block_future=bool(params.get("block_future", False)),
                upgrade=True,  # the run's one task: the schema upgraded if behind (FACEPIPE_SCHEMA_UPGRADE=auto)
            )
        except ValueError as exc:  # no such person or photo, neither given, the schema: a retry cannot help
            raise fail_fast(exc) from exc

    forget()


face_forget()
