"""`facepipe status`: per (day, source) counts of what is loaded, and the days never
loaded. Shared by the command line and the demo's summary."""

from __future__ import annotations

import datetime as dt

from facepipe.ops.tables import shown  # noqa: F401  (facepipe.ops.cli and others import it from here)


def print_status(args) -> int:
    """Per (day, source): what the tables hold now (after forgets and retention) and, where it
    differs, what the day's newest load counted; then the days never loaded."""
    from facepipe.core.config import settings, start_date
    from facepipe.core.db import connection, load_sql, table_exists
    from facepipe.search.generations import Policy, lag

    schema = settings().db_schema
    as_json = bool(getattr(args, "json", False))
    with connection() as conn:
        loaded = table_exists(conn, schema, "load_runs")
        rows = []
        if loaded:
            cur = conn.execute(
                load_sql("web_days.sql", schema=schema), {"since": dt.date(1, 1, 1), "until": dt.date(9999, 12, 31)}
            )
            names = [c.name for c in cur.description]
            rows = sorted((dict(zip(names, r)) for r in cur.fetchall()), key=lambda r: (r["day"], r["source"] or ""))
        search = lag(conn, schema) if loaded else None
    rows = [r for r in rows if r["loaded_at"] is not None or r["images"] or r["rejects"]]
    first, last = start_date(), dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    since = "FACEPIPE_START_DATE"
    from facepipe.core.config import retention_horizon

    horizon = retention_horizon()
    if horizon is not None and horizon > first:  # earlier days are expired, not missing
        first, since = horizon, "the retention horizon"
    missing = missing_days(first, last, {r["day"] for r in rows if r["loaded_at"] is not None})
    if as_json:
        from facepipe.ops.tables import to_json

        print(
            to_json(
                {
                    "schema": schema,
                    "days": rows,
                    "never_loaded": [{"from": lo, "to": hi, "days": n} for lo, hi, n in missing],
                    "search": None if search is None else search.summary(),
                }
            )
        )
        return 0
    _print_days(schema, rows)
    if search is not None and rows:
        due = search.due(Policy.from_env())
        print(f"\nsearch over every day: {search.summary()}")
        if due and search.gen is not None:  # without a generation the summary says how to opt in
            print(
                f"  a rebuild is due ({due}): face_search runs it daily (once unpaused), or `facepipe search-maintain`"
            )
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


def _print_days(schema: str, rows: list[dict]) -> None:
    from facepipe.ops.tables import table

    if not rows:
        print(f"nothing loaded yet (schema {schema!r} is empty)")
        return
    print(
        "counts as the tables hold them now (after any forget or retention); 'at load': the load's, where they differ"
    )
    out = []
    for r in rows:
        now = (r["images"], r["duplicates"], r["faces"], r["rejects"])
        then = (r["loaded_images"], r["loaded_duplicates"], r["loaded_faces"], r["loaded_rejects"])
        out.append(
            (
                r["day"],
                r["photos"],
                r["videos"],
                r["duplicates"],
                r["faces"],
                r["rejects"],
                " / ".join(map(str, then)) if r["loaded_at"] is not None and then != now else "",
                f"{r['model']} / {r['detector']}, {r['loaded_at']:%Y-%m-%d %H:%M}" if r["loaded_at"] else "not loaded",
                r["source"],
            )
        )
    print(
        table(
            [
                "day",
                "photos",
                "videos",
                "dupes",
                "faces",
                "rejects",
                "at load",
                "model / detector, loaded at",
                "source",
            ],
            out,
        )
    )


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
