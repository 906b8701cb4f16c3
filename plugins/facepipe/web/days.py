"""The Faces view's Days: every day from the deployment's start date (loaded, never loaded or
expired, as ``facepipe status`` says), its face_ingest and face_report runs in Airflow, a day's
page, its report drawn in the view from the report tables, and the report's CSV files.

Registered on the app by facepipe.web.app.create_app. Nothing of the request reaches a path:
a day is a date (or 400), a CSV file one of the report's own table names (or 404).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import uuid

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import Response

from facepipe.web.auth import Access, access

log = logging.getLogger(__name__)

DAYS_SHOWN = 60  # days on a page of Days, newest first
DAYS_MAX = 366  # the widest range one page lists
RUNS_READ = 5000  # the newest runs of face_ingest and face_report read from Airflow's metadata
# the task whose log a day's run links to, unless another task of the run failed
LOG_TASK = {"face_ingest": "load", "face_report": "build"}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
CSV_FILES = ("daily_summary", "sightings", "recurring_unknowns", "person_days")  # facepipe.reports.report.REPORTS


def airflow_base(root: str) -> str:
    """Airflow's UI root from the view's mount (``/facepipe``, or ``/prefix/facepipe``)."""
    return root.rsplit("/", 1)[0] if root else ""


def run_days(rows) -> dict[tuple[str, dt.date], list[dict]]:
    """The days each run covered, from (dag_id, run_id, state, run_after, data_interval_start,
    conf, resolved) rows: ``resolved`` is the value its ``resolve`` task returned (face_ingest: a
    dict with the day; face_report: a list of days), else the run's ``day`` param, else its data
    interval's day (as facepipe.core.days.resolve_day reads it). Newest run first per day."""
    out: dict[tuple[str, dt.date], list[dict]] = {}
    for dag_id, run_id, state, run_after, start, conf, resolved in rows:
        days = _days_of(resolved)
        if not days:
            conf = _json(conf)
            day = conf.get("day") if isinstance(conf, dict) else None
            days = _days_of([day]) if day else _days_of([_date_of(start)])
        for d in days:
            out.setdefault((dag_id, d), []).append(
                {"dag_id": dag_id, "run_id": str(run_id), "state": str(state or ""), "run_after": run_after}
            )
    for runs in out.values():
        runs.sort(key=lambda r: str(r["run_after"] or ""), reverse=True)
    return out


def _json(value):
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _date_of(value) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value).date()
        except ValueError:
            return None
    return None


def _days_of(value) -> list[dt.date]:
    value = _json(value)
    if isinstance(value, dict):
        value = [value.get("day")]
    if not isinstance(value, list):
        return []
    days = []
    for v in value:
        d = v if isinstance(v, dt.date) else _date_of(v) if isinstance(v, str) else None
        if d is not None and d not in days:
            days.append(d)
    return days


def airflow_runs(since: dt.date, until: dt.date) -> tuple[dict, dict, str | None]:
    """({(dag_id, day): [run, ...]}, {(dag_id, run_id): failed task}, why not) from Airflow's
    metadata database (the api-server's own session): the newest RUNS_READ runs of face_ingest
    and face_report, with what their ``resolve`` task returned."""
    try:
        import sqlalchemy as sa
        from airflow.utils.session import create_session

        with create_session() as session:
            rows = session.execute(
                sa.text(
                    "SELECT r.dag_id, r.run_id, r.state, r.run_after, r.data_interval_start, r.conf, x.value"
                    " FROM dag_run AS r LEFT JOIN xcom AS x ON x.dag_run_id = r.id AND x.task_id = 'resolve'"
                    " AND x.key = 'return_value' AND x.map_index = -1"
                    " WHERE r.dag_id IN ('face_ingest', 'face_report') ORDER BY r.id DESC LIMIT :n"
                ),
                {"n": RUNS_READ},
            ).fetchall()
            failed = session.execute(
                sa.text(
                    "SELECT t.dag_id, t.run_id, t.task_id, t.map_index FROM task_instance AS t"
                    " JOIN dag_run AS r ON r.dag_id = t.dag_id AND r.run_id = t.run_id"
                    " WHERE t.dag_id IN ('face_ingest', 'face_report') AND t.state = 'failed'"
                    " AND r.id > (SELECT coalesce(max(id), 0) - :n FROM dag_run) ORDER BY t.start_date"
                ),
                {"n": RUNS_READ * 4},
            ).fetchall()
    except Exception as exc:  # no Airflow here (unit tests), another schema version: the page goes on
        log.info("Faces view: Airflow's runs not read (%s)", type(exc).__name__)
        return {}, {}, "Airflow's run records could not be read here"
    by_day = {k: v for k, v in run_days(rows).items() if since <= k[1] <= until}
    first_failed: dict = {}
    for dag_id, run_id, task_id, map_index in failed:
        first_failed.setdefault((dag_id, str(run_id)), (str(task_id), int(map_index)))
    return by_day, first_failed, None


