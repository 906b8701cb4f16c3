"""facepipe's command line: facepipe COMMAND (or: python -m facepipe COMMAND).

  status            per (day, source) counts of what is loaded, and the days never loaded
  airflow           Airflow's UI, scheduler and workers on this machine (make airflow)
  rejects DAY       the day's rejects with their reasons
  enrol FOLDER      enrol the people in FOLDER (one sub-folder of photos per person)
  search PHOTO      the faces most like the face in PHOTO (--k, --since, --until, --source)
  report DAY        build the day's report tables, HTML page and CSV files
  people ...        identities: list, show ID, name ID NAME, merge INTO OTHER,
                    move DAY IMAGE_ID FACE_NO [--to ID], suggestions, answer N yes|no,
                    recluster [--since DAY] [--dry-run],
                    ops (what was done, by whom)
  grant-reader ROLE let an existing database role read the reader views, and nothing else
  forget person NAME|ID, forget photo URI|SHA256
                    remove a person or a photo from every table and report; never indexed again
  retention         drop the days past retention_days now (--dry-run: only list them;
                    --reopen-from DAY: let expired days from DAY on load again)
  settings          every setting, its value and where it comes from;
                    settings set NAME VALUE, settings unset NAME (the deployment's, audited)
  db upgrade|current|history|downgrade
                    the schema's revision: apply, show, list, undo
  db-uri            the connection string of the embedded database (for psql)
  stop-db           stop the embedded database
  demo              lay out sample photos and run face_ingest for each day

Errors are one line on stderr: exit code 2 for what the user can fix (arguments,
settings, photos), 1 for anything else; --debug shows the traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from contextlib import contextmanager, nullcontext
from pathlib import Path

from psycopg import sql

from facepipe.core.text import plural
from facepipe.ops.status import print_status, shown


def _retention(args) -> int:
    from facepipe.privacy.tasks import retention

    if args.reopen_from is not None:
        if args.dry_run:
            raise UserError("--reopen-from changes the horizon: it has no --dry-run (`facepipe status` shows it)")
        return _reopen(args.reopen_from)
    r = retention(dry_run=args.dry_run)
    if r["keep_days"] == 0:
        print("retention_days is 0: every day is kept, nothing is expired")
        return 0
    verb = "would go (dry run, nothing changed)" if args.dry_run else "removed"
    from facepipe.ops.tables import table

    print(
        f"retention {plural(r['keep_days'], 'day')}: the days before {r['before']} are expired;"
        f" {plural(len(r['days']), 'day')} {verb}"
    )
    for day in r["days"]:
        print(f"  {day}")
    if r["rows"]:
        print(table(["table", "rows"], sorted(r["rows"].items()), right=["rows"]))
    print(
        f"{plural(r['partitions'], 'partition')},"
        f" {plural(r['files'], 'report folder or validation file', 'report folders and validation files')}"
    )
    return 0


def _reopen(day: dt.date) -> int:
    from facepipe.core.db import connection
    from facepipe.core.deployment import settings
    from facepipe.core.schema import require
    from facepipe.core.specs import model_spec
    from facepipe.privacy.retention import reopen

    with connection() as conn:
        require(conn, settings().db_schema, model_spec(settings().model))  # behind: says which command
        old = reopen(conn, settings().db_schema, day)
    if old is None:
        print(f"the retention horizon is not after {day}: nothing changed")
        return 0
    print(f"retention horizon set back from {old} to {day}: the days from {day} on may be loaded again (audited)")
    keep = settings().retention_days
    if keep:
        print(
            f"  retention_days is {keep}: the next retention run drops the days before today - {keep} again;"
            " `facepipe settings set retention_days N` to keep more"
        )
    return 0


def _rejects(args) -> int:
    from facepipe.core.db import connection
    from facepipe.core.deployment import settings

    with connection() as conn:
        rows = conn.execute(
            sql.SQL("SELECT uri, reason, detail FROM {} WHERE day = %s ORDER BY uri").format(
                sql.Identifier(settings().db_schema, "rejects")
            ),
            (args.day,),
        ).fetchall()
    for uri, reason, detail in rows:
        print(f"{reason:<16}{shown(uri)}\n{'':<16}{shown(detail)}")
    return 0


def _enrol(args) -> int:
    from facepipe.people.tasks import enrol

    r = enrol(args.folder)
    print(
        f"{plural(r['people'], 'person', 'people')}: {plural(r['added'], 'reference photo')} added,"
        f" {r['kept']} already enrolled, {r['skipped']} skipped"
    )
    for path, why in r["skipped_photos"]:
        print(f"  skipped {shown(path)}: {shown(why)}")
    for name in r["no_reference"]:
        print(f"  {shown(name)} has no reference photo: add a photo of them with one clear face")
    return 0


def _report(args) -> int:
    from facepipe.ops.tables import table, to_json
    from facepipe.reports.tasks import report

    result = report(args.day.isoformat())
    if args.json:
        print(to_json(result))
        return 0
    if result.get("expired"):
        print(f"{args.day} is past retention: no report built")
        return 0
    print(f"reports of {args.day} built:")
    print(table(["report table", "rows"], [(f"report_{k}", v) for k, v in result.items() if k not in ("day", "html")]))
    print(f"page: {shown(result['html'])} (and one CSV per table beside it)")
    return 0


def _search(args) -> int:
    from facepipe.core.db import connection
    from facepipe.core.deployment import settings
    from facepipe.core.schema import require
    from facepipe.core.specs import model_spec
    from facepipe.search.query import query_vector, search_faces

    s = settings()
    spec = model_spec(s.model)
    until = args.until or dt.date.today()
    since = args.since or until - dt.timedelta(days=30)
    if since > until:
        raise UserError(f"--since {since} is after --until {until}")
    from facepipe.core.sources import Unreadable

    try:
        vector = query_vector(args.photo, spec, s.detector, s.min_face)
    except Unreadable as exc:
        raise UserError(f"photo {args.photo}: {exc.reason}: {exc.detail}") from None
    from facepipe.core.db import load_sql
    from facepipe.ops.tables import table, to_json

    with connection() as conn:
        require(conn, s.db_schema, spec)
        matches = search_faces(conn, s.db_schema, spec, vector, k=args.k, since=since, until=until, source=args.source)
        who = {}
        if matches:  # the identity and person of each face, as `people list` and the Faces view show them
            for day, image_id, face_no, identity_id, name in conn.execute(
                load_sql("web_face_identities.sql", schema=s.db_schema),
                {
                    "days": [m.day for m in matches],
                    "image_ids": [m.image_id for m in matches],
                    "face_nos": [m.face_no for m in matches],
                },
            ):
                who[(day, str(image_id), face_no)] = (identity_id, name)
    rows = [
        {
            "distance": m.distance,
            "day": m.day,
            "identity_id": who.get((m.day, m.image_id, m.face_no), (None, None))[0],
            "person": who.get((m.day, m.image_id, m.face_no), (None, None))[1],
            "source": m.source,
            "uri": m.uri,
            "image_id": m.image_id,
            "face_no": m.face_no,
        }
        for m in matches
    ]
    if args.json:
        print(to_json(rows))
        return 0
    print(
        f"{plural(len(matches), 'nearest face')}, {since} to {until}{f', source {shown(args.source)}' if args.source else ''}:"
    )
    print(
        table(
            ["distance", "day", "identity", "person", "source", "photo", "face"],
            [
                (
                    r["distance"],
                    r["day"],
                    r["identity_id"],
                    r["person"] or ("(unnamed)" if r["identity_id"] else None),
                    r["source"],
                    r["uri"],
                    r["face_no"],
                )
                for r in rows
            ],
            right=["identity"],
        )
    )
    return 0


def _search_maintain(args) -> int:
    import json

    from facepipe.search.tasks import maintain

    result = maintain(force=args.rebuild)
    if args.json:
        print(json.dumps(result, default=str, indent=2))
        return 0
    build = result.get("build")
    if build:
        took = build["seconds"]
        print(
            f"new centroids ({result['reason']}): version {build['version']}, {plural(build['lists'], 'list')}"
            f" in {plural(build['partitions'], 'partition')}, {plural(build['faces'], 'face')} of"
            f" {plural(build['days'], 'day')} (train {took['train']} s, fill {took['fill']} s, swap {took['swap']} s)"
            + (f"; version {build['dropped']} dropped" if build["dropped"] else "")
        )
    else:
        print("no new centroids due")
    print(_search_text(result["after"]))
    return 0


def _search_text(state: dict) -> str:
    from facepipe.search.ivf import State

    return "search: " + State(**{k: state[k] for k in State.__dataclass_fields__ if k in state}).summary()


def _people(args) -> int:
    from facepipe.core.db import connection
    from facepipe.core.deployment import settings
    from facepipe.core.schema import require
    from facepipe.core.specs import model_spec
    from facepipe.ops.tables import table, to_json
    from facepipe.people import identities as people
    from facepipe.people.suggestions import answer_summary, suggestion_row
    from facepipe.people.tasks import change_people

    s = settings()
    with connection() as conn:
        require(conn, s.db_schema, model_spec(s.model))
        schema = s.db_schema
        if args.people_command == "list":
            named = True if args.named else False if args.unnamed else None
            rows = people.list_identities(
                conn, schema, named=named, min_faces=args.min_faces, limit=args.limit, hidden=args.hidden
            )
            if args.json:
                print(to_json([{k: v for k, v in r.items() if k != "person_id"} for r in rows]))
                return 0
            print(
                table(
                    ["id", "name", "faces", "days", "first seen", "last seen", "sources"],
                    [
                        (
                            r["identity_id"],
                            (r["name"] or "(unnamed)") + (" (hidden)" if r["hidden"] else ""),
                            r["faces"],
                            r["days"],
                            r["first_seen"],
                            r["last_seen"],
                            r["sources"],
                        )
                        for r in rows
                    ],
                )
            )
            return 0
        if args.people_command == "show":
            (r,) = people.list_identities(conn, schema, identity_id=args.id, min_faces=0) or [None]
            if r is None:
                raise people.PeopleError(f"no identity {args.id}")
            print(
                f"identity {r['identity_id']}: {shown(r['name'] or '(unnamed)')}, {plural(r['faces'], 'face')} on"
                f" {plural(r['days'], 'day')}"
            )
            print(f"{'day':<11} {'image_id':<36} {'face':>4}  {'how':<9} {'distance':>8}  photo")
            for f in people.identity_faces(conn, schema, args.id, limit=args.limit):
                dist = "-" if f["distance"] is None else f"{f['distance']:.3f}"
                print(
                    f"{f['day']!s:<11} {f['image_id']!s:<36} {f['face_no']:>4}  {f['how']:<9} {dist:>8}"
                    f"  {shown(f['uri'])}"
                )
            return 0
        if args.people_command in ("hide", "unhide"):
            from facepipe.people.hiding import identity_of

            r = change_people(args.people_command, conn=conn, identity_id=identity_of(conn, schema, args.which))
            who_ = shown(r["name"]) if r["name"] else f"identity {r['identity_id']}"
            state = "hidden" if r["hidden"] else "shown"
            if args.json:
                print(to_json(r))
            else:
                print(f"{who_} is {state}" + ("" if r["changed"] else " already"))
                _print_rebuilt(r)
            return 1 if r.get("report_failures") else 0
        if args.people_command in ("name", "merge", "move"):
            if args.people_command == "name":
                r = change_people("name", conn=conn, identity_id=args.id, name=args.name)
                print(
                    f"identity {r['identity_id']} is {shown(r['name'])}"
                    + (f" (merged identity {args.id} into it)" if r.get("merged_into") else "")
                    + ("" if r["changed"] else " already")
                )
            elif args.people_command == "merge":
                r = change_people("merge", conn=conn, into=args.into, other=args.other)
                print(f"identity {args.other} merged into {args.into}: {plural(r['faces_moved'], 'face')} moved")
            else:
                r = change_people(
                    "move", conn=conn, day=args.day, image_id=args.image_id, face_no=args.face_no, to=args.to
                )
                print(
                    f"face {args.face_no} of {args.image_id} ({args.day}) moved from identity {r['from']}"
                    f" to {r['identity_id']}"
                )
            _print_rebuilt(r)
            return 1 if r.get("report_failures") else 0
        if args.people_command == "suggestions":
            from facepipe.people.suggestions import list_suggestions

            rows = list_suggestions(conn, schema, state=None if args.all else "open", limit=args.limit)
            if args.json:
                print(to_json(rows))
                return 0
            print(
                table(
                    ["n", "state", "question", "evidence", "face", "photo", "answered by"],
                    [suggestion_row(r) + (r["answered_by"] or "",) for r in rows],
                    right=["n"],
                )
            )
            if not rows:
                print("no open suggestions" if not args.all else "no suggestions")
            return 0
        if args.people_command == "recluster":
            from facepipe.people.tasks import recluster_people

            r = recluster_people(since=args.since, dry_run=args.dry_run, conn=conn)
            if args.json:
                print(to_json(r))
                return 1 if r.get("report_failures") else 0
            if not r.get("days"):
                print("no faces loaded: nothing to re-cluster")
                return 0
            print(
                ("would change (dry run, nothing written):" if r["dry_run"] else "re-clustered:")
                + f" {r['since']} to {r['days'][-1]}, {plural(len(r['days']), 'day')}"
            )
            print(
                table(
                    ["what", "count"],
                    [
                        ("faces with an identity before", r["faces_before"]),
                        ("faces with an identity after", r["faces_after"]),
                        ("faces whose identity changed", r["faces_changed"]),
                        ("- left their identity (unsure now, or a no answer)", r["faces_left_identities"]),
                        ("- given an identity", r["faces_given_identities"]),
                        ("- moved between identities", r["faces_moved_between"]),
                        ("identities new", r["identities_new"]),
                        ("identities removed (left empty)", r["identities_removed"]),
                        ("old identities that took their faces back", r["identities_taken_back"]),
                        ("names kept (of named identities)", f"{r['names_kept']} of {r['names']}"),
                        ("manual assignments kept", r["manual_kept"]),
                        ("faces kept out by a no answer", r["refused_faces_kept_out"]),
                        ("faces kept apart by a no merge answer", r["refused_pairs_kept_apart"]),
                        ("questions asked (faces, merges)", f"{r['asked_faces']}, {r['asked_merges']}"),
                    ],
                    right=["count"],
                )
            )
            if not r["dry_run"]:
                _print_rebuilt({**r, "changed": bool(r["faces_changed"])})
            return 1 if r.get("report_failures") else 0
        if args.people_command == "answer":
            from facepipe.people.suggestions import SuggestionError

            try:
                r = change_people("answer", conn=conn, suggestion_id=args.n, yes=args.answer == "yes")
            except SuggestionError as exc:
                raise people.PeopleError(str(exc)) from exc
            if args.json:
                print(to_json(r))
                return 1 if r.get("report_failures") else 0
            print(f"suggestion {args.n} answered {args.answer}: {answer_summary(r)}")
            _print_rebuilt(r)
            return 1 if r.get("report_failures") else 0
        rows = people.ops(conn, schema, limit=args.limit)
        if args.json:
            print(to_json(rows))
            return 0
        print(
            table(
                ["op", "at", "who", "what", "identity", "other", "detail"],
                [(r["op_no"], r["at"], r["who"], r["op"], r["identity_id"], r["other_id"], r["detail"]) for r in rows],
                right=["identity", "other"],
            )
        )
        return 0


def _print_rebuilt(r: dict) -> None:
    """What else a people operation updated: the day reports that show the identities."""
    if r.get("report_days"):
        print(f"day reports rebuilt (tables, HTML and CSV): {', '.join(r['report_days'])}")
    elif r.get("changed", True):
        print("no day report shows these identities: nothing else to rebuild")
    for day, why in r.get("report_failures", []):
        print(f"not rebuilt: {day} ({shown(why)}): run `facepipe report {day}`")
    if r.get("sidecars"):  # xmp_write on
        print("XMP sidecars: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in r["sidecars"].items()))


def _uuid(text: str):
    import uuid

    try:
        return uuid.UUID(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an image id (a UUID): {shown(text[:40])!r}") from None


def _grant_reader(args) -> int:
    from facepipe.core.db import connection
    from facepipe.core.deployment import settings
    from facepipe.core.schema import require
    from facepipe.core.specs import model_spec
    from facepipe.privacy.reader import grant_reader

    s = settings()
    with connection() as conn:
        require(conn, s.db_schema, model_spec(s.model))
        columns = grant_reader(conn, s.db_schema, args.role)
    from facepipe.core.schema import reader_schema

    print(
        f"{shown(args.role)} may read the {plural(len(columns), 'view')} of schema {reader_schema(s.db_schema)}"
        f" (docs/using.md), and no table of schema {s.db_schema}:"
    )
    print(f"{'view':<20}  columns")
    for view, cols in columns.items():
        print(f"{view:<20}  {', '.join(cols)}")
    return 0


def _forget(args) -> int:
    from facepipe.privacy.tasks import forget

    if args.block_future and args.what != "person":
        raise ValueError("--block-future is for a person: a forgotten photo is never indexed again anyway")
    if args.what == "person":
        r = forget(person=args.which, threshold=args.threshold, dry_run=args.dry_run, block_future=args.block_future)
    else:
        r = forget(photo=args.which, dry_run=args.dry_run)
    from facepipe.ops.tables import table, to_json

    if args.json:
        print(to_json(r))
        return 0
    removed = [(t, n) for t, n in r["rows"].items() if n and t not in ("suppressions", "forget_templates", "audit")]
    if args.dry_run:
        print("dry run: nothing was changed. A forget would remove:")
    else:
        print(f"forgotten (audit op {r['op_no']}); removed:")
    print(table(["table", "rows"], removed) if removed else "  no row")
    if r["rows"].get("audit"):
        print(
            f"earlier audit rows that name them: {r['rows']['audit']}"
            f" {'would keep' if args.dry_run else 'keep'} their op, time, actor and counts; their detail is replaced"
        )
    print(
        f"kept so that it does not come back: {plural(r['rows'].get('suppressions', 0), 'suppression')} (photo hash and box)"
        + (", 1 template vector (--block-future)" if r["rows"].get("forget_templates") else "")
    )
    if r["report_days"]:
        print(
            f"{'the forget would rebuild the' if args.dry_run else 'rebuilt the'} reports of"
            f" {plural(len(r['report_days']), 'day')}: {', '.join(r['report_days'])}"
        )
    if r["files"]:
        rewritten = plural(r["files"].get("rewritten", 0), "day's files", "days' files")
        print(f"report folder: {rewritten} rewritten, {plural(r['files'].get('deleted', 0), 'other file')} deleted")
        sidecars = {k[len("sidecars_") :]: v for k, v in r["files"].items() if k.startswith("sidecars_")}
        if sidecars:
            print(
                "XMP sidecars without facepipe's regions of it: " + ", ".join(f"{v} {k}" for k, v in sidecars.items())
            )
    return 0


def _export(args) -> int:
    from facepipe.core.text import display_name
    from facepipe.privacy.tasks import export

    r = export(args.which, args.file, vectors=args.vectors)
    who = display_name(r.name) if r.name else f"identity #{r.identity_id}"
    print(
        f"exported {who} to {r.path} (audit op {r.op_no}): {plural(r.faces, 'face')} in"
        f" {plural(r.photos, 'photo')} on {plural(len(r.days), 'day')}, {plural(r.enrolment_photos, 'enrolment photo')},"
        f" {plural(r.sightings, 'sighting')}, {plural(r.audit_rows, 'audit row')};"
        f" vectors {'included' if r.vectors else 'not included (--vectors)'}"
    )
    if r.crops_missing:
        print(f"{plural(r.crops_missing, 'face')} without a crop: the photo cannot be read now (said in README.txt)")
    print("the file holds biometric data: it is readable by you only; hand it over and delete it")
    return 0


def _db_uri(args) -> int:
    from facepipe.core.db import embedded_uri
    from facepipe.core.deployment import settings

    print(embedded_uri(settings().home))
    return 0


def _stop_db(args) -> int:
    from facepipe.core.db import stop_embedded
    from facepipe.core.deployment import settings

    print("stopped" if stop_embedded(settings().home) else "not running")
    return 0


def _airflow(args) -> int:
    from facepipe.ops.local_airflow import main as run

    return run()


def _demo(args) -> int:
    from facepipe.ops.demo import main

    return main(days=args.days)


class UserError(ValueError):
    """Something the user can fix; printed as one line, exit code 2."""


def _db(args) -> int:
    from facepipe.core import schema as versions
    from facepipe.core.db import connection
    from facepipe.core.deployment import settings
    from facepipe.core.specs import model_spec

    s = settings()
    head = versions.head()
    if args.db_command == "history":
        print(f"{'revision':<10}{'revises':<10}  what it does")
        for r in versions.history():
            print(f"{r.revision:<10}{r.down_revision or '-':<10}  {r.doc.splitlines()[0] if r.doc else ''}")
        print(f"(head: {head})")
        return 0
    if args.db_command == "current":
        with connection() as conn:
            rev = versions.current(conn, s.db_schema)
        if not versions.known(rev):
            print(versions.newer_message(s.db_schema, rev))
            return 1
        state = "at head" if rev == head else f"behind: run `{versions.UPGRADE_COMMAND}` to reach {head}"
        print(f"schema {s.db_schema!r}: revision {rev or 'none (new, or made before versioning)'}, {state}")
        return 0 if rev == head else 1
    model = model_spec(s.model)
    if args.db_command == "upgrade":
        before, after = versions.upgrade(s.db_schema, model, args.revision)
        print(
            f"schema {s.db_schema!r}: revision {before or 'none'} -> {after}"
            + (" (nothing to do)" if before == after else "")
        )
        if before != after:
            _print_readers(s.db_schema)
        return 0
    if not args.yes:
        print(
            f"downgrading schema {s.db_schema!r} to {args.revision} drops the tables of the revisions undone,"
            " with their rows: pass --yes to do it",
            file=sys.stderr,
        )
        return 2
    before, after = versions.downgrade(s.db_schema, model, args.revision)
    print(f"schema {s.db_schema!r}: revision {before or 'none'} -> {after or 'none (base)'}")
    if before != after:
        _print_readers(s.db_schema)
    return 0


def _print_readers(schema: str) -> None:
    """What a revision kept of the grants on the reader views (they are given back after each)."""
    from facepipe.core.db import connection
    from facepipe.core.migrations.reader_grants import summary
    from facepipe.core.schema import reader_schema

    with connection() as conn:
        line = summary(conn, schema, reader_schema(schema))
    if line:
        print(line)


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date like 2026-11-24: {shown(text[:40])!r}") from None


def _k(text: str) -> int:
    try:
        k = int(text)
    except ValueError:
        k = 0
    if not 1 <= k <= 1000:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 1000, got {shown(text[:40])!r}")
    return k


# Commands that read no facepipe table, or manage the schema themselves.
_NO_SCHEMA = {"db", "db-uri", "stop-db", "airflow", "demo"}


def _embedded_upgrade() -> None:
    """On the embedded database (one user, this machine) every command brings the schema up to
    date (schema_upgrade auto). A shared server is upgraded only by `facepipe db
    upgrade` and the DAGs' first tasks: a command run from another checkout never changes it."""
    from facepipe.core import schema as versions
    from facepipe.core.db import connection, is_embedded
    from facepipe.core.deployment import check_settings, value
    from facepipe.core.specs import model_spec

    s = check_settings()
    if not (is_embedded() and versions.auto_upgrade()):
        return
    with connection() as conn:
        rev = versions.current(conn, s.db_schema)
    if rev != versions.head() and versions.known(rev):
        before, after = versions.upgrade(s.db_schema, model_spec(value("model")))
        print(
            f"schema {s.db_schema!r}: revision {before or 'none'} -> {after} (upgraded first:"
            f" FACEPIPE_SCHEMA_UPGRADE=auto on the embedded database)",
            file=sys.stderr,
        )


