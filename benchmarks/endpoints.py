"""The engine's decision endpoints under load, one entry each. Every phase (open loop at each
offered rate, saturation) and every row of the report runs over ENDPOINTS; the reference apps
(bare, skeleton) are measured once per rate beside them. Adding an endpoint is one entry here,
with a source of request bodies that never repeats a request the engine would refuse as a
duplicate (see workload.DecideCursor)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from benchmarks import stacks, workload


class Bodies(Protocol):
    def take(self, count: int) -> Path:
        """A file of `count` request bodies, one per line, not handed out before."""
        ...


@dataclass(frozen=True)
class Endpoint:
    name: str  # result keys "<name>@<rate>", and the `endpoint` label of the decision histogram
    path: str
    bodies: Callable[[int, Path], Bodies]  # (accounts loaded, work dir) -> body source
    mix: dict[str, str]  # substring of an answer -> its name in the report: answers holding it
    # substring -> name: every occurrence counted (e.g. the leads in dialer answers); with
    # `mix`, at most 4 substrings in all
    occurrences: dict[str, str] = field(default_factory=dict)
    target_rate: float = 1000.0  # the offered rate the latency target applies at
    target_p50_ms: float | None = 1.0  # None: no target, the figure is reported only
    target_p99_ms: float | None = 3.0
    min_saturation_vs_skeleton: float | None = 0.5
    # offered rates of its own, for an endpoint that saturates far below the plan's rates
    # (None: the plan's); quick_rates with --quick
    rates: tuple[float, ...] | None = None
    quick_rates: tuple[float, ...] | None = None
    # run once before the repetitions, given the engine and the accounts loaded; what it
    # returns goes into speed.json under "setup"
    setup: Callable[[stacks.Engine, int], dict[str, Any]] | None = field(default=None, compare=False)

    def rates_for(self, plan_rates: list[float], quick: bool) -> list[float]:
        own = self.quick_rates if quick else self.rates
        return list(own) if own else list(plan_rates)

    def describe(self) -> dict[str, Any]:
        """What the report needs, as JSON."""
        return {"path": self.path, "mix": list(self.mix.values()),
                "occurrences": list(self.occurrences.values()), "target_rate": self.target_rate,
                "target_p50_ms": self.target_p50_ms, "target_p99_ms": self.target_p99_ms,
                "min_saturation_vs_skeleton": self.min_saturation_vs_skeleton}


DECIDE = Endpoint(
    name="decide", path="/v1/decide", bodies=workload.DecideCursor,
    mix={'"action":"contact"': "contact", '"action":"wait"': "wait", "contact_locked": "contact_locked",
         "contention": "contention"},
)

# issue 4: "answers p99 ≤ 2 ms at 1,000 requests/s on this machine"; no p50 or throughput target
ROUTE = Endpoint(
    name="route", path="/v1/route", bodies=workload.RouteCursor,
    mix={'"carrier":"': "carrier", '"carrier":null': "no_carrier"},
    target_p50_ms=None, target_p99_ms=2.0, min_saturation_vs_skeleton=None,
)

# No latency target besides "must not grow with portfolio size" (footprint.py measures that).
# Each request asks for 10 leads, each a decision and a lease: it saturates near 40 req/s on
# one core, so it gets rates of its own around that rather than decide's 200-2000.
DIALER_NEXT = Endpoint(
    name="dialer_next", path="/v1/dialer/next", bodies=workload.DialerCursor,
    mix={'"leads":[]': "empty", '"decision_id"': "with_leads"},
    occurrences={'"decision_id"': "leads"},
    target_rate=25.0, target_p50_ms=None, target_p99_ms=None, min_saturation_vs_skeleton=None,
    rates=(12.5, 25.0, 50.0, 100.0), quick_rates=(25.0, 100.0),
    setup=stacks.setup_dialer,
)

ENDPOINTS: tuple[Endpoint, ...] = (DECIDE, ROUTE, DIALER_NEXT)