def day_list(
    since: dt.date, until: dt.date, rows: list[dict], start: dt.date, before: dt.date | None, today: dt.date
) -> list[dict]:
    """One entry per day in [since, until] from the start date on, newest first: its state
    (loaded, never loaded, expired, arriving: today and later) and its (day, source) rows."""
    by_day: dict = {}
    for r in rows:
        by_day.setdefault(r["day"], []).append(r)
    out = []
    d = until
    while d >= since and d >= start:
        mine = by_day.get(d, [])
        if any(r["loaded_at"] is not None for r in mine):
            state = "loaded"
        elif before is not None and d < before:
            state = "expired"
        elif d >= today:
            state = "arriving"
        else:
            state = "never loaded"
        out.append({"day": d, "state": state, "rows": mine})
        d -= dt.timedelta(days=1)
    return out


def collapse(entries: list[dict]) -> list[dict]:
    """Runs of consecutive days never loaded (or expired) with no run in Airflow, as one entry
    from ``first`` to ``day`` (``n`` days): years of days stay a short page."""
    out: list[dict] = []
    for e in entries:
        quiet = e["state"] in ("never loaded", "expired") and not any(e["runs"].values())
        prev = out[-1] if out else None
        if quiet and prev is not None and prev.get("quiet") and prev["state"] == e["state"]:
            prev["first"], prev["n"] = e["day"], prev["n"] + 1
            continue
        out.append({**e, "first": e["day"], "n": 1, "quiet": quiet})
    return out


def at_load(r: dict) -> str:
    """What the day's newest load counted, in words, where the tables now differ from it."""
    from facepipe.core.text import plural

    now = (r["images"], r["duplicates"], r["faces"], r["rejects"])
    then = (r["loaded_images"], r["loaded_duplicates"], r["loaded_faces"], r["loaded_rejects"])
    if r["loaded_at"] is None or then == now or None in then:
        return ""
    return ", ".join(
        (
            plural(then[0], "photo or video", "photos and videos"),
            plural(then[1], "duplicate"),
            plural(then[2], "face"),
            plural(then[3], "reject"),
        )
    )


