"""face_forget and face_retention as plain functions: what their DAG tasks call. They
return counts, never a name or a URI."""

from __future__ import annotations

import datetime as dt
import logging

from facepipe.core.db import connection
from facepipe.core.deployment import check_settings, settings
from facepipe.core.schema import require
from facepipe.core.specs import model_spec
from facepipe.core.text import plural

log = logging.getLogger(__name__)


def forget(
    person: str | None = None,
    photo: str | None = None,
    threshold: float | None = None,
    dry_run: bool = False,
    block_future: bool = False,
    upgrade: bool = False,
    actor: str | None = None,
    preview: bool = False,
) -> dict:
    """Forget one person (a name or an identity number) or one photo (a URI or a SHA-256)
    everywhere (facepipe.privacy.forget); returns the counts, never the name or the URI
    (``preview``, for the Faces view's dry run only: also who and which faces and photos).
    ``upgrade``: the schema may be upgraded first (face_forget's one task, FACEPIPE_SCHEMA_UPGRADE=auto)."""
    from facepipe.privacy.forget import PrivacyError, forget_person, forget_photo
    from facepipe.reports.report import read_uri

    if bool(person and person.strip()) == bool(photo and photo.strip()):
        raise PrivacyError("give either a person (a name or an identity number) or a photo (a URI or a SHA-256)")
    s = settings()
    spec = model_spec(s.model)
    with connection() as conn:
        require(conn, s.db_schema, spec, may_upgrade=upgrade)
        if person and person.strip():
            out = forget_person(
                conn,
                s.db_schema,
                person,
                spec,
                threshold,
                reports_dir=s.reports_dir,
                read=read_uri,
                dry_run=dry_run,
                block_future=block_future,
                actor=actor,
            )
        else:
            if block_future:
                raise PrivacyError("block_future is for a person: a forgotten photo is never indexed again anyway")
            out = forget_photo(
                conn, s.db_schema, photo, spec, reports_dir=s.reports_dir, read=read_uri, dry_run=dry_run, actor=actor
            )
    result = {
        "op_no": out.op_no,
        "dry_run": dry_run,
        "rows": out.rows,
        "report_days": [d.isoformat() for d in out.days],
        "files": out.files,
    }
    if preview and dry_run:
        result["preview"] = out.preview
    log.info(
        "forget%s: audit op %s, rows %s, reports %srebuilt for %s, files %s",
        " (dry run, nothing changed)" if dry_run else "",
        out.op_no,
        out.rows,
        "would be " if dry_run else "",
        plural(len(out.days), "day"),
        out.files,
    )
    return result


def retention(today: str | None = None, dry_run: bool = False, upgrade: bool = False) -> dict:
    """Drop the days past the deployment's retention_days, counted back from ``today`` (default and
    latest: today, UTC), with their report files (facepipe.privacy.retention)."""
    from facepipe.core.deployment import retention_days
    from facepipe.privacy.retention import expire

    s = check_settings()
    keep = retention_days()
    now = dt.datetime.now(dt.UTC).date()
    ref = min(dt.date.fromisoformat(today), now) if today else now  # a future date never expires more
    if keep == 0:
        log.info("retention_days is 0: every day is kept, nothing is expired")
        return {"keep_days": 0, "before": None, "days": [], "rows": {}, "partitions": 0, "files": 0, "dry_run": dry_run}
    with connection() as conn:
        require(conn, s.db_schema, model_spec(s.model), may_upgrade=upgrade)
        result = expire(conn, s.db_schema, ref, keep, s.reports_dir, dry_run=dry_run)
    log.info(
        "retention%s: %s before %s expired (%s); rows %s; %s, %s",
        " (dry run)" if dry_run else "",
        plural(len(result["days"]), "day"),
        result["before"],
        ", ".join(result["days"]),
        result["rows"],
        plural(result["partitions"], "partition"),
        plural(result["files"], "report file"),
    )
    return result


def export(person: str, path, vectors: bool = False, actor: str | None = None):
    """One person's data as a zip at ``path`` (facepipe.privacy.export); returns its counts."""
    from pathlib import Path

    from facepipe.privacy.export import export_person

    s = settings()
    spec = model_spec(s.model)
    with connection() as conn:
        require(conn, s.db_schema, spec)
        return export_person(conn, s.db_schema, person, Path(path), spec, vectors=vectors, actor=actor)
