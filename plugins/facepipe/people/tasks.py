"""face_report's people steps as plain functions: enrol the people folder, then give
each day's new faces their identities. Small JSON-able values in and out."""

from __future__ import annotations

import datetime as dt
import logging

from facepipe.core.config import settings
from facepipe.core.days import expired
from facepipe.core.db import connection
from facepipe.core.schema import require
from facepipe.core.specs import model_spec

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
    kept = [day for day in sorted(days) if not expired(dt.date.fromisoformat(day))]
    if len(kept) < len(days):
        log.info("%d days are past retention: no identities assigned for them", len(days) - len(kept))
    with connection() as conn:
        require(conn, s.db_schema, spec)
        return [
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
