"""The log's records round-trip through JSON, and `classify` reads every event type."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.outcomes import DEAD_NUMBER_SIP, Outcome, classify
from features.records import (
    CALL_STATUSES,
    EVENT_TYPES,
    MESSAGE_STATUSES,
    PARTIES,
    AccountRecord,
    CancelRecord,
    DecisionRecord,
    Event,
    ExpireRecord,
    from_log,
    to_log,
)

TS = 1_767_225_600.0  # 2026-01-01T00:00:00Z

names = st.text("abcdefghij-_0123456789", min_size=1, max_size=12)
finite = st.floats(-1e12, 1e12, allow_nan=False, allow_infinity=False)
maybe = st.none

events = st.builds(
    Event,
    event_id=names,
    ts=finite,
    type=st.sampled_from(EVENT_TYPES),
    account_id=names,
    decision_id=maybe() | names,
    channel=maybe() | st.sampled_from(["sms", "voice", "whatsapp"]),
    contact_point_id=maybe() | names,
    carrier=maybe() | names,
    status=maybe() | st.sampled_from(MESSAGE_STATUSES + CALL_STATUSES),
    party=maybe() | st.sampled_from(PARTIES),
    sip_code=maybe() | st.integers(100, 699),
    duration_s=maybe() | st.floats(0, 1e5),
    error_code=maybe() | names,
    text=maybe() | st.text(max_size=30),
    intent=maybe() | names,
    amount=maybe() | st.floats(0.01, 1e9),
    due_date=maybe() | st.dates().map(lambda d: d.isoformat()),
    source=st.sampled_from(["api", "twilio"]),
)
accounts = st.builds(
    AccountRecord,
    account_id=names,
    timezone=st.sampled_from(["UTC", "America/Bogota"]),
    days_past_due=st.integers(0, 400),
    balance=st.floats(0, 1e9),
    contact_points=st.lists(names, max_size=3).map(tuple),
)
decisions = st.builds(
    DecisionRecord,
    decision_id=names,
    account_id=names,
    ts=finite,
    send_at=finite,
    deadline=finite,
    channel=st.sampled_from(["sms", "voice"]),
    contact_point_id=names,
    template=maybe() | names,
    model_version=names,
    dpd_bucket=st.sampled_from(["", "1_30", "chargeoff"]),
    hour=st.integers(0, 23),
    response_deadline=maybe() | finite,
    x=st.dictionaries(names, finite, max_size=5),
)
cancels = st.builds(CancelRecord, names, names, finite, st.sampled_from(["sms", "voice"]), names)
expires = st.builds(ExpireRecord, names, names, finite)
records = events | accounts | decisions | cancels | expires


@settings(max_examples=200, deadline=None)
@given(records)
def test_to_log_from_log_round_trips_through_json(record):
    logged = to_log(record)
    assert logged["k"] in "eadcx"
    back = from_log(orjson.loads(orjson.dumps(logged)))
    assert type(back) is type(record)
    assert back == record


@pytest.mark.parametrize(
    ("record", "kind"),
    [
        (Event("e1", TS, "reply", "a1"), "e"),
        (AccountRecord("a1", "UTC", 10, 5.0), "a"),
        (DecisionRecord("d1", "a1", TS, TS, TS + 1, "sms", "p1", None, "m-1"), "d"),
        (CancelRecord("d1", "a1", TS, "sms", "p1"), "c"),
        (ExpireRecord("d1", "a1", TS), "x"),
    ],
)
def test_to_log_tags_each_kind(record, kind):
    assert to_log(record)["k"] == kind


def test_from_log_drops_the_acceptance_time_and_restores_the_tuple():
    raw = {
        "k": "a",
        "acc": 123.0,
        "account_id": "a1",
        "timezone": "UTC",
        "days_past_due": 3,
        "balance": 10.0,
        "contact_points": ["p1", "p2"],
    }
    record = from_log(raw)
    assert record == AccountRecord("a1", "UTC", 3, 10.0, ("p1", "p2"))
    assert raw["k"] == "a" and raw["acc"] == 123.0  # the caller's dict is left alone


def test_records_are_frozen():
    e = Event("e1", TS, "reply", "a1")
    with pytest.raises(AttributeError):
        e.ts = 0.0  # type: ignore[misc]


def ev(type_: str, status: str | None = None, **kw) -> Event:
    return Event("e", TS, type_, "a1", status=status, **kw)


Out = Outcome


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (ev("message", "queued"), Out()),
        (ev("message", "sent"), Out(attempt=True)),
        (ev("message", "sent", decision_id="d1"), Out()),
        (ev("message", "delivered"), Out()),
        (ev("message", "read"), Out(response=True, terminal=True)),
        (ev("message", "read", decision_id="d1"), Out(response=True, terminal=True)),
        (ev("message", "failed"), Out(delivery_failed=True, terminal=True)),
        (ev("message", "undelivered"), Out(delivery_failed=True, terminal=True)),
        (
            ev("call", "answered", party="right_party"),
            Out(attempt=True, response=True, right_party=True, terminal=True),
        ),
        (
            ev("call", "answered", party="right_party", decision_id="d1"),
            Out(response=True, right_party=True, terminal=True),
        ),
        (
            ev("call", "answered", party="third_party", decision_id="d1"),
            Out(delivery_failed=True, terminal=True),
        ),
        (ev("call", "answered", party="unknown", decision_id="d1"), Out(terminal=True)),
        (ev("call", "no_answer", decision_id="d1"), Out(terminal=True)),
        (ev("call", "busy", decision_id="d1", sip_code=486), Out(terminal=True)),
        (ev("call", "failed", decision_id="d1", sip_code=404), Out(delivery_failed=True, terminal=True)),
        (ev("call", "voicemail"), Out(attempt=True, terminal=True)),
        (ev("reply"), Out(response=True, terminal=True)),
        (ev("promise", amount=10.0), Out(response=True, pay=True, terminal=True)),
        (ev("payment", amount=10.0), Out(response=True, pay=True, terminal=True)),
        (ev("optout"), Out(terminal=True)),
        (ev("dispute"), Out(terminal=True)),
    ],
)
def test_classify(event, expected):
    assert classify(event) == expected


@pytest.mark.parametrize("sip", sorted(DEAD_NUMBER_SIP))
def test_dead_number_sip_codes_fail_delivery(sip):
    assert classify(ev("call", "failed", sip_code=sip, decision_id="d1")).delivery_failed


@settings(max_examples=300, deadline=None)
@given(events)
def test_classify_invariants(event):
    o = classify(event)
    assert not (o.pay and not o.response)  # paying is engaging
    assert not (o.right_party and not o.response)
    if event.decision_id is not None:
        assert not o.attempt  # announced contacts are counted by their decision
    if event.type in ("reply", "promise", "payment", "optout", "dispute", "call"):
        assert o.terminal


def test_an_opt_out_reply_is_not_a_response_to_learn_from():
    from features.outcomes import classify

    stop = Event("r1", 1.0, "reply", "a1", channel="sms", text="STOP")
    assert classify(stop).terminal and not classify(stop).response
    assert classify(Event("r2", 1.0, "reply", "a1", channel="sms", text="ok")).response
