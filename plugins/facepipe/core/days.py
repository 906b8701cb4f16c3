"""A run's day: the one partition key, resolved once and passed down, and whether
retention has expired it."""

from __future__ import annotations

import datetime as dt

from facepipe.core.config import ConfigError

FIRST_DAY = dt.date(1970, 1, 1)


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


def expired(day: dt.date) -> bool:
    """Whether retention (FACEPIPE_RETENTION_DAYS) has expired ``day`` today (UTC)."""
    from facepipe.core.config import retention_horizon

    horizon = retention_horizon()
    return horizon is not None and day < horizon


def refuse_expired(day: dt.date) -> None:
    """A ConfigError when retention has expired the day: loading it would index again the
    photos still in the folder, which the next retention run drops."""
    from facepipe.core.config import retention_days, retention_horizon

    if expired(day):
        raise ConfigError(
            f"day {day} is past retention: FACEPIPE_RETENTION_DAYS={retention_days()} keeps the days from"
            f" {retention_horizon()} on, and retention drops older ones. Nothing was loaded. To load this day,"
            " raise FACEPIPE_RETENTION_DAYS first (its faces are then kept that long)."
        )
