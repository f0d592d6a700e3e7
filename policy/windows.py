"""Permitted contact hours in the debtor's local time, per country.

A week window maps ISO weekday (1 = Monday) to (start, end) in minutes after local
midnight, end exclusive; a day missing from the map allows no contact.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

import holidays

from features.account import zone

WeekWindow = Mapping[int, tuple[int, int]]


def every_day(start_h: float, end_h: float, days: range = range(1, 8)) -> dict[int, tuple[int, int]]:
    return {d: (int(start_h * 60), int(end_h * 60)) for d in days}


DEFAULT_WINDOW: WeekWindow = every_day(8, 21)

COUNTRY_WINDOWS: dict[str, WeekWindow] = {
    "US": every_day(8, 21),
    "MX": every_day(7, 22),
    "CO": {**every_day(7, 19, range(1, 6)), 6: (8 * 60, 15 * 60)},
    "CL": every_day(8, 20, range(1, 7)),
    "PE": every_day(7, 20, range(1, 6)),
}


# Countries whose rules forbid collection contact on public holidays (the `holidays` package's
# calendars); elsewhere a holiday is an ordinary day unless the window says otherwise.
HOLIDAY_BAN = frozenset({"CO", "PE"})


@lru_cache(maxsize=256)
def _holidays(country: str, year: int) -> frozenset[date]:
    try:
        return frozenset(holidays.country_holidays(country, years=year))
    except NotImplementedError:
        return frozenset()


def is_holiday(country: str, day: date) -> bool:
    """A public holiday on which the country's rules forbid collection contact."""
    return country in HOLIDAY_BAN and day in _holidays(country, day.year)


def window_for(country: str, overrides: Mapping[str, Any] | None = None) -> WeekWindow:
    """The country's window, or the config's `[policy.windows.<COUNTRY>]` override."""
    spec = (overrides or {}).get(country)
    if spec is not None:
        days = spec.get("days", list(range(1, 8)))
        return {int(d): (int(spec["start_hour"] * 60), int(spec["end_hour"] * 60)) for d in days}
    return COUNTRY_WINDOWS.get(country, DEFAULT_WINDOW)


def allowed_at(ts: float, timezone: str, window: WeekWindow) -> bool:
    return allowed_local(datetime.fromtimestamp(ts, zone(timezone)), window)


def allowed_local(local: datetime, window: WeekWindow) -> bool:
    span = window.get(local.isoweekday())
    if span is None:
        return False
    minute = local.hour * 60 + local.minute
    return span[0] <= minute < span[1]


def hour_starts(now: float, timezone: str, horizon_hours: int) -> list[tuple[float, int]]:
    """`now`, then the start of every later local hour within the horizon: (instant, local hour)."""
    return [(t, local.hour) for t, local in local_hour_starts(now, timezone, horizon_hours)]


def local_hour_starts(now: float, timezone: str, horizon_hours: int) -> list[tuple[float, datetime]]:
    """Like `hour_starts`, with each instant's local datetime (DST-aware: one conversion each)."""
    tz = zone(timezone)
    local = datetime.fromtimestamp(now, tz)
    out = [(now, local)]
    end = now + horizon_hours * 3600
    t = now
    while True:
        # every instant at which the local clock reads :00 (twice on a fall-back day; a DST
        # shift of 30 minutes lands on :30, which is stepped over, not listed)
        t += 3600 - (local.minute * 60 + local.second + local.microsecond / 1e6)
        if t >= end:
            return out
        local = datetime.fromtimestamp(t, tz)
        if local.minute == 0 and local.second == 0:
            out.append((t, local))


def permitted_hour_starts(
    now: float, timezone: str, horizon_hours: int, window: WeekWindow, country: str = ""
) -> list[tuple[float, int]]:
    """`now` and the later hour starts within the horizon at which the window allows contact.

    The later starts depend only on the local hour `now` falls in: they are cached, so the
    many decisions of one hour share them."""
    local = datetime.fromtimestamp(now, zone(timezone))
    ok = allowed_local(local, window) and not is_holiday(country, local.date())
    first = [(now, local.hour)] if ok else []
    hour_floor = now - (local.minute * 60 + local.second + local.microsecond / 1e6)
    end = now + horizon_hours * 3600
    later = _permitted_after(timezone, tuple(sorted(window.items())), hour_floor, horizon_hours, country)
    return first + [slot for slot in later if now < slot[0] < end]


@lru_cache(maxsize=4096)
def _permitted_after(
    timezone: str,
    window: tuple[tuple[int, tuple[int, int]], ...],
    hour_floor: float,
    horizon_hours: int,
    country: str,
) -> tuple[tuple[float, int], ...]:
    week = dict(window)
    return tuple(
        (t, local.hour)
        for t, local in local_hour_starts(hour_floor, timezone, horizon_hours + 1)[1:]
        if allowed_local(local, week) and not is_holiday(country, local.date())
    )


def next_window_start(
    now: float, timezone: str, window: WeekWindow, days: int = 8, country: str = ""
) -> float | None:
    """The first instant at or after `now` when contact is allowed: `now` itself inside a
    window, else the next opening, found day by day in the debtor's calendar."""
    tz = zone(timezone)
    today = datetime.fromtimestamp(now, tz).date()
    if allowed_at(now, timezone, window) and not is_holiday(country, today):
        return now
    for offset in range(days + 1):
        day = today + timedelta(days=offset)
        span = window.get(day.isoweekday())
        if span is None or is_holiday(country, day):
            continue
        opening = datetime(day.year, day.month, day.day, span[0] // 60, span[0] % 60, tzinfo=tz).timestamp()
        if opening >= now and allowed_at(opening, timezone, window):
            return opening
    return None