class _OneLine(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {shown(record.getMessage())}"


@contextmanager
def _terminal_logging(debug: bool):
    """facepipe's log records while a command runs: warnings on stderr, one line each, not on
    stdout (where Airflow's handler, installed when a command first imports Airflow, would put
    them among the command's own lines and into its --json). Info records only with --debug:
    each command prints what it did. A record whose content the result carries, and the
    command prints (``extra={"in_result": True}``), is not shown twice."""
    logger = logging.getLogger("facepipe")
    saved = logger.handlers[:], logger.propagate, logger.level
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine())
    handler.addFilter(lambda record: debug or not getattr(record, "in_result", False))
    logger.handlers, logger.propagate = [handler], False
    logger.setLevel(logging.INFO if debug else logging.WARNING)
    try:
        yield
    finally:
        logger.handlers, logger.propagate = saved[0], saved[1]
        logger.setLevel(saved[2])


def _message(exc: BaseException) -> tuple[str, int]:
    """One line for the user, and the exit code."""
    from facepipe.core.sources import SourceError, Unreadable

    if isinstance(exc, Unreadable):
        return f"{exc.reason}: {exc.detail}", 2
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.strerror or exc}: {exc.filename}", 2
    if isinstance(exc, (ValueError, SourceError, OSError)):  # ConfigError and UserError are ValueErrors
        return str(exc), 2
    if type(exc).__name__ == "FilesLeft":  # facepipe.privacy.forget: done in the database, some files left
        return str(exc), 1
    return f"{type(exc).__name__}: {exc} (run with --debug for the traceback)", 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="facepipe", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("status")
    p.add_argument("--json", action="store_true", help="the counts as JSON")
    p.set_defaults(func=print_status)
    p = sub.add_parser("rejects")
    p.add_argument("day", type=_day)
    p.set_defaults(func=_rejects)
    p = sub.add_parser("enrol")
    p.add_argument("folder")
    p.set_defaults(func=_enrol)
    p = sub.add_parser("report")
    p.add_argument("day", type=_day)
    p.add_argument("--json", action="store_true", help="the counts as JSON")
    p.set_defaults(func=_report)
    p = sub.add_parser("search")
    p.add_argument("photo")
    p.add_argument("--k", type=_k, default=10, help="how many faces (1-1000)")
    p.add_argument("--since", type=_day, help="first day (default: 30 days before --until)")
    p.add_argument("--until", type=_day, help="last day (default: today)")
    p.add_argument("--source", help="only faces from this source")
    p.add_argument("--json", action="store_true", help="the matches as JSON")
    p.set_defaults(func=_search)
    p = sub.add_parser(
        "search-maintain",
        help="the search structure over every day: its state, and new centroids when due (face_search)",
    )
    p.add_argument("--rebuild", action="store_true", help="train new centroids now, whatever the growth")
    p.add_argument("--json", action="store_true", help="the result as JSON")
    p.set_defaults(func=_search_maintain)
    p = sub.add_parser(
        "people", help="identities: list, show, name, merge, move, hide, unhide, suggestions, answer, ops"
    )
    people = p.add_subparsers(dest="people_command", required=True)
    p = people.add_parser("list", help="identities with faces, days seen, first and last seen, sources")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--named", action="store_true", help="only people (named identities)")
    group.add_argument("--unnamed", action="store_true", help="only unnamed identities")
    p.add_argument("--min-faces", type=int, default=1)
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--hidden", action="store_true", help="hidden people too (people hide)")
    p = people.add_parser("show", help="the faces of one identity")
    p.add_argument("id", type=int)
    p.add_argument("--limit", type=int, default=1000)
    p = people.add_parser("name", help="name an identity: it becomes a person, its faces sightings")
    p.add_argument("id", type=int)
    p.add_argument("name")
    p = people.add_parser("merge", help="move every face of OTHER into INTO")
    p.add_argument("into", type=int)
    p.add_argument("other", type=int)
    p = people.add_parser(
        "hide", help="hide an identity (ID or NAME): kept and searchable, out of the grid, list and reports"
    )
    p.add_argument("which", metavar="ID|NAME")
    p = people.add_parser("unhide", help="show a hidden identity (ID or NAME) again")
    p.add_argument("which", metavar="ID|NAME")
    p = people.add_parser("move", help="move one face out of its identity (into --to, else a new one)")
    p.add_argument("day", type=_day)
    p.add_argument("image_id", type=_uuid)
    p.add_argument("face_no", type=int)
    p.add_argument("--to", type=int, help="the identity to move it into (default: a new identity)")
    p = people.add_parser(
        "suggestions", help="what the nightly assignment was not sure of: is this face X? are A and B one person?"
    )
    p.add_argument("--all", action="store_true", help="answered ones too")
    p.add_argument("--limit", type=int, default=200)
    p = people.add_parser("answer", help="answer suggestion N: yes moves the face or merges, no is remembered")
    p.add_argument("n", type=int)
    p.add_argument("answer", choices=("yes", "no"))
    p = people.add_parser(
        "recluster", help="assign the nights' faces again, keeping names, manual moves and answered suggestions"
    )
    p.add_argument("--since", type=_day, help="from this day on (default: every loaded day)")
    p.add_argument("--dry-run", action="store_true", help="say what would change, write nothing")
    p = people.add_parser("ops", help="the people operations done, newest first")
    p.add_argument("--limit", type=int, default=50)
    for p in people.choices.values():
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.set_defaults(func=_people)
    p = sub.add_parser(
        "grant-reader",
        help="let an existing role read the reader views (and nothing else): no vector, no internal table",
    )
    p.add_argument("role")
    p.set_defaults(func=_grant_reader)
    p = sub.add_parser("forget", help="forget a person or a photo everywhere; never indexed again")
    p.add_argument("what", choices=("person", "photo"))
    p.add_argument("which", help="person: a name or an identity number; photo: a URI or a SHA-256")
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="person: faces this close to a reference photo go too (default: the model's)",
    )
    p.add_argument("--dry-run", action="store_true", help="count what would go; change nothing")
    p.add_argument(
        "--block-future",
        action="store_true",
        help="person: keep one vector of theirs so that their faces in later photos are not indexed"
        " either (docs/privacy.md)",
    )
    p.add_argument("--json", action="store_true", help="the counts as JSON")
    p.set_defaults(func=_forget)
    p = sub.add_parser("export", help="a person's data, on request: one zip of what facepipe holds about them")
    p.add_argument("what", choices=("person",))
    p.add_argument("which", help="a name or an identity number (identity:N)")
    p.add_argument("file", type=Path, help="the zip to write (refused if it exists)")
    p.add_argument(
        "--vectors", action="store_true", help="include the face vectors (left out unless asked: docs/privacy.md)"
    )
    p.set_defaults(func=_export)
    p = sub.add_parser("retention", help="drop the days past retention_days (docs/privacy.md)")
    p.add_argument("--dry-run", action="store_true", help="list what would go, change nothing")
    p.add_argument(
        "--reopen-from",
        type=_day,
        metavar="DAY",
        help="set the recorded horizon back to DAY: expired days from DAY on may be loaded again (audited)",
    )
    p.set_defaults(func=_retention)
    from facepipe.ops.settings_cmd import add_parser as add_settings

    add_settings(sub)
    p = sub.add_parser("db", help="the schema's revision: upgrade, current, history, downgrade")
    db = p.add_subparsers(dest="db_command", required=True)
    p = db.add_parser("upgrade", help="apply the revisions this facepipe has and the database lacks")
    p.add_argument("revision", nargs="?", default="head")
    db.add_parser("current", help="the database's revision, and whether it is at head (exit code 1: behind)")
    db.add_parser("history", help="the revisions in order")
    p = db.add_parser("downgrade", help="undo revisions down to REVISION (base: all); their tables go")
    p.add_argument("revision")
    p.add_argument("--yes", action="store_true", help="yes, drop those tables and their rows")
    for p in db.choices.values():
        p.set_defaults(func=_db)
    sub.add_parser("db-uri").set_defaults(func=_db_uri)
    sub.add_parser("airflow").set_defaults(func=_airflow)
    sub.add_parser("stop-db").set_defaults(func=_stop_db)
    p = sub.add_parser("demo")
    p.add_argument("--days", type=int, default=3)
    p.set_defaults(func=_demo)
    args = parser.parse_args(argv)  # bad arguments: argparse's one-line error, exit code 2
    # the demo's task logs go to its log file whole, as Airflow writes them
    with _terminal_logging(args.debug) if args.command != "demo" else nullcontext():
        try:
            from facepipe.core import deployment
            from facepipe.ops.local_airflow import apply_airflow_defaults

            apply_airflow_defaults()  # before anything imports Airflow: $FACEPIPE_HOME/airflow, not ~/airflow
            deployment.log_differences(False)
            if args.command not in _NO_SCHEMA:
                _embedded_upgrade()
                if args.command not in ("status", "settings"):  # those two show every one in their output
                    for d in deployment.differences():
                        if d.stored is not None:  # this shell's variable is not used: say so
                            print(f"note: {shown(d.line())}", file=sys.stderr)
            return args.func(args)
        except KeyboardInterrupt:
            return 130
        except Exception as exc:
            if args.debug:
                raise
            message, code = _message(exc)
            print(f"error: {shown(message)}", file=sys.stderr)
            return code
