"""`facepipe status`: per (day, source) counts of what is loaded, and the days never
loaded. Shared by the command line and the demo's summary."""

from __future__ import annotations

import datetime as dt

from facepipe.core.text import plural
from facepipe.ops.tables import shown  # noqa: F401  (facepipe.ops.cli and others import it from here)


def print_status(args) -> int:
    """Per (day, source): what the tables hold now (after forgets and retention) and, where it
    differs, what the day's newest load counted; then the days never loaded."""
    from facepipe.core.days import horizon
    from facepipe.core.db import connection, load_sql, table_exists
    from facepipe.core.deployment import differences, settings
    from facepipe.ops.airflow_runs import ingest_state
    from facepipe.search.ivf import state

    s = settings()
    schema = s.db_schema
    as_json = bool(getattr(args, "json", False))
    with connection() as conn:
        h = horizon(conn, schema)
        loaded = table_exists(conn, schema, "load_runs")
        rows = []
        if loaded:
            cur = conn.execute(
                load_sql("web_days.sql", schema=schema), {"since": dt.date(1, 1, 1), "until": dt.date(9999, 12, 31)}
            )
            names = [c.name for c in cur.description]
            rows = sorted((dict(zip(names, r)) for r in cur.fetchall()), key=lambda r: (r["day"], r["source"] or ""))
        search = state(conn, schema, exact=False) if loaded and table_exists(conn, schema, "search_ivf") else None
    rows = [r for r in rows if r["loaded_at"] is not None or r["images"] or r["rejects"]]
    start, last = s.start_date, dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    first, since = start, "the start date"
    expired = None  # (from, to, days) before the horizon, from the start date on
    if h.before is not None and h.before > first:  # earlier days are expired, not missing
        n = (min(h.before, last + dt.timedelta(days=1)) - first).days
        if n > 0:
            expired = (first, first + dt.timedelta(days=n - 1), n)
        first, since = h.before, "the retention horizon"
    missing = missing_days(first, last, {r["day"] for r in rows if r["loaded_at"] is not None})
    notes = [d.line() for d in differences()]
    airflow = ingest_state(s.home)
    waiting = airflow.waiting if airflow is not None and airflow.paused else []
    if as_json:
        from facepipe.ops.tables import to_json

        print(
            to_json(
                {
                    "schema": schema,
                    "days": rows,
                    "start_date": start,
                    "horizon": h.before,
                    "expired": None if expired is None else {"from": expired[0], "to": expired[1], "days": expired[2]},
                    "never_loaded": [{"from": lo, "to": hi, "days": n} for lo, hi, n in missing],
                    "waiting_on_paused_ingest": [{"run_id": r, "day": d, "run_type": t} for r, d, t in waiting],
                    "settings_notes": notes,
                    "search": None if search is None else search.summary(),
                }
            )
        )
        return 0
    _print_days(schema, rows)
    if search is not None and rows:
        due = search.due(s.search_retrain_growth)
        print(f"\nsearch over every day: {search.summary()}")
        if due:
            print(f"  new centroids are due ({due}): face_search trains them daily, or `facepipe search-maintain`")
    if expired is not None:
        lo, hi, n = expired
        span = f"{lo}" if n == 1 else f"{lo} .. {hi}"
        print(f"\nexpired, {plural(n, 'day')} from the start date {start}: {span}")
        print(f"  {shown(h.reason())}")
    if missing:
        print(
            f"\nnever loaded, {sum(n for _, _, n in missing)} of the days {first} .. {last}"
            f" ({since} to yesterday, UTC):"
        )
        for lo, hi, n in missing:
            print(f"  {lo}" if n == 1 else f"  {lo} .. {hi}  ({plural(n, 'day')})")
        if airflow is not None and airflow.paused:
            print(
                "  face_ingest is paused: unpaused, it runs them (catchup); or Trigger -> Backfill over them in the UI"
            )
        else:
            print("  face_ingest runs them (catchup) while unpaused; or Trigger -> Backfill over them in the UI")
    elif first <= last:
        print(f"\nevery day from {first} to {last} has been loaded")
    if waiting:
        days = sorted({d for _, d, _ in waiting if d is not None})
        kinds = sorted({t for _, _, t in waiting})
        print(
            f"\n{plural(len(waiting), 'run')} of face_ingest ({', '.join(kinds)}) wait because face_ingest is paused"
            + (f": {days[0]} .. {days[-1]}" if len(days) > 1 else f": {days[0]}" if days else "")
        )
        print("  unpause face_ingest in the Airflow UI (or `airflow dags unpause face_ingest`) to run them")
    for note in notes:
        print(f"\nnote: {shown(note)}")
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
                "at load: images/dupes/faces/rejects",
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
