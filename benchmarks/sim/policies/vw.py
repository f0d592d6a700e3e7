"""The peer a machine-learning engineer would reach for: Vowpal Wabbit contextual bandits
(`--cb_explore_adf`), from the same observables, learning from the same outcomes.

Per account and morning one choice among actions (channel × consented contact point × hour
band × eligible template) and `wait`; the carrier of a call or SMS by a second bandit over
(network, hour band). Hours are bands (09, 13, 19 local) rather than every hour, and carrier
apart from the rest, to keep the action set near thirty: the full product (×15 hours × 3
carriers) is over a thousand actions per debtor, more than a month of outcomes can teach.
Reward = money paid within the attribution window after the contact (base currency) minus the
contact's cost; `wait` earns 0. Examples are learnt when their window closes (delayed feedback).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from vowpalwabbit import Workspace

from benchmarks.sim.audit import Auditor
from benchmarks.sim.catalog import Catalog, dpd_bucket
from benchmarks.sim.contact import Contact
from benchmarks.sim.policies.base import Audited, History, agent_calls_per_day, at_local, pairs

HOURS = (9, 13, 19)
CARRIERS = ("c1", "c2", "c3")
SCALE = 1000.0  # MXN per unit of VW cost


def _tok(x: object) -> str:
    return str(x).replace(" ", "_").replace(":", "_").replace("|", "_")


class VW(Audited):
    name = "vw"

    def __init__(self, auditor: Auditor, catalog: Catalog, seed: int, attribution_hours: int = 72) -> None:
        super().__init__(auditor)
        self.catalog = catalog
        self.rng = random.Random(seed * 31 + 5)
        self.window = timedelta(hours=attribution_hours)
        args = f"--cb_explore_adf --epsilon 0.05 -q sa --quiet --random_seed {seed}"
        self.contact_model = Workspace(args)
        self.carrier_model = Workspace(
            f"--cb_explore_adf --epsilon 0.05 -q sa --quiet --random_seed {seed + 1}"
        )
        self.history = History()
        self.pending: list[tuple[datetime, str, list[str], int, float, float]] = []
        self.payments: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
        self.currency: dict[str, str] = {}
        self.carrier_pending: dict[str, tuple[list[str], int, float]] = {}
        self.now = datetime.min

    def _shared(self, doc: dict[str, Any]) -> str:
        seen = self.history.seen[doc["account_id"]]
        bal = math.log1p(self.catalog.to_base(doc["balance"], doc["currency"]))
        hist = " ".join(
            f"{ch}_a:{seen.attempts[ch]:.0f} {ch}_r:{seen.responses[ch] / (1 + seen.attempts[ch]):.3f}"
            for ch in ("voice", "ivr", "sms", "whatsapp", "email")
        )
        hours = " ".join(f"rh{h // 4}" for h in seen.response_hours[-5:])
        attrs = doc.get("attributes", {})
        return (
            f"shared |s c={doc['country']} d={dpd_bucket(doc['days_past_due'])} bal:{bal:.2f} "
            f"risk={attrs.get('risk_score', 0) // 50} seg={attrs.get('segment', '')} p:{seen.promises} "
            f"pay:{seen.payments} {hours} |h {hist}"
        )

    def _action(self, channel: str, point: str, kind: str, hour: int, template: str | None, bad: int) -> str:
        return f"|a ch={channel} pt={kind} h={hour} t={_tok(template)} bad:{bad} ch_h={channel}{hour}"

    def morning(self, day: int, now: datetime, docs: list[dict[str, Any]]) -> list[Contact]:
        self.now = now
        out = []
        agents = agent_calls_per_day(len(docs))
        for doc in docs:
            aid = doc["account_id"]
            self.currency[aid] = doc["currency"]
            self.history.tz.setdefault(aid, at_local(doc, now, 0).tzinfo)  # type: ignore[arg-type]
            if doc["balance"] <= 0:
                continue
            kinds = {p["id"]: p["type"] for p in doc["contact_points"]}
            seen = self.history.seen[aid]
            actions: list[tuple[str, str, int, str | None] | None] = [None]
            lines = [self._shared(doc), "|a wait"]
            for channel, point, _net in pairs(doc):
                if channel == "voice" and agents <= 0:  # the call centre is busy for the day
                    continue
                templates = self.catalog.templates_for(channel, doc["days_past_due"]) or [None]
                for hour in HOURS:
                    t = at_local(doc, now, hour)
                    if self.auditor.check(aid, channel, point, t):
                        continue
                    for template in templates:
                        actions.append((channel, point, hour, template))
                        lines.append(
                            self._action(channel, point, kinds[point], hour, template, seen.point_bad[point])
                        )
            if len(actions) == 1:
                continue
            pmf = self.contact_model.predict(lines)
            i = self.rng.choices(range(len(pmf)), weights=pmf)[0]
            chosen = actions[i]
            if chosen is None:
                self.pending.append((now, aid, lines, i, pmf[i], 0.0))
                continue
            channel, point, hour, template = chosen
            agents -= channel == "voice"
            net = next((p.get("network") for p in doc["contact_points"] if p["id"] == point), None)
            carrier = self._carrier(aid, channel, net, hour)
            c = Contact(aid, channel, point, at_local(doc, now, hour), template, carrier)
            cost = self.catalog.expected_cost(channel, carrier)
            c.note = len(self.pending)
            self.pending.append((c.send_at, aid, lines, i, pmf[i], cost))
            out.append(c)
        return out

    def _carrier(self, aid: str, channel: str, network: str | None, hour: int) -> str | None:
        if channel not in ("voice", "ivr", "sms"):
            return None
        lines = [f"shared |s n={_tok(network)} h={hour} ch={channel}"] + [f"|a c={c}" for c in CARRIERS]
        pmf = self.carrier_model.predict(lines)
        i = self.rng.choices(range(len(pmf)), weights=pmf)[0]
        self.carrier_pending[f"{aid}|{channel}"] = (lines, i, pmf[i])
        return CARRIERS[i]

    def confirm(self, c: Contact, now: datetime, unposted: list[dict[str, Any]], touched: bool) -> bool:
        if not self.allowed(c):
            if c.note is not None:  # not sent: learn nothing from it
                self.pending[c.note] = (c.send_at, c.account_id, [], 0, 1.0, 0.0)
            return False
        self.history.sent(c)
        waiting = self.carrier_pending.pop(f"{c.account_id}|{c.channel}", None)
        if waiting is not None and c.decision_id:
            self.carrier_pending[c.decision_id] = waiting
        return True

    def observe(self, events: list[dict[str, Any]]) -> None:
        for ev in events:
            self.history.observe(ev)
            if ev["type"] == "payment":
                money = self.catalog.to_base(ev["amount"], self.currency[ev["account_id"]])
                self.payments[ev["account_id"]].append((datetime.fromisoformat(ev["ts"]), money))
            key = ev.get("decision_id")
            if key in self.carrier_pending and ev["type"] in ("call", "message"):
                ok = ev.get("status") in ("answered", "delivered")
                final = ev["type"] == "call" or ev.get("status") in ("delivered", "failed", "undelivered")
                if final:
                    lines, i, p = self.carrier_pending.pop(key)
                    lines = list(lines)
                    lines[i + 1] = f"0:{0.0 if ok else 1.0}:{p} {lines[i + 1]}"
                    self.carrier_model.learn(lines)

    def end_day(self, day: int) -> None:
        horizon = self.now + timedelta(days=1)
        keep = []
        for entry in self.pending:
            sent, aid, lines, i, p, cost = entry
            if not lines:
                continue
            if sent + self.window > horizon:
                keep.append(entry)
                continue
            paid = sum(m for t, m in self.payments[aid] if sent <= t < sent + self.window)
            reward = paid - cost if i else 0.0
            label = max(-5.0, min(1.0, -reward / SCALE))
            lines = list(lines)
            lines[i + 1] = f"0:{label}:{p} {lines[i + 1]}"
            self.contact_model.learn(lines)
        self.pending = keep

    def close(self) -> None:
        self.contact_model.finish()
        self.carrier_model.finish()
