"""Vendor callbacks normalised at the edge: pure functions from what a vendor posts to
`Callback`s (cadencia events still missing their account), and the vendors' signature checks.

One module per vendor, each with `parse(...) -> list[Callback]` and, where the vendor signs its
callbacks, a `valid_signature(...)` (or `signature(...)`) function. No I/O: `engine/gateways/webhooks.py`
reads the request, checks the signature, finds the account and applies the events.
A payload that breaks the vendor's format raises `VendorError` naming the field.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# An inbound message that is one of these (case and a final '.' or '!' ignored) opts its
# sender out of the channel: Twilio's default English opt-out keywords (its Advanced Opt-Out
# guide lists STOP, UNSUBSCRIBE, END, QUIT, STOPALL, REVOKE, OPTOUT and CANCEL), which include
# the ones cadencia honours in any reply (features/outcomes.py), and their two-word spellings.
OPTOUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "OPT OUT", "REVOKE"}
)
MAX_TEXT = 10_000  # engine/wire.py: a reply's text


class VendorError(ValueError):
    """A callback that breaks its vendor's format: `field` names what is wrong, `index` the
    item of a batch (0 for a single callback)."""

    def __init__(self, field: str, message: str, index: int = 0) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.index = index


@dataclass(frozen=True, slots=True)
class Callback:
    """One cadencia event read from a vendor callback, before its account is known.

    `address` is the debtor's side of the exchange (the recipient of a message or call, the
    sender of an inbound message), as the vendor wrote it; `decision_id` is what came back in
    the vendor's opaque field. `ts` is the vendor's own event time, or None when it has none.
    """

    event_id: str
    type: str  # message | call | reply | optout
    ts: datetime | None = None
    address: str | None = None
    decision_id: str | None = None
    channel: str | None = None
    carrier: str | None = None
    status: str | None = None
    error_code: str | None = None
    party: str | None = None
    sip_code: int | None = None
    duration_s: float | None = None
    text: str | None = None
    intent: str | None = None

    def event_fields(self) -> dict[str, Any]:
        """The fields of cadencia's wire event (engine/wire.py) this callback sets."""
        out: dict[str, Any] = {"event_id": self.event_id, "type": self.type}
        for name in ("ts", "channel", "carrier", "status", "error_code", "party", "sip_code"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.duration_s is not None:
            out["duration_s"] = self.duration_s
        if self.type == "reply":
            out["text"] = self.text or ""
            if self.intent:
                out["intent"] = self.intent
        return out


def reply_intent(text: str | None) -> str | None:
    """`optout` when an inbound message is an opt-out keyword (the whole message)."""
    if not text:
        return None
    word = " ".join(text.strip().strip(".!").upper().split())
    return "optout" if word in OPTOUT_KEYWORDS else None


def clip(text: str | None) -> str | None:
    return None if text is None else text[:MAX_TEXT]


def from_unix(value: Any, field: str, index: int = 0) -> datetime:
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise VendorError(field, f"not a UNIX time: {value!r}", index) from exc


def from_iso(value: Any, field: str, index: int = 0) -> datetime:
    """ISO 8601 with an offset (`2019-11-09T16:00:00.000+0000`, `…Z`); UTC when it has none."""
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise VendorError(field, f"not an ISO 8601 time: {value!r}", index) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def text_field(raw: dict[str, Any], key: str, index: int = 0, required: bool = False) -> str | None:
    """A string field of a vendor item (numbers are accepted as their text)."""
    value = raw.get(key)
    if value is None or value == "":
        if required:
            raise VendorError(key, "missing", index)
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise VendorError(key, f"expected a string, got {type(value).__name__}", index)
    return str(value)


def same(expected: str, given: str) -> bool:
    """Constant-time comparison of two signatures."""
    return hmac.compare_digest(expected.encode(), given.encode())
