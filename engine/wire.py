"""The contract's request bodies: decoding, validation, and normalisation into records.

Validation is msgspec's (typed structs, tagged unions, precise paths); everything a client
can get wrong becomes an `Invalid` with one `details` entry per bad item.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
import orjson

from engine.errors import BadRequest, Invalid, TooManyItems, Unsupported
from features.records import Event

MAX_DPD = 100_000  # days past due: no account is older; the bound keeps the field a machine integer
# money in one account's currency: far above any debt, far below where a rate or a sum of
# payments could overflow to infinity (which JSON cannot carry, and Redis refuses to add)
MAX_MONEY = 1e15
Money = Annotated[float, msgspec.Meta(ge=0, le=MAX_MONEY)]
Amount = Annotated[float, msgspec.Meta(gt=0, le=MAX_MONEY)]
Channel = Literal["voice", "ivr", "sms", "whatsapp", "email"]
# no whitespace or control characters, spelled out: Python's `\s` and JSON Schema's (ECMA-262)
# differ (U+0085 is whitespace to one only), and the OpenAPI document shows this very pattern
NO_SPACE = r"^[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+$"
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=NO_SPACE)]
Text = Annotated[str, msgspec.Meta(max_length=10_000)]
# RFC 3339 with an offset (engine.wire.check_aware refuses a naive one); msgspec's schema says
# only "string" for a datetime, so the format is declared
Timestamp = Annotated[datetime, msgspec.Meta(extra_json_schema={"format": "date-time"})]
Network = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=NO_SPACE)]


class ContactPoint(msgspec.Struct, frozen=True):
    id: Id
    type: Literal["mobile", "landline", "email", "whatsapp"]
    address: Annotated[str, msgspec.Meta(min_length=1, max_length=320)]
    channels: tuple[Channel, ...] = ()
    network: Network | None = None
    timezone: str | None = None
    owner: Literal["debtor", "third_party"] = "debtor"  # whose address it is (a reference, an employer)


class Account(msgspec.Struct, frozen=True):
    account_id: Id
    portfolio: Id
    balance: Money
    currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
    days_past_due: Annotated[int, msgspec.Meta(ge=0, le=MAX_DPD)]
    country: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$")]
    timezone: str
    contact_points: tuple[ContactPoint, ...]
    product: str = ""
    region: str | None = None
    attributes: dict[str, Any] = {}


class DecideRequest(msgspec.Struct, frozen=True):
    account_id: Id
    now: Timestamp | None = None
    channels: tuple[Channel, ...] | None = None
    horizon_hours: Annotated[int, msgspec.Meta(ge=1, le=168)] | None = None
    request_id: Id | None = None  # idempotency key: a repeat answers the same decision


class DialerNextRequest(msgspec.Struct, frozen=True):
    campaign: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    count: Annotated[int, msgspec.Meta(ge=1, le=500)] = 1
    now: Timestamp | None = None


class ConfirmRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    now: Timestamp | None = None  # the gateway's send time (clock = "data"); the server's otherwise


class ClockRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    now: Timestamp  # clock = "data": the time the replay has reached


class RouteRequest(msgspec.Struct, frozen=True):
    address: Annotated[str, msgspec.Meta(min_length=1, max_length=320)]
    channel: Literal["voice", "ivr", "sms"] = "voice"
    network: Network | None = None
    now: Timestamp | None = None
    decision_id: Id | None = None


class _Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    event_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    account_id: Id
    ts: Timestamp | None = None
    decision_id: str | None = None
    channel: Channel | None = None
    contact_point_id: str | None = None
    carrier: str | None = None


class MessageEvent(_Event, tag="message"):
    status: Literal["queued", "sent", "delivered", "read", "failed", "undelivered"]
    error_code: str | None = None


class CallEvent(_Event, tag="call"):
    status: Literal["answered", "no_answer", "busy", "failed", "voicemail", "canceled"]
    party: Literal["right_party", "third_party", "unknown"] | None = None
    sip_code: Annotated[int, msgspec.Meta(ge=100, le=699)] | None = None
    duration_s: Annotated[float, msgspec.Meta(ge=0, le=86_400)] | None = None


class ReplyEvent(_Event, tag="reply"):
    text: Text = ""
    intent: str | None = None


class PromiseEvent(_Event, tag="promise"):
    amount: Amount
    due_date: date  # YYYY-MM-DD; msgspec rejects impossible dates such as 2026-02-30


class PaymentEvent(_Event, tag="payment"):
    amount: Amount


class OptoutEvent(_Event, tag="optout"):
    pass


class DisputeEvent(_Event, tag="dispute"):
    text: Text | None = None


EventIn = MessageEvent | CallEvent | ReplyEvent | PromiseEvent | PaymentEvent | OptoutEvent | DisputeEvent

_PATH = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$")
_MISSING = re.compile(r"missing required field `(?P<field>[^`]+)`")


Check = Callable[[int, dict[str, Any], Any], "dict[str, Any] | None"]


def decode_body(body: bytes, content_type: str) -> tuple[list[Any], bool]:
    """The items of a one-or-many body, and whether the client sent many."""
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime == "application/x-ndjson":
        items = []
        for n, line in enumerate(body.splitlines()):
            if line.strip():
                try:
                    items.append(orjson.loads(line))
                except orjson.JSONDecodeError as exc:
                    raise BadRequest(f"line {n + 1} of the NDJSON body is not JSON: {exc}") from exc
        return items, True
    if mime not in ("application/json", "") and not mime.endswith("+json"):
        raise Unsupported(f"send application/json or application/x-ndjson, not {mime!r}")
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from exc
    if isinstance(parsed, list):
        return parsed, True
    return [parsed], False


def decode_items(
    body: bytes, content_type: str, kind: Any, check: Check | None = None, limit: int | None = None
) -> tuple[list[Any], bool]:
    """Typed items of a one-or-many body, and whether the client sent many; more than `limit`
    items is a 413 (`[server] max_batch_items`), whatever they hold.

    msgspec decodes straight from the bytes into structs (no intermediate dicts); only when
    that fails is the body decoded item by item to name every bad item and field."""
    mime = content_type.split(";", 1)[0].strip().lower()
    one, one_or_many = decoders(kind)
    try:
        if mime == "application/x-ndjson":
            items, many = one.decode_lines(body), True
        else:
            if mime not in ("application/json", "") and not mime.endswith("+json"):
                raise Unsupported(f"send application/json or application/x-ndjson, not {mime!r}")
            value = one_or_many.decode(body)
            items, many = (value, True) if isinstance(value, list) else ([value], False)
    except (msgspec.ValidationError, msgspec.DecodeError):
        raw, many = decode_body(body, content_type)  # raises BadRequest for JSON that is not
        within(len(raw), limit)
        return convert_all(raw, kind, check), many
    within(len(items), limit)
    if check is not None:
        details = [d for i, item in enumerate(items) if (d := check(i, {}, item))]
        if details:
            raise Invalid(
                f"{len(details)} of {len(items)} items are invalid; nothing was applied", details, len(items)
            )
    return items, many


def within(items: int, limit: int | None) -> None:
    if limit is not None and items > limit:
        raise TooManyItems(
            f"{items} items in one request; the limit is {limit} ([server] max_batch_items): "
            "send them in several requests",
            [{"field": "body", "message": f"at most {limit} items"}],
        )


@functools.cache
def decoders(kind: Any) -> tuple[msgspec.json.Decoder[Any], msgspec.json.Decoder[Any]]:
    """Decoders for one item and for one-or-many, built once per kind: `msgspec.json.decode`
    with a `type=` builds its decoder on every call (~10 µs for a union, 10× the decoding)."""
    return msgspec.json.Decoder(kind), msgspec.json.Decoder(kind | list[kind])


def detail(index: int, exc: msgspec.ValidationError | str, field: str | None = None) -> dict[str, Any]:
    text = str(exc)
    m = _PATH.match(text)
    msg, path = (m.group("msg"), m.group("path")) if m else (text, None)
    if field is None:
        missing = _MISSING.search(msg)
        where = (path or "").lstrip(".")
        if missing:
            field = f"{where}.{missing.group('field')}" if where else missing.group("field")
        else:
            field = where or "$"
    return {"index": index, "field": field, "message": msg}


WHOLE_LIMIT = 2**53  # floats below this that are whole are exactly the integer they write


def whole_numbers(value: Any) -> Any:
    """JSON's 72.0 is the integer 72 (JSON Schema agrees); msgspec's int fields want 72."""
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < WHOLE_LIMIT else value
    if isinstance(value, dict):
        return {k: whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [whole_numbers(v) for v in value]
    return value


def convert_all(items: list[Any], kind: Any, check: Check | None = None) -> list[Any]:
    """Convert every item or raise one `Invalid` naming every bad one (one detail each). This
    is the slow path, after decoding from the bytes failed: whole floats count as integers."""
    out, details = convert_some(items, kind, check)
    if details:
        raise Invalid(
            f"{len(details)} of {len(items)} items are invalid; nothing was applied", details, len(items)
        )
    return out


def convert_some(
    items: list[Any], kind: Any, check: Check | None = None, first: int = 0
) -> tuple[list[Any], list[dict[str, Any]]]:
    """The items converted, and a detail for each bad one (indexes from `first`)."""
    out, details = [], []
    for i, item in enumerate(items, first):
        if not isinstance(item, dict):
            details.append({"index": i, "field": "$", "message": "expected a JSON object"})
            continue
        item = whole_numbers(item)
        try:
            value = msgspec.convert(item, kind)
        except msgspec.ValidationError as exc:
            details.append(detail(i, exc))
            continue
        bad = check(i, item, value) if check else None
        if bad:
            details.append(bad)
        out.append(value)
    return out, details


def check_aware(value: datetime | None, index: int, field: str) -> dict[str, Any] | None:
    if value is not None and value.tzinfo is None:
        return {"index": index, "field": field, "message": "timestamp needs an offset or Z"}
    return None


def check_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def epoch(value: datetime | None) -> float:
    return time.time() if value is None else value.timestamp()


def to_event(e: EventIn, accepted: float, source: str = "api") -> Event:
    fields = msgspec.structs.asdict(e)
    fields["ts"] = accepted if e.ts is None else e.ts.timestamp()
    if isinstance(e, PromiseEvent):
        fields["due_date"] = e.due_date.isoformat()
    return Event(type=type(e).__struct_config__.tag, source=source, **fields)


def check_event(i: int, _raw: dict[str, Any], ev: EventIn) -> dict[str, Any] | None:
    return check_aware(ev.ts, i, "ts")


def validate_events(items: list[Any]) -> list[EventIn]:
    return convert_all(items, EventIn, check_event)


def decode_events(
    body: bytes, content_type: str, limit: int | None = None, carriers: frozenset[str] | None = None
) -> tuple[list[EventIn], bool]:
    """`carriers`: the configured ids; an event naming another is refused (a typo would
    otherwise become a router cell and a metric label of its own, without bound)."""
    if not carriers:
        return decode_items(body, content_type, EventIn, check_event, limit)

    def check(i: int, raw: dict[str, Any], ev: EventIn) -> dict[str, Any] | None:
        if ev.carrier is not None and ev.carrier not in carriers:
            known = ", ".join(sorted(carriers))
            return {"index": i, "field": "carrier", "message": f"not a [[carriers]] id ({known})"}
        return check_event(i, raw, ev)

    return decode_items(body, content_type, EventIn, check, limit)
