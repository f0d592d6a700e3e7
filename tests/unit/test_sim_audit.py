"""The simulator's rules auditor against issue 5's table, at the edges. The auditor is the
oracle for the engine's rules, so it gets its own table of cases."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from benchmarks.sim.audit import Auditor

ZONES = {
    "US": "America/New_York",
    "MX": "America/Mexico_City",
    "CO": "America/Bogota",
    "CL": "America/Santiago",
    "PE": "America/Lima",
}
CHANNELS = ["voice", "ivr", "sms", "whatsapp"]


def auditor(country: str = "MX", balance: float = 1000.0, caps: dict[str, int] | None = None) -> Auditor:
    a = Auditor(caps)
    a.upload(
        {
            "account_id": "A",
            "country": country,
            "timezone": ZONES[country],
            "balance": balance,
            "contact_points": [
                {"id": "m1", "channels": CHANNELS},
                {"id": "h1", "channels": ["voice"]},
                {"id": "e1", "channels": ["email"]},
            ],
        }
    )
    return a


def local(country: str, y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=ZoneInfo(ZONES[country]))


def event(kind: str, t: datetime, **fields: object) -> dict[str, object]:
    return {
        "event_id": f"e{t.timestamp()}{kind}",
        "type": kind,
        "account_id": "A",
        "ts": t.isoformat(),
        **fields,
    }


@pytest.mark.parametrize(
    ("country", "channel", "when", "ok"),
    [
        ("US", "sms", (2026, 3, 17, 7, 59), False),
        ("US", "sms", (2026, 3, 17, 8, 0), True),
        ("US", "voice", (2026, 3, 17, 20, 59), True),
        ("US", "voice", (2026, 3, 17, 21, 0), False),
        ("MX", "sms", (2026, 3, 17, 6, 59), False),
        ("MX", "sms", (2026, 3, 17, 7, 0), True),
        ("MX", "sms", (2026, 3, 17, 21, 59), True),
        ("MX", "sms", (2026, 3, 17, 22, 0), False),
        ("CO", "sms", (2026, 3, 17, 18, 59), True),
        ("CO", "sms", (2026, 3, 17, 19, 0), False),
        ("CO", "sms", (2026, 3, 21, 7, 59), False),  # Saturday opens at 08
        ("CO", "sms", (2026, 3, 21, 14, 59), True),
        ("CO", "sms", (2026, 3, 21, 15, 0), False),
        ("CO", "whatsapp", (2026, 3, 22, 10, 0), False),  # Sunday
        ("CO", "whatsapp", (2026, 3, 23, 10, 0), False),  # San José, a public holiday in Colombia
        ("CO", "whatsapp", (2026, 3, 24, 10, 0), True),
        ("CL", "voice", (2026, 3, 22, 10, 0), False),  # Sunday
        ("CL", "voice", (2026, 3, 21, 19, 59), True),
        ("CL", "voice", (2026, 3, 21, 20, 0), False),
        ("PE", "voice", (2026, 3, 21, 10, 0), False),  # calls Monday-Friday only
        ("PE", "sms", (2026, 3, 21, 10, 0), True),  # the table restricts calls
        ("PE", "voice", (2026, 4, 2, 10, 0), False),  # Jueves Santo
        ("PE", "voice", (2026, 3, 20, 19, 59), True),
        ("PE", "voice", (2026, 3, 20, 20, 0), False),
    ],
)
def test_windows_and_holidays(country, channel, when, ok):
    a = auditor(country)
    point = "m1"
    broken = a.check("A", channel, point, local(country, *when))
    assert (not broken) == ok, broken


def test_us_seven_calls_in_seven_days():
    a = auditor("US")
    for day in range(7):  # one call a day, Mon 16 .. Sun 22 March
        t = local("US", 2026, 3, 16 + day, 10)
        assert a.record("A", "voice", "h1", t, f"d{day}") == []
        a.observe(event("call", t + timedelta(minutes=1), status="no_answer", decision_id=f"d{day}"))
    assert "us_calls_7_in_7" in a.check("A", "ivr", "m1", local("US", 2026, 3, 22, 15))
    assert a.check("A", "sms", "m1", local("US", 2026, 3, 22, 15)) == []  # messages are not calls
    assert a.check("A", "voice", "m1", local("US", 2026, 3, 23, 10)) == []  # day 1 left the window


def test_us_no_call_for_seven_days_after_a_conversation():
    a = auditor("US")
    t = local("US", 2026, 3, 16, 10)
    a.record("A", "voice", "m1", t, "d1")
    a.observe(
        event("call", t + timedelta(minutes=3), status="answered", party="right_party", decision_id="d1")
    )
    assert "us_after_conversation" in a.check("A", "voice", "m1", local("US", 2026, 3, 22, 20))
    assert a.check("A", "whatsapp", "m1", local("US", 2026, 3, 17, 10)) == []
    assert a.check("A", "voice", "m1", local("US", 2026, 3, 23, 8)) == []


def test_colombia_one_a_day_and_one_channel_after_a_direct_contact():
    a = auditor("CO")
    t = local("CO", 2026, 3, 17, 9)  # Tuesday
    a.record("A", "sms", "m1", t, "d1")
    a.observe(event("message", t + timedelta(minutes=1), status="read", decision_id="d1", channel="sms"))
    assert "co_one_a_day" in a.check("A", "whatsapp", "m1", local("CO", 2026, 3, 17, 15))
    a.observe(event("reply", t + timedelta(minutes=5), text="ok", channel="sms"))
    assert "co_direct_contact_week" in a.check("A", "whatsapp", "m1", local("CO", 2026, 3, 18, 10))
    assert a.check("A", "sms", "m1", local("CO", 2026, 3, 18, 10)) == []
    assert a.check("A", "whatsapp", "m1", local("CO", 2026, 3, 24, 10)) == []  # next calendar week


def test_chile_calls_and_digital_per_week():
    a = auditor("CL")
    a.record("A", "voice", "h1", local("CL", 2026, 3, 16, 10), "d1")
    assert "cl_call_week" in a.check("A", "ivr", "m1", local("CL", 2026, 3, 20, 10))
    assert a.check("A", "ivr", "m1", local("CL", 2026, 3, 23, 10)) == []
    a.record("A", "sms", "m1", local("CL", 2026, 3, 16, 15), "d2")
    assert "cl_digital_spacing" in a.check("A", "email", "e1", local("CL", 2026, 3, 18, 14, 59))
    assert a.record("A", "email", "e1", local("CL", 2026, 3, 18, 15), "d3") == []
    assert "cl_digital_week" in a.check("A", "whatsapp", "m1", local("CL", 2026, 3, 21, 10))


def test_paid_optout_dispute_and_consent():
    a = auditor("MX", balance=500.0)
    t = local("MX", 2026, 3, 17, 10)
    assert "consent" in a.check("A", "sms", "h1", t)
    a.observe(event("reply", t, text="STOP", channel="sms"))
    assert "optout" in a.check("A", "sms", "m1", t + timedelta(hours=1))
    assert a.check("A", "whatsapp", "m1", t + timedelta(hours=1)) == []
    a.observe(event("payment", t + timedelta(hours=2), amount=499.0))
    assert a.check("A", "whatsapp", "m1", t + timedelta(hours=3)) == []
    a.observe(event("payment", t + timedelta(hours=4), amount=1.0))
    assert "paid" in a.check("A", "whatsapp", "m1", t + timedelta(hours=5))
    a.upload(
        {
            "account_id": "A",
            "country": "MX",
            "timezone": ZONES["MX"],
            "balance": 300.0,
            "contact_points": [{"id": "m1", "channels": CHANNELS}],
        }
    )
    assert a.check("A", "whatsapp", "m1", t + timedelta(hours=6)) == []
    a.observe(event("dispute", t + timedelta(hours=7)))
    assert "dispute" in a.check("A", "whatsapp", "m1", t + timedelta(hours=8))


def test_promise_pending_allows_one_digital_reminder():
    a = auditor("MX")
    t = local("MX", 2026, 3, 16, 10)
    a.observe(event("promise", t, amount=400.0, due_date="2026-03-20"))
    assert "promise_pending" in a.check("A", "sms", "m1", local("MX", 2026, 3, 18, 10))
    assert "promise_pending" in a.check("A", "voice", "m1", local("MX", 2026, 3, 19, 10))
    assert a.record("A", "sms", "m1", local("MX", 2026, 3, 19, 10), "r1") == []
    assert "promise_pending" in a.check("A", "whatsapp", "m1", local("MX", 2026, 3, 20, 10))
    assert a.check("A", "voice", "m1", local("MX", 2026, 3, 21, 10)) == []


def test_one_live_contact_at_a_time():
    a = auditor("MX")
    t = local("MX", 2026, 3, 16, 10)
    a.record("A", "sms", "m1", t, "d1")
    a.observe(event("message", t + timedelta(minutes=1), status="delivered", decision_id="d1"))
    assert "one_reservation" in a.check("A", "email", "e1", t + timedelta(minutes=90))
    assert a.check("A", "email", "e1", t + timedelta(minutes=120)) == []
    a.observe(event("message", t + timedelta(minutes=30), status="read", decision_id="d1"))
    assert a.check("A", "email", "e1", t + timedelta(minutes=31)) == []


def test_a_violation_is_counted_where_it_happened():
    a = auditor("CO")
    assert a.record("A", "sms", "m1", local("CO", 2026, 3, 22, 10), "d1", day=6) == ["window"]
    assert a.violations == {"window": 1} and a.violations_by_day[6] == {"window": 1}
