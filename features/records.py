"""What flows through the event log: frozen, picklable records with event time in seconds.

The API appends them (as JSON) to the log in the same atomic step that applies them; the
dataflow reads them back with `from_log`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import msgspec

from features.pickling import fast_pickling

EVENT_TYPES = ("message", "call", "reply", "promise", "payment", "optout", "dispute")
MESSAGE_STATUSES = ("queued", "sent", "delivered", "read", "failed", "undelivered")
CALL_STATUSES = ("answered", "no_answer", "busy", "failed", "voicemail", "canceled")
PARTIES = ("right_party", "third_party", "unknown")


@dataclass(frozen=True, slots=True)
class Event:
    """A contact outcome, normalised from any source (API, vendor webhook)."""

    event_id: str
    ts: float
    type: str
    account_id: str
    decision_id: str | None = None
    channel: str | None = None
    contact_point_id: str | None = None
    carrier: str | None = None
    status: str | None = None
    party: str | None = None
    sip_code: int | None = None
    duration_s: float | None = None
    error_code: str | None = None
    text: str | None = None
    intent: str | None = None
    amount: float | None = None
    due_date: str | None = None  # YYYY-MM-DD in the debtor's calendar
    source: str = "api"


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """An account upsert: the attributes the dataflow needs to read events in context."""

    account_id: str
    timezone: str
    days_past_due: int
    balance: float  # in the base currency
    contact_points: tuple[str, ...] = ()
    networks: dict[str, str] = field(default_factory=dict)  # contact point id -> destination network
    # what call campaigns select on, so the dataflow places accounts without reading them back
    portfolio: str = ""
    product: str = ""
    country: str = ""
    segment: str | None = None
    owed: float = 0.0  # the balance in the account's own currency
    # (id, type, channels) of every contact point: what a call campaign's priority needs
    points: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    rate: float = 1.0  # one unit of the account's currency in the base currency (its amounts)


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """A reserved contact, with the model inputs it was scored on (no training/serving skew)."""

    decision_id: str
    account_id: str
    ts: float  # the request's `now`
    send_at: float
    deadline: float  # end of the attribution window
    channel: str
    contact_point_id: str
    template: str | None
    model_version: str
    dpd_bucket: str = ""
    hour: int = 0  # the debtor's local hour of send_at
    response_deadline: float | None = None  # end of the response window (None: `deadline`)
    x: dict[str, float] = field(default_factory=dict)
    # a dialer's lead: it teaches something only once the dialer reports the call
    lease: bool = False
    propensity: float | None = None  # of this action under the exploration noise, for off-policy evaluation
    # what the results report groups it by (features/results.py)
    carrier: str | None = None
    campaign: str | None = None  # a dialer's lead: the campaign it came from
    cost: float = 0.0  # as the engine priced the contact, in the base currency
    arm: str | None = None  # "experiment/arm" when an experiment's arm decided it


@dataclass(frozen=True, slots=True)
class CancelRecord:
    decision_id: str
    account_id: str
    ts: float  # when the cancelled decision was made (to undo its attempt)
    channel: str
    contact_point_id: str


@dataclass(frozen=True, slots=True)
class ExpireRecord:
    """The attribution window of a decision closed (event time passed its deadline)."""

    decision_id: str
    account_id: str
    ts: float


@dataclass(frozen=True, slots=True)
class ClockRecord:
    """The data's clock reached `ts` (clock = "data": a replay says how far it has got, so
    shards with no record of their own move on too). It belongs to no account."""

    ts: float
    account_id: str = ""


Record = Event | AccountRecord | DecisionRecord | CancelRecord | ExpireRecord | ClockRecord

KINDS: dict[str, type] = {
    "e": Event,
    "a": AccountRecord,
    "d": DecisionRecord,
    "c": CancelRecord,
    "x": ExpireRecord,
    "t": ClockRecord,
}
KIND_OF = {cls: kind for kind, cls in KINDS.items()}


def to_log(record: Record) -> dict[str, Any]:
    """A JSON-ready dict with the record's kind under `k`."""
    out: dict[str, Any] = {f.name: getattr(record, f.name) for f in fields(record)}
    out["k"] = KIND_OF[type(record)]
    return out


class _Envelope(msgspec.Struct):
    k: str
    acc: float | None = None


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    kind: msgspec.json.Decoder(cls) for kind, cls in KINDS.items()
}


def decode_log(blob: bytes) -> tuple[Record, float | None]:
    """A log entry's record and its acceptance time, decoded straight from the JSON bytes."""
    envelope = _ENVELOPE.decode(blob)
    return _DECODERS[envelope.k].decode(blob), envelope.acc


def from_log(raw: dict[str, Any]) -> Record:
    raw = dict(raw)
    cls = KINDS[raw.pop("k")]
    raw.pop("acc", None)  # acceptance time, read by the sink for lag
    if cls is AccountRecord:
        raw["contact_points"] = tuple(raw.get("contact_points", ()))
        raw["points"] = tuple((i, t, tuple(ch)) for i, t, ch in raw.get("points", ()))
    return cls(**raw)


fast_pickling(Event, AccountRecord, DecisionRecord, CancelRecord, ExpireRecord, ClockRecord)
