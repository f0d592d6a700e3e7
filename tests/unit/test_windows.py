"""policy/windows.py: permitted hours per country at their edges, across DST, and the next
opening."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy.windows import (
    COUNTRY_WINDOWS,
    DEFAULT_WINDOW,
    allowed_at,
    every_day,
    hour_starts,
    next_window_start,
    permitted_hour_starts,
    window_for,
)

ZONES = {
    "US": "America/New_York",
    "MX": "America/Mexico_City",
    "CO": "America/Bogota",
    "CL": "America/Santiago",
    "PE": "America/Lima",
}
# 2026-01-05 is a Monday; the 10th a Saturday, the 11th a Sunday.
DAYS = {
    "mon": "2026-01-05",
    "tue": "2026-01-06",
    "fri": "2026-01-09",
    "sat": "2026-01-10",
    "sun": "2026-01-11",
    "mon+": "2026-01-12",
}


def at(local: str, tz: str) -> float:
    """The instant of a wall-clock time in `tz` (day names stand for the week of 2026-01-05)."""
    day, _, clock = local.partition(" ")
    return datetime.fromisoformat(f"{DAYS.get(day, day)}T{clock}").replace(tzinfo=ZoneInfo(tz)).timestamp()


def local(ts: float, tz: str) -> datetime:
    return datetime.fromtimestamp(ts, ZoneInfo(tz))


def edges(country: str, days: list[str], start: str, end: str) -> list[tuple[str, str, bool]]:
    """A minute before, at and after the opening and the closing of each day."""
    out = []
    for day in days:
        for clock, ok in ((start, True), (end, False)):
            t = datetime.fromisoformat(f"2000-01-01T{clock}")
            out += [
                (country, f"{day} {(t - timedelta(minutes=1)):%H:%M}", not ok),
                (country, f"{day} {t:%H:%M}", ok),
                (country, f"{day} {(t + timedelta(minutes=1)):%H:%M}", ok),
            ]
    return out


TABLE = [
    *edges("US", ["mon", "sat", "sun"], "08:00", "21:00"),
    *edges("MX", ["mon", "sun"], "07:00", "22:00"),
    *edges("CO", ["mon", "fri"], "07:00", "19:00"),
    *edges("CO", ["sat"], "08:00", "15:00"),
    ("CO", "sat 07:00", False),
    ("CO", "sat 18:59", False),
    ("CO", "sun 07:00", False),
    ("CO", "sun 12:00", False),
    ("CO", "sun 23:59", False),
    ("CO", "mon 00:00", False),
    *edges("CL", ["mon", "sat"], "08:00", "20:00"),
    ("CL", "sun 08:00", False),
    ("CL", "sun 12:00", False),
    *edges("PE", ["mon", "fri"], "07:00", "20:00"),
    ("PE", "sat 07:00", False),
    ("PE", "sat 12:00", False),
    ("PE", "sun 12:00", False),
    ("US", "mon 00:00", False),
    ("US", "mon 23:59", False),
]


@pytest.mark.parametrize(("country", "when", "allowed"), TABLE)
def test_allowed_at_window_edges(country, when, allowed):
    tz = ZONES[country]
    assert allowed_at(at(when, tz), tz, window_for(country)) is allowed


def test_window_for_known_unknown_and_overridden_countries():
    assert window_for("US") == every_day(8, 21) == DEFAULT_WINDOW
    assert window_for("ZZ") == DEFAULT_WINDOW
    assert set(window_for("CO")) == {1, 2, 3, 4, 5, 6}
    assert set(window_for("PE")) == {1, 2, 3, 4, 5}
    assert set(COUNTRY_WINDOWS) == set(ZONES)
    overrides = {"MX": {"start_hour": 9, "end_hour": 17.5, "days": [1, 2, 3]}}
    assert window_for("MX", overrides) == {1: (540, 1050), 2: (540, 1050), 3: (540, 1050)}
    assert window_for("US", overrides) == DEFAULT_WINDOW
    assert window_for("MX", {"MX": {"start_hour": 10, "end_hour": 12}}) == every_day(10, 12)


# --- daylight saving time in New York ---------------------------------------------------------

NY = "America/New_York"


@pytest.mark.parametrize(
    ("utc", "allowed"),
    [
        ("2026-03-07T12:59:00+00:00", False),  # Saturday 07:59 EST
        ("2026-03-07T13:00:00+00:00", True),  # 08:00 EST
        ("2026-03-08T11:59:00+00:00", False),  # Sunday 07:59 EDT, the day clocks go forward
        ("2026-03-08T12:00:00+00:00", True),  # 08:00 EDT
        ("2026-03-09T00:59:00+00:00", True),  # 20:59 EDT
        ("2026-03-09T01:00:00+00:00", False),  # 21:00 EDT
        ("2026-11-01T00:59:00+00:00", True),  # Saturday 20:59 EDT
        ("2026-11-01T01:00:00+00:00", False),  # 21:00 EDT
        ("2026-11-01T12:59:00+00:00", False),  # Sunday 07:59 EST, the day clocks go back
        ("2026-11-01T13:00:00+00:00", True),  # 08:00 EST
        ("2026-11-02T01:59:00+00:00", True),  # 20:59 EST
        ("2026-11-02T02:00:00+00:00", False),  # 21:00 EST
    ],
)
def test_allowed_at_across_dst(utc, allowed):
    assert allowed_at(datetime.fromisoformat(utc).timestamp(), NY, window_for("US")) is allowed


def check_hour_starts(now: float, tz: str, horizon: int, hourly: bool = True) -> list[tuple[float, int]]:
    starts = hour_starts(now, tz, horizon)
    assert starts[0] == (now, local(now, tz).hour)
    instants = [t for t, _ in starts]
    assert instants == sorted(set(instants)), "instants must be unique and increasing"
    assert all(now <= t < now + horizon * 3600 for t in instants)
    for t, hour in starts[1:]:
        lt = local(t, tz)
        assert (lt.minute, lt.second, lt.microsecond, lt.hour) == (0, 0, 0, hour), lt
    if hourly:  # every zone here shifts its clocks by whole hours
        assert all(b - a == 3600 for a, b in pairwise(instants[1:]))
    assert len(instants) == 1 or instants[1] - now <= 3600
    return starts


def test_hour_starts_on_the_spring_forward_day():
    now = at("2026-03-08 00:30", NY)
    starts = check_hour_starts(now, NY, 6)
    assert [h for _, h in starts] == [0, 1, 3, 4, 5, 6, 7]  # 02:00 does not exist that night
    assert allowed_at(at("2026-03-08 08:00", NY), NY, window_for("US"))


def test_hour_starts_on_the_fall_back_day():
    now = at("2026-11-01 00:30", NY)
    starts = check_hour_starts(now, NY, 5)
    assert [h for _, h in starts] == [0, 1, 1, 2, 3, 4]  # 01:00 EDT, then 01:00 EST
    offsets = [local(t, NY).utcoffset() for t, _ in starts[1:3]]
    assert offsets == [timedelta(hours=-4), timedelta(hours=-5)]


@settings(max_examples=150, deadline=None)
@given(
    st.floats(1_767_225_600.0, 1_798_761_600.0, allow_nan=False),  # any instant of 2026
    st.sampled_from([*ZONES.values(), "UTC", "Asia/Kolkata", "Asia/Kathmandu", "Europe/London"]),
    st.integers(1, 72),
)
def test_hour_starts_are_local_hour_starts(now, tz, horizon):
    starts = check_hour_starts(now, tz, horizon)
    assert len(starts) in (horizon, horizon + 1)


def test_hour_starts_after_a_half_hour_dst_shift():
    tz = "Australia/Lord_Howe"  # 2026-04-05 02:00 +11 goes back to 01:30 +10:30
    starts = check_hour_starts(at("2026-04-05 00:10", tz), tz, 5, hourly=False)
    assert [h for _, h in starts] == [0, 1, 2, 3, 4]  # 01:30-02:00 repeats; no hour starts twice


# --- next_window_start -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "now", "expected"),
    [
        ("CO", "sat 18:00", "mon+ 07:00"),
        ("CO", "sat 15:00", "mon+ 07:00"),
        ("CO", "sun 23:59", "mon+ 07:00"),
        ("CO", "fri 19:00", "sat 08:00"),
        ("CO", "sat 07:59", "sat 08:00"),
        ("CO", "mon 10:30", "mon 10:30"),  # already open: now
        ("PE", "fri 20:00", "mon+ 07:00"),
        ("CL", "sat 20:01", "mon+ 08:00"),
        ("US", "mon 21:00", "tue 08:00"),
        ("MX", "mon 06:59:30", "mon 07:00"),
    ],
)
def test_next_window_start(country, now, expected):
    tz = ZONES[country]
    assert next_window_start(at(now, tz), tz, window_for(country)) == at(expected, tz)


def test_next_window_start_on_the_half_hour():
    tz = ZONES["CO"]
    window = window_for("CO", {"CO": {"start_hour": 7.5, "end_hour": 19}})
    assert next_window_start(at("mon 06:10", tz), tz, window) == at("mon 07:30", tz)


def test_next_window_start_later_in_the_current_hour():
    tz = ZONES["CO"]
    window = window_for("CO", {"CO": {"start_hour": 7.5, "end_hour": 19}})
    assert next_window_start(at("mon 07:10", tz), tz, window) == at("mon 07:30", tz)


def test_next_window_start_across_the_spring_forward_night():
    now = at("2026-03-07 22:00", NY)  # Saturday evening, EST; Sunday opens at 08:00 EDT
    assert (
        next_window_start(now, NY, window_for("US"))
        == datetime.fromisoformat("2026-03-08T12:00:00+00:00").timestamp()
    )


def test_next_window_start_is_none_when_never_open():
    assert next_window_start(at("mon 10:00", "UTC"), "UTC", {}) is None


@settings(max_examples=200, deadline=None)
@given(
    st.floats(1_767_225_600.0, 1_798_761_600.0, allow_nan=False),
    st.sampled_from([*ZONES.values(), "Asia/Kolkata", "Australia/Lord_Howe"]),
    st.integers(1, 72),
    st.sampled_from(sorted(COUNTRY_WINDOWS)),
)
def test_permitted_hour_starts_equals_filtering_every_hour_start(now, tz, horizon, country):
    """The cached computation agrees with the direct one, at any instant."""
    window = COUNTRY_WINDOWS[country]
    direct = [(t, h) for t, h in hour_starts(now, tz, horizon) if allowed_at(t, tz, window)]
    assert permitted_hour_starts(now, tz, horizon, window) == direct