def register(app: FastAPI) -> None:
    from facepipe.web.pages import SettingRefused, _day, _db, _page, _report_file, _root, _rows

    def _reports_dir():
        from facepipe.core.config import ConfigError
        from facepipe.core.deployment import settings

        try:
            return settings().reports_dir  # the deployment's: read from the database
        except ConfigError as exc:
            raise SettingRefused(str(exc)) from None

    @app.get("/days")
    def days(request: Request, since: str | None = None, until: str | None = None, who: Access = Depends(access)):
        from psycopg import sql

        from facepipe.core.days import horizon
        from facepipe.core.db import load_sql
        from facepipe.core.deployment import settings

        today = dt.datetime.now(dt.UTC).date()
        u = _day(until, "until") or today
        s = _day(since, "since") or u - dt.timedelta(days=DAYS_SHOWN - 1)
        if s > u:
            raise HTTPException(400, "since is after until")
        if (u - s).days >= DAYS_MAX:
            raise HTTPException(400, f"a page of Days lists at most {DAYS_MAX} days: choose a shorter range")
        with _db() as (conn, schema):
            start = settings().start_date
            rows = _rows(conn.execute(load_sql("web_days.sql", schema=schema), {"since": s, "until": u}))
            h = horizon(conn, schema)
            reported = {
                d
                for (d,) in conn.execute(
                    sql.SQL("SELECT day FROM {} WHERE day BETWEEN %s AND %s").format(
                        sql.Identifier(schema, "report_runs")
                    ),
                    (s, u),
                )
            }
        first = min(start, min((r["day"] for r in rows), default=start))  # a backfill before the start date
        for r in rows:
            r["at_load"] = at_load(r)
        entries = day_list(s, u, rows, first, h.before, today)
        runs, failed, runs_note = airflow_runs(s, u)
        for e in entries:
            e["runs"] = {dag: runs.get((dag, e["day"]), [])[:3] for dag in LOG_TASK}
        entries = collapse(entries)
        span = (u - s).days + 1
        older = {"since": (s - dt.timedelta(days=span)).isoformat(), "until": (s - dt.timedelta(days=1)).isoformat()}
        newer = None
        if u < today:
            nu = min(today, u + dt.timedelta(days=span))
            newer = {"since": (nu - dt.timedelta(days=span - 1)).isoformat(), "until": nu.isoformat()}
        counts = {
            state: sum(1 for e in entries if e["state"] == state) for state in ("loaded", "never loaded", "expired")
        }
        return _page(
            request,
            who,
            "days.html.j2",
            entries=entries,
            since=s,
            until=u,
            start=start,
            horizon=h.before,
            horizon_reason=h.reason() if h.before is not None else "",
            counts=counts,
            reported=reported,
            failed=failed,
            log_task=LOG_TASK,
            runs_note=runs_note,
            airflow=airflow_base(_root(request)),
            older=older if s > first else None,
            newer=newer,
        )

    @app.get("/days/{day}")
    def day_page(request: Request, day: str, who: Access = Depends(access)):
        from psycopg import sql

        from facepipe.core.db import load_sql

        d = _day(day)
        with _db() as (conn, schema):
            counts = _rows(conn.execute(load_sql("web_days.sql", schema=schema), {"since": d, "until": d}))
            rejects = _rows(
                conn.execute(
                    sql.SQL("SELECT uri, reason, detail, source FROM {} WHERE day = %s ORDER BY uri").format(
                        sql.Identifier(schema, "rejects")
                    ),
                    (d,),
                )
            )
            built = conn.execute(
                sql.SQL("SELECT built_at FROM {} WHERE day = %s").format(sql.Identifier(schema, "report_runs")), (d,)
            ).fetchone()
        runs, failed, runs_note = airflow_runs(d, d)
        return _page(
            request,
            who,
            "day.html.j2",
            day=d,
            counts=counts,
            rejects=rejects,
            built_at=built[0] if built else None,
            has_report=built is not None,
            runs={dag: runs.get((dag, d), [])[:5] for dag in LOG_TASK},
            failed=failed,
            log_task=LOG_TASK,
            runs_note=runs_note,
            airflow=airflow_base(_root(request)),
        )

    @app.get("/days/{day}/report")
    def report(request: Request, day: str, who: Access = Depends(access)):
        """The day's report drawn in the view from the report tables (what face_report built):
        crops cut on request, identities and photos linked; its CSV files beside it."""
        from facepipe.core.deployment import settings
        from facepipe.core.specs import model_spec
        from facepipe.reports.report import SHOWN_UNKNOWNS, ReportParams, built_with, fetch_report

        d = _day(day)  # a date or 400
        model = model_spec(settings().model)
        with _db() as (conn, schema):
            params = built_with(conn, schema, d, model)
            if params is None:
                raise HTTPException(404, f"no report for {d} yet: face_report builds it once the day is loaded")
            report = fetch_report(conn, schema, d, best_crops=ReportParams.best_crops, shown=SHOWN_UNKNOWNS)
            person_ids = sorted({str(r["person_id"]) for r in report["person_days"]})
            person_identity = {}
            if person_ids:
                person_identity = {
                    str(p): i for p, i in conn.execute(sql_identity_of_person(schema), {"ids": person_ids}).fetchall()
                }
            built_at = conn.execute(_built_at_sql(schema), (d,)).fetchone()[0]
        crops: dict = {}
        for c in report["identity_crops"]:
            crops.setdefault(c["identity_id"], []).append(c)
        for u in report["recurring_unknowns"]:
            u["others"] = [
                c
                for c in crops.get(u["identity_id"], [])
                if (c["day"], c["image_id"], c["face_no"]) != (u["day"], u["image_id"], u["face_no"])
            ][: max(0, params.best_crops - 1)]
        for p in report["person_days"]:
            p["identity_id"] = person_identity.get(str(p["person_id"]))
        folder = _reports_dir() / d.isoformat()
        files = [n for n in CSV_FILES if (folder / f"{n}.csv").is_file()]
        return _page(
            request,
            who,
            "report.html.j2",
            day=d,
            params=params,
            model=model,
            built_at=built_at,
            summary=report["daily_summary"],
            sightings=report["sightings"],
            unknowns=report["recurring_unknowns"],
            unknowns_total=report["unknowns_total"],
            person_days=report["person_days"],
            files=files,
            has_file=_report_file(_reports_dir(), d) is not None,
        )

    @app.get("/refs/{person_id}/{sha256}")
    def reference_crop(person_id: uuid.UUID, sha256: str, who: Access = Depends(access)):
        """The face of an enrolment photo (beside a sighting in the report), cut on request from
        the photo the person_refs row names; nothing of the request reaches a path."""
        from psycopg import sql

        from facepipe.core.sources import Unreadable
        from facepipe.reports.report import read_uri
        from facepipe.web.crops import crop_jpeg
        from facepipe.web.pages import PRIVATE

        if not _SHA256.match(sha256):
            raise HTTPException(404, "no such reference photo")
        with _db() as (conn, schema):
            row = conn.execute(
                sql.SQL(
                    "SELECT uri, box_x, box_y, box_w, box_h FROM {} WHERE person_id = %s AND content_sha256 = %s"
                ).format(sql.Identifier(schema, "person_refs")),
                (person_id, sha256),
            ).fetchone()
        if row is None:
            raise HTTPException(404, "no such reference photo")
        try:
            jpeg = crop_jpeg(read_uri(row[0]), tuple(row[1:5]), 0)
        except (Unreadable, OSError, ValueError) as exc:
            log.warning("no crop of a reference photo: %s", type(exc).__name__)
            raise HTTPException(404, "the reference photo cannot be read now (moved from the people folder?)") from None
        return Response(jpeg, media_type="image/jpeg", headers=PRIVATE)

    @app.get("/days/{day}/report/{name}")
    def report_csv(day: str, name: str, who: Access = Depends(access)):
        """One of the day's CSV files, as face_report wrote it in the reports folder."""
        d = _day(day)
        stem = name[:-4] if name.endswith(".csv") else None
        if stem not in CSV_FILES:  # only the report's own files: nothing of the request reaches the path
            raise HTTPException(
                404, f"no file {name[:80]!r} in a day's report (its files: {', '.join(f + '.csv' for f in CSV_FILES)})"
            )
        base = _reports_dir().resolve()
        path = (base / d.isoformat() / f"{stem}.csv").resolve()
        if not path.is_relative_to(base) or not path.is_file():
            raise HTTPException(404, f"no {stem}.csv for {d} (face_report writes it)")
        return Response(
            path.read_bytes(),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="facepipe-{d.isoformat()}-{stem}.csv"',
                "Cache-Control": "private, no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )


def sql_identity_of_person(schema: str):
    from psycopg import sql

    return sql.SQL("SELECT person_id::text, identity_id FROM {} WHERE person_id::text = ANY(%(ids)s)").format(
        sql.Identifier(schema, "identities")
    )


def _built_at_sql(schema: str):
    from psycopg import sql

    return sql.SQL("SELECT built_at FROM {} WHERE day = %s").format(sql.Identifier(schema, "report_runs"))
