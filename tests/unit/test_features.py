"""features/account.py against a from-scratch recomputation on every prefix of generated streams.

The reference below shares nothing with the code under test but the record types: it reads
each event's meaning from its own table and sums every weight directly as of the newest
timestamp, where `update` rescales running counts as its clock moves.
"""

from __future__ import annotations

import copy
import math
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.account import (
    ATTEMPTS,
    CP_ATTEMPTS,
    CP_FAILS,
    CP_RIGHT_PARTY,
    DEFAULT_HALF_LIFE_S,
    EMPTY_VIEW,
    PAYS,
    RESPONSES,
    SERVED_DECIMALS,
    AccountFeatures,
    local_hour,
    read,
    serving,
    update,
    utc_iso,
)
from features.records import (
    CALL_STATUSES,
    MESSAGE_STATUSES,
    AccountRecord,
    CancelRecord,
    DecisionRecord,
    Event,
    ExpireRecord,
)

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
SPAN = 40 * 86400
HOUR = 3600.0
CHANNELS = ("voice", "sms", "whatsapp")
POINTS = ("p1", "p2")
TIMEZONES = ("UTC", "America/New_York", "America/Bogota", "America/Santiago", "Asia/Kolkata")
DEAD_SIP = (404, 410, 484, 604)
TOL = 1e-9
REACHED = ("answered", "no_answer", "busy", "voicemail")  # calls counted by hour band per number


# --- an independent reading of events --------------------------------------------------------


def is_attempt(e: Event) -> bool:
    """A contact no decision announced (and only counted with a channel)."""
    if e.decision_id is not None or not e.channel:
        return False
    return (e.type == "message" and e.status == "sent") or e.type == "call"


def is_response(e: Event) -> bool:
    return (
        (e.type == "message" and e.status == "read")
        or (e.type == "call" and e.status == "answered" and e.party == "right_party")
        or e.type in ("reply", "promise", "payment")
    )


def is_pay(e: Event) -> bool:
    return e.type in ("promise", "payment")


def is_right_party(e: Event) -> bool:
    return e.type == "call" and e.status == "answered" and e.party == "right_party"


def is_failure(e: Event) -> bool:
    if e.type == "message":
        return e.status in ("failed", "undelivered")
    if e.type == "call":
        return e.party == "third_party" or e.sip_code in DEAD_SIP
    return False


def reference(records: list[Any], half_life: float) -> dict[str, Any]:
    """Every feature recomputed from the whole prefix."""
    timed = [r for r in records if isinstance(r, DecisionRecord | CancelRecord | Event)]
    as_of = max((r.ts for r in timed), default=None)
    tz = "UTC"
    for r in records:
        if isinstance(r, AccountRecord):
            tz = r.timezone
    ch: dict[str, list[float]] = {}
    cp: dict[str, list[float]] = {}
    hr = [0.0] * 24
    bands: dict[str, list[float]] = {}  # "point|band" -> [calls, right-party answers]
    last_contact = last_response = None
    paid = 0.0
    n_events = 0

    def add(table: dict[str, list[float]], key: str, i: int, w: float) -> None:
        table.setdefault(key, [0.0, 0.0, 0.0])[i] += w

    for r in timed:
        assert as_of is not None
        w = 2.0 ** (-(as_of - r.ts) / half_life)
        if isinstance(r, DecisionRecord | CancelRecord):
            sign = 1.0 if isinstance(r, DecisionRecord) else -1.0
            add(ch, r.channel, ATTEMPTS, sign * w)
            if r.contact_point_id:
                add(cp, r.contact_point_id, CP_ATTEMPTS, sign * w)
            if isinstance(r, DecisionRecord):
                last_contact = r.ts if last_contact is None else max(last_contact, r.ts)
            continue
        n_events += 1
        if is_attempt(r):
            assert r.channel is not None
            add(ch, r.channel, ATTEMPTS, w)
            if r.contact_point_id:
                add(cp, r.contact_point_id, CP_ATTEMPTS, w)
            last_contact = r.ts if last_contact is None else max(last_contact, r.ts)
        if r.channel and is_response(r):
            add(ch, r.channel, RESPONSES, w)
        if r.channel and is_pay(r):
            add(ch, r.channel, PAYS, w)
        if r.contact_point_id and is_right_party(r):
            add(cp, r.contact_point_id, CP_RIGHT_PARTY, w)
        if r.contact_point_id and is_failure(r):
            add(cp, r.contact_point_id, CP_FAILS, w)
        if r.contact_point_id and r.type == "call" and r.status in REACHED:
            local = datetime.fromtimestamp(r.ts, ZoneInfo(tz))
            band = bands.setdefault(f"{r.contact_point_id}|{local.hour // 3}", [0.0, 0.0])
            band[0] += w
            band[1] += w if is_right_party(r) else 0.0
        if is_response(r):
            hr[datetime.fromtimestamp(r.ts, ZoneInfo(tz)).hour] += w
            last_response = r.ts if last_response is None else max(last_response, r.ts)
        if r.type == "payment":
            paid += r.amount or 0.0
    return {
        "as_of": as_of,
        "n": n_events,
        "tz": tz,
        "ch": ch,
        "cp": cp,
        "hr": hr,
        "cpb": bands,
        "last_contact_at": last_contact,
        "last_response_at": last_response,
        "paid_total": paid,
    }


