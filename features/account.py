"""One account's online features, updated by every record of the log.

`update(state, record) -> state` is pure and never mutates `state`. Counts decay
exponentially in event time with a half-life: every count is kept as of `state.as_of`
(the newest timestamp applied), so a late record adds a smaller weight instead of being
dropped, and the result does not depend on the order records arrive in.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from features.outcomes import classify
from features.records import AccountRecord, CancelRecord, DecisionRecord, Event, Record

DEFAULT_HALF_LIFE_S = 14 * 86400.0

# Indexes into a channel's decayed counts and a contact point's.
ATTEMPTS, RESPONSES, PAYS = 0, 1, 2
CP_ATTEMPTS, CP_RIGHT_PARTY, CP_FAILS = 0, 1, 2


@dataclass(frozen=True, slots=True)
class AccountFeatures:
    as_of: float | None = None
    events_applied: int = 0
    timezone: str = "UTC"
    days_past_due: int = 0
    balance: float = 0.0
    channels: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    hours: tuple[float, ...] = (0.0,) * 24  # decayed responses by the debtor's local hour
    points: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    last_contact_at: float | None = None
    last_response_at: float | None = None
    paid_total: float = 0.0


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_hour(ts: float, timezone: str) -> int:
    return datetime.fromtimestamp(ts, zone(timezone)).hour


def _scale3(t: tuple[float, float, float], k: float) -> tuple[float, float, float]:
    return (t[0] * k, t[1] * k, t[2] * k)


def _add(t: tuple[float, float, float], i: int, w: float) -> tuple[float, float, float]:
    out = list(t)
    out[i] = max(0.0, out[i] + w)  # max: undoing a weight must never go below zero
    return (out[0], out[1], out[2])


def _advance(state: AccountFeatures, ts: float, half_life: float) -> tuple[AccountFeatures, float]:
    """Move the state's clock to `ts` if newer; return the weight of an event at `ts`."""
    if state.as_of is None:
        return replace(state, as_of=ts), 1.0
    if ts <= state.as_of:
        return state, 2.0 ** ((ts - state.as_of) / half_life)
    k = 2.0 ** ((state.as_of - ts) / half_life)
    return (
        replace(
            state,
            as_of=ts,
            channels={c: _scale3(v, k) for c, v in state.channels.items()},
            points={p: _scale3(v, k) for p, v in state.points.items()},
            hours=tuple(h * k for h in state.hours),
        ),
        1.0,
    )


def _latest(a: float | None, b: float) -> float:
    return b if a is None or b > a else a


def update(state: AccountFeatures, record: Record, half_life: float = DEFAULT_HALF_LIFE_S) -> AccountFeatures:
    if isinstance(record, AccountRecord):
        return replace(
            state,
            timezone=record.timezone,
            days_past_due=record.days_past_due,
            balance=record.balance,
        )
    if isinstance(record, DecisionRecord):
        state, w = _advance(state, record.ts, half_life)
        return _attempt(state, record.channel, record.contact_point_id, w, record.ts)
    if isinstance(record, CancelRecord):
        state, w = _advance(state, record.ts, half_life)
        return _attempt(state, record.channel, record.contact_point_id, -w, None)
    if isinstance(record, Event):
        return _apply_event(state, record, half_life)
    return state  # ExpireRecord: attribution only


def _attempt(
    state: AccountFeatures, channel: str, point: str | None, w: float, at: float | None
) -> AccountFeatures:
    channels = dict(state.channels)
    channels[channel] = _add(channels.get(channel, (0.0, 0.0, 0.0)), ATTEMPTS, w)
    points = state.points
    if point:
        points = dict(points)
        points[point] = _add(points.get(point, (0.0, 0.0, 0.0)), CP_ATTEMPTS, w)
    last = state.last_contact_at if at is None else _latest(state.last_contact_at, at)
    return replace(state, channels=channels, points=points, last_contact_at=last)


def _apply_event(state: AccountFeatures, event: Event, half_life: float) -> AccountFeatures:
    state, w = _advance(state, event.ts, half_life)
    state = replace(state, events_applied=state.events_applied + 1)
    outcome = classify(event)
    channel = event.channel
    if outcome.attempt and channel:
        state = _attempt(state, channel, event.contact_point_id, w, event.ts)
    channels, points, hours = state.channels, state.points, state.hours
    if channel and (outcome.response or outcome.pay):
        channels = dict(channels)
        counts = channels.get(channel, (0.0, 0.0, 0.0))
        if outcome.response:
            counts = _add(counts, RESPONSES, w)
        if outcome.pay:
            counts = _add(counts, PAYS, w)
        channels[channel] = counts
    if event.contact_point_id and (outcome.right_party or outcome.delivery_failed):
        points = dict(points)
        counts = points.get(event.contact_point_id, (0.0, 0.0, 0.0))
        if outcome.right_party:
            counts = _add(counts, CP_RIGHT_PARTY, w)
        if outcome.delivery_failed:
            counts = _add(counts, CP_FAILS, w)
        points[event.contact_point_id] = counts
    last_response = state.last_response_at
    if outcome.response:
        h = local_hour(event.ts, state.timezone)
        hours = (*hours[:h], hours[h] + w, *hours[h + 1 :])
        last_response = _latest(last_response, event.ts)
    paid = state.paid_total + (event.amount or 0.0) if event.type == "payment" else state.paid_total
    return replace(
        state,
        channels=channels,
        points=points,
        hours=hours,
        last_response_at=last_response,
        paid_total=paid,
    )


# --- serving: what the dataflow writes to Redis and the API reads back -------------------


def serving(state: AccountFeatures) -> dict[str, Any]:
    """A compact JSON-ready view, every count as of `as_of`."""
    return {
        "as_of": state.as_of,
        "n": state.events_applied,
        "ch": {c: [round(v, 6) for v in counts] for c, counts in state.channels.items()},
        "hr": [round(h, 6) for h in state.hours],
        "cp": {p: [round(v, 6) for v in counts] for p, counts in state.points.items()},
        "last_contact_at": state.last_contact_at,
        "last_response_at": state.last_response_at,
        "paid_total": state.paid_total,
    }


@dataclass(frozen=True, slots=True)
class FeatureView:
    """Features decayed to a decision's `now`: what the models read."""

    channels: dict[str, tuple[float, float, float]]
    hours: tuple[float, ...]
    points: dict[str, tuple[float, float, float]]
    hours_since_contact: float | None
    hours_since_response: float | None

    def channel(self, name: str) -> tuple[float, float, float]:
        return self.channels.get(name, (0.0, 0.0, 0.0))

    def point(self, point_id: str) -> tuple[float, float, float]:
        return self.points.get(point_id, (0.0, 0.0, 0.0))


EMPTY_VIEW = FeatureView({}, (0.0,) * 24, {}, None, None)


def read(served: dict[str, Any] | None, now: float, half_life: float = DEFAULT_HALF_LIFE_S) -> FeatureView:
    if not served or served.get("as_of") is None:
        return EMPTY_VIEW
    k = 2.0 ** (min(0.0, served["as_of"] - now) / half_life)

    def since(ts: float | None) -> float | None:
        return None if ts is None else max(0.0, (now - ts) / 3600.0)

    return FeatureView(
        channels={c: (v[0] * k, v[1] * k, v[2] * k) for c, v in served["ch"].items()},
        hours=tuple(h * k for h in served["hr"]),
        points={p: (v[0] * k, v[1] * k, v[2] * k) for p, v in served["cp"].items()},
        hours_since_contact=since(served.get("last_contact_at")),
        hours_since_response=since(served.get("last_response_at")),
    )


def utc_iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
