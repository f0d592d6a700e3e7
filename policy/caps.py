"""Frequency rules: how often an account may be contacted, per country and per the operation.

`cap_block` judges one candidate contact (channel, contact point, send time) against the
account's recent reserved contacts and its conversation history, and names the rule that
forbids it with the time it lifts. All calendar rules use the debtor's local time.

Rules (country packs by the account's `country`; caps from `[policy.caps]` everywhere):
- US, Regulation F: `us_calls_7_in_7`, at most 7 call attempts (voice, ivr) in any 7 consecutive
  days (the windows after a candidate's day too: a call reserved for later counts);
  `us_after_conversation`, no call for 7 days after a conversation (its day is day 1).
- CO, Ley 2300: `co_one_a_day`, one contact a calendar day; `co_direct_contact_week`, after a
  direct contact (right-party call or reply) in a calendar week, no other channel that week.
- CL, Ley 21.320: `cl_call_week`, one call a week; `cl_digital_week`, two digital contacts a week;
  `cl_digital_spacing`, digital contacts at least two days apart.
- any: `cap_day`, `cap_week` (contacts per account a day, in any rolling 168 hours) and
  `cap_number_day` (attempts per number a day).

Every rule counts the account's reserved contacts on both sides of the candidate's time, so
the order in which decisions are asked for (their `now`s) never lets a window hold more.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from features.account import zone
from policy.base import Block

CALLS = frozenset({"voice", "ivr"})
DIGITAL = frozenset({"sms", "whatsapp", "email"})
WEEK_S = 7 * 86400.0  # the operation's rolling week: 168 hours
COUNTRY_RULES = frozenset({"US", "CO", "CL"})  # countries with frequency rules of their own


@dataclass(frozen=True, slots=True)
class Reserved:
    """A contact the account already has: reserved by a decision, at its send time."""

    ts: float
    channel: str
    point: str


@dataclass(frozen=True, slots=True)
class History:
    contacts: tuple[Reserved, ...] = ()
    conversation_at: float | None = None  # last right-party call
    direct_at: float | None = None  # last direct contact (right-party call or reply)
    direct_channel: str | None = None


@dataclass(frozen=True, slots=True)
class Caps:
    """The operation's own caps (`[policy.caps]`); 0 means no cap. A country's own table
    (`[policy.caps.MX]`) replaces them for that country's accounts. Caps add to the law's
    rules above; no configuration loosens those."""

    contacts_per_day: int = 0  # contacts an account may get in a local day, every channel
    contacts_per_week: int = 0  # ... in a local week (Monday to Sunday)
    attempts_per_number_per_day: int = 0  # attempts on one number in a local day
    by_country: Mapping[str, Caps] = field(default_factory=dict)

    def any(self) -> bool:
        return bool(self.contacts_per_day or self.contacts_per_week or self.attempts_per_number_per_day)

    def for_country(self, country: str) -> Caps:
        return self.by_country.get(country, self)

    @classmethod
    def from_config(cls, spec: Mapping[str, Any] | None) -> Caps:
        spec = dict(spec or {})
        countries = {k: cls(**v) for k, v in spec.items() if isinstance(v, Mapping)}
        return cls(**{k: v for k, v in spec.items() if k not in countries}, by_country=countries)


def _local(ts: float, timezone: str) -> datetime:
    return datetime.fromtimestamp(ts, zone(timezone))


# A decision checks the rules on many cells of one grid: the same few slot times, days and
# contacts again and again (a capped account's wait checks every cell). These are pure, so
# they are cached; the history's local days once per (history, zone), not once per cell.
@functools.lru_cache(maxsize=4096)
def _local_date(ts: float, timezone: str) -> date:
    return datetime.fromtimestamp(ts, zone(timezone)).date()


@functools.lru_cache(maxsize=4096)
def _day_start(day: date, timezone: str) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=zone(timezone)).timestamp()


@functools.lru_cache(maxsize=1024)
def _contact_days(contacts: tuple[Reserved, ...], timezone: str) -> tuple[tuple[Reserved, date, date], ...]:
    """Each contact with its local day and the Monday of its week."""
    out = []
    for c in contacts:
        day = _local_date(c.ts, timezone)
        out.append((c, day, _week_start(day)))
    return tuple(out)


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())  # calendar weeks start on Monday


def cap_block(
    country: str,
    caps: Caps,
    history: History,
    channel: str,
    point: str,
    t: float,
    timezone: str,
) -> Block | None:
    """The first rule that forbids this contact at `t`, or None."""
    caps = caps.for_country(country)
    no_rule_applies = country not in COUNTRY_RULES and not caps.any()
    no_history = not history.contacts and history.conversation_at is None and history.direct_at is None
    if no_rule_applies or no_history:
        return None
    day = _local_date(t, timezone)
    dated = _contact_days(history.contacts, timezone)
    same_day = [c for c, d, _w in dated if d == day]
    next_day = _day_start(day + timedelta(days=1), timezone)
    week = _week_start(day)
    next_week = _day_start(week + timedelta(days=7), timezone)
    same_week = [c for c, _d, w in dated if w == week]

    if country == "US" and channel in CALLS:
        # any seven consecutive calendar days in the debtor's time zone that hold the call's day,
        # the days after it included: a call already reserved for later counts as much
        calls = sorted(d for c, d, _w in dated if c.channel in CALLS and abs((d - day).days) <= 6)
        before = [d for d in calls if d <= day]
        if len(before) >= 7:
            return Block("us_calls_7_in_7", _day_start(before[-7] + timedelta(days=7), timezone))
        for offset in range(1, 7):
            first = day - timedelta(days=6 - offset)
            if sum(1 for d in calls if first <= d <= first + timedelta(days=6)) >= 7:
                return Block("us_calls_7_in_7", _day_start(calls[-1] + timedelta(days=7), timezone))
        if history.conversation_at is not None and history.conversation_at <= t:
            talked = _local(history.conversation_at, timezone).date()
            if day < talked + timedelta(days=7):
                return Block("us_after_conversation", _day_start(talked + timedelta(days=7), timezone))
    if country == "CO":
        if same_day:
            return Block("co_one_a_day", next_day)
        if (
            history.direct_at is not None
            and history.direct_at <= t
            and history.direct_channel != channel
            and _week_start(_local(history.direct_at, timezone).date()) == week
        ):
            return Block("co_direct_contact_week", next_week)
    if country == "CL":
        if channel in CALLS and any(c.channel in CALLS for c in same_week):
            return Block("cl_call_week", next_week)
        if channel in DIGITAL:
            digital = [c.ts for c in same_week if c.channel in DIGITAL]
            if len(digital) >= 2:
                return Block("cl_digital_week", next_week)
            near = [c.ts for c in history.contacts if c.channel in DIGITAL and abs(t - c.ts) < 2 * 86400]
            if near:
                return Block("cl_digital_spacing", max(near) + 2 * 86400)
    if caps.contacts_per_day and len(same_day) >= caps.contacts_per_day:
        return Block("cap_day", next_day)
    if caps.contacts_per_week:
        until = rolling_week([c.ts for c in history.contacts], t, caps.contacts_per_week)
        if until is not None:
            return Block("cap_week", until)
    if caps.attempts_per_number_per_day and (
        sum(1 for c in same_day if c.point == point) >= caps.attempts_per_number_per_day
    ):
        return Block("cap_number_day", next_day)
    return None


def rolling_week(times: Sequence[float], t: float, cap: int) -> float | None:
    """When a contact at `t` would put more than `cap` contacts in some rolling 168 hours
    that hold it, the time that rule lifts; None when it may go. The weeks ending after `t`
    count too: a contact reserved for later weighs as much as one already made."""
    near = sorted(x for x in times if t - WEEK_S < x < t + WEEK_S)
    recent = [x for x in near if x <= t]
    if len(recent) >= cap:
        return recent[-cap] + WEEK_S
    for end in (x for x in near if x > t):
        if sum(1 for x in near if end - WEEK_S < x <= end) >= cap:
            return near[-1] + WEEK_S
    return None


def parse_contacts(members: Sequence[tuple[bytes, float]]) -> tuple[Reserved, ...]:
    """Reserved contacts from the account's contacts set (member `decision|channel|point`)."""
    out = []
    for member, score in members:
        _decision, channel, point = member.decode().split("|", 2)
        out.append(Reserved(float(score), channel, point))
    return tuple(out)
