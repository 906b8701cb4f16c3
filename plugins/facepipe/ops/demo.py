"""``make demo``: sample photos over several days, face_ingest run for each day.

Runs the real DAG through Airflow (``dag.test``, the same code path as
``airflow dags test``) against the embedded database in the state folder.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from facepipe.core.config import PROJECT_ROOT, ConfigError
from facepipe.core.text import plural
from facepipe.ops.local_airflow import apply_airflow_defaults

TASK_CONTEXT = "AIRFLOW_CTX_"  # the variables an Airflow task exports


def prepare_airflow(home: Path) -> None:
    """Airflow's defaults, with the metadata database ``make airflow`` uses (the embedded
    PostgreSQL's database ``airflow``, unless AIRFLOW__DATABASE__SQL_ALCHEMY_CONN names one):
    the demo's runs are then in Airflow's UI, and on the Faces view's Days, afterwards. (With
    Airflow's own default, a SQLite file, they were in a database the UI never read.)"""
    from facepipe.ops.local_airflow import embedded_metadata_url

    apply_airflow_defaults(home)
    if not os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
        os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = embedded_metadata_url(home)
    Path(os.environ["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )


def run_day(dag_id: str, day: str, **conf) -> str:
    """Run one DAG for one day through Airflow; returns the run's final state.

    dag.test() runs the tasks in this process, and Airflow's task runner exports each task's
    context to os.environ (AIRFLOW_CTX_DAG_ID, AIRFLOW_CTX_DAG_RUN_ID, ...) and leaves it there:
    they are put back as they were, else whatever this process does next is audited as the
    last task's (facepipe.core.audit.who; `facepipe demo` then recorded its start date so)."""
    try:
        apply_airflow_defaults()  # called from Python, not the command line: $FACEPIPE_HOME/airflow too
    except ConfigError:
        pass  # a bad setting: the run's first task fails naming it
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    saved = {k: v for k, v in os.environ.items() if k.startswith(TASK_CONTEXT)}
    try:
        run = bag.get_dag(dag_id).test(run_conf={"day": day, **conf})
    finally:
        for key in [k for k in os.environ if k.startswith(TASK_CONTEXT)]:
            del os.environ[key]
        os.environ.update(saved)
    return str(run.state)


@contextmanager
def output_to(path: Path):
    """Send this process's stdout and stderr (Airflow's task logs) to a file."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _start_at(day: dt.date) -> None:
    """The deployment's start date set to the demo's first day, unless one is set already: so that
    `make airflow` afterwards does not run every day since the default start, empty."""
    from facepipe.core.db import connection
    from facepipe.core.deployment import set_value, settings

    s = settings()
    with connection() as conn:
        from facepipe.core.deployment import read_stored

        if "start_date" not in read_stored(conn, s.db_schema):
            set_value(conn, s.db_schema, "start_date", day.isoformat())
            print(f"start date: {day}, the demo's first day (the deployment's setting start_date: `facepipe settings`)")


def main(days: int = 3) -> int:
    from facepipe.core.deployment import settings
    from facepipe.ops.samples import enrolment_photos, lay_out_demo_photos

    started = time.monotonic()
    home = settings().home
    # The default source and people folders, so that runs from the UI (make
    # airflow) find the same photos and people.
    photos = home / "photos"
    os.environ["FACEPIPE_SOURCE"] = str(photos)
    today = dt.datetime.now(dt.UTC).date()
    day_list = [today - dt.timedelta(days=days - i) for i in range(days)]
    laid_out = lay_out_demo_photos(photos, day_list, with_question=True)  # one face the night asks about
    print(
        f"sample photos: {plural(sum(len(v) for v in laid_out.values()), 'file')} over {plural(days, 'day')} in {photos}"
    )
    # Enrol one person; the other recurring visitor stays unknown on purpose.
    people = home / "people"
    enrolment_photos(home / "demo-people-all")
    shutil.rmtree(people, ignore_errors=True)
    shutil.copytree(home / "demo-people-all" / "eileen_collins", people / "eileen_collins")
    os.environ["FACEPIPE_ENROL_DIR"] = str(people)
    print(f"enrolment folder: {people} (1 person)")
    prepare_airflow(home)
    log = home / "demo.log"
    print(f"running face_ingest, then face_report, through Airflow for each day (task logs: {log})")
    failed = []
    for dag_id in ("face_ingest", "face_report"):
        for day in day_list:
            with output_to(log):
                state = run_day(dag_id, day.isoformat())
            print(f"  {dag_id} {day}: {state}")
            if state != "success":
                failed.append(f"{dag_id} {day}")

    _start_at(day_list[0])
    from facepipe.ops.status import print_status

    print()
    print_status(None)
    s = settings()
    print(f"""
demo finished in {time.monotonic() - started:.0f} s{"" if not failed else f"; FAILED: {failed}"}
  tables:      schema {s.db_schema!r} in the embedded PostgreSQL ({home / "pgdata"})
               psql "$(.venv/bin/facepipe db-uri)" -c 'select * from {s.db_schema}_reader.loads'
               (the reader views: docs/using.md; the tables themselves are internal)
  rejects:     .venv/bin/facepipe rejects {day_list[-1]}
  reports:     {s.reports_dir}/DAY/report.html and *.csv
               sightings of the enrolled person: {s.reports_dir / day_list[-1].isoformat() / "report.html"}
  people:      .venv/bin/facepipe people list   (then people name ID NAME, merge, move)
  face search: .venv/bin/facepipe search {people / "eileen_collins"}/<photo> --since {day_list[0]}
  validation:  {s.reports_dir / "validation"}
  privacy:     .venv/bin/facepipe forget person ID --dry-run   (then without --dry-run; docs/privacy.md,
               which also covers forgetting a photo, retention and a read-only role for report readers)
  Airflow UI:  make airflow   (the schedule, backfills, re-runs; on 127.0.0.1:8080)""")
    return 1 if failed else 0
