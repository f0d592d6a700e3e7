"""The fixed schedule operations run today ("parrilla fija"): an SMS every morning, an e-mail
and a WhatsApp every few days, agent calls in balance order on the first number, carriers in
round robin. The rules are kept by asking the auditor."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from benchmarks.sim.audit import Auditor
from benchmarks.sim.catalog import Catalog
from benchmarks.sim.contact import Contact
from benchmarks.sim.policies.base import AGENT_CALL_SHARE, Audited, at_local

CARRIERS = ("c1", "c2", "c3")
CALL_SHARE = AGENT_CALL_SHARE


def first_point(doc: dict[str, Any], channel: str) -> str | None:
    return next((p["id"] for p in doc["contact_points"] if channel in p["channels"]), None)


class Static(Audited):
    name = "static"

    def __init__(
        self,
        auditor: Auditor,
        catalog: Catalog,
        call_share: float = CALL_SHARE,
        every: int = 3,
        lcr: bool = False,
    ) -> None:
        super().__init__(auditor)
        self.catalog = catalog
        self.call_share = call_share
        self.every = every
        self.lcr = lcr
        self.turn = 0

    def _carrier(self, channel: str) -> str | None:
        """Round robin; with `lcr`, what a SIP proxy's least-cost table does: the cheapest."""
        if channel not in ("voice", "ivr", "sms"):
            return None
        if self.lcr:
            return min(CARRIERS, key=lambda c: self.catalog.expected_cost(channel, c))
        self.turn += 1
        return CARRIERS[self.turn % len(CARRIERS)]

    def _contact(self, doc: dict[str, Any], now: datetime, channel: str, hour: float) -> Contact | None:
        point = first_point(doc, channel)
        if point is None:
            return None
        templates = self.catalog.templates_for(channel, doc["days_past_due"])
        c = Contact(
            doc["account_id"],
            channel,
            point,
            at_local(doc, now, hour),
            templates[0] if templates else None,
            self._carrier(channel),
        )
        return c if self.allowed(c) else None

    def morning(self, day: int, now: datetime, docs: list[dict[str, Any]]) -> list[Contact]:
        live = [d for d in docs if d["balance"] > 0]
        plan = []
        for doc in live:
            plan.append(self._contact(doc, now, "sms", 9))
            if day % self.every == 0:
                plan.append(self._contact(doc, now, "email", 14))
            if day % self.every == 1:
                plan.append(self._contact(doc, now, "whatsapp", 18))
        by_balance = sorted(live, key=lambda d: -self.catalog.to_base(d["balance"], d["currency"]))
        for i, doc in enumerate(by_balance[: int(self.call_share * len(docs))]):
            plan.append(self._contact(doc, now, "voice", 11.5 + (i % 5)))
        return [c for c in plan if c is not None]
