"""One policy through the simulated days: a discrete-event loop on a simulated clock.

Each day: the world moves (DPD, self-cure), the portfolio is uploaded as it stands, the policy
plans the day, and the clock advances in 10-minute steps; in each, every planned contact and every
world event falls due in time order, contacts are audited at their real send time, and the
hour's events go to the policy in time order. The same seed gives every policy the same world.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from benchmarks.sim.audit import Auditor
from benchmarks.sim.catalog import Catalog, Outage
from benchmarks.sim.contact import Contact
from benchmarks.sim.dynamics import Pending, World
from benchmarks.sim.policies.base import BINDING, CALLS, Policy
from benchmarks.sim.tally import Tally
from benchmarks.sim.world import make_world, observable

START = datetime(2026, 3, 16, 10, 0, tzinfo=UTC)  # a Monday; every local morning is still ahead


@dataclass(frozen=True)
class Setup:
    accounts: int
    days: int
    seed: int
    start: datetime = START
    step_minutes: int = 10  # the clock's step: a dialer pulls leads and events are posted each step
    outage_kind: str = "sip503"  # or "timeout": the failing carrier's calls ring out unanswered
    response_scale: float = 1.0  # every debtor's channel affinities, times this
    mix: str = "latam"  # the portfolio's country shares (benchmarks.sim.world.MIXES)
    variant: str = "base"  # the name of this combination (benchmarks/sim/worlds.py)

    @property
    def outage(self) -> Outage:
        """c1, the cheapest carrier, fails from 35% to 55% of the run, starting mid-morning."""
        begin = self.start + timedelta(hours=round(self.days * 24 * 0.35) + 4)
        return Outage("c1", begin, begin + timedelta(hours=round(self.days * 24 * 0.2)), self.outage_kind)


class Factory(Protocol):
    def __call__(self, auditor: Auditor, world: World) -> Policy: ...


@dataclass
class Result:
    name: str
    tally: Tally
    auditor: Auditor
    portfolio: float
    elapsed_s: float
    extra: dict[str, Any] = field(default_factory=dict)


def strip(ev: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in ev.items() if not k.startswith("_")}


def run(name: str, make: Factory, setup: Setup, catalog: Catalog, log: Any = None) -> Result:
    began = time.monotonic()
    debtors = make_world(setup.accounts, setup.seed, setup.response_scale, setup.mix)
    world = World(debtors, setup.seed, catalog, setup.outage)
    auditor = Auditor(catalog.caps, catalog.raw.get("decisions", {}).get("reservation_minutes", 120))
    policy = make(auditor, world)
    tally = Tally(catalog, {d.account_id: d.currency for d in debtors}, setup.days)
    tally.outage_start, tally.outage_end = setup.outage.start, setup.outage.end
    portfolio = sum(catalog.to_base(d.balance, d.currency) for d in debtors)
    heap: list[tuple[datetime, int, Any]] = []
    order = 0

    def push(ts: datetime, item: Any) -> None:
        nonlocal order
        order += 1
        heapq.heappush(heap, (ts, order, item))

    try:
        for day in range(setup.days):
            t0 = setup.start + timedelta(days=day)
            for p in world.morning(day, t0):
                push(p.ts, p)
            docs = [
                observable(d, world.state[d.account_id].balance, world.state[d.account_id].dpd)
                for d in debtors
            ]
            for doc in docs:
                auditor.upload(doc)
            for c in policy.morning(day, t0, docs):
                if c.decision_id is None:  # baselines: an id of our own, so outcomes name their contact
                    c.decision_id = f"{name}-{order}"
                push(c.send_at, c)
            binding_at: dict[str, datetime] = {}
            for step in range(24 * 60 // setup.step_minutes):
                now = t0 + timedelta(minutes=step * setup.step_minutes)
                end = now + timedelta(minutes=setup.step_minutes)
                hour_index = day * 24 + step * setup.step_minutes // 60
                for c in policy.step(now, end):
                    push(c.send_at, c)
                unposted: list[dict[str, Any]] = []
                while heap and heap[0][0] < end:
                    ts, _o, item = heapq.heappop(heap)
                    if isinstance(item, Contact):
                        touched = item.account_id in binding_at
                        if not policy.confirm(item, ts, unposted, touched):
                            tally.days[day].revoked += 1
                            continue
                        auditor.record(
                            item.account_id, item.channel, item.point_id, ts, item.decision_id, day, name
                        )
                        follow, charge = world.contact(item)
                        tally.contact(day, hour_index, item, charge)
                        if item.channel in CALLS and item.carrier:
                            tally.route(ts, world.routing_truth(item, ts))
                        for p in follow:
                            push(p.ts, p)
                        continue
                    assert isinstance(item, Pending)
                    events, follow = world.realise(item)
                    for p in follow:
                        push(p.ts, p)
                    for ev in events:
                        auditor.observe(ev)
                        tally.event(day, hour_index, ev)
                        if ev["type"] in BINDING:
                            binding_at[ev["account_id"]] = ts
                        unposted.append(ev)
                policy.observe([strip(e) for e in unposted])
            policy.end_day(day)
            if log:
                d = tally.days[day]
                log(
                    f"  {name:<9} day {day + 1:>3}: contacts {d.contacts:>6}  collected {d.collected:>12,.0f}"
                    f"  net {d.net:>12,.0f}  violations {sum(auditor.violations_by_day[day].values())}"
                )
    finally:
        extra = policy_extra(policy)
        policy.close()
    return Result(name, tally, auditor, portfolio, time.monotonic() - began, extra)


def policy_extra(policy: Policy) -> dict[str, Any]:
    get = getattr(policy, "extra", None)
    return get() if callable(get) else {}
