"""The base rules every decision goes through: paid, dispute, promise pending, the contact
lock, opt-outs, and permitted hours. Each block names its rule and, where time lifts it,
when."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from features.account import zone


@dataclass(frozen=True, slots=True)
class Lock:
    decision_id: str
    channel: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class Promise:
    amount: float
    due_date: str  # YYYY-MM-DD, debtor's calendar
    ts: float
    paid_before: float  # the account's paid total when the promise was made


@dataclass(frozen=True, slots=True)
class Live:
    """The binding facts the API keeps per account (written atomically with the log)."""

    ver: int = 0
    lock: Lock | None = None
    # the latest expiry of the reservations a newer one superseded without an outcome: no
    # reservation may start before it, whatever order the requests' `now`s come in
    lock_floor: float = 0.0
    optouts: dict[str, float] = field(default_factory=dict)  # channel or "*" -> ts
    promise: Promise | None = None
    paid_total: float = 0.0
    paid_base: float = 0.0  # the paid total when the balance was last uploaded
    dispute_at: float | None = None
    intent: str | None = None  # the debtor's last reply intent, and when
    intent_at: float | None = None


@dataclass(frozen=True, slots=True)
class Block:
    rule: str
    until: float | None = None  # when time alone lifts it; None: only an event can


def end_of_day(day: str, timezone: str) -> float:
    d = date.fromisoformat(day) + timedelta(days=1)
    return datetime(d.year, d.month, d.day, tzinfo=zone(timezone)).timestamp()


def account_blocks(
    live: Live,
    balance: float,
    timezone: str,
    now: float,
    dispute_hold_s: float | None = None,
    lock_now: float | None = None,
) -> list[Block]:
    """Rules that hold back every channel of the account at `now`. A dispute holds every
    contact until an operator resolves it, or for `dispute_hold_s` when the operation's
    dispute rule sets a period (`[policy.dispute] hold_days`).

    The contact lock is judged at `lock_now` (default `now`; never later than the server's
    clock in wall mode): it holds while the live reservation has not expired, and before the
    expiry of any reservation it superseded (`lock_floor`), so two live reservations never
    overlap, however the requests' times are ordered."""
    blocks = []
    if balance <= 0 or live.paid_total - live.paid_base >= balance - 1e-9:
        blocks.append(Block("paid"))
    if live.dispute_at is not None and live.dispute_at <= now:
        until = None if dispute_hold_s is None else live.dispute_at + dispute_hold_s
        if until is None or now < until:
            blocks.append(Block("dispute", until))
    p = live.promise
    if p is not None and p.ts <= now and live.paid_total - p.paid_before < p.amount - 1e-9:
        until = end_of_day(p.due_date, timezone)
        if now < until:
            blocks.append(Block("promise_pending", until))
    if "*" in live.optouts:
        blocks.append(Block("optout_all"))
    at = now if lock_now is None else lock_now
    held = max(live.lock.expires_at if live.lock is not None else 0.0, live.lock_floor)
    if held > at:
        blocks.append(Block("contact_locked", held))
    return blocks


def channel_block(live: Live, channel: str) -> Block | None:
    if channel in live.optouts:
        return Block(f"optout_{channel}")
    return None


def eligible_again(blocks: list[Block]) -> float | None:
    """When every time-bound block has lifted; None if any block lifts only by an event."""
    if any(b.until is None for b in blocks):
        return None
    return max(b.until for b in blocks if b.until is not None) if blocks else None


DIGITAL_CHANNELS = ("sms", "whatsapp", "email")


def reminder_days(
    live: Live, timezone: str, now: float, reserved_since_promise: list[str]
) -> set[date] | None:
    """The days a promise reminder may be sent, when the only thing holding contact back is a
    pending promise: at most one reminder, on a digital channel, the day before or on the due
    date. `reserved_since_promise` lists the channels contacted since the promise was made."""
    p = live.promise
    if p is None or any(c in DIGITAL_CHANNELS for c in reserved_since_promise):
        return None
    due = date.fromisoformat(p.due_date)
    today = datetime.fromtimestamp(now, zone(timezone)).date()
    days = {d for d in (due - timedelta(days=1), due) if d >= today}
    return days or None