def close(a: float, b: float, tol: float = TOL) -> bool:
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


def assert_table(
    got: dict[str, tuple[float, ...]], want: dict[str, list[float]], what: str, tol: float = TOL
) -> None:
    for key in set(got) | set(want):
        size = len(got[key]) if key in got else len(want[key])
        g = got.get(key, (0.0,) * size)
        w = want.get(key, [0.0] * size)
        assert all(close(x, y, tol) for x, y in zip(g, w, strict=True)), (what, key, g, w)


def assert_matches(state: AccountFeatures, ref: dict[str, Any]) -> None:
    assert state.as_of == ref["as_of"]
    assert state.events_applied == ref["n"]
    assert state.timezone == ref["tz"]
    assert state.last_contact_at == ref["last_contact_at"]
    assert state.last_response_at == ref["last_response_at"]
    assert close(state.paid_total, ref["paid_total"])
    assert_table(state.channels, ref["ch"], "channels")
    assert_table(state.points, ref["cp"], "points")
    assert_table(state.point_bands, ref["cpb"], "point bands")
    assert len(state.hours) == 24
    assert all(close(g, w) for g, w in zip(state.hours, ref["hr"], strict=True)), (state.hours, ref["hr"])


def assert_states_close(a: AccountFeatures, b: AccountFeatures) -> None:
    assert (a.as_of, a.events_applied, a.timezone) == (b.as_of, b.events_applied, b.timezone)
    assert (a.last_contact_at, a.last_response_at) == (b.last_contact_at, b.last_response_at)
    assert close(a.paid_total, b.paid_total)
    assert_table(a.channels, {k: list(v) for k, v in b.channels.items()}, "channels")
    assert_table(a.points, {k: list(v) for k, v in b.points.items()}, "points")
    assert_table(a.point_bands, {k: list(v) for k, v in b.point_bands.items()}, "point bands")
    assert all(close(x, y) for x, y in zip(a.hours, b.hours, strict=True))


def all_counts(state: AccountFeatures) -> list[float]:
    tables = (*state.channels.values(), *state.points.values(), *state.point_bands.values())
    return [v for t in tables for v in t] + list(state.hours)


# --- generated streams ----------------------------------------------------------------------

times = st.integers(0, SPAN).map(lambda s: T0 + s) | st.floats(T0, T0 + SPAN, allow_nan=False)
channels = st.sampled_from(CHANNELS)
maybe_channel = st.none() | channels
maybe_point = st.none() | st.sampled_from(POINTS)
maybe_decision = st.none() | st.sampled_from(("d0", "d1", "d2"))


@st.composite
def events(draw: st.DrawFn, event_id: str) -> Event:
    kind = draw(st.sampled_from(("message", "call", "reply", "promise", "payment", "optout", "dispute")))
    status = party = sip = amount = due = None
    if kind == "message":
        status = draw(st.sampled_from(MESSAGE_STATUSES))
    elif kind == "call":
        status = draw(st.sampled_from(CALL_STATUSES))
        party = draw(st.none() | st.sampled_from(("right_party", "third_party", "unknown")))
        sip = draw(st.none() | st.sampled_from((200, 404, 486, 604)))
    elif kind in ("promise", "payment"):
        amount = draw(st.floats(1.0, 5000.0))
        due = "2026-02-15" if kind == "promise" else None
    return Event(
        event_id=event_id,
        ts=draw(times),
        type=kind,
        account_id="a1",
        decision_id=draw(maybe_decision),
        channel=draw(maybe_channel),
        contact_point_id=draw(maybe_point),
        status=status,
        party=party,
        sip_code=sip,
        amount=amount,
        due_date=due,
    )


def decision(i: int, ts: float, channel: str, point: str) -> DecisionRecord:
    return DecisionRecord(f"d{i}", "a1", ts, ts + 600, ts + 48 * 3600, channel, point, None, "m-1")


