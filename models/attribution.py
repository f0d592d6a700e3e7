"""Join each decision with its outcomes over an attribution window, in event time.

Every decision yields one `response` example (did the debtor engage). A decision that got a
response also yields one `pay` example (did it bring a promise or a payment): the pay head
is conditional on a response, the funnel collection runs on. An example is emitted as soon
as its outcome is known, or as a negative when the window closes first. Pure: `step(state, record)` returns
the new state and the examples; the input state is never mutated.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from features.outcomes import classify
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


@dataclass(frozen=True, slots=True)
class Open:
    decision: DecisionRecord
    pending: frozenset[str] = frozenset(HEADS)  # heads still waiting for their outcome


@dataclass(frozen=True, slots=True)
class Attribution:
    open: dict[str, Open] = field(default_factory=dict)


def _example(d: DecisionRecord, head: str, y: bool) -> Example:
    return Example(head, d.x, y, d.channel, d.template, d.dpd_bucket, d.hour, d.decision_id)


def _close_expired(state: Attribution, now: float) -> tuple[Attribution, list[Example]]:
    expired = [o for o in state.open.values() if o.decision.deadline <= now]
    if not expired:
        return state, []
    examples = [
        _example(o.decision, h, False)
        for o in expired
        for h in sorted(o.pending)
        if not (h == "pay" and "response" in o.pending)  # no response: nothing to learn on pay
    ]
    remaining = {k: o for k, o in state.open.items() if o.decision.deadline > now}
    return replace(state, open=remaining), examples


def _target(state: Attribution, event: Event) -> Open | None:
    """The decision an outcome answers: the one it names, else the latest one it can."""
    if event.decision_id is not None:
        return state.open.get(event.decision_id)
    candidates = [
        o
        for o in state.open.values()
        if o.decision.send_at <= event.ts < o.decision.deadline
        and (
            event.channel is None
            or event.channel == o.decision.channel
            or event.type in ("promise", "payment")
        )
    ]
    return max(candidates, key=lambda o: o.decision.send_at, default=None)


def step(state: Attribution, record: Record) -> tuple[Attribution, list[Example]]:
    if isinstance(record, DecisionRecord):
        return replace(state, open={**state.open, record.decision_id: Open(record)}), []
    if isinstance(record, CancelRecord):
        if record.decision_id not in state.open:
            return state, []
        return replace(state, open={k: o for k, o in state.open.items() if k != record.decision_id}), []
    if isinstance(record, ExpireRecord):
        return _close_expired(state, record.ts)
    if not isinstance(record, Event):
        return state, []
    state, examples = _close_expired(state, record.ts)
    target = _target(state, record)
    if target is None:
        return state, examples
    outcome = classify(record)
    hits = set()
    if outcome.response:
        hits.add("response")
    if outcome.pay:
        hits.add("pay")
    hits &= target.pending
    if not hits:
        return state, examples
    examples += [_example(target.decision, h, True) for h in sorted(hits)]
    pending = target.pending - hits
    d_id = target.decision.decision_id
    if pending:
        opened = {**state.open, d_id: replace(target, pending=frozenset(pending))}
    else:
        opened = {k: o for k, o in state.open.items() if k != d_id}
    return replace(state, open=opened), examples
