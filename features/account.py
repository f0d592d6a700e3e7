"""One account's online features, updated by every record of the log.

`update(state, record) -> state` is pure and never mutates `state`. Counts decay
exponentially in event time with a half-life, and a late record adds a smaller weight
instead of being dropped, so the result does not depend on the order records arrive in.

Representation: every count is kept scaled to a reference time `ref` of the account's own
(an event at `ts` adds 2^((ts - ref) / half-life) to one counter), so applying an event
touches one counter instead of rescaling them all. `channels`, `points` and `hours` give
the counts as of `as_of`, the newest timestamp applied. When event time runs far past `ref`
the counters are rebased, so the weights stay in floating-point range.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from features.outcomes import classify
from features.pickling import fast_pickling
from features.records import AccountRecord, CancelRecord, DecisionRecord, Event, Record

DEFAULT_HALF_LIFE_S = 14 * 86400.0
REBASE_AFTER = 256.0  # half-lives between `ref` and an event before the counters are rebased

# Indexes into a channel's decayed counts and a contact point's.
ATTEMPTS, RESPONSES, PAYS = 0, 1, 2
CP_ATTEMPTS, CP_RIGHT_PARTY, CP_FAILS = 0, 1, 2
# A contact point's calls by local hour band ("m1|3": calls and right-party answers from
# 09:00 to 11:59): which hours reach the debtor on that number. Bands of 3 hours, as the
# carrier router pools hours, so thin evidence is not spread over 24 cells.
BAND_HOURS = 3
CALLS, RIGHT_PARTY = 0, 1

# Call outcomes that say something about reaching the debtor on a number at an hour (a failed
# or canceled call says more about the carrier or the dialer).
REACHED_NETWORK = frozenset({"answered", "no_answer", "busy", "voicemail"})

Counts = tuple[float, float, float]
ZERO: Counts = (0.0, 0.0, 0.0)
BandCounts = tuple[float, float]


def point_band(point_id: str, hour: int) -> str:
    return f"{point_id}|{hour // BAND_HOURS}"


@dataclass(frozen=True, slots=True)
class AccountFeatures:
    as_of: float | None = None
    events_applied: int = 0
    timezone: str = "UTC"
    days_past_due: int = 0
    balance: float = 0.0
    half_life: float = DEFAULT_HALF_LIFE_S
    ref: float = 0.0  # the scaled counters below are relative to this time
    scaled_channels: dict[str, Counts] = field(default_factory=dict)
    scaled_hours: tuple[float, ...] = (0.0,) * 24  # responses by the debtor's local hour
    scaled_points: dict[str, Counts] = field(default_factory=dict)
    last_contact_at: float | None = None
    last_response_at: float | None = None
    paid_total: float = 0.0
    scaled_point_bands: dict[str, BandCounts] = field(default_factory=dict)  # point_band -> counts

    def __deepcopy__(self, memo: dict[int, Any]) -> AccountFeatures:
        return self  # immutable: the stream processor's snapshots need no copy

    def _k(self) -> float:
        return 1.0 if self.as_of is None else 2.0 ** ((self.ref - self.as_of) / self.half_life)

    @property
    def channels(self) -> dict[str, Counts]:
        k = self._k()
        return {c: (v[0] * k, v[1] * k, v[2] * k) for c, v in self.scaled_channels.items()}

    @property
    def points(self) -> dict[str, Counts]:
        k = self._k()
        return {p: (v[0] * k, v[1] * k, v[2] * k) for p, v in self.scaled_points.items()}

    @property
    def hours(self) -> tuple[float, ...]:
        k = self._k()
        return tuple(h * k for h in self.scaled_hours)

    @property
    def point_bands(self) -> dict[str, BandCounts]:
        k = self._k()
        return {b: (v[0] * k, v[1] * k) for b, v in self.scaled_point_bands.items()}


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_hour(ts: float, timezone: str) -> int:
    return datetime.fromtimestamp(ts, zone(timezone)).hour


def _add(t: Counts, i: int, w: float) -> Counts:
    """`t` with `w` added at `i`, never below zero (undoing a weight must not go negative)."""
    if i == 0:
        return (max(0.0, t[0] + w), t[1], t[2])
    if i == 1:
        return (t[0], max(0.0, t[1] + w), t[2])
    return (t[0], t[1], max(0.0, t[2] + w))


def _latest(a: float | None, b: float) -> float:
    return b if a is None or b > a else a


@dataclass(slots=True)
class _Draft:
    """The mutable working copy of one update; `done()` freezes it into a new state."""

    base: AccountFeatures
    as_of: float | None
    ref: float
    channels: dict[str, Counts]
    points: dict[str, Counts]
    hours: tuple[float, ...]
    events_applied: int
    last_contact_at: float | None
    last_response_at: float | None
    paid_total: float
    point_bands: dict[str, BandCounts]

    @classmethod
    def of(cls, s: AccountFeatures, ts: float, half_life: float) -> tuple[_Draft, float]:
        """A draft whose clock includes `ts`, and the weight of an event at `ts`."""
        ref, channels, points, hours = s.ref, s.scaled_channels, s.scaled_points, s.scaled_hours
        bands = s.scaled_point_bands
        if s.as_of is None:
            ref = ts
        elif (ts - ref) / half_life > REBASE_AFTER:
            k = 2.0 ** ((ref - ts) / half_life)
            channels = {c: (v[0] * k, v[1] * k, v[2] * k) for c, v in channels.items()}
            points = {p: (v[0] * k, v[1] * k, v[2] * k) for p, v in points.items()}
            hours = tuple(h * k for h in hours)
            bands = {b: (v[0] * k, v[1] * k) for b, v in bands.items()}
            ref = ts
        as_of = ts if s.as_of is None or ts > s.as_of else s.as_of
        draft = cls(
            s,
            as_of,
            ref,
            channels,
            points,
            hours,
            s.events_applied,
            s.last_contact_at,
            s.last_response_at,
            s.paid_total,
            bands,
        )
        return draft, 2.0 ** ((ts - ref) / half_life)

    def add_channel(self, channel: str, i: int, w: float) -> None:
        if self.channels is self.base.scaled_channels:
            self.channels = dict(self.channels)
        self.channels[channel] = _add(self.channels.get(channel, ZERO), i, w)

    def add_point(self, point: str, i: int, w: float) -> None:
        if self.points is self.base.scaled_points:
            self.points = dict(self.points)
        self.points[point] = _add(self.points.get(point, ZERO), i, w)

    def add_call(self, point: str, hour: int, right_party: bool, w: float) -> None:
        if self.point_bands is self.base.scaled_point_bands:
            self.point_bands = dict(self.point_bands)
        key = point_band(point, hour)
        calls, rpc = self.point_bands.get(key, (0.0, 0.0))
        self.point_bands[key] = (calls + w, rpc + w if right_party else rpc)

    def done(self, half_life: float) -> AccountFeatures:
        b = self.base
        return AccountFeatures(
            self.as_of,
            self.events_applied,
            b.timezone,
            b.days_past_due,
            b.balance,
            half_life,
            self.ref,
            self.channels,
            self.hours,
            self.points,
            self.last_contact_at,
            self.last_response_at,
            self.paid_total,
            self.point_bands,
        )


def update(state: AccountFeatures, record: Record, half_life: float = DEFAULT_HALF_LIFE_S) -> AccountFeatures:
    if isinstance(record, AccountRecord):
        s = state
        return AccountFeatures(
            s.as_of,
            s.events_applied,
            record.timezone,
            record.days_past_due,
            record.balance,
            s.half_life,
            s.ref,
            s.scaled_channels,
            s.scaled_hours,
            s.scaled_points,
            s.last_contact_at,
            s.last_response_at,
            s.paid_total,
            s.scaled_point_bands,
        )
    if isinstance(record, DecisionRecord | CancelRecord):
        d, w = _Draft.of(state, record.ts, half_life)
        undo = isinstance(record, CancelRecord)
        d.add_channel(record.channel, ATTEMPTS, -w if undo else w)
        if record.contact_point_id:
            d.add_point(record.contact_point_id, CP_ATTEMPTS, -w if undo else w)
        if not undo:
            d.last_contact_at = _latest(d.last_contact_at, record.ts)
        return d.done(half_life)
    if isinstance(record, Event):
        return _apply_event(state, record, half_life)
    return state  # ExpireRecord: attribution only


def _apply_event(state: AccountFeatures, event: Event, half_life: float) -> AccountFeatures:
    d, w = _Draft.of(state, event.ts, half_life)
    d.events_applied += 1
    outcome = classify(event)
    channel, point = event.channel, event.contact_point_id
    if outcome.attempt and channel:
        d.add_channel(channel, ATTEMPTS, w)
        if point:
            d.add_point(point, CP_ATTEMPTS, w)
        d.last_contact_at = _latest(d.last_contact_at, event.ts)
    if channel and outcome.response:
        d.add_channel(channel, RESPONSES, w)
    if channel and outcome.pay:
        d.add_channel(channel, PAYS, w)
    if point and outcome.right_party:
        d.add_point(point, CP_RIGHT_PARTY, w)
    if point and outcome.delivery_failed:
        d.add_point(point, CP_FAILS, w)
    if point and event.type == "call" and event.status in REACHED_NETWORK:
        d.add_call(point, local_hour(event.ts, state.timezone), outcome.right_party, w)
    if outcome.response:
        h = local_hour(event.ts, state.timezone)
        d.hours = (*d.hours[:h], d.hours[h] + w, *d.hours[h + 1 :])
        d.last_response_at = _latest(d.last_response_at, event.ts)
    if event.type == "payment":
        d.paid_total += event.amount or 0.0
    return d.done(half_life)


# --- serving: what the dataflow writes to Redis and the API reads back -------------------


SERVED_DECIMALS = 4  # decayed counts as Redis keeps them: a full float's 17 digits cost ~300 B


def _counts(values: Any) -> Any:
    return tuple(round(v, SERVED_DECIMALS) for v in values)


def serving(state: AccountFeatures) -> dict[str, Any]:
    """A compact JSON-ready view, every count as of `as_of` (to SERVED_DECIMALS places: what
    a decision reads of them is unchanged below that)."""
    return {
        "as_of": state.as_of,
        "n": state.events_applied,
        "ch": {k: _counts(v) for k, v in state.channels.items()},
        "hr": _counts(state.hours),
        "cp": {k: _counts(v) for k, v in state.points.items()},
        "last_contact_at": state.last_contact_at,
        "last_response_at": state.last_response_at,
        "paid_total": state.paid_total,
        "cpb": {k: _counts(v) for k, v in state.point_bands.items()},
    }


@dataclass(frozen=True, slots=True)
class FeatureView:
    """Features decayed to a decision's `now`: what the models read."""

    channels: dict[str, tuple[float, float, float]]
    hours: tuple[float, ...]
    points: dict[str, tuple[float, float, float]]
    hours_since_contact: float | None
    hours_since_response: float | None
    point_bands: dict[str, BandCounts] = field(default_factory=dict)  # point_band -> (calls, right party)

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
        point_bands={b: (v[0] * k, v[1] * k) for b, v in served.get("cpb", {}).items()},
    )


def utc_iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


fast_pickling(AccountFeatures, FeatureView)
