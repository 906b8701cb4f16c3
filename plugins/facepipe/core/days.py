"""A run's day: the one partition key, resolved once and passed down, and whether
retention has expired it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import psycopg

from facepipe.core.config import ConfigError

FIRST_DAY = dt.date(1970, 1, 1)


class DayExpired(ConfigError):
    """A day before the retention horizon: nothing of it is loaded, assigned or reported."""


def resolve_day(param_day: str | None, data_interval_start: dt.datetime | None) -> str:
    """The run's partition key: the explicit param first, then the data interval.

    Days run from 1970-01-01 to tomorrow (UTC): a later day has no arrivals yet
    (and 9999-12-31 has no next day to end it)."""
    if param_day:
        try:
            day = dt.date.fromisoformat(str(param_day).strip())
        except ValueError:
            raise ConfigError(f"param day must be a date like 2026-11-24, got {str(param_day)[:40]!r}") from None
    elif data_interval_start is not None:
        day = data_interval_start.date()
    else:
        raise ConfigError("no day to process: pass the param day (YYYY-MM-DD) or run on a schedule")
    last = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    if not FIRST_DAY <= day <= last:
        raise ConfigError(f"day {day} is out of range: days run from {FIRST_DAY} to tomorrow ({last})")
    return day.isoformat()


@dataclass(frozen=True)
class Horizon:
    """The first day kept: ``before`` is the first day not expired. ``applied``: the horizon the
    last retention run recorded in the database (None: it never ran), ``setting`` the one the
    setting retention_days gives today (None: 0, keep forever)."""

    applied: dt.date | None
    applied_by: str | None
    applied_at: dt.datetime | None
    setting: dt.date | None

    @property
    def before(self) -> dt.date | None:
        days = [d for d in (self.applied, self.setting) if d is not None]
        return max(days) if days else None

    def expired(self, day: dt.date) -> bool:
        return self.before is not None and day < self.before

    def reason(self) -> str:
        """Why the days before ``before`` are expired, in words."""
        from facepipe.core.deployment import retention_days

        if self.applied is not None and (self.setting is None or self.applied >= self.setting):
            return (
                f"retention dropped the days before {self.applied} (applied by {self.applied_by} at"
                f" {self.applied_at:%Y-%m-%d %H:%M} UTC), and no day before it is loaded again"
            )
        return f"retention_days={retention_days()} keeps the days from {self.setting} on"


def stored_horizon(conn: psycopg.Connection, schema: str) -> tuple[dt.date, int, str, dt.datetime] | None:
    """(before, keep_days, set_by, set_at) of the horizon the database records, else None."""
    from facepipe.core.db import load_sql, table_exists

    if not table_exists(conn, schema, "retention_horizon"):
        return None
    return conn.execute(load_sql("retention_horizon_get.sql", schema=schema)).fetchone()


def horizon(conn: psycopg.Connection | None = None, schema: str | None = None) -> Horizon:
    """The retention horizon: the later of the one retention applied (the database's row) and
    the one today's setting gives. ``conn``: read on it (inside a load's transaction)."""
    from facepipe.core.deployment import retention_horizon, settings

    schema = schema or settings().db_schema
    if conn is None:
        from facepipe.core.db import connection

        with connection() as c:
            row = stored_horizon(c, schema)
    else:
        row = stored_horizon(conn, schema)
    applied, _keep, by, at = row if row else (None, None, None, None)
    return Horizon(applied, by, at, retention_horizon())


def expired(day: dt.date, conn: psycopg.Connection | None = None) -> bool:
    """Whether retention has expired ``day``: before the horizon retention applied, or before
    the one the setting gives today (UTC)."""
    return horizon(conn).expired(day)


def refuse_expired(day: dt.date, conn: psycopg.Connection | None = None, schema: str | None = None) -> None:
    """A DayExpired when retention has expired the day: loading it would index again the
    photos still in the folder (a catch-up, a backfill, a Clear, a Trigger with ``day``)."""
    h = horizon(conn, schema)
    if h.expired(day):
        raise DayExpired(
            f"day {day} is past retention: {h.reason()}. Nothing was loaded. To keep more days"
            " again: `facepipe retention --reopen-from DAY` (audited), and a retention_days"
            " that keeps them (`facepipe settings set retention_days N`)."
        )


def before_start(day: str) -> dt.date | None:
    """The deployment's start date when ``day`` is before it, else None: a scheduled run of such a
    day (the DAG file was parsed with another start date) has nothing to do."""
    from facepipe.core.deployment import settings

    start = settings().start_date
    return start if dt.date.fromisoformat(day) < start else None


def refresh_tallies(conn: psycopg.Connection, schema: str, days) -> None:
    """Count the day_tallies rows of ``days`` (revision 0013) again from the tables, in the
    caller's transaction: every change that adds or removes images, faces or rejects of a day
    calls it for the days it touched. ``None``: every day the tables hold (the upgrade)."""
    from psycopg import sql

    from facepipe.core.db import load_sql

    if days is None:
        days = [
            d
            for (d,) in conn.execute(
                sql.SQL("SELECT day FROM {} UNION SELECT day FROM {}").format(
                    sql.Identifier(schema, "images"), sql.Identifier(schema, "rejects")
                )
            )
        ]
    days = sorted(set(days))
    if days:
        conn.execute(load_sql("day_tally_refresh.sql", schema=schema), {"days": days})
