"""Counting what happened: money, costs, contacts and outcomes per policy and day (pure)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from benchmarks.sim.catalog import Catalog
from benchmarks.sim.contact import Contact
from benchmarks.sim.dynamics import Charge

CALLS = ("voice", "ivr")


@dataclass
class Day:
    collected: float = 0.0  # base currency, every payment
    collected_after_contact: float = 0.0  # paid at once in a contact, or a promise kept
    collected_self_cure: float = 0.0
    channel_cost: float = 0.0
    carrier_cost: float = 0.0
    contacts: int = 0
    calls: int = 0
    answered: int = 0
    right_party: int = 0
    engaged: int = 0
    promises: int = 0
    optouts: int = 0
    disputes: int = 0
    revoked: int = 0  # planned contacts not sent because the engine or the rules withdrew them
    by_channel: Counter[str] = field(default_factory=Counter)

    @property
    def net(self) -> float:
        return self.collected - self.channel_cost - self.carrier_cost


class Tally:
    def __init__(self, catalog: Catalog, currency: dict[str, str], days: int) -> None:
        self.catalog = catalog
        self.currency = currency
        self.days = [Day() for _ in range(days)]
        self.carrier_hours: Counter[tuple[int, str]] = Counter()  # (hour of the run, carrier): calls
        self.carrier_failed: Counter[tuple[int, str]] = Counter()
        self.asr_chosen = 0.0  # sums of the hidden answer rates of the carriers chosen ...
        self.asr_best = 0.0  # ... and of the best carrier for the same calls
        # calls from 10 minutes into the outage to its end: [to the down carrier, all]
        self.after_outage = [0, 0]
        self.outage_start: datetime | None = None
        self.outage_end: datetime | None = None
        self.net_by_account: Counter[str] = Counter()  # payments less contact costs (experiments)

    def contact(self, day: int, hour: int, c: Contact, charge: Charge) -> None:
        d = self.days[day]
        d.contacts += 1
        d.by_channel[c.channel] += 1
        d.channel_cost += charge.channel_cost
        d.carrier_cost += charge.carrier_cost
        self.net_by_account[c.account_id] -= charge.channel_cost + charge.carrier_cost
        d.engaged += charge.engaged
        if c.channel in CALLS:
            d.calls += 1
            d.answered += charge.call_answered
            d.right_party += charge.right_party
            if c.carrier:
                self.carrier_hours[(hour, c.carrier)] += 1

    def route(self, t: datetime, truth: Any) -> None:
        self.asr_chosen += truth.chosen
        self.asr_best += truth.best
        start = self.outage_start
        end = self.outage_end
        if start is not None and end is not None and start + timedelta(minutes=10) <= t < end:
            self.after_outage[0] += truth.down
            self.after_outage[1] += 1

    def event(self, day: int, hour: int, ev: dict[str, Any]) -> None:
        d = self.days[day]
        kind = ev["type"]
        if kind == "payment":
            money = self.catalog.to_base(ev["amount"], self.currency[ev["account_id"]])
            d.collected += money
            self.net_by_account[ev["account_id"]] += money
            if ev.get("_cause") == "self_cure":
                d.collected_self_cure += money
            else:
                d.collected_after_contact += money
        elif kind == "promise":
            d.promises += 1
        elif kind == "optout":
            d.optouts += 1
        elif kind == "dispute":
            d.disputes += 1
        elif kind == "call" and ev.get("sip_code") == 503 and ev.get("carrier"):
            self.carrier_failed[(hour, ev["carrier"])] += 1

    def summary(self, accounts: int, portfolio: float) -> dict[str, Any]:
        total = Day()
        for d in self.days:
            for k in fields(Day):
                if k.name == "by_channel":
                    total.by_channel.update(d.by_channel)
                else:
                    setattr(total, k.name, getattr(total, k.name) + getattr(d, k.name))
        return {
            "collected": round(total.collected, 2),
            "collected_after_contact": round(total.collected_after_contact, 2),
            "collected_self_cure": round(total.collected_self_cure, 2),
            "recovery_rate": total.collected / portfolio if portfolio else 0.0,
            "channel_cost": round(total.channel_cost, 2),
            "carrier_cost": round(total.carrier_cost, 2),
            "net": round(total.net, 2),
            "contacts": total.contacts,
            "contacts_per_account": total.contacts / accounts,
            "by_channel": dict(total.by_channel),
            "calls": total.calls,
            "asr": total.answered / total.calls if total.calls else None,
            "right_party_rate": total.right_party / total.calls if total.calls else None,
            "engagement_rate": total.engaged / total.contacts if total.contacts else None,
            "promises": total.promises,
            "optouts": total.optouts,
            "disputes": total.disputes,
            "revoked": total.revoked,
            # routing: the hidden answer rate of the carriers chosen against the best carrier's
            # for the same calls (1.0 = always the best), and the share of calls still sent to
            # the failing carrier from 10 minutes into its outage to its end
            "asr_vs_best": self.asr_chosen / self.asr_best if self.asr_best else None,
            "outage_share_after_10min": (
                self.after_outage[0] / self.after_outage[1] if self.after_outage[1] else None
            ),
            "per_day": [
                {
                    "day": i + 1,
                    "collected": round(d.collected, 2),
                    "cost": round(d.channel_cost + d.carrier_cost, 2),
                    "net": round(d.net, 2),
                    "contacts": d.contacts,
                    "engaged": d.engaged,
                    "promises": d.promises,
                    "optouts": d.optouts,
                    "calls": d.calls,
                    "answered": d.answered,
                    "right_party": d.right_party,
                }
                for i, d in enumerate(self.days)
            ],
        }
