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

from benchmarks import workload


class Bodies(Protocol):
    def take(self, count: int) -> Path:
        """A file of `count` request bodies, one per line, not handed out before."""
        ...


@dataclass(frozen=True)
class Endpoint:
    name: str  # result keys "<name>@<rate>", and the `endpoint` label of the decision histogram
    path: str
    bodies: Callable[[int, Path], Bodies]  # (accounts loaded, work dir) -> body source
    mix: dict[str, str]  # substring of an answer -> its name in the report (at most 4)
    target_rate: float = 1000.0  # the offered rate the latency target applies at
    target_p50_ms: float = 1.0
    target_p99_ms: float = 3.0
    min_saturation_vs_skeleton: float = 0.5
    setup: Callable[[int], None] | None = field(default=None, compare=False)  # given the API port

    def describe(self) -> dict[str, Any]:
        """What the report needs, as JSON."""
        return {"path": self.path, "mix": list(self.mix.values()), "target_rate": self.target_rate,
                "target_p50_ms": self.target_p50_ms, "target_p99_ms": self.target_p99_ms,
                "min_saturation_vs_skeleton": self.min_saturation_vs_skeleton}


DECIDE = Endpoint(
    name="decide", path="/v1/decide", bodies=workload.DecideCursor,
    mix={'"action":"contact"': "contact", '"action":"wait"': "wait", "contact_locked": "contact_locked",
         "contention": "contention"},
)

ENDPOINTS: tuple[Endpoint, ...] = (DECIDE,)
