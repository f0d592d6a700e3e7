"""The next number to dial: a number that reached the right person at this hour before rises,
one that did not sinks (issue 4's "next number"). Pure: features from events, then the
decision's scoring with the exploration noise made negligible (huge evidence everywhere)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from engine.decisions.grid import best_contact, grid
from engine.settings import DEFAULT_CONFIG, load
from engine.wire import Account, ContactPoint
from features.account import AccountFeatures, AccountRecord, read, serving, update
from features.records import Event
from models.candidates import point_hour_lift, point_hour_lifts
from models.contact import initial_scorer
from policy import windows
from policy.caps import History

MX = ZoneInfo("America/Mexico_City")
DAY0 = datetime(2026, 3, 2, tzinfo=MX)  # a Monday
TZ = "America/Mexico_City"


def call(n: int, point: str, at: datetime, party: str | None) -> Event:
    status = "answered" if party else "no_answer"
    return Event(
        f"c{n}",
        at.timestamp(),
        "call",
        "A-1",
        channel="voice",
        contact_point_id=point,
        status=status,
        party=party,
    )


def history_view(now: datetime):
    """m1 answers by the debtor in the evenings and not in the mornings; m2 the other way
    round: two weeks of one morning and one evening call to each number."""
    state = update(AccountFeatures(), AccountRecord("A-1", TZ, 45, 5000.0))
    n = 0
    for day in range(14):
        morning, evening = DAY0 + timedelta(days=day, hours=10), DAY0 + timedelta(days=day, hours=19)
        for point, at, party in (
            ("m1", morning, None),
            ("m1", evening, "right_party"),
            ("m2", morning, "right_party"),
            ("m2", evening, None),
        ):
            n += 1
            state = update(state, call(n, point, at, party))
    return read(serving(state), now.timestamp())


def account() -> Account:
    mobile = ("voice",)
    return Account(
        "A-1",
        "cards",
        5000.0,
        "MXN",
        45,
        "MX",
        TZ,
        (
            ContactPoint("m1", "mobile", "+5215500000001", mobile, "telcel"),
            ContactPoint("m2", "mobile", "+5215500000002", mobile, "telcel"),
        ),
    )


def test_a_number_lifts_in_the_hours_it_reached_the_debtor_and_sinks_in_the_others():
    view = history_view(DAY0 + timedelta(days=14, hours=9))
    assert point_hour_lift(view, "m2", 10) > 0.2 > -0.2 > point_hour_lift(view, "m2", 19)
    assert point_hour_lift(view, "m1", 19) > 0.2 > -0.2 > point_hour_lift(view, "m1", 10)
    assert point_hour_lift(view, "m1", 14) == point_hour_lift(view, "m2", 14) == 0.0  # never called then


def test_the_lifts_of_all_hours_at_once_are_each_hours_lift():
    view = history_view(DAY0 + timedelta(days=14, hours=9))
    for point in ("m1", "m2"):
        assert point_hour_lifts(view, point) == tuple(point_hour_lift(view, point, h) for h in range(24))
    assert point_hour_lifts(view, "h1") is None  # never called by hour


@pytest.mark.parametrize(("hour", "expected"), [(10, "m2"), (19, "m1")])
def test_the_number_chosen_is_the_one_that_answers_at_this_hour(hour, expected):
    settings = load(DEFAULT_CONFIG)
    scorer = dataclasses.replace(initial_scorer(), evidence_grid=np.full((5, 24), 1e9))  # no exploration
    now = DAY0 + timedelta(days=14, hours=hour)
    a = account()
    window = windows.window_for("MX")
    choice = best_contact(
        grid(
            a,
            a.contact_points,
            history_view(now),
            scorer,
            settings,
            now.timestamp(),
            ["voice"],
            [(now.timestamp(), hour)],
            History(),
            window,
        ),
        scorer,
        settings,
    )
    assert choice.point_id == expected, choice
    assert choice.x["pt_rpc_hour"] > 0.2  # and the model learns from what it saw


def test_without_calls_by_hour_the_numbers_score_alike():
    settings = load(DEFAULT_CONFIG)
    scorer = dataclasses.replace(initial_scorer(), evidence_grid=np.full((5, 24), 1e9))
    now = DAY0 + timedelta(hours=10)
    a = account()
    view = read(serving(update(AccountFeatures(), AccountRecord("A-1", TZ, 45, 5000.0))), now.timestamp())
    choice = best_contact(
        grid(
            a,
            a.contact_points,
            view,
            scorer,
            settings,
            now.timestamp(),
            ["voice"],
            [(now.timestamp(), 10)],
            History(),
            windows.window_for("MX"),
        ),
        scorer,
        settings,
    )
    assert "pt_rpc_hour" not in choice.x
