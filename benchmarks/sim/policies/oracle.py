"""The oracle: reads the world's latent truth (who pays, when they are awake, which numbers
are stale, which carrier answers, when a carrier is down) and makes, per account and day, the
one contact with the highest expected net value, or none. A greedy upper reference, not a
proof of optimality: it plans one day at a time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from benchmarks.sim.audit import Auditor
from benchmarks.sim.catalog import Catalog
from benchmarks.sim.contact import Contact
from benchmarks.sim.dynamics import PAY_NOW, World
from benchmarks.sim.policies.base import Audited, at_local, pairs, plan_with_call_centre
from benchmarks.sim.world import CALLS

CARRIERS = ("c1", "c2", "c3")
HOURS = tuple(h + 0.25 for h in range(7, 22))


class Oracle(Audited):
    name = "oracle"

    def __init__(self, auditor: Auditor, catalog: Catalog, world: World) -> None:
        super().__init__(auditor)
        self.catalog = catalog
        self.world = world

    def value_if_engaged(self, account_id: str, channel: str, template: str | None) -> float:
        d, s = self.world.debtors[account_id], self.world.state[account_id]
        owed = self.catalog.to_base(s.balance, d.currency)
        now_share = 1.0 if d.ability > 0.5 else 0.45
        promised = (1.0 if d.ability > 0.6 else 0.6) * (0.3 + 0.6 * d.ability * s.annoy) * 0.89
        value = owed * (PAY_NOW * now_share + (1 - PAY_NOW) * promised)
        # money the debtor would have paid unprompted this week is not the contact's doing
        return self.world.pay_intent(d, s, channel, template) * value * (1 - d.self_cure) ** 7

    def p_engage(
        self,
        account_id: str,
        channel: str,
        point: str,
        hour: int,
        t: datetime,
        carrier: str | None,
        over: int,
    ) -> float:
        d = self.world.debtors[account_id]
        if channel == "email":
            return d.affinity["email"] * d.activity(hour) * 0.9**over if d.email_valid else 0.0
        phone = next((p for p in d.phones if p.id == point), None)
        if phone is None or phone.state != "ok" or self.world.outage.down(carrier, t):
            return 0.0
        if channel in CALLS:
            reach = phone.p_right * (0.3 + 0.7 * d.activity(hour)) * min(1.0, 0.2 + 1.6 * d.affinity[channel])
            return self.catalog.asr(carrier or "c1", phone.network, hour) * reach
        return d.affinity[channel] * d.activity(hour) * 0.9**over

    def best(self, doc: dict[str, Any], now: datetime, voice: bool = True) -> tuple[float, Contact] | None:
        aid = doc["account_id"]
        d, s = self.world.debtors[aid], self.world.state[aid]
        if s.closed or s.disputed or s.recent(now) >= d.tolerance:
            return None
        over = max(0, s.recent(now) + 1 - d.tolerance)
        slots = [(int(h), at_local(doc, now, h)) for h in HOURS]
        options = []
        for channel, point, _network in pairs(doc):
            if channel == "voice" and not voice:
                continue
            templates = self.catalog.templates_for(channel, s.dpd) or [None]
            template = max(templates, key=lambda tpl: self.catalog.template_effect(tpl, s.dpd))
            value = self.value_if_engaged(aid, channel, template)
            for carrier in CARRIERS if channel in ("voice", "ivr", "sms") else (None,):
                cost = self.catalog.expected_cost(channel, carrier)
                if value <= cost:
                    continue
                for hour, t in slots:
                    ev = self.p_engage(aid, channel, point, hour, t, carrier, over) * value - cost
                    if ev > 0:
                        options.append((ev, channel, point, t, template, carrier))
        options.sort(key=lambda o: -o[0])
        for ev, channel, point, t, template, carrier in options[:40]:
            c = Contact(aid, channel, point, t, template, carrier)
            if self.allowed(c):
                return ev, c
        return None

    def morning(self, day: int, now: datetime, docs: list[dict[str, Any]]) -> list[Contact]:
        live = [doc for doc in docs if doc["balance"] > 0]
        return plan_with_call_centre(live, lambda doc, voice: self.best(doc, now, voice), len(docs))
