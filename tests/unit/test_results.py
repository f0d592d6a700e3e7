"""models.results: what each record adds to the results report, and the report's grouping."""

from __future__ import annotations

import dataclasses

from features.records import AccountRecord, CancelRecord
from models.attribution import Attribution, step
from models.results import MEASURES, contributions, local_date, report
from tests.unit.test_attribution import T0, H, decision, event

ACCOUNT = AccountRecord("a1", "America/Mexico_City", 40, 1000.0, segment="B", rate=17.5)
TZ = ACCOUNT.timezone


def play(*records):
    """Every record through attribution, summing the report's contributions per measure."""
    state, totals, cells = Attribution(), dict.fromkeys(MEASURES, 0.0), set()
    for r in records:
        after, _examples = step(state, r)
        for cell, measure, value in contributions(state, after, r, ACCOUNT, TZ):
            totals[measure] += value
            cells.add(cell)
        state = after
    return totals, cells


def test_a_contact_its_delivery_and_its_first_response_count_once():
    d = dataclasses.replace(decision(), carrier="c1", cost=0.02)
    totals, cells = play(
        d,
        event(T0 + 60, "message", "d1", status="delivered"),
        event(T0 + 120, "message", "d1", status="read"),
        event(T0 + 180, "reply", "d1", text="ok"),
        event(T0 + H, "promise", "d1", amount=10.0),
    )
    assert totals["contacts"] == 1 and totals["cost"] == 0.02
    assert (totals["deliveries"], totals["engaged"], totals["promises"]) == (1, 1, 1)
    assert totals["promised"] == 175.0  # in the base currency
    # 2026-01-01T00:00Z is still 2025-12-31 in Mexico City: the debtor's day
    assert cells == {("2025-12-31", "sms", "t1", "B", "c1", "-", "-")}


def test_a_cancelled_contact_comes_off():
    totals, _ = play(decision(), CancelRecord("d1", "a1", T0, "sms", "p1"))
    assert totals["contacts"] == 0


def test_a_lead_counts_once_its_call_is_reported_and_never_if_it_lapses():
    lead = dataclasses.replace(decision(channel="voice", lease=True), campaign="early")
    totals, cells = play(lead, event(T0 + 60, "call", "d1", channel="voice", status="no_answer"))
    assert totals["contacts"] == 1 and totals["deliveries"] == 0
    assert {c[5] for c in cells} == {"early"}
    lapsed, _ = play(lead, event(T0 + 7 * H, "reply", None, channel="sms"))  # past its window
    assert lapsed["contacts"] == 0
    unreported, _ = play(lead, CancelRecord("d1", "a1", T0, "voice", "p1"))
    assert unreported["contacts"] == 0


def test_an_outcome_with_no_open_contact_has_a_row_of_its_own():
    totals, cells = play(event(T0 + 30 * 24 * H, "payment", None, channel=None, amount=2.0))
    assert (totals["payments"], totals["paid"], totals["contacts"]) == (1, 35.0, 0)
    assert cells == {("2026-01-30", "-", "-", "B", "-", "-", "-")}


def test_report_groups_by_the_dimensions_asked():
    ones = [1.0] * len(MEASURES)
    days = {
        "2026-03-01": {("sms", "t1", "A", "c1", "-", "-"): ones, ("voice", "-", "A", "c2", "x", "-"): ones},
        "2026-03-02": {("sms", "t2", "B", "c1", "-", "e/b"): ones},
    }
    rows, totals = report(days, ("channel",))
    assert [(r["channel"], r["contacts"]) for r in rows] == [("sms", 2), ("voice", 1)]
    assert totals["contacts"] == 3 and totals["net"] == 0.0
    rows, _ = report(days, ("segment", "day"))
    assert [(r["segment"], r["day"]) for r in rows] == [("A", "2026-03-01"), ("B", "2026-03-02")]
    rows, _ = report(days, ("arm",))
    assert [(r["arm"], r["contacts"]) for r in rows] == [("-", 2), ("e/b", 1)]
    assert local_date(T0, "UTC") == "2026-01-01"
