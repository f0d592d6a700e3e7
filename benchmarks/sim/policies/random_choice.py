"""Random valid choices at the static schedule's volume: who, which channel and number, what
hour, which template and carrier, all at random among what the rules allow."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime
from typing import Any

from benchmarks.sim.audit import Auditor
from benchmarks.sim.catalog import Catalog
from benchmarks.sim.contact import Contact
from benchmarks.sim.policies.base import Audited, agent_calls_per_day, at_local, pairs

CARRIERS = ("c1", "c2", "c3")


class RandomChoice(Audited):
    name = "random"

    def __init__(self, auditor: Auditor, catalog: Catalog, volume: Callable[[int], int], seed: int) -> None:
        super().__init__(auditor)
        self.catalog = catalog
        self.volume = volume
        self.rng = random.Random(seed * 7919 + 1)

    def morning(self, day: int, now: datetime, docs: list[dict[str, Any]]) -> list[Contact]:
        live = [d for d in docs if d["balance"] > 0]
        want = self.volume(day)
        agents = agent_calls_per_day(len(docs))
        plan: list[Contact] = []
        tries = 0
        while live and len(plan) < want and tries < 4 * want:
            tries += 1
            doc = self.rng.choice(live)
            options = pairs(doc)
            if agents <= 0:  # the call centre is busy for the day
                options = [o for o in options if o[0] != "voice"]
                if not options:
                    continue
            channel, point, _network = self.rng.choice(options)
            templates = self.catalog.templates_for(channel, doc["days_past_due"])
            carrier = self.rng.choice(CARRIERS) if channel in ("voice", "ivr", "sms") else None
            c = Contact(
                doc["account_id"],
                channel,
                point,
                at_local(doc, now, self.rng.uniform(7, 22)),
                self.rng.choice(templates) if templates else None,
                carrier,
            )
            if self.allowed(c):
                plan.append(c)
                agents -= channel == "voice"
        return plan
