"""An independent auditor of the contact rules (issue 5's table), the test oracle for the engine.

It deliberately shares no code with `policy/` or `engine/`: it reads the rules from the table
again and replays what actually happened (uploads, every event, every contact at its real send
time) in time order. All calendar rules in the debtor's local time.

Readings of the table where it leaves room (documented so a disagreement can be judged):
- a "week" for CO and CL is the calendar week, Monday to Sunday; CL's "2 days apart" is 48 hours;
- US "7 calls in 7 consecutive days": with this call, at most 7 calls on the local days d-6..d;
  "none for 7 days after a conversation": no call on the conversation's local day + 0..6;
- PE's window and holidays bind calls (the table's row names calls); CO's bind every channel;
- STOP, UNSUBSCRIBE, END, QUIT, CANCEL replies opt out of their channel, everywhere;
- a promise is pending from its event until the end of its due date (local) unless the promised
  amount was paid since; one digital reminder is allowed on the due date or the day before;
- a contact is live from its send time until an outcome ends it (a final message status, any
  call result, a reply, or any promise, payment, opt-out or dispute on the account) or
  `reservation_minutes` pass; a contact sent while another is live breaks the one-lock rule.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import holidays

CALLS = frozenset({"voice", "ivr"})
DIGITAL = frozenset({"sms", "whatsapp", "email"})
OPTOUT_WORDS = frozenset({"STOP", "UNSUBSCRIBE", "END", "QUIT", "CANCEL"})
FINAL_MESSAGE = frozenset({"read", "failed", "undelivered"})
ENDS_EVERY_CONTACT = frozenset({"promise", "payment", "optout", "dispute"})


# (start hour, end hour) per ISO weekday (1 = Monday); a missing day allows nothing.
def _days(start: int, end: int, days: range) -> dict[int, tuple[int, int]]:
    return {d: (start, end) for d in days}


WINDOWS: dict[str, dict[int, tuple[int, int]]] = {
    "US": _days(8, 21, range(1, 8)),
    "MX": _days(7, 22, range(1, 8)),
    "CO": {**_days(7, 19, range(1, 6)), 6: (8, 15)},
    "CL": _days(8, 20, range(1, 7)),
    "PE": _days(7, 20, range(1, 6)),  # calls only
}
HOLIDAY_COUNTRIES = frozenset({"CO", "PE"})


@lru_cache(maxsize=64)
def _holidays(country: str, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, years=year))


def parse_ts(value: str | datetime) -> datetime:
    t = value if isinstance(value, datetime) else datetime.fromisoformat(value.replace("Z", "+00:00"))
    if t.tzinfo is None:
        raise ValueError(f"timestamp without offset: {value!r}")
    return t


@dataclass
class _Sent:
    t: datetime
    channel: str
    point: str
    decision_id: str | None
    live_until: datetime


@dataclass
class _Account:
    country: str
    tz: ZoneInfo
    consent: dict[str, frozenset[str]]
    balance: float = 0.0
    paid_since_upload: float = 0.0
    optouts: set[str] = field(default_factory=set)
    disputed: bool = False
    promise: tuple[float, date, datetime] | None = None  # amount, due date, made at
    paid_since_promise: float = 0.0
    sent: list[_Sent] = field(default_factory=list)
    conversations: list[datetime] = field(default_factory=list)
    direct: list[tuple[datetime, str]] = field(default_factory=list)
    optout_replies: set[datetime] = field(default_factory=set)  # direct contacts that were opt-outs


def _week(d: date) -> date:
    return d - timedelta(days=d.weekday())


class Auditor:
    def __init__(self, caps: dict[str, int] | None = None, reservation_minutes: int = 120) -> None:
        self.caps = caps or {}
        self.reservation = timedelta(minutes=reservation_minutes)
        self.accounts: dict[str, _Account] = {}
        self.violations: Counter[str] = Counter()
        self.violations_by_day: dict[int, Counter[str]] = defaultdict(Counter)
        self.examples: list[dict[str, Any]] = []
        self.notes: Counter[str] = Counter()  # which reading of a rule a violation depends on

    # --- what happened --------------------------------------------------------------------

    def upload(self, doc: dict[str, Any]) -> None:
        """An account document as uploaded (`PUT /v1/accounts`); its balance is what is owed now."""
        a = self.accounts.get(doc["account_id"])
        consent = {p["id"]: frozenset(p.get("channels", ())) for p in doc["contact_points"]}
        if a is None:
            a = self.accounts[doc["account_id"]] = _Account(
                doc["country"], ZoneInfo(doc["timezone"]), consent
            )
        a.country, a.tz, a.consent = doc["country"], ZoneInfo(doc["timezone"]), consent
        a.balance = float(doc["balance"])
        a.paid_since_upload = 0.0

    def observe(self, ev: dict[str, Any]) -> None:
        a = self.accounts[ev["account_id"]]
        t = parse_ts(ev["ts"])
        kind = ev["type"]
        if kind == "payment":
            a.paid_since_upload += ev["amount"]
            a.paid_since_promise += ev["amount"]
        elif kind == "promise":
            a.promise = (ev["amount"], date.fromisoformat(ev["due_date"]), t)
            a.paid_since_promise = 0.0
        elif kind == "optout":
            a.optouts.add(ev.get("channel") or "*")
        elif kind == "dispute":
            a.disputed = True
        elif kind == "reply":
            text = (ev.get("text") or "").strip().strip(".!").upper()
            if (text in OPTOUT_WORDS or ev.get("intent") == "optout") and ev.get("channel"):
                a.optouts.add(ev["channel"])
                a.optout_replies.add(t)
            if ev.get("channel"):
                a.direct.append((t, ev["channel"]))
        elif kind == "call" and ev.get("status") == "answered" and ev.get("party") == "right_party":
            a.conversations.append(t)
            a.direct.append((t, ev.get("channel") or "voice"))
        self._end_live(a, ev, t)

    def _end_live(self, a: _Account, ev: dict[str, Any], t: datetime) -> None:
        kind = ev["type"]
        ends_all = kind in ENDS_EVERY_CONTACT
        final = (kind == "message" and ev.get("status") in FINAL_MESSAGE) or kind in ("call", "reply")
        for s in a.sent[-3:]:
            if s.live_until > t and (
                ends_all or (final and s.decision_id and s.decision_id == ev.get("decision_id"))
            ):
                s.live_until = t

    # --- the rules --------------------------------------------------------------------------

    def check(self, account_id: str, channel: str, point: str, t: datetime) -> list[str]:
        """The rules a contact at `t` would break (empty: allowed). No side effects."""
        a = self.accounts[account_id]
        local = t.astimezone(a.tz)
        day = local.date()
        broken = []
        if channel not in a.consent.get(point, frozenset()):
            broken.append("consent")
        if a.balance - a.paid_since_upload <= 0.005:
            broken.append("paid")
        if "*" in a.optouts or channel in a.optouts:
            broken.append("optout")
        if a.disputed:
            broken.append("dispute")
        if a.promise is not None:
            amount, due, made = a.promise
            end = datetime.combine(due + timedelta(days=1), datetime.min.time(), a.tz)
            if made <= t < end and a.paid_since_promise < amount - 0.005:
                reminder_ok = (
                    channel in DIGITAL
                    and day in (due - timedelta(days=1), due)
                    and not any(s.channel in DIGITAL and s.t >= made for s in a.sent)
                )
                if not reminder_ok:
                    broken.append("promise_pending")
        if any(s.live_until > t for s in a.sent[-3:]):
            broken.append("one_reservation")
        broken += self._window(a, channel, local)
        broken += self._frequency(a, channel, point, t, day)
        return broken

    def _window(self, a: _Account, channel: str, local: datetime) -> list[str]:
        if a.country == "PE" and channel not in CALLS:
            return []
        out = []
        span = WINDOWS.get(a.country, _days(8, 21, range(1, 8))).get(local.isoweekday())
        minute = local.hour * 60 + local.minute + local.second / 60
        if span is None or not (span[0] * 60 <= minute < span[1] * 60):
            out.append("window")
        if a.country in HOLIDAY_COUNTRIES and local.date() in _holidays(a.country, local.year):
            out.append("holiday")
        return out

    def _frequency(self, a: _Account, channel: str, point: str, t: datetime, day: date) -> list[str]:
        out = []
        before = [s for s in a.sent if s.t <= t]
        days = [(s, s.t.astimezone(a.tz).date()) for s in before if s.t > t - timedelta(days=9)]
        if a.country == "US" and channel in CALLS:
            calls = sum(1 for s, d in days if s.channel in CALLS and day - timedelta(days=6) <= d <= day)
            if calls >= 7:
                out.append("us_calls_7_in_7")
            if any(c <= t and day < c.astimezone(a.tz).date() + timedelta(days=7) for c in a.conversations):
                out.append("us_after_conversation")
        if a.country == "CO":
            if any(d == day for _s, d in days):
                out.append("co_one_a_day")
            week = _week(day)
            if self._directs(a, channel, t, week):
                out.append("co_direct_contact_week")
        if a.country == "CL":
            week = _week(day)
            same_week = [s for s, d in days if _week(d) == week]
            if channel in CALLS and any(s.channel in CALLS for s in same_week):
                out.append("cl_call_week")
            if channel in DIGITAL:
                if sum(1 for s in same_week if s.channel in DIGITAL) >= 2:
                    out.append("cl_digital_week")
                if any(s.channel in DIGITAL and t - s.t < timedelta(hours=48) for s, _d in days):
                    out.append("cl_digital_spacing")
        per_day = self.caps.get("contacts_per_day", 0)
        if per_day and sum(1 for _s, d in days if d == day) >= per_day:
            out.append("cap_day")
        per_week = self.caps.get("contacts_per_week", 0)
        if per_week and sum(1 for s, _d in days if s.t > t - timedelta(days=7)) >= per_week:
            out.append("cap_week")
        per_number = self.caps.get("attempts_per_number_per_day", 0)
        if per_number and sum(1 for s, d in days if d == day and s.point == point) >= per_number:
            out.append("cap_number_day")
        return out

    @staticmethod
    def _directs(a: _Account, channel: str, t: datetime, week: date) -> list[datetime]:
        """Direct contacts (right-party calls, replies) in `week` before `t` on another channel."""
        return [
            dt
            for dt, ch in a.direct
            if dt <= t and ch != channel and _week(dt.astimezone(a.tz).date()) == week
        ]

    def record(
        self,
        account_id: str,
        channel: str,
        point: str,
        t: datetime,
        decision_id: str | None,
        day: int = 0,
        who: str = "",
    ) -> list[str]:
        """A contact that was actually made at `t`: audit it, count what it broke, remember it."""
        broken = self.check(account_id, channel, point, t)
        for rule in broken:
            self.violations[rule] += 1
            self.violations_by_day[day][rule] += 1
        a = self.accounts[account_id]
        if "co_direct_contact_week" in broken:
            directs = self._directs(a, channel, t, _week(t.astimezone(a.tz).date()))
            if all(dt in a.optout_replies for dt in directs):
                self.notes["co_direct_contact_week after an opt-out reply only"] += 1
        if broken and len(self.examples) < 20:
            self.examples.append(
                {
                    "account_id": account_id,
                    "channel": channel,
                    "point": point,
                    "t": t.isoformat(),
                    "decision_id": decision_id,
                    "rules": broken,
                    "who": who,
                    "country": a.country,
                    "recent_contacts": [(s.t.isoformat(), s.channel, s.point) for s in a.sent[-6:]],
                    "direct_contacts": [(d.isoformat(), ch) for d, ch in a.direct[-4:]],
                    "conversations": [c.isoformat() for c in a.conversations[-3:]],
                }
            )
        a.sent.append(_Sent(t, channel, point, decision_id, t + self.reservation))
        return broken
