"""What every policy does, and the helpers the baselines share.

The driver calls, per simulated day: `morning` (the portfolio as uploaded that morning; answer
the day's planned contacts), `step` at every step of the clock (a dialer pulling leads: contacts
sent within [now, end)), `confirm` just before a planned contact is sent, `observe` with each
step's events in time order, and `end_day`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from benchmarks.sim.audit import Auditor
from benchmarks.sim.contact import Contact

CALLS = ("voice", "ivr")
BINDING = frozenset({"promise", "payment", "optout", "dispute"})
AGENT_CALL_SHARE = 0.08  # agent calls a day, as a share of the portfolio: the call centre's size


def agent_calls_per_day(accounts: int) -> int:
    """Every policy has the same call centre: this many agent (`voice`) calls a day."""
    return int(AGENT_CALL_SHARE * accounts)


Best = Callable[[dict[str, Any], bool], "tuple[float, Contact] | None"]  # (doc, voice) -> (value, contact)


def plan_with_call_centre(live: list[dict[str, Any]], best: Best, accounts: int) -> list[Contact]:
    """Each account's best contact; the call centre's agent calls go to the accounts where a
    call is worth most, and the others get their best contact without one."""
    docs = {doc["account_id"]: doc for doc in live}
    first = {aid: b for aid, doc in docs.items() if (b := best(doc, True)) is not None}
    calls = sorted((b for b in first.values() if b[1].channel == "voice"), key=lambda b: -b[0])
    keep = {b[1].account_id for b in calls[: agent_calls_per_day(accounts)]}
    out = []
    for aid, (_ev, c) in first.items():
        if c.channel != "voice" or aid in keep:
            out.append(c)
        elif (other := best(docs[aid], False)) is not None:
            out.append(other[1])
    return out


class Policy(ABC):
    name = "policy"

    @abstractmethod
    def morning(self, day: int, now: datetime, docs: list[dict[str, Any]]) -> list[Contact]:
        """The day's planned contacts, given the portfolio as uploaded this morning."""

    def step(self, now: datetime, end: datetime) -> list[Contact]:
        return []

    def confirm(self, c: Contact, now: datetime, unposted: list[dict[str, Any]], touched: bool) -> bool:
        """Still send `c`? `touched`: a promise, payment, opt-out or dispute arrived for the
        account since this morning's plan; `unposted` holds this hour's events so far (a policy
        that must tell its engine first posts them and empties the list)."""
        return True

    def observe(self, events: list[dict[str, Any]]) -> None:  # noqa: B027 - an optional hook
        pass

    def end_day(self, day: int) -> None:  # noqa: B027 - an optional hook
        pass

    def close(self) -> None:  # noqa: B027 - an optional hook
        pass


class Audited(Policy):
    """A baseline that keeps the rules by asking the auditor, at planning and at send time."""

    def __init__(self, auditor: Auditor) -> None:
        self.auditor = auditor

    def allowed(self, c: Contact) -> bool:
        return not self.auditor.check(c.account_id, c.channel, c.point_id, c.send_at)

    def confirm(self, c: Contact, now: datetime, unposted: list[dict[str, Any]], touched: bool) -> bool:
        return self.allowed(c)


def at_local(doc: dict[str, Any], now: datetime, hour: float) -> datetime:
    """The instant the account's local clock reads `hour` on the local day of `now`."""
    tz = ZoneInfo(doc["timezone"])
    day = now.astimezone(tz).date()
    return datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(hours=hour)


def pairs(doc: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """Every (channel, contact point id, network) the debtor consented to."""
    return [(ch, p["id"], p.get("network")) for p in doc["contact_points"] for ch in p["channels"]]


@dataclass
class Seen:
    """What the operation has observed of one account from its own contacts and the events."""

    attempts: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    responses: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    point_bad: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    response_hours: list[int] = field(default_factory=list)
    promises: int = 0
    payments: int = 0


class History:
    """Observable history per account, fed by events (no latent trait)."""

    def __init__(self) -> None:
        self.seen: dict[str, Seen] = defaultdict(Seen)
        self.tz: dict[str, ZoneInfo] = {}

    def sent(self, c: Contact) -> None:
        self.seen[c.account_id].attempts[c.channel] += 1

    def observe(self, ev: dict[str, Any]) -> None:
        s = self.seen[ev["account_id"]]
        kind, ch = ev["type"], ev.get("channel")
        responded = (kind == "message" and ev.get("status") == "read") or (
            kind == "call" and ev.get("party") == "right_party"
        )
        if responded and ch:
            s.responses[ch] += 1
            tz = self.tz.get(ev["account_id"])
            if tz is not None:
                s.response_hours.append(datetime.fromisoformat(ev["ts"]).astimezone(tz).hour)
        if (kind == "call" and (ev.get("sip_code") == 404 or ev.get("party") == "third_party")) or (
            kind == "message" and ev.get("status") == "undelivered"
        ):
            s.point_bad[ev.get("contact_point_id", "")] += 1
        if kind == "promise":
            s.promises += 1
        if kind == "payment":
            s.payments += 1
