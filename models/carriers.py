"""Carrier routing that learns, pure: Thompson sampling over carriers per destination network
and local hour band on the answer-seizure ratio (ASR) and cost, with evidence that fades in
event time, and a circuit breaker per (carrier, network) that a run of SIP 5xx opens and a
successful probe closes.

The dataflow owns the learning copy (`observe` on every call or message outcome that names a
carrier) and publishes it with the contact models; API processes route with the published
copy (`route`), which never mutates. Probes through an open breaker are rationed across API
processes by the caller (one per `probe_interval_s` of event time, see engine/route.py).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from features.outcomes import DEAD_NUMBER_SIP

ANY_NETWORK = "*"
CALL_FINAL = frozenset({"answered", "no_answer", "busy", "failed", "voicemail"})


class CarrierSpec(Protocol):
    id: str
    cost_per_attempt: float
    cost_per_minute: float
    cost_per_message: float
    channels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RouterConfig:
    band_hours: int = 3  # local hours pooled into one band: 24 / 3 = 8 bands per network
    half_life_s: float = 6 * 3600.0  # evidence weight halves every 6 h of event time
    prior_answers: float = 1.0  # Beta prior: one answer in three attempts
    prior_failures: float = 2.0
    breaker_failures: int = 5  # consecutive SIP 5xx that open a breaker
    probe_interval_s: float = 30.0  # one probe through an open breaker per interval
    answer_value: float = 1.0  # value of an answered attempt, base currency: ASR first, cost second
    expected_minutes: float = 3.0  # billed minutes of an answered call


@dataclass(frozen=True, slots=True)
class Observation:
    """One call or message outcome through a carrier."""

    carrier: str
    network: str
    band: int
    ts: float
    answered: bool  # calls: answered (any party); messages: delivered or read
    sip_code: int | None = None

    @property
    def carrier_failure(self) -> bool:
        return self.sip_code is not None and 500 <= self.sip_code <= 599


def band_of(hour: int, band_hours: int) -> int:
    return hour // band_hours


def observation(
    channel: str | None,
    status: str | None,
    carrier: str | None,
    network: str | None,
    hour: int,
    ts: float,
    sip_code: int | None,
    config: RouterConfig,
) -> Observation | None:
    """What a call or message event teaches the router, or None when it teaches nothing (no
    carrier, a status that is not final, a dead number, which is no carrier's fault)."""
    if carrier is None or sip_code in DEAD_NUMBER_SIP:
        return None
    if channel in ("voice", "ivr") or (channel is None and status in CALL_FINAL):
        if status not in CALL_FINAL:
            return None
        answered = status in ("answered", "voicemail")
    elif channel == "sms":
        if status not in ("delivered", "undelivered", "failed"):
            return None
        answered = status == "delivered"
    else:
        return None
    band = band_of(hour, config.band_hours)
    return Observation(carrier, network or ANY_NETWORK, band, ts, answered, sip_code)


@dataclass(frozen=True, slots=True)
class Evidence:
    """Decayed answers and failures as of `at`."""

    answers: float = 0.0
    failures: float = 0.0
    at: float = 0.0

    def as_of(self, ts: float, half_life_s: float) -> Evidence:
        if ts <= self.at:
            return self
        k = 2.0 ** ((self.at - ts) / half_life_s)
        return Evidence(self.answers * k, self.failures * k, ts)

    def add(self, answered: bool, ts: float, half_life_s: float) -> Evidence:
        # a late observation weighs less, as if it had decayed from its own time to `at`
        w = 1.0 if ts >= self.at else 2.0 ** ((ts - self.at) / half_life_s)
        now = self.as_of(ts, half_life_s)
        if answered:
            return Evidence(now.answers + w, now.failures, now.at)
        return Evidence(now.answers, now.failures + w, now.at)


@dataclass(frozen=True, slots=True)
class Breaker:
    run: int = 0  # consecutive carrier failures (SIP 5xx)
    opened_at: float | None = None
    last_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Route:
    carrier: str | None
    alternates: list[str]
    reasons: list[str]
    probe: bool = False  # the carrier is an open breaker's probe
    asr: float = 0.0  # the posterior mean ASR of the chosen carrier


@dataclass
class CarrierRouter:
    config: RouterConfig = field(default_factory=RouterConfig)
    cells: dict[tuple[str, int, str], Evidence] = field(default_factory=dict)  # (network, band, carrier)
    breakers: dict[tuple[str, str], Breaker] = field(default_factory=dict)  # (carrier, network)

    # --- learning (the dataflow) -------------------------------------------------------------

    def observe(self, o: Observation) -> bool:
        """Learn one outcome; True when a breaker opened or closed."""
        cfg = self.config
        if not o.carrier_failure:  # a 5xx says the carrier failed, not that nobody answered
            key = (o.network, o.band, o.carrier)
            self.cells[key] = self.cells.get(key, Evidence(at=o.ts)).add(o.answered, o.ts, cfg.half_life_s)
        bkey = (o.carrier, o.network)
        b = self.breakers.get(bkey, Breaker())
        if o.carrier_failure:
            run = b.run + 1
            opened = b.opened_at
            if opened is None and run >= cfg.breaker_failures:
                opened = o.ts
            self.breakers[bkey] = Breaker(run, opened, max(b.last_at, o.ts))
            return opened is not None and b.opened_at is None
        self.breakers[bkey] = Breaker(0, None, max(b.last_at, o.ts))
        return b.opened_at is not None

    # --- routing (API processes; read-only) ---------------------------------------------------

    def is_open(self, carrier: str, network: str) -> bool:
        b = self.breakers.get((carrier, network))
        return b is not None and b.opened_at is not None

    def open_breakers(self) -> list[tuple[str, str]]:
        return sorted(k for k, b in self.breakers.items() if b.opened_at is not None)

    def posterior(self, network: str, band: int, carrier: str, now: float) -> tuple[float, float]:
        cfg = self.config
        e = self.cells.get((network, band, carrier))
        if e is None:
            return cfg.prior_answers, cfg.prior_failures
        e = e.as_of(now, cfg.half_life_s)
        return cfg.prior_answers + e.answers, cfg.prior_failures + e.failures

    def route(
        self,
        carriers: Sequence[CarrierSpec],
        channel: str,
        network: str | None,
        hour: int,
        now: float,
        rng: random.Random,
        probe_due: Sequence[str] = (),
    ) -> Route:
        """The carrier for one attempt and the others in order: a Thompson draw of each
        carrier's ASR for this network and hour band, valued as draw × answer value − cost.
        Carriers behind an open breaker are left out, unless named in `probe_due` (the
        caller holds the probe slot), in which case the first such carrier takes the attempt."""
        cfg = self.config
        net = network or ANY_NETWORK
        band = band_of(hour, cfg.band_hours)
        scored: list[tuple[float, str, float]] = []
        held: list[str] = []
        for c in carriers:
            if channel not in c.channels:
                continue
            if self.is_open(c.id, net):
                held.append(c.id)
                continue
            a, b = self.posterior(net, band, c.id, now)
            draw = rng.betavariate(a, b)
            scored.append((draw * self._net_value(c, channel) - _attempt_cost(c, channel), c.id, a / (a + b)))
        scored.sort(reverse=True)
        probes = [c for c in held if c in probe_due]
        if probes:
            a, b = self.posterior(net, band, probes[0], now)
            return Route(
                probes[0],
                [cid for _v, cid, _m in scored],
                [f"probe={probes[0]}", f"breaker_open={','.join(held)}"],
                probe=True,
                asr=a / (a + b),
            )
        if not scored:
            reasons = [f"breaker_open={','.join(held)}"] if held else ["no_carrier"]
            return Route(None, [], reasons)
        _value, best, mean = scored[0]
        reasons = [f"band={band}", f"asr={mean:.3f}", "explore=thompson"]
        if held:
            reasons.append(f"breaker_open={','.join(held)}")
        return Route(best, [cid for _v, cid, _m in scored[1:]], reasons, asr=mean)

    def _net_value(self, c: CarrierSpec, channel: str) -> float:
        if channel == "sms":
            return self.config.answer_value
        return self.config.answer_value - c.cost_per_minute * self.config.expected_minutes

    def clock(self) -> float:
        """The newest event time learned from."""
        return max((e.at for e in self.cells.values()), default=0.0)

    def asr_table(self, now: float) -> dict[tuple[str, str], float]:
        """Posterior mean ASR per (carrier, network), pooled over hour bands: for gauges."""
        pooled: dict[tuple[str, str], list[float]] = {}
        cfg = self.config
        for (network, _band, carrier), e in self.cells.items():
            e = e.as_of(now, cfg.half_life_s)
            acc = pooled.setdefault((carrier, network), [0.0, 0.0])
            acc[0] += e.answers
            acc[1] += e.failures
        return {
            k: (cfg.prior_answers + a) / (cfg.prior_answers + cfg.prior_failures + a + f)
            for k, (a, f) in pooled.items()
        }


def _attempt_cost(c: CarrierSpec, channel: str) -> float:
    if channel == "sms":
        return c.cost_per_message + c.cost_per_attempt
    return c.cost_per_attempt


def route_seed(seed: int, address: str, now: float) -> random.Random:
    """Draws seeded by the request (address and event time): a replay routes the same."""
    return random.Random(f"{seed}|{address}|{now!r}")


def prior_mean(config: RouterConfig) -> float:
    return config.prior_answers / (config.prior_answers + config.prior_failures)
