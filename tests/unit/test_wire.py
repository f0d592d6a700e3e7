"""engine/wire.py: decoding one-or-many bodies, one `details` entry per bad item naming its
index and field, and normalisation into `Event`s."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import orjson
import pytest

from engine.errors import BadRequest, Invalid, Unsupported
from engine.wire import (
    Account,
    CallEvent,
    DecideRequest,
    MessageEvent,
    OptoutEvent,
    PromiseEvent,
    convert_all,
    decode_body,
    decode_events,
    to_event,
    validate_events,
)
from features.records import EVENT_TYPES, Event

TS = "2026-03-02T09:00:00-06:00"
EPOCH = datetime.fromisoformat(TS).timestamp()


def item(type_: str = "message", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"event_id": "e1", "account_id": "A-1", "ts": TS, "type": type_}
    base.update(
        {
            "message": {"status": "read"},
            "call": {"status": "answered"},
            "promise": {"amount": 10.0, "due_date": "2026-03-09"},
            "payment": {"amount": 10.0},
        }.get(type_, {})
    )
    base.update(fields)
    return {k: v for k, v in base.items() if v is not DROP}


DROP = object()


def details(items: list[Any]) -> list[dict[str, Any]]:
    with pytest.raises(Invalid) as caught:
        validate_events(items)
    err = caught.value
    assert err.status == 422 and err.code == "validation_failed"
    assert err.body()["error"]["details"] == err.details
    return err.details


# --- decode_body ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "items", "many"),
    [
        (b'{"a": 1}', "application/json", [{"a": 1}], False),
        (b'{"a": 1}', "application/json; charset=utf-8", [{"a": 1}], False),
        (b'{"a": 1}', "Application/JSON", [{"a": 1}], False),
        (b'{"a": 1}', "", [{"a": 1}], False),
        (b'{"a": 1}', "application/vnd.cadencia+json", [{"a": 1}], False),
        (b'[{"a": 1}, {"a": 2}]', "application/json", [{"a": 1}, {"a": 2}], True),
        (b"[]", "application/json", [], True),
        (b"42", "application/json", [42], False),
        (b'{"a": 1}\n{"a": 2}\n', "application/x-ndjson", [{"a": 1}, {"a": 2}], True),
        (b'{"a": 1}\r\n\r\n  \n{"a": 2}', "application/x-ndjson; charset=utf-8", [{"a": 1}, {"a": 2}], True),
        (b'{"a": 1}', "application/x-ndjson", [{"a": 1}], True),
        (b"", "application/x-ndjson", [], True),
    ],
)
def test_decode_body(body, content_type, items, many):
    assert decode_body(body, content_type) == (items, many)


@pytest.mark.parametrize(
    ("body", "content_type", "error", "words"),
    [
        (b"{not json", "application/json", BadRequest, "not JSON"),
        (b"", "application/json", BadRequest, "not JSON"),
        (b'{"a": 1}\n{"a": \n', "application/x-ndjson", BadRequest, "line 2"),
        (b'{"a": 1}\n\nnope', "application/x-ndjson", BadRequest, "line 3"),
        (b'{"a": 1}', "text/plain", Unsupported, "text/plain"),
        (b'{"a": 1}', "application/xml", Unsupported, "application/xml"),
        (b"a=1", "application/x-www-form-urlencoded", Unsupported, "form"),
    ],
)
def test_decode_body_errors(body, content_type, error, words):
    with pytest.raises(error) as caught:
        decode_body(body, content_type)
    assert words in caught.value.message
    if error is BadRequest:
        assert isinstance(caught.value.__cause__, orjson.JSONDecodeError)
        assert (caught.value.status, caught.value.code) == (400, "invalid_json")
    else:
        assert (caught.value.status, caught.value.code) == (415, "unsupported_media_type")


# --- validate_events ------------------------------------------------------------------------


@pytest.mark.parametrize("type_", EVENT_TYPES)
def test_every_event_type_validates(type_):
    (event,) = validate_events([item(type_)])
    assert type(event).__struct_config__.tag == type_


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (item(ts="2026-03-02T09:00:00"), "ts"),  # naive
        (item(ts="2026-03-02 09:00"), "ts"),
        (item(ts="yesterday"), "ts"),
        (item(ts=1772463600), "ts"),
        (item("teleport"), "type"),
        (item(type=DROP), "type"),
        (item(status="opened"), "status"),
        (item(status=DROP), "status"),
        (item("call", status="hung_up"), "status"),
        (item("call", status=DROP), "status"),
        (item("call", party="neighbour"), "party"),
        (item("call", sip_code=99), "sip_code"),
        (item("call", duration_s=-1), "duration_s"),
        (item("payment", amount=DROP), "amount"),
        (item("payment", amount=0), "amount"),
        (item("payment", amount="ten"), "amount"),
        (item("promise", amount=DROP), "amount"),
        (item("promise", due_date=DROP), "due_date"),
        (item("promise", due_date="09/03/2026"), "due_date"),
        (item(channel="fax"), "channel"),
        (item(event_id=""), "event_id"),
        (item(event_id=DROP), "event_id"),
        (item(account_id="has space"), "account_id"),
        (item(account_id=DROP), "account_id"),
        (item("reply", text="x" * 10_001), "text"),
        ([item()], "$"),
        ("message", "$"),
        (None, "$"),
        (7, "$"),
    ],
)
def test_one_detail_naming_the_field(bad, field):
    (detail,) = details([bad])
    assert detail["index"] == 0 and detail["field"] == field, detail
    assert detail["message"]


def test_one_detail_per_bad_item_with_its_index():
    items = [
        item(event_id="ok-0"),
        item(ts="2026-03-02T09:00:00"),
        item("payment", amount=DROP),
        item(event_id="ok-3"),
        ["not", "an", "object"],
        item("teleport"),
        item(status="opened"),
        item("payment", amount=DROP, ts="2026-03-02T09:00:00"),  # two faults, one entry
    ]
    got = details(items)
    assert [d["index"] for d in got] == [1, 2, 4, 5, 6, 7]
    assert [d["field"] for d in got[:5]] == ["ts", "amount", "$", "type", "status"]
    assert got[5]["field"] in ("ts", "amount")


def test_the_error_message_counts_the_bad_items():
    with pytest.raises(Invalid) as caught:
        validate_events([item(), item(type="x"), item(status="x")])
    assert caught.value.message.startswith("2 of 3 items are invalid")


def test_valid_events_come_back_in_order():
    events = validate_events([item("reply", event_id=f"e{i}") for i in range(5)])
    assert [e.event_id for e in events] == [f"e{i}" for i in range(5)]


def test_an_impossible_due_date_is_rejected():
    (detail,) = details([item("promise", due_date="2026-02-30")])
    assert detail["field"] == "due_date"


def test_convert_all_runs_the_check_and_reports_it():
    def check(i: int, raw: dict[str, Any], value: Any) -> dict[str, Any] | None:
        if raw.get("horizon_hours") == 3:
            return {"index": i, "field": "horizon_hours", "message": "odd"}
        return None

    ok = convert_all([{"account_id": "a"}, {"account_id": "b", "horizon_hours": 2}], DecideRequest, check)
    assert [r.account_id for r in ok] == ["a", "b"]
    with pytest.raises(Invalid) as caught:
        convert_all(
            [{"account_id": "a", "horizon_hours": 3}, {"account_id": "b", "horizon_hours": 999}, 5],
            DecideRequest,
            check,
        )
    assert [(d["index"], d["field"]) for d in caught.value.details] == [
        (0, "horizon_hours"),
        (1, "horizon_hours"),
        (2, "$"),
    ]


# --- to_event -------------------------------------------------------------------------------


def test_to_event_normalises_a_message():
    (raw,) = validate_events(
        [
            item(
                ts="2026-03-02T15:00:00Z",
                decision_id="d1",
                channel="sms",
                contact_point_id="p1",
                carrier="c1",
                error_code="30003",
            )
        ]
    )
    e = to_event(raw, accepted=1.0, source="twilio")
    assert e == Event(
        event_id="e1",
        ts=datetime(2026, 3, 2, 15, tzinfo=UTC).timestamp(),
        type="message",
        account_id="A-1",
        decision_id="d1",
        channel="sms",
        contact_point_id="p1",
        carrier="c1",
        status="read",
        error_code="30003",
        source="twilio",
    )


@pytest.mark.parametrize(
    "ts",
    [
        "2026-03-02T09:00:00-06:00",
        "2026-03-02T15:00:00Z",
        "2026-03-02T15:00:00+00:00",
        "2026-03-02T20:30:00+05:30",
    ],
)
def test_to_event_reads_any_offset_as_the_same_instant(ts):
    (raw,) = validate_events([item(ts=ts)])
    assert to_event(raw, accepted=0.0).ts == EPOCH


def test_to_event_without_ts_uses_the_acceptance_time():
    (raw,) = validate_events([item("optout", ts=DROP)])
    assert isinstance(raw, OptoutEvent)
    e = to_event(raw, accepted=1234.5)
    assert (e.ts, e.type, e.channel, e.source) == (1234.5, "optout", None, "api")


@pytest.mark.parametrize("type_", EVENT_TYPES)
def test_to_event_carries_every_field_of_every_type(type_):
    (raw,) = validate_events([item(type_)])
    e = to_event(raw, accepted=0.0)
    assert isinstance(e, Event) and e.type == type_ and e.ts == EPOCH
    for name in raw.__struct_fields__:
        if name == "due_date":  # a date on the wire, its ISO string in the record
            assert e.due_date == raw.due_date.isoformat()
        elif name != "ts":
            assert getattr(e, name) == getattr(raw, name), name


def test_to_event_for_calls_and_promises():
    call = msgspec.convert(item("call", party="right_party", sip_code=200, duration_s=42.5), CallEvent)
    e = to_event(call, 0.0)
    assert (e.status, e.party, e.sip_code, e.duration_s) == ("answered", "right_party", 200, 42.5)
    promise = msgspec.convert(item("promise"), PromiseEvent)
    e = to_event(promise, 0.0)
    assert (e.type, e.amount, e.due_date) == ("promise", 10.0, "2026-03-09")


def test_naive_datetimes_never_reach_to_event():
    naive = MessageEvent(event_id="e", account_id="a", ts=datetime(2026, 1, 1), status="read")
    (detail,) = details([msgspec.to_builtins(naive)])
    assert detail["field"] == "ts"
    aware = MessageEvent(
        event_id="e", account_id="a", ts=datetime(2026, 1, 1, tzinfo=timezone(timedelta(0))), status="read"
    )
    assert to_event(aware, 0.0).ts == datetime(2026, 1, 1, tzinfo=UTC).timestamp()


# --- decode_events: the fast path straight from bytes must agree with the slow one ------------


def slow_path(body: bytes, content_type: str) -> Any:
    try:
        raw, many = decode_body(body, content_type)
        return "ok", validate_events(raw), many
    except (BadRequest, Invalid, Unsupported) as exc:
        return type(exc).__name__, exc.details


def fast_path(body: bytes, content_type: str) -> Any:
    try:
        events, many = decode_events(body, content_type)
        return "ok", events, many
    except (BadRequest, Invalid, Unsupported) as exc:
        return type(exc).__name__, exc.details


def ndjson(*items: Any) -> bytes:
    return b"\n".join(orjson.dumps(i) for i in items)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (orjson.dumps(item()), "application/json"),
        (orjson.dumps([item(t, event_id=f"e{i}") for i, t in enumerate(EVENT_TYPES)]), "application/json"),
        (orjson.dumps([]), "application/json"),
        (ndjson(*(item(t) for t in EVENT_TYPES)), "application/x-ndjson"),
        (orjson.dumps(item(ts="2026-03-02T09:00:00")), "application/json"),
        (
            orjson.dumps([item(), item(ts="2026-03-02T09:00:00"), item("payment", amount=DROP)]),
            "application/json",
        ),
        (ndjson(item(), item("teleport"), item(status="opened")), "application/x-ndjson"),
        (ndjson(item(), item(ts="2026-03-02T09:00:00")), "application/x-ndjson"),
        (orjson.dumps([item(), 5, None]), "application/json"),
        (orjson.dumps(None), "application/json"),
        (b"{not json", "application/json"),
        (b'{"a": 1}\nnope', "application/x-ndjson"),
        (orjson.dumps(item()), "text/plain"),
    ],
)
def test_decode_events_agrees_with_decode_body_then_validate(body, content_type):
    assert fast_path(body, content_type) == slow_path(body, content_type)


def test_nested_fields_are_named_by_their_path():
    account = {
        "account_id": "A-1",
        "portfolio": "p",
        "balance": 10.0,
        "currency": "MXN",
        "days_past_due": 3,
        "country": "MX",
        "timezone": "America/Mexico_City",
        "contact_points": [{"id": "p1", "type": "mobile", "address": "+5215555555555"}],
    }
    assert len(convert_all([account], Account)) == 1
    bad_type = {**account, "contact_points": [{"id": "p1", "type": "pager", "address": "x"}]}
    no_id = {**account, "contact_points": [{"type": "mobile", "address": "x"}]}
    no_points = {k: v for k, v in account.items() if k != "contact_points"}
    with pytest.raises(Invalid) as caught:
        convert_all([account, bad_type, no_id, no_points], Account)
    assert [(d["index"], d["field"]) for d in caught.value.details] == [
        (1, "contact_points[0].type"),
        (2, "contact_points[0].id"),
        (3, "contact_points"),
    ]
