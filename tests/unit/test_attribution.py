"""models/attribution.py: every decision yields one `response` example when its response window
closes, and one `pay` example when its attribution window closes if it got a response; labels
come only from matching outcomes inside the windows; nothing is emitted before a window
closes, nothing after a cancel; `step` is pure."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.records import (
    CALL_STATUSES,
    MESSAGE_STATUSES,
    AccountRecord,
    CancelRecord,
    DecisionRecord,
    Event,
    ExpireRecord,
)
from models.attribution import Attribution, Example, lapsing, step

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
H = 3600.0
RW = T0 + 6 * H  # the response window of `decision()` closes here
DL = T0 + 48 * H  # and its attribution window here
CHANNELS = ("voice", "sms", "whatsapp")


def decision(
    did: str = "d1",
    send_at: float = T0,
    deadline: float | None = None,
    channel: str = "sms",
    response_window: float | None = 6 * H,  # None: the record names no response deadline
    **kw: Any,
) -> DecisionRecord:
    deadline = send_at + 48 * H if deadline is None else deadline
    return DecisionRecord(
        decision_id=did,
        account_id="a1",
        ts=kw.pop("ts", send_at),
        send_at=send_at,
        deadline=deadline,
        channel=channel,
        contact_point_id="p1",
        template=kw.pop("template", "t1"),
        model_version="m-1",
        dpd_bucket=kw.pop("dpd_bucket", "31_60"),
        hour=kw.pop("hour", 10),
        response_deadline=None if response_window is None else send_at + response_window,
        x=kw.pop("x", {"ch=sms": 1.0, "acct_resp": 0.2}),
        lease=kw.pop("lease", False),
    )


def event(
    ts: float, type_: str = "reply", decision_id: str | None = None, channel: str | None = "sms", **kw: Any
) -> Event:
    event_id = kw.pop("event_id", f"e{ts}")
    return Event(event_id, ts, type_, "a1", decision_id=decision_id, channel=channel, **kw)


def expire(ts: float, did: str = "d1") -> ExpireRecord:
    return ExpireRecord(did, "a1", ts)


def run(records: list[Any], state: Attribution | None = None) -> tuple[Attribution, list[Example]]:
    state, out = state or Attribution(), []
    for r in records:
        state, examples = step(state, r)
        out += examples
    return state, out


def labels(
    examples: list[Example], heads: tuple[str, ...] = ("response", "pay")
) -> dict[tuple[str, str], bool]:
    """The examples of `heads` (the opt-out head's, one per contact at its deadline, are
    checked on their own below)."""
    got = Counter((e.decision_id, e.head) for e in examples)
    assert all(n == 1 for n in got.values()), got
    return {(e.decision_id, e.head): e.y for e in examples if e.head in heads}


def test_every_contact_teaches_the_optout_risk_at_its_deadline():
    state, examples = run([decision(), event(T0 + H, "message", "d1", status="read")])
    state, examples = run([expire(DL)], state)
    assert labels(examples, ("optout",)) == {("d1", "optout"): False}
    state, examples = run([decision("d2"), event(T0 + H, "optout", "d2", channel="sms")])
    state, examples = run([expire(DL, "d2")], state)
    assert labels(examples, ("optout",)) == {("d2", "optout"): True}
    state, examples = run([decision("d3"), event(T0 + H, "dispute", "d3", channel=None)])
    state, examples = run([expire(DL, "d3")], state)
    assert labels(examples, ("optout",)) == {("d3", "optout"): True}


# --- by hand -------------------------------------------------------------------------------


def test_a_response_is_learned_when_its_window_closes_not_before():
    state, examples = run([decision(), event(T0 + H, "message", "d1", status="read")])
    assert examples == []  # delayed feedback: no early positives
    state, examples = run([expire(RW - 1)], state)
    assert examples == []
    state, examples = run([expire(RW)], state)
    assert labels(examples) == {("d1", "response"): True}
    state, examples = run([expire(DL)], state)
    assert labels(examples) == {("d1", "pay"): False}
    assert state.open == {}


def test_no_response_means_one_negative_and_no_pay_example():
    state, examples = run([decision(), expire(RW)])
    assert labels(examples) == {("d1", "response"): False}
    state, examples = run([expire(DL)], state)
    assert labels(examples) == {} and state.open == {}  # the opt-out head's alone


def test_a_payment_is_a_response_and_a_pay():
    _, examples = run([decision(), event(T0 + 60, "payment", "d1", amount=5.0), expire(DL)])
    assert labels(examples) == {("d1", "response"): True, ("d1", "pay"): True}


def test_a_promise_after_the_response_window_still_counts_for_pay():
    records = [
        decision(),
        event(T0 + H, "reply", "d1"),
        event(RW + H, "promise", amount=50.0, due_date="2026-01-09"),
        expire(DL),
    ]
    assert labels(run(records)[1]) == {("d1", "response"): True, ("d1", "pay"): True}


def test_a_payment_after_the_response_window_is_not_a_response():
    records = [decision(), event(RW + H, "payment", "d1", amount=50.0), expire(DL)]
    assert labels(run(records)[1]) == {("d1", "response"): False}


@pytest.mark.parametrize(("ts", "responded"), [(T0, True), (RW - 1, True), (RW, False), (RW + 1, False)])
def test_response_window_edge(ts, responded):
    _, examples = run([decision(), event(ts, "reply", "d1"), expire(DL)])
    assert labels(examples)[("d1", "response")] is responded


@pytest.mark.parametrize(("ts", "paid"), [(RW, True), (DL - 1, True), (DL, False)])
def test_attribution_window_edge(ts, paid):
    _, examples = run(
        [decision(), event(T0 + 1, "reply", "d1"), event(ts, "payment", "d1", amount=1.0), expire(DL + H)]
    )
    assert labels(examples)[("d1", "pay")] is paid


def test_without_a_response_deadline_both_windows_close_at_the_deadline():
    d = decision(response_window=None)
    assert d.response_deadline is None
    state, examples = run([d, event(DL - 1, "reply", "d1"), expire(DL - 1)])
    assert examples == []
    _, examples = run([expire(DL)], state)
    assert labels(examples) == {("d1", "response"): True, ("d1", "pay"): False}


def test_examples_carry_the_decisions_inputs():
    d = decision(channel="voice", template="t9", dpd_bucket="1_30", hour=7, x={"a": 1.0, "b": -2.0})
    _, examples = run([d, event(T0 + 1, "reply", "d1"), expire(DL)])
    assert sorted((e.head, e.y) for e in examples) == [("optout", False), ("pay", False), ("response", True)]
    for e in examples:
        assert (e.x, e.channel, e.template, e.dpd_bucket, e.hour, e.decision_id) == (
            {"a": 1.0, "b": -2.0},
            "voice",
            "t9",
            "1_30",
            7,
            "d1",
        )


def test_a_payment_without_decision_id_goes_to_the_latest_open_decision_on_any_channel():
    older = decision("old", T0, channel="sms")
    newer = decision("new", T0 + H, channel="voice")
    later = decision("later", T0 + 10 * H, channel="voice", ts=T0 + H)  # not sent yet at T0 + 2h
    records = [
        older,
        newer,
        later,
        event(T0 + 2 * H, "payment", channel="whatsapp", amount=9.0),
        expire(T0 + 100 * H),
    ]
    assert labels(run(records)[1]) == {
        ("old", "response"): False,
        ("new", "response"): True,
        ("new", "pay"): True,
        ("later", "response"): False,
    }


def test_a_reply_without_decision_id_only_answers_a_decision_on_its_channel():
    sms = decision("s", T0, channel="sms")
    voice = decision("v", T0 + H, channel="voice")
    _, examples = run([sms, voice, event(T0 + 2 * H, "reply", channel="sms"), expire(T0 + 100 * H)])
    assert {k for k, y in labels(examples).items() if y} == {("s", "response")}
    _, examples = run([sms, voice, event(T0 + 2 * H, "reply", channel=None), expire(T0 + 100 * H)])
    assert {k for k, y in labels(examples).items() if y} == {("v", "response")}


def test_an_unnamed_outcome_before_send_at_answers_nothing():
    _, examples = run([decision(), event(T0 - 1, "reply"), expire(DL)])
    assert labels(examples) == {("d1", "response"): False}


def test_a_named_outcome_after_the_deadline_closes_the_window_first():
    _, examples = run([decision(), event(DL + H, "payment", "d1", amount=1.0)])
    assert labels(examples) == {("d1", "response"): False}


@pytest.mark.parametrize(
    "outcome",
    [
        event(T0 + 1, "message", "d1", status="delivered"),
        event(T0 + 1, "message", "d1", status="failed"),
        event(T0 + 1, "call", "d1", channel="voice", status="no_answer"),
        event(T0 + 1, "call", "d1", channel="voice", status="answered", party="third_party"),
        event(T0 + 1, "optout", "d1"),
        event(T0 + 1, "dispute", "d1"),
    ],
)
def test_outcomes_that_are_not_engagement_are_negatives(outcome):
    _, examples = run([decision(), outcome, expire(DL)])
    assert labels(examples) == {("d1", "response"): False}


def test_any_later_record_closes_windows_a_decision_too():
    state, _ = run([decision("d1")])
    _, examples = step(state, decision("d2", send_at=RW + H))
    assert labels(examples) == {("d1", "response"): False}
    _, examples = step(state, event(DL, "message", "zz", status="delivered"))
    assert labels(examples) == {("d1", "response"): False}


def test_a_cancelled_decision_yields_nothing():
    records = [
        decision(),
        CancelRecord("d1", "a1", T0, "sms", "p1"),
        event(T0 + 1, "payment", "d1", amount=1.0),
        event(T0 + 2, "reply"),
        expire(DL),
        event(DL + 5 * H, "reply"),
    ]
    state, examples = run(records)
    assert examples == [] and state.open == {}


def test_a_cancel_after_the_response_window_drops_only_the_pay_example():
    state, examples = run([decision(), event(T0 + 1, "reply", "d1"), expire(RW)])
    assert labels(examples) == {("d1", "response"): True}
    state, examples = run([CancelRecord("d1", "a1", T0, "sms", "p1"), expire(DL)], state)
    assert examples == [] and state.open == {}


def test_cancel_of_an_unknown_decision_and_other_records_leave_the_state_alone():
    state, _ = run([decision()])
    for r in (CancelRecord("zz", "a1", T0, "sms", "p1"), AccountRecord("a1", "UTC", 1, 1.0), expire(T0 + 1)):
        new, examples = step(state, r)
        assert new == state and examples == []
    assert step(state, CancelRecord("zz", "a1", T0, "sms", "p1"))[0] is state


def test_expire_closes_every_window_that_passed_and_only_those():
    records = [
        decision("a", T0, deadline=T0 + H, response_window=H),
        decision("b", T0, deadline=T0 + 2 * H, response_window=H),
        decision("c", T0, deadline=T0 + 3 * H, response_window=3 * H),
    ]
    state, _ = run(records)
    state, examples = step(state, expire(T0 + 2 * H, "b"))
    assert labels(examples) == {("a", "response"): False, ("b", "response"): False}
    assert set(state.open) == {"c"}


def test_a_response_window_longer_than_the_attribution_window_still_yields_a_response():
    d = decision(deadline=T0 + 2 * H, response_window=6 * H)
    # the reservation's timer fires at the deadline, before the response window closes
    _, examples = run([d, event(T0 + H, "reply", "d1"), expire(T0 + 2 * H), expire(T0 + 10 * H)])
    assert labels(examples)[("d1", "response")] is True


# --- generated streams ----------------------------------------------------------------------


def is_response(e: Event) -> bool:
    """Read independently of features.outcomes."""
    return (
        (e.type == "message" and e.status == "read")
        or e.type in ("reply", "promise", "payment")
        or (e.type == "call" and e.status == "answered" and e.party == "right_party")
    )


def is_pay(e: Event) -> bool:
    return e.type in ("promise", "payment")


def could_answer(e: Event, d: DecisionRecord, until: float) -> bool:
    if e.ts >= until:
        return False
    if e.decision_id is not None:
        return e.decision_id == d.decision_id
    return d.send_at <= e.ts and (e.channel in (None, d.channel) or is_pay(e))


def response_deadline(d: DecisionRecord) -> float:
    return d.deadline if d.response_deadline is None else d.response_deadline


times = st.integers(0, 96 * 3600).map(lambda s: T0 + s)


@st.composite
def attribution_streams(draw: st.DrawFn) -> list[Any]:
    out: list[Any] = []
    made: list[DecisionRecord] = []
    for i in range(draw(st.integers(1, 25))):
        kind = draw(st.sampled_from("ddeeeecxa"))
        if kind == "d" or not made:
            ts = draw(times)
            send_at = ts + draw(st.sampled_from((0, 600, 3 * 3600)))
            window = draw(st.integers(1, 48)) * 3600
            response_window = draw(st.none() | st.integers(0, window // 3600).map(lambda h: h * 3600))
            d = DecisionRecord(
                decision_id=f"d{len(made)}",
                account_id="a1",
                ts=ts,
                send_at=send_at,
                deadline=send_at + window,
                channel=draw(st.sampled_from(CHANNELS)),
                contact_point_id="p1",
                template=draw(st.sampled_from(("t1", None))),
                model_version="m-1",
                dpd_bucket="1_30",
                hour=draw(st.integers(0, 23)),
                response_deadline=None if response_window is None else send_at + response_window,
                x={"f": float(i)},
            )
            made.append(d)
            out.append(d)
        elif kind == "c":
            d = draw(st.sampled_from(made))
            out.append(CancelRecord(d.decision_id, "a1", d.ts, d.channel, d.contact_point_id))
        elif kind == "x":
            out.append(ExpireRecord(draw(st.sampled_from(made)).decision_id, "a1", draw(times)))
        elif kind == "a":
            out.append(AccountRecord("a1", "UTC", 10, 100.0))
        else:
            type_ = draw(st.sampled_from(("message", "call", "reply", "promise", "payment", "optout")))
            status = party = None
            if type_ == "message":
                status = draw(st.sampled_from(MESSAGE_STATUSES))
            elif type_ == "call":
                status = draw(st.sampled_from(CALL_STATUSES))
                party = draw(st.sampled_from((None, "right_party", "third_party")))
            names = [d.decision_id for d in made] + ["unknown"]
            out.append(
                Event(
                    f"e{i}",
                    draw(times),
                    type_,
                    "a1",
                    decision_id=draw(st.none() | st.sampled_from(names)),
                    channel=draw(st.none() | st.sampled_from(CHANNELS)),
                    status=status,
                    party=party,
                    amount=1.0 if is_pay(Event("", 0, type_, "")) else None,
                )
            )
    end = max(d.deadline for d in made)
    closing = ExpireRecord("dz", "a1", end) if draw(st.booleans()) else Event("ez", end + 1, "optout", "a1")
    return [*out, closing]


def closes_at(stream: list[Any], after: int, until: float) -> int:
    """The index of the first record after `after` whose event time passes `until`."""
    return next(
        i
        for i in range(after + 1, len(stream))
        if isinstance(stream[i], Event | ExpireRecord | DecisionRecord) and stream[i].ts >= until
    )


@settings(max_examples=200, deadline=None)
@given(attribution_streams())
def test_attribution_invariants_on_generated_streams(stream):
    state = Attribution()
    emitted: list[tuple[int, Example]] = []
    for i, record in enumerate(stream):
        state, examples = step(state, record)
        emitted += [(i, e) for e in examples]
    assert state.open == {}, "the closing record must close every window"
    counts = Counter((e.decision_id, e.head) for _, e in emitted)
    assert all(n == 1 for n in counts.values()), counts
    at_step = {(e.decision_id, e.head): (i, e) for i, e in emitted}

    for at, d in ((i, r) for i, r in enumerate(stream) if isinstance(r, DecisionRecord)):
        cancel = next(
            (
                i
                for i in range(at + 1, len(stream))
                if isinstance(stream[i], CancelRecord) and stream[i].decision_id == d.decision_id
            ),
            len(stream),
        )
        mine = {h: at_step.get((d.decision_id, h)) for h in ("response", "pay")}
        for head, until in (("response", response_deadline(d)), ("pay", d.deadline)):
            got = mine[head]
            if got is not None:
                i, e = got
                assert (e.x, e.channel, e.template, e.hour) == (d.x, d.channel, d.template, d.hour)
                assert i == closes_at(stream, at, until), "emitted exactly when the window closed"
                assert i < cancel, "a cancelled decision taught something after its cancel"
        # the response example, unless cancelled before its window closed
        close_r = closes_at(stream, at, response_deadline(d))
        assert (mine["response"] is not None) is (close_r < cancel), d
        if mine["response"] is None:
            assert mine["pay"] is None
            continue
        _, resp = mine["response"]
        before = [stream[j] for j in range(at + 1, close_r) if isinstance(stream[j], Event)]
        answers = [e for e in before if is_response(e) and could_answer(e, d, response_deadline(d))]
        if resp.y:
            assert answers, "a positive needs an outcome that could answer this decision in time"
        assert resp.y or not any(e.decision_id == d.decision_id for e in answers), "a named response was lost"
        # the pay example: exactly for decisions that responded, unless cancelled first
        close_p = closes_at(stream, at, d.deadline)
        assert (mine["pay"] is not None) is (resp.y and close_p < cancel), d
        if mine["pay"] is not None:
            _, pay = mine["pay"]
            before = [stream[j] for j in range(at + 1, close_p) if isinstance(stream[j], Event)]
            pays = [e for e in before if is_pay(e) and could_answer(e, d, d.deadline)]
            if pay.y:
                assert pays, "a paying positive needs a promise or payment that could answer it in time"
            assert pay.y or not any(e.decision_id == d.decision_id for e in pays), "a named payment was lost"


@settings(max_examples=100, deadline=None)
@given(attribution_streams())
def test_step_never_mutates_its_input(stream):
    state = Attribution()
    for record in stream:
        snapshot = copy.deepcopy(state)
        new, _ = step(state, record)
        assert state == snapshot
        state = new


# --- dialer leases: a call nobody reported is not a call that failed -----------------------


def test_a_lease_nobody_reported_lapses_without_an_example():
    lease = decision("L1", channel="voice", lease=True)
    state, out = run([lease])
    assert lapsing(state, expire(RW - 1, "L1")) == []
    assert lapsing(state, expire(RW, "L1")) == [lease]
    state, out = run([expire(RW, "L1"), expire(DL, "L1")], state)
    assert out == []
    assert state.open == {}


def test_a_reported_lease_teaches_like_any_decision():
    lease = decision("L1", channel="voice", lease=True)
    no_answer = event(T0 + 60, "call", "L1", "voice", status="no_answer")
    state, out = run([lease, no_answer])
    assert lapsing(state, expire(RW, "L1")) == []
    _state, out = run([expire(RW, "L1")], state)
    assert labels(out) == {("L1", "response"): False}


def test_a_decision_nobody_reported_is_still_a_negative():
    state, _ = run([decision("d1")])
    assert lapsing(state, expire(RW)) == []
    _state, out = run([expire(RW)], state)
    assert labels(out) == {("d1", "response"): False}


def test_records_that_do_not_move_event_time_lapse_nothing():
    state, _ = run([decision("L1", channel="voice", lease=True)])
    upload = AccountRecord("a1", "UTC", 30, 100.0)
    assert lapsing(state, upload) == []