def cancel_of(d: DecisionRecord) -> CancelRecord:
    return CancelRecord(d.decision_id, d.account_id, d.ts, d.channel, d.contact_point_id)


@st.composite
def streams(draw: st.DrawFn, with_cancels: bool = True, unknown_cancels: bool = False) -> list[Any]:
    """An account upsert, then decisions, cancels of earlier decisions and events of every
    type, with timestamps in any order."""
    tz = draw(st.sampled_from(TIMEZONES))
    out: list[Any] = [AccountRecord("a1", tz, 45, 1000.0, POINTS)]
    made: list[DecisionRecord] = []
    cancelled: set[str] = set()
    for i in range(draw(st.integers(0, 30))):
        kind = draw(st.sampled_from("ddeeeeccax"))
        if kind == "d":
            d = decision(len(made), draw(times), draw(channels), draw(st.sampled_from(("p1", "p2", ""))))
            made.append(d)
            out.append(d)
        elif kind == "c" and with_cancels:
            open_ = [d for d in made if d.decision_id not in cancelled]
            if unknown_cancels and (not open_ or draw(st.booleans())):
                out.append(
                    CancelRecord(
                        f"ghost{i}", "a1", draw(times), draw(channels), draw(st.sampled_from(POINTS))
                    )
                )
            elif open_:
                d = draw(st.sampled_from(open_))
                cancelled.add(d.decision_id)
                out.append(cancel_of(d))
        elif kind == "a":
            out.append(AccountRecord("a1", tz, draw(st.integers(0, 400)), draw(st.floats(0, 1e6))))
        elif kind == "x":
            out.append(ExpireRecord("d0", "a1", draw(times)))
        else:
            out.append(draw(events(f"e{i}")))
    return out


half_lives = st.sampled_from((HOUR, 86400.0, DEFAULT_HALF_LIFE_S)) | st.floats(600.0, 60 * 86400.0)


@settings(max_examples=150, deadline=None)
@given(streams(), half_lives)
def test_update_matches_recomputation_on_every_prefix(stream, half_life):
    state = AccountFeatures()
    for n, record in enumerate(stream, 1):
        before = copy.deepcopy(state)
        new = update(state, record, half_life)
        assert state == before, "update mutated its input"
        state = new
        assert_matches(state, reference(stream[:n], half_life))


@settings(max_examples=100, deadline=None)
@given(streams(unknown_cancels=True), half_lives)
def test_counts_never_negative_even_with_cancels_of_unknown_decisions(stream, half_life):
    state = AccountFeatures()
    for record in stream:
        state = update(state, record, half_life)
        counts = all_counts(state)
        assert all(v >= 0.0 and math.isfinite(v) for v in counts), counts
    assert all(v >= 0.0 for v in read(serving(state), (state.as_of or T0) + 3600, half_life).hours)


@st.composite
def two_orders(draw: st.DrawFn) -> tuple[list[Any], list[Any]]:
    """The same records in two arrival orders; a cancel always after its decision."""
    stream = draw(streams(with_cancels=False))
    account, rest = stream[0], [r for r in stream[1:] if not isinstance(r, AccountRecord)]
    made = [r for r in rest if isinstance(r, DecisionRecord)]
    doomed = draw(st.lists(st.sampled_from(made), unique_by=lambda d: d.decision_id)) if made else []
    doomed_ids = {d.decision_id for d in doomed}
    first = [account, *rest, *(cancel_of(d) for d in doomed)]
    second = [account]
    for r in draw(st.permutations(rest)):
        second.append(r)
        if isinstance(r, DecisionRecord) and r.decision_id in doomed_ids:
            second.append(cancel_of(r))
    return first, second


@settings(max_examples=150, deadline=None)
@given(two_orders(), half_lives)
def test_result_does_not_depend_on_arrival_order(orders, half_life):
    first, second = orders
    a = b = AccountFeatures()
    for r in first:
        a = update(a, r, half_life)
    for r in second:
        b = update(b, r, half_life)
    assert_states_close(a, b)


@settings(max_examples=100, deadline=None)
@given(streams(unknown_cancels=True), half_lives)
def test_serving_is_json_and_reads_back_the_counts_at_as_of(stream, half_life):
    state = AccountFeatures()
    for r in stream:
        state = update(state, r, half_life)
    served = orjson.loads(orjson.dumps(serving(state)))
    assert served["n"] == state.events_applied
    if state.as_of is None:
        assert read(served, T0, half_life) == EMPTY_VIEW
        return
    view = read(served, state.as_of, half_life)
    rounded = 0.5 * 10**-SERVED_DECIMALS + 1e-9  # what serving's rounding may take off a count
    assert_table(view.channels, {k: list(v) for k, v in state.channels.items()}, "channels", rounded)
    assert_table(view.points, {k: list(v) for k, v in state.points.items()}, "points", rounded)
    assert_table(view.point_bands, {k: list(v) for k, v in state.point_bands.items()}, "point bands", rounded)
    assert all(close(x, y, rounded) for x, y in zip(view.hours, state.hours, strict=True))
    if state.last_contact_at is None:
        assert view.hours_since_contact is None
    else:
        assert view.hours_since_contact == pytest.approx((state.as_of - state.last_contact_at) / 3600)


