"""face_report's people steps as plain functions: enrol the people folder, then give
each day's new faces their identities. Small JSON-able values in and out."""

from __future__ import annotations

import datetime as dt
import logging

from facepipe.core.days import expired, horizon
from facepipe.core.db import connection
from facepipe.core.deployment import settings
from facepipe.core.schema import require
from facepipe.core.specs import model_spec
from facepipe.core.text import plural

log = logging.getLogger(__name__)


def enrol(enrol_dir: str | None = None, counts_only: bool = False, upgrade: bool = False) -> dict:
    """Enrol the people folder (FACEPIPE_ENROL_DIR) if there is one. ``counts_only``: no
    name or path in the result (a task's return value is stored and logged by Airflow)."""
    from pathlib import Path

    from facepipe.models.detect import FaceSizing, make_detector
    from facepipe.models.embed import make_embedder
    from facepipe.people.enrol import enrol_folder

    s = settings()
    folder = Path(enrol_dir) if enrol_dir else s.enrol_dir
    if folder is None:
        log.info("no enrolment folder configured (FACEPIPE_ENROL_DIR): nobody new to enrol")
        return {
            "people": 0,
            "added": 0,
            "kept": 0,
            "skipped": 0,
            "skipped_photos": [],
            "no_reference": [],
            "forgotten": 0,
        }
    spec = model_spec(s.model)
    with connection() as conn:
        require(conn, s.db_schema, spec, may_upgrade=upgrade)  # upgrade: a run's first task
        result = enrol_folder(
            conn,
            s.db_schema,
            folder,
            spec,
            make_detector(s.detector, haar_scale_factor=s.haar_scale_factor),
            make_embedder(spec.name),
            FaceSizing.of(s.detector, s.min_face),
        )
    counts = {
        "people": result.people,
        "added": result.added,
        "kept": result.kept,
        "skipped": len(result.skipped),
        "forgotten": result.forgotten,
    }
    if counts_only:
        return {**counts, "no_reference": len(result.no_reference)}
    return {**counts, "skipped_photos": [list(s) for s in result.skipped], "no_reference": result.no_reference}


def assign_people(days: list[str], threshold: float | None = None) -> list[dict]:
    """Give each day's new faces their identities (facepipe.people.identities), days in order."""
    from facepipe.people.identities import PeopleSettings, assign_day

    s = settings()
    spec = model_spec(s.model)
    ps = PeopleSettings.from_env()
    h = horizon()
    kept = [day for day in sorted(days) if not h.expired(dt.date.fromisoformat(day))]
    if len(kept) < len(days):
        log.info(
            "%s past retention: no identities assigned for them",
            plural(len(days) - len(kept), "day is", "days are"),
        )
    from facepipe.people.unassigned import regroup

    with connection() as conn:
        require(conn, s.db_schema, spec)
        done = [
            assign_day(
                conn,
                s.db_schema,
                dt.date.fromisoformat(day),
                spec,
                spec.match_threshold if threshold is None else threshold,
                ps,
            )
            for day in kept
        ]
        from facepipe.people.tags import apply_tags

        # face tags of photo managers (XMP), as a person's decisions
        tags = apply_tags(conn, s.db_schema, [dt.date.fromisoformat(c["day"]) for c in done], spec)
        for counts in done:
            counts["tags"] = tags[counts["day"]]
        if s.xmp_write == "on":  # the named faces, into the photos' XMP sidecars
            from facepipe.people.sidecars import write_days

            written = write_days(conn, s.db_schema, [dt.date.fromisoformat(c["day"]) for c in done], s)
            for counts in done:
                counts["sidecars"] = written[counts["day"]]
        if done:  # the Unassigned page's groups, of the pool as the nights left it
            grouped = regroup(conn, s.db_schema, spec, spec.match_threshold if threshold is None else threshold, ps)
            log.info("unassigned faces grouped: %s", grouped)
        return done


def reports_touched(conn, schema: str, identity_ids) -> list[dt.date]:
    """Report days that show any of these identities: a day with one of their faces, or a
    later report whose person_days range (range_days, 30 by default) reaches one."""
    from facepipe.core.db import load_sql

    ids = sorted({i for i in identity_ids if i is not None})
    if not ids:
        return []
    return [d for (d,) in conn.execute(load_sql("people_report_days.sql", schema=schema), {"ids": ids})]


