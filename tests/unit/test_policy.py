"""policy/base.py (the rules every decision goes through) and policy/binding.py (the facts of
an event that bind the next decision)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import orjson
import pytest

from features.records import Event
from policy.base import (
    Block,
    Live,
    Lock,
    Promise,
    account_blocks,
    channel_block,
    eligible_again,
    end_of_day,
)
from policy.binding import ops_for

BOGOTA = "America/Bogota"  # UTC-5, no DST
NY = "America/New_York"


def utc(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


NOW = utc("2026-03-02T15:00:00+00:00")  # Monday 10:00 in Bogota


def rules(blocks: list[Block]) -> list[str]:
    return [b.rule for b in blocks]


# --- end_of_day -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "tz", "expected"),
    [
        ("2026-03-02", BOGOTA, "2026-03-03T05:00:00+00:00"),
        ("2026-03-02", "UTC", "2026-03-03T00:00:00+00:00"),
        ("2026-03-07", NY, "2026-03-08T05:00:00+00:00"),  # midnight before the spring-forward night: EST
        ("2026-03-08", NY, "2026-03-09T04:00:00+00:00"),  # the next midnight is EDT
        ("2026-10-31", NY, "2026-11-01T04:00:00+00:00"),
        ("2026-11-01", NY, "2026-11-02T05:00:00+00:00"),
        ("2026-12-31", "Asia/Kolkata", "2026-12-31T18:30:00+00:00"),
        ("2028-02-28", "UTC", "2028-02-29T00:00:00+00:00"),
    ],
)
def test_end_of_day_is_the_next_local_midnight(day, tz, expected):
    assert end_of_day(day, tz) == utc(expected)


# --- account_blocks -------------------------------------------------------------------------


def test_nothing_blocks_a_fresh_account():
    assert account_blocks(Live(), 500.0, BOGOTA, NOW) == []


@pytest.mark.parametrize(
    ("paid", "balance", "blocked"),
    [
        (500.0, 500.0, True),
        (600.0, 500.0, True),
        (499.99, 500.0, False),
        (0.0, 0.0, True),  # nothing owed
        (10.0, 0.0, True),
    ],
)
def test_paid(paid, balance, blocked):
    assert ("paid" in rules(account_blocks(Live(paid_total=paid), balance, BOGOTA, NOW))) is blocked


@pytest.mark.parametrize(("paid", "blocked"), [(600.0, False), (999.0, False), (1000.0, True)])
def test_the_balance_uploaded_after_payments_is_what_is_owed(paid, blocked):
    # 1,000 owed; 600 paid; the operation uploads the outstanding 400: paid only at 1,000 in all
    live = Live(paid_total=paid, paid_base=600.0)
    assert ("paid" in rules(account_blocks(live, 400.0, BOGOTA, NOW))) is blocked


@pytest.mark.parametrize(
    ("dispute_at", "blocked"), [(NOW - 1, True), (NOW, True), (NOW + 1, False), (None, False)]
)
def test_dispute_blocks_from_its_time_and_only_an_event_lifts_it(dispute_at, blocked):
    blocks = account_blocks(Live(dispute_at=dispute_at), 500.0, BOGOTA, NOW)
    assert blocks == ([Block("dispute")] if blocked else [])


@pytest.mark.parametrize(("age_s", "blocked"), [(0, True), (30 * 86400 - 1, True), (30 * 86400, False)])
def test_the_operations_dispute_rule_holds_for_its_period(age_s, blocked):
    blocks = account_blocks(Live(dispute_at=NOW - age_s), 500.0, BOGOTA, NOW, dispute_hold_s=30 * 86400)
    assert blocks == ([Block("dispute", NOW - age_s + 30 * 86400)] if blocked else [])


PROMISE = Promise(amount=100.0, due_date="2026-03-05", ts=NOW - 3600, paid_before=40.0)
END_OF_DUE = utc("2026-03-06T05:00:00+00:00")  # midnight after 2026-03-05 in Bogota


@pytest.mark.parametrize(
    ("paid_total", "now", "blocked"),
    [
        (40.0, NOW, True),  # nothing paid since the promise
        (139.99, NOW, True),  # not all of it
        (140.0, NOW, False),  # the promised amount since the promise lifts it
        (240.0, NOW, False),
        (40.0, END_OF_DUE - 1, True),  # the last second of the due date, debtor's time
        (40.0, END_OF_DUE, False),  # the promise is broken: contact again
        (40.0, PROMISE.ts - 1, False),  # before the promise was made
    ],
)
def test_promise_pending(paid_total, now, blocked):
    blocks = account_blocks(Live(promise=PROMISE, paid_total=paid_total), 10_000.0, BOGOTA, now)
    assert blocks == ([Block("promise_pending", END_OF_DUE)] if blocked else [])


def test_promise_pending_ends_at_midnight_in_the_debtors_timezone():
    promise = Promise(100.0, "2026-03-05", NOW, 0.0)
    for tz in (BOGOTA, NY, "Asia/Kolkata"):
        (block,) = account_blocks(Live(promise=promise), 1000.0, tz, NOW)
        assert block == Block("promise_pending", end_of_day("2026-03-05", tz))
        assert (
            datetime.fromtimestamp(block.until, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M") == "2026-03-06 00:00"
        )


@pytest.mark.parametrize(
    ("optouts", "account_rules", "blocked_channels"),
    [
        ({}, [], []),
        ({"*": NOW}, ["optout_all"], []),
        ({"sms": NOW}, [], ["sms"]),
        ({"sms": NOW, "voice": NOW}, [], ["sms", "voice"]),
    ],
)
def test_optouts(optouts, account_rules, blocked_channels):
    live = Live(optouts=optouts)
    assert rules(account_blocks(live, 500.0, BOGOTA, NOW)) == account_rules
    for channel in ("sms", "voice", "whatsapp", "email", "ivr"):
        block = channel_block(live, channel)
        assert block == (Block(f"optout_{channel}") if channel in blocked_channels else None)


@pytest.mark.parametrize(
    ("expires_at", "blocked"), [(NOW + 60, True), (NOW + 0.001, True), (NOW, False), (NOW - 60, False)]
)
def test_contact_lock_until_its_expiry(expires_at, blocked):
    live = Live(lock=Lock("d1", "sms", expires_at))
    blocks = account_blocks(live, 500.0, BOGOTA, NOW)
    assert blocks == ([Block("contact_locked", expires_at)] if blocked else [])


def test_every_rule_at_once_in_order():
    promise = replace(PROMISE, paid_before=480.0)  # 20 paid since: still pending
    live = Live(
        lock=Lock("d1", "sms", NOW + 60),
        optouts={"*": NOW},
        promise=promise,
        paid_total=500.0,
        dispute_at=NOW - 1,
    )
    assert rules(account_blocks(live, 500.0, BOGOTA, NOW)) == [
        "paid",
        "dispute",
        "promise_pending",
        "optout_all",
        "contact_locked",
    ]


@pytest.mark.parametrize(
    ("blocks", "expected"),
    [
        ([], None),
        ([Block("contact_locked", NOW + 60)], NOW + 60),
        ([Block("contact_locked", NOW + 60), Block("promise_pending", NOW + 7200)], NOW + 7200),
        ([Block("promise_pending", NOW + 7200), Block("contact_locked", NOW + 60)], NOW + 7200),
        ([Block("contact_locked", NOW + 60), Block("dispute")], None),
        ([Block("optout_all")], None),
    ],
)
def test_eligible_again(blocks, expected):
    assert eligible_again(blocks) == expected


# --- binding ops ----------------------------------------------------------------------------

TS = NOW


def ev(type_: str, **kw) -> Event:
    return Event("e1", TS, type_, "a1", **kw)


@pytest.mark.parametrize(
    ("event", "ops"),
    [
        (ev("optout", channel="sms"), [["optout", "sms", TS], ["release", "", "optout"]]),
        (
            ev("reply", text="STOP", channel="sms"),
            [["optout", "sms", TS], ["release", "", "optout"], ["direct", TS, "sms"]],
        ),
        (ev("optout"), [["optout", "*", TS], ["release", "", "optout"]]),
        (
            ev("optout", decision_id="d1", channel="voice"),
            [["optout", "voice", TS], ["release", "", "optout"]],
        ),
        (ev("payment", amount=25.5, decision_id="d1"), [["pay", 25.5], ["release", "", "payment"]]),
        (ev("dispute", decision_id="d1"), [["dispute", TS], ["release", "", "dispute"]]),
        (ev("message", status="read", decision_id="d1"), [["release", "d1"]]),
        (ev("message", status="failed", decision_id="d1"), [["release", "d1"]]),
        (ev("message", status="undelivered", decision_id="d1"), [["release", "d1"]]),
        (ev("message", status="delivered", decision_id="d1"), []),
        (ev("message", status="sent", decision_id="d1"), []),
        (ev("message", status="queued", decision_id="d1"), []),
        (ev("message", status="read"), []),
        (ev("call", status="no_answer", decision_id="d1"), [["release", "d1"]]),
        # a right-party call is a conversation (US) and a direct contact (CO) on its channel
        (
            ev("call", status="answered", party="right_party", decision_id="d1", channel="voice"),
            [["conversation", TS], ["direct", TS, "voice"], ["release", "d1"]],
        ),
        (ev("call", status="answered", party="right_party"), [["conversation", TS]]),
        (ev("reply", decision_id="d1", channel="sms"), [["direct", TS, "sms"], ["release", "d1"]]),
        (ev("reply", decision_id="d1"), [["release", "d1"]]),
        (ev("reply", text="ok"), []),
        (ev("reply", text="I lost my job last month"), [["intent", TS, "hardship"]]),
        (ev("reply", text="llámenme", intent="callback"), [["intent", TS, "callback"]]),
    ],
)
def test_ops_for(event, ops):
    assert ops_for(event) == ops


def test_ops_for_a_promise_carries_its_terms_as_json():
    ops = ops_for(ev("promise", amount=120.0, due_date="2026-03-05", decision_id="d1"))
    assert [op[0] for op in ops] == ["promise", "release"]
    assert ops[0][2] == TS and ops[1] == ["release", "", "promise"]
    assert orjson.loads(ops[0][1]) == {"amount": 120.0, "due_date": "2026-03-05", "ts": TS}


def test_every_event_type_has_ops_when_it_binds():
    binding = {"optout", "promise", "payment", "dispute"}
    for type_ in ("message", "call", "reply", "promise", "payment", "optout", "dispute"):
        status = "read" if type_ == "message" else None
        ops = ops_for(ev(type_, status=status, amount=1.0, due_date="2026-01-01"))
        assert bool(ops) is (type_ in binding), type_
        orjson.dumps(ops)  # the ops travel to Lua as JSON


def test_reminder_days_around_the_due_date():
    from datetime import date

    from policy.base import Live, Promise, reminder_days

    tz = "America/Mexico_City"
    live = Live(promise=Promise(500.0, "2026-03-05", 0.0, 0.0))
    monday = datetime(2026, 3, 2, 9, tzinfo=ZoneInfo(tz)).timestamp()
    assert reminder_days(live, tz, monday, []) == {date(2026, 3, 4), date(2026, 3, 5)}
    due_day = datetime(2026, 3, 5, 9, tzinfo=ZoneInfo(tz)).timestamp()
    assert reminder_days(live, tz, due_day, []) == {date(2026, 3, 5)}
    assert reminder_days(live, tz, due_day, ["whatsapp"]) is None  # the one reminder was sent
    assert reminder_days(live, tz, due_day, ["voice"]) == {date(2026, 3, 5)}  # calls do not count
    assert reminder_days(Live(), tz, due_day, []) is None


@pytest.mark.parametrize("text", ["STOP", "stop", " Unsubscribe! ", "QUIT.", "cancel", "End"])
def test_opt_out_words_in_a_reply_opt_out_of_its_channel(text):
    reply = Event("r1", TS, "reply", "a1", channel="sms", text=text)
    assert ops_for(reply)[0] == ["optout", "sms", TS]


def test_other_replies_do_not_opt_out():
    for text in ("stop calling me at work please", "pago el viernes", ""):
        assert all(
            op[0] != "optout" for op in ops_for(Event("r1", TS, "reply", "a1", channel="sms", text=text))
        )
    assert ops_for(Event("r1", TS, "reply", "a1", text="x", intent="optout"))[0] == ["optout", "*", TS]
