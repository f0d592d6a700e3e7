"""Join each decision with its outcomes over attribution windows, in event time.

Every decision yields one `response` example (did the debtor engage within the response
window) and, if it got a response, one `pay` example (did a promise or payment follow within
the attribution window): the pay head is conditional on a response, the funnel collection
runs on. Each example is emitted when its window closes, with the label observed by then,
never earlier: emitting positives as they arrive and negatives only at the close would make
every recent contact look better than it is (delayed feedback), and learning would swing.
A window closes when the account's event time passes it (any later record of the account, or
the timer the reservation set). Pure: `step(state, record)` returns the new state and the
examples, and never mutates its input.

A dialer's lead is different: the dialer may never place the call (the agents did not get to
it before the lease ran out), and a call nobody reported is not a call that failed. A lease
with no outcome reported by the end of its response window lapses: no example, and
`lapsing` names it so the account's features can undo its attempt.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from features.outcomes import classify
from features.pickling import fast_pickling
from features.records import CancelRecord, DecisionRecord, Event, ExpireRecord, Record

HEADS = ("response", "pay")


@dataclass(frozen=True, slots=True)
class Example:
    head: str
    x: dict[str, float]
    y: bool
    channel: str
    template: str | None
    dpd_bucket: str
    hour: int
    decision_id: str
    account_id: str = ""
    closes_at: float = 0.0  # the end of the window this example closed (event time)


@dataclass(frozen=True, slots=True)
class Open:
    decision: DecisionRecord
    responded: bool = False
    paid: bool = False
    response_closed: bool = False
    reported: bool = False  # an outcome of this contact arrived (what a lease needs to count)
    lost: bool = False  # an opt-out or a dispute followed it within its window
    delivered: bool = False  # a message delivered or read, a call answered (the results report)


@dataclass(frozen=True, slots=True)
class Attribution:
    open: dict[str, Open] = field(default_factory=dict)


def _example(d: DecisionRecord, head: str, y: bool) -> Example:
    closes = _response_deadline(d) if head == "response" else d.deadline
    return Example(
        head, d.x, y, d.channel, d.template, d.dpd_bucket, d.hour, d.decision_id, d.account_id, closes
    )


def _response_deadline(d: DecisionRecord) -> float:
    """The response window never outlasts the attribution window."""
    return d.deadline if d.response_deadline is None else min(d.response_deadline, d.deadline)


def _lapsed(o: Open, now: float) -> bool:
    return o.decision.lease and not o.reported and _response_deadline(o.decision) <= now


def lapsing(state: Attribution, record: Record) -> list[DecisionRecord]:
    """The leases that `record` makes lapse (see the module's doc): no call was reported."""
    if not isinstance(record, ExpireRecord | DecisionRecord | Event):
        return []  # only these move the account's event time on
    return [o.decision for o in state.open.values() if _lapsed(o, record.ts)]


def _close(state: Attribution, now: float) -> tuple[Attribution, list[Example]]:
    """Emit the examples of every window that closed at or before `now`."""
    examples: list[Example] = []
    opened = state.open
    for key, o in state.open.items():
        d = o.decision
        if _lapsed(o, now):
            opened = {k: v for k, v in opened.items() if k != key}
            continue
        if not o.response_closed and _response_deadline(d) <= now:
            examples.append(_example(d, "response", o.responded))
            o = replace(o, response_closed=True)
        if d.deadline <= now:
            if o.responded:
                examples.append(_example(d, "pay", o.paid))
            examples.append(_example(d, "optout", o.lost))
            opened = {k: v for k, v in opened.items() if k != key}
        elif o is not state.open[key]:
            opened = {**opened, key: o}
    if not examples and opened is state.open:
        return state, []
    return replace(state, open=opened), examples


def _target(state: Attribution, event: Event) -> Open | None:
    """The decision an outcome answers: the one it names, else the latest one it can."""
    if event.decision_id is not None:
        return state.open.get(event.decision_id)
    pays = event.type in ("promise", "payment")
    candidates = [
        o
        for o in state.open.values()
        if o.decision.send_at <= event.ts < o.decision.deadline
        and (pays or event.channel is None or event.channel == o.decision.channel)
    ]
    return max(candidates, key=lambda o: o.decision.send_at, default=None)


def reached(event: Event) -> bool:
    """The contact reached the debtor's device or line: delivered, read, answered."""
    if event.type == "message":
        return event.status in ("delivered", "read")
    return event.type == "call" and event.status == "answered"


def answered(state: Attribution, event: Event) -> Open | None:
    """The open decision `event` answers, as `step` finds it (after closing what `event`'s
    time closes)."""
    return _target(_close(state, event.ts)[0], event)


def step(state: Attribution, record: Record) -> tuple[Attribution, list[Example]]:
    if isinstance(record, CancelRecord):
        if record.decision_id not in state.open:
            return state, []
        return replace(state, open={k: o for k, o in state.open.items() if k != record.decision_id}), []
    if isinstance(record, ExpireRecord | DecisionRecord | Event):
        state, examples = _close(state, record.ts)
    else:
        return state, []
    if isinstance(record, DecisionRecord):
        return replace(state, open={**state.open, record.decision_id: Open(record)}), examples
    if not isinstance(record, Event):
        return state, examples
    target = _target(state, record)
    if target is None:
        return state, examples
    outcome = classify(record)
    in_response_window = not target.response_closed and record.ts < _response_deadline(target.decision)
    responded = target.responded or (outcome.response and in_response_window)
    paid = target.paid or outcome.pay
    lost = target.lost or record.type in ("optout", "dispute")
    delivered = target.delivered or reached(record)
    if (responded, paid, True, lost, delivered) == (
        target.responded, target.paid, target.reported, target.lost, target.delivered
    ):
        return state, examples
    updated = replace(target, responded=responded, paid=paid, reported=True, lost=lost, delivered=delivered)
    return replace(state, open={**state.open, target.decision.decision_id: updated}), examples


fast_pickling(Example, Open, Attribution)