# --- by hand -------------------------------------------------------------------------------


def test_read_decays_to_now_and_never_grows_into_the_past():
    d = decision(0, T0, "sms", "p1")
    state = update(AccountFeatures(), d, half_life=HOUR)
    served = serving(state)
    assert read(served, T0 + HOUR, HOUR).channel("sms")[ATTEMPTS] == pytest.approx(0.5)
    assert read(served, T0 + 3 * HOUR, HOUR).point("p1")[CP_ATTEMPTS] == pytest.approx(0.125)
    earlier = read(served, T0 - 5 * HOUR, HOUR)
    assert earlier.channel("sms")[ATTEMPTS] == 1.0
    assert earlier.hours_since_contact == 0.0
    assert read(served, T0 + 7200, HOUR).hours_since_contact == 2.0
    assert read(served, T0, HOUR).hours_since_response is None
    assert read(served, T0, HOUR).channel("voice") == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("served", [None, {}, {"as_of": None}])
def test_read_of_nothing_is_the_empty_view(served):
    assert read(served, T0) is EMPTY_VIEW


def test_a_late_event_adds_a_smaller_weight():
    s = update(AccountFeatures(), Event("e1", T0 + HOUR, "reply", "a1", channel="sms"), HOUR)
    s = update(s, Event("e2", T0, "reply", "a1", channel="sms"), HOUR)
    assert s.as_of == T0 + HOUR
    assert s.channels["sms"][RESPONSES] == pytest.approx(1.5)
    assert s.events_applied == 2
    assert s.last_response_at == T0 + HOUR


def test_cancel_undoes_the_attempt_but_not_the_last_contact():
    d = decision(0, T0, "voice", "p1")
    s = update(update(AccountFeatures(), d), cancel_of(d))
    assert s.channels["voice"][ATTEMPTS] == 0.0
    assert s.points["p1"][CP_ATTEMPTS] == 0.0
    assert s.last_contact_at == T0


def test_the_hour_histogram_uses_the_debtors_local_hour():
    # 2026-07-01 02:30 UTC is 22:30 the day before in New York (EDT) and 08:00 in Kolkata.
    ts = datetime.fromisoformat("2026-07-01T02:30:00+00:00").timestamp()
    for tz, hour in (("America/New_York", 22), ("Asia/Kolkata", 8), ("UTC", 2)):
        s = update(AccountFeatures(), AccountRecord("a1", tz, 1, 1.0))
        s = update(s, Event("e1", ts, "message", "a1", channel="sms", status="read"))
        assert s.hours[hour] == 1.0 and sum(s.hours) == 1.0
        assert local_hour(ts, tz) == hour


def test_account_record_sets_attributes_without_moving_the_clock():
    s = update(AccountFeatures(), AccountRecord("a1", "America/Lima", 95, 250.0))
    assert (s.timezone, s.days_past_due, s.balance, s.as_of) == ("America/Lima", 95, 250.0, None)


def test_expire_record_changes_nothing():
    s = update(AccountFeatures(), decision(0, T0, "sms", "p1"))
    assert update(s, ExpireRecord("d0", "a1", T0 + 10 * 86400)) == s


def test_payments_sum_without_decay_and_promises_do_not_count_as_paid():
    s = AccountFeatures()
    s = update(s, Event("e1", T0, "payment", "a1", amount=100.0), HOUR)
    s = update(s, Event("e2", T0 + 100 * HOUR, "payment", "a1", amount=50.0), HOUR)
    s = update(s, Event("e3", T0 + 101 * HOUR, "promise", "a1", amount=500.0, due_date="2026-01-10"), HOUR)
    assert s.paid_total == 150.0


def test_state_is_immutable_and_update_returns_a_new_one():
    s = AccountFeatures()
    with pytest.raises(AttributeError):
        s.as_of = 1.0  # type: ignore[misc]
    s2 = update(s, decision(0, T0, "sms", "p1"))
    assert s2 is not s and s == AccountFeatures()
    assert replace(s2) == s2


def test_utc_iso():
    assert utc_iso(None) is None
    assert utc_iso(T0) == "2026-01-01T00:00:00Z"
