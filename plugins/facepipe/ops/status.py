"""`facepipe status`: per (day, source) counts of what is loaded, and the days never
loaded. Shared by the command line and the demo's summary."""

from __future__ import annotations

import datetime as dt

from psycopg import sql


def print_status(args) -> int:

    from facepipe.core.config import settings, start_date
    from facepipe.core.db import connection
    from facepipe.search.generations import Policy, lag

    schema = settings().db_schema
    with connection() as conn:
        exists = conn.execute(
            "SELECT to_regclass(%s)", (sql.Identifier(schema, "load_runs").as_string(conn),)
        ).fetchone()[0]
        rows = (
            []
            if exists is None
            else conn.execute(
                sql.SQL(
                    "SELECT DISTINCT ON (day, source) day, images, duplicates, faces, rejects, model, detector, loaded_at,"
                    " source FROM {} ORDER BY day, source, run_no DESC"
                ).format(sql.Identifier(schema, "load_runs"))
            ).fetchall()
        )
        search = None if exists is None else lag(conn, schema)
    if not rows:
        print(f"nothing loaded yet (schema {schema!r} is empty)")
    else:
        print(f"{'day':<12}{'images':>8}{'dupes':>7}{'faces':>7}{'rejects':>9}  model / detector, loaded at; source")
    for day, images, dupes, faces, rejects, model, detector, at, source in rows:
        print(
            f"{day!s:<12}{images:>8}{dupes:>7}{faces:>7}{rejects:>9}  {model} / {detector},"
            f" {at:%Y-%m-%d %H:%M}; {shown(source)}"
        )
    if search is not None and rows:
        due = search.due(Policy.from_env())
        print(f"\nsearch over every day: {search.summary()}")
        if due:
            print(f"  a rebuild is due ({due}): face_search runs it daily, or `facepipe search-maintain`")
    first, last = start_date(), dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    since = "FACEPIPE_START_DATE"
    from facepipe.core.config import retention_horizon

    horizon = retention_horizon()
    if horizon is not None and horizon > first:  # earlier days are expired, not missing
        first, since = horizon, "the retention horizon"
    missing = missing_days(first, last, {r[0] for r in rows})
    if missing:
        print(
            f"\nnever loaded, {sum(n for _, _, n in missing)} of the days {first} .. {last}"
            f" ({since} to yesterday, UTC):"
        )
        for lo, hi, n in missing:
            print(f"  {lo}" if n == 1 else f"  {lo} .. {hi}  ({n} days)")
        print("  unpaused, face_ingest runs them (catchup); or Trigger -> Backfill over them in the UI")
    else:
        print(f"\nevery day from {first} to {last} has been loaded")
    return 0


def shown(text: str) -> str:
    """Text from outside (file names) as printable characters only: no terminal escapes."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def missing_days(first, last, loaded: set) -> list[tuple]:
    """Runs of consecutive days in [first, last] that are not in ``loaded``: (from, to, count)."""

    runs: list[list] = []
    day = first
    while day <= last:
        if day not in loaded:
            if runs and runs[-1][1] == day - dt.timedelta(days=1):
                runs[-1][1] = day
                runs[-1][2] += 1
            else:
                runs.append([day, day, 1])
        day += dt.timedelta(days=1)
    return [tuple(r) for r in runs]