def rebuild_reports(conn, schema: str, model, days) -> dict:
    """The report tables and files of ``days`` built again with the parameters they were
    built with, as face_report builds them (under its lock): what a people operation
    calls so that no surface shows the state before it. Returns the days rebuilt and the
    days that failed (with why), to be run again with ``facepipe report DAY``."""
    from facepipe.reports.report import build_reports, built_with, fetch_report, read_uri, write_report

    reports_dir = settings().reports_dir
    done, failed = [], []
    for day in sorted(set(days)):
        params = built_with(conn, schema, day, model)
        if params is None or expired(day, conn):
            continue
        conn.execute("SELECT pg_advisory_lock_shared(hashtext('facepipe:reports'))")
        try:
            build_reports(conn, schema, day, model, params)
            write_report(fetch_report(conn, schema, day, params.best_crops), day, reports_dir, read_uri, params, model)
            done.append(day.isoformat())
        except Exception as exc:  # the change itself is committed: say what is left to do
            log.warning("report of %s not rebuilt: %s", day, type(exc).__name__, extra={"in_result": True})
            failed.append((day.isoformat(), f"{type(exc).__name__}: {exc}"))
        finally:
            conn.execute("SELECT pg_advisory_unlock_shared(hashtext('facepipe:reports'))")
    return {"report_days": done, "report_failures": failed}


def change_people(op: str, *, actor: str | None = None, conn=None, **kw) -> dict:
    """One people operation (name, merge, move; facepipe.people.identities; hide, unhide:
    facepipe.people.hiding; answer a suggestion, facepipe.people.suggestions) and then the
    reports it touched, rebuilt: what the command line and the Faces view both call."""
    from facepipe.people import identities as people

    s = settings()
    spec = model_spec(s.model)

    def run(c) -> dict:
        require(c, s.db_schema, spec)
        if op == "name":
            r = people.name(c, s.db_schema, kw["identity_id"], kw["name"], actor=actor)
            ids = [r["identity_id"]]
        elif op == "merge":
            r = people.merge(c, s.db_schema, kw["into"], kw["other"], actor=actor)
            ids = [kw["into"]]
        elif op == "move":
            r = people.move(c, s.db_schema, kw["day"], kw["image_id"], kw["face_no"], to=kw.get("to"), actor=actor)
            ids = [r["identity_id"], r["from"]]
        elif op == "unmerge":
            from facepipe.people.unmerge import unmerge

            r = unmerge(c, s.db_schema, kw["merge_op"], actor=actor)
            ids = [r["identity_id"], r["restored"]]
        elif op in ("hide", "unhide"):
            from facepipe.people.hiding import set_hidden

            r = set_hidden(c, s.db_schema, kw["identity_id"], op == "hide", actor=actor)
            if not r["changed"]:
                return {**r, "report_days": [], "report_failures": []}
            ids = [r["identity_id"]]  # their sightings leave (or come back to) the day reports
        elif op == "answer":
            from facepipe.people.answers import answer

            r = answer(c, s.db_schema, kw["suggestion_id"], kw["yes"], actor=actor)
            if r["answer"] == "no":  # remembered; nothing moved
                return {**r, "changed": False, "report_days": [], "report_failures": []}
            ids = r["touched"]
        else:
            raise ValueError(f"not a people operation: {op}")
        if op == "name" and not r.get("changed", True):
            return {**r, "report_days": [], "report_failures": []}
        if s.xmp_write == "on":  # the photos of the faces it touched: their sidecars now
            from facepipe.people.sidecars import write_identities

            also = [(kw["day"], kw["image_id"])] if op == "move" else []
            r = {**r, "sidecars": write_identities(c, s.db_schema, ids, also, s)}
        return {**r, **rebuild_reports(c, s.db_schema, spec, reports_touched(c, s.db_schema, ids))}

    if conn is not None:
        return run(conn)
    with connection() as c:
        return run(c)


def recluster_people(since: dt.date | None = None, dry_run: bool = False, conn=None) -> dict:
    """facepipe.people.recluster at the model's threshold, then (unless a dry run) the reports
    of the identities it changed, rebuilt."""
    from facepipe.people.identities import PeopleSettings
    from facepipe.people.recluster import recluster

    s = settings()
    spec = model_spec(s.model)

    def run(c) -> dict:
        require(c, s.db_schema, spec)
        r = recluster(c, s.db_schema, spec, spec.match_threshold, PeopleSettings.from_env(), since, dry_run)
        if dry_run or not r.get("faces_changed"):
            return {**r, "report_days": [], "report_failures": []}
        return {**r, **rebuild_reports(c, s.db_schema, spec, reports_touched(c, s.db_schema, r["changed_identities"]))}

    if conn is not None:
        return run(conn)
    with connection() as c:
        return run(c)
