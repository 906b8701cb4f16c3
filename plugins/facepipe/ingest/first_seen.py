"""When facepipe first saw each loose file of a folder source, and so which day it belongs to.

A loose file (outside the dated folders) belongs to the UTC day of its arrival
time, decided the first time a plan lists it and then kept in ``first_seen``,
so that re-runs and backfills of any day see the same files:

- its mtime, when that day is after every day already planned for the source
  (the usual case: the nightly run of a day sees the photos of that day);
- otherwise the file came late (``cp -p``, ``rsync -a`` and unzip keep an old
  mtime): its ctime, the time it was put here, which no copy keeps, when that day
  is after every planned day; else the time this plan first saw it.

A late file therefore lands on a day that has not been planned yet (today's, at
the latest), never on a day that already ran, and never on the day of a backfill
that happens to list it first.
"""

from __future__ import annotations

import datetime as dt

import psycopg

from facepipe.core.db import load_sql


class FirstSeenStore:
    """facepipe.core.sources.FirstSeen on the database, for one source and one plan."""

    def __init__(self, conn: psycopg.Connection, schema: str, source: str, now: dt.datetime | None = None):
        self.conn, self.schema, self.source = conn, schema, source
        self.now = now or dt.datetime.now(dt.UTC)
        row = conn.execute(load_sql("planned_horizon.sql", schema=schema), {"source": source}).fetchone()
        self.horizon: dt.date | None = row[0] if row else None  # the latest day planned so far

    def decide(self, mtime: dt.datetime, ctime: dt.datetime) -> tuple[dt.datetime, str]:
        """The arrival time of a file seen for the first time now, and why."""

        def unplanned(t: dt.datetime) -> bool:
            return self.horizon is None or t.date() > self.horizon

        if unplanned(mtime):
            return mtime, "mtime"
        if unplanned(ctime):
            return ctime, "ctime"
        return self.now, "first_seen"

    def arrivals(self, entries: list[tuple[str, dt.datetime, dt.datetime]]) -> dict[str, dt.datetime]:
        uris = [uri for uri, _, _ in entries]
        select = load_sql("first_seen_select.sql", schema=self.schema)
        kept = dict(self.conn.execute(select, {"uris": uris}).fetchall())
        new = [(uri, *self.decide(m, c)) for uri, m, c in entries if uri not in kept]
        if new:
            self.conn.execute(
                load_sql("first_seen_insert.sql", schema=self.schema),
                {
                    "uris": [n[0] for n in new],
                    "arrived": [n[1] for n in new],
                    "why": [n[2] for n in new],
                    "seen_at": self.now,
                },
            )
            kept.update(self.conn.execute(select, {"uris": [n[0] for n in new]}).fetchall())
        return kept

    def close_day(self, day: dt.date) -> None:
        """Record that ``day`` has been planned: files first seen from now on with an
        mtime on or before it came late."""
        self.conn.execute(load_sql("planned_day.sql", schema=self.schema), {"source": self.source, "day": day})
