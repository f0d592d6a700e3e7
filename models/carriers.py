"""Carrier routing that learns, pure: Thompson sampling over carriers per destination network
and local hour band on the answer-seizure ratio (ASR) and cost, with evidence that fades in
event time, and a circuit breaker per (carrier, network) that a run of SIP 5xx opens and a
successful probe closes.

The dataflow owns the learning copy (`observe` on every call or message outcome that names a
carrier) and publishes it with the contact models; API processes route with the published
copy (`route`), which never mutates. Probes through an open breaker are rationed twice: at
most `probe_share` of the attempts that could take one (so a quiet operation does not send a
large share of its calls into an outage), and at most one per `probe_interval_s` of event time
across every API process (the caller holds that slot, see engine/decisions/route.py).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

from msgspec import Meta

from features.outcomes import DEAD_NUMBER_SIP
from features.pickling import fast_pickling

ANY_NETWORK = "*"
ALL_BANDS = -1
CALL_FINAL = frozenset({"answered", "no_answer", "busy", "failed", "voicemail"})


class CarrierSpec(Protocol):
    id: str
    cost_per_attempt: float
    cost_per_minute: float
    cost_per_message: float
    channels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RouterConfig:
    # local hours pooled into one band: 24 / 3 = 8 bands per network
    band_hours: Annotated[int, Meta(ge=1, le=24)] = 3
    half_life_s: Annotated[float, Meta(gt=0)] = 6 * 3600.0  # evidence weight halves every 6 h of event time
    prior_answers: Annotated[float, Meta(gt=0)] = 1.0  # Beta prior: one answer in three attempts
    prior_failures: Annotated[float, Meta(gt=0)] = 2.0  # (a carrier with no evidence starts at ASR 1/3)
    # pseudo-attempts a cell borrows from its network's rate, and a network from the carrier's
    pool_strength: Annotated[float, Meta(ge=0)] = 4.0
    # consecutive SIP 5xx that open a breaker (per network, and carrier-wide)
    breaker_failures: Annotated[int, Meta(ge=1)] = 5
    # consecutive calls the carrier carried that nobody answered (ring-outs, busy) that open a
    # breaker too: an outage that times calls out instead of failing them (at an answer rate
    # of 0.4, 12 in a row happen 2 times in 1,000 runs; the next probe closes such a breaker)
    breaker_unanswered: Annotated[int, Meta(ge=1)] = 12
    # at most one probe through an open breaker per interval, the interval doubling after each
    # failed probe up to probe_backoff_max_s ...
    probe_interval_s: Annotated[float, Meta(gt=0)] = 30.0
    probe_backoff_max_s: Annotated[float, Meta(gt=0)] = 1800.0
    # ... and at most this share of the attempts that could probe
    probe_share: Annotated[float, Meta(ge=0, le=1)] = 0.02
    # value of an answered attempt in the base currency: an agent reaching a phone is worth far
    # more than any carrier's price, so ASR decides and cost breaks near-ties
    answer_value: Annotated[float, Meta(ge=0)] = 50.0
    expected_minutes: Annotated[float, Meta(ge=0)] = 3.0  # billed minutes of an answered call
    # destination networks learned apart: the configured ones (others pool into "all"), or,
    # with none configured, the first max_networks the outcomes name, so that no client's
    # strings can grow the router's cells or the metrics' label sets without bound
    networks: tuple[str, ...] = ()
    max_networks: Annotated[int, Meta(ge=1)] = 64  # (with no networks configured)


@dataclass(frozen=True, slots=True)
class Observation:
    """One call or message outcome through a carrier."""

    carrier: str
    network: str
    band: int
    ts: float
    answered: bool  # calls: answered (any party); messages: delivered or read
    sip_code: int | None = None  # for messages: a 5xx error code the gateway reported
    works: bool = True  # the outcome shows the carrier carried the attempt (resets a breaker's run)
    event_id: str = ""  # the event it came from: orders observations of one instant

    @property
    def carrier_failure(self) -> bool:
        return self.sip_code is not None and 500 <= self.sip_code <= 599


def _breaker_of(row: list[Any]) -> Breaker:
    """A published breaker; models published before the back-off have five columns."""
    _c, _n, run, opened, last, *more = row
    probes, unanswered = (int(more[0]), int(more[1])) if len(more) >= 2 else (0, 0)
    return Breaker(int(run), None if opened is None else float(opened), float(last), probes, unanswered)


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
    error_code: str | None = None,
    event_id: str = "",
) -> Observation | None:
    """What a call or message event teaches the router, or None when it teaches nothing (no
    carrier, a status that is not final, a dead number, which is no carrier's fault).

    Only an outcome that shows the carrier working (a call that reached the network, whatever
    the debtor did; a delivered message) resets a breaker's run of 5xx: an undelivered message
    or a failed call with no code says nothing either way."""
    if carrier is None or sip_code in DEAD_NUMBER_SIP:
        return None
    if channel in ("voice", "ivr") or (channel is None and status in CALL_FINAL):
        if status not in CALL_FINAL:
            return None
        answered = status in ("answered", "voicemail")
        works = status != "failed" or (sip_code is not None and not 500 <= sip_code <= 599)
    elif channel == "sms":
        if status not in ("delivered", "undelivered", "failed"):
            return None
        answered = works = status == "delivered"
        if status == "failed" and error_code and error_code.isdigit() and 500 <= int(error_code) <= 599:
            sip_code = int(error_code)
    else:
        return None
    band = band_of(hour, config.band_hours)
    return Observation(carrier, network or ANY_NETWORK, band, ts, answered, sip_code, works, event_id)


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
    failed_probes: int = 0  # failures since it opened: each doubles the wait for the next probe
    unanswered: int = 0  # consecutive carried calls nobody answered


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
        """Learn one outcome; True when a breaker opened or closed. Evidence is kept per
        (network, band), per network and per carrier, so thin cells borrow from the wider
        rates; breakers per network and carrier-wide (a carrier that fails everywhere opens
        after one run, not one run per network)."""
        cfg = self.config
        network = self.learned_network(o.network, o.carrier)
        if not o.carrier_failure:  # a 5xx says the carrier failed, not that nobody answered
            for key in (
                (network, o.band, o.carrier),
                (network, ALL_BANDS, o.carrier),
                (ANY_NETWORK, ALL_BANDS, o.carrier),
            ):
                e = self.cells.get(key, Evidence(at=o.ts))
                self.cells[key] = e.add(o.answered, o.ts, cfg.half_life_s)
        changed = False
        for net in dict.fromkeys((network, ANY_NETWORK)):
            changed = self._breaker((o.carrier, net), o) or changed
        return changed

    def learned_network(self, network: str, carrier: str) -> str:
        """The network an outcome is learned under: itself when configured (or, with none
        configured, when already learned or within max_networks), else ANY_NETWORK."""
        if network == ANY_NETWORK:
            return network
        if self.config.networks:
            return network if network in self.config.networks else ANY_NETWORK
        if (carrier, network) in self.breakers or (network, ALL_BANDS, carrier) in self.cells:
            return network
        known = {n for _, n in self.breakers} | {n for n, _, _ in self.cells}
        known.discard(ANY_NETWORK)
        return network if network in known or len(known) < self.config.max_networks else ANY_NETWORK

    def _breaker(self, key: tuple[str, str], o: Observation) -> bool:
        b = self.breakers.get(key, Breaker())
        cfg = self.config
        last = max(b.last_at, o.ts)
        unanswered = o.works and not o.answered  # carried (a call that rang), nobody answered
        silenced = b.opened_at is not None and b.unanswered >= cfg.breaker_unanswered
        if o.carrier_failure or (unanswered and silenced):
            # a 5xx, or a probe nobody answered through a breaker that silence opened (only an
            # answer closes that one; any carried call closes one that 5xx opened). A failure
            # of a call placed before the first probe was due is no failed probe.
            run = b.run + o.carrier_failure
            opened = b.opened_at
            probe = opened is not None and o.ts >= opened + cfg.probe_interval_s
            probes = b.failed_probes + probe
            if opened is None and run >= cfg.breaker_failures:
                opened = o.ts
            self.breakers[key] = Breaker(run, opened, last, probes, b.unanswered)
            return opened is not None and b.opened_at is None
        if not o.works:
            return False
        if unanswered:  # a run of these is an outage that times calls out
            run = b.unanswered + 1
            opened = o.ts if run >= cfg.breaker_unanswered else None
            self.breakers[key] = Breaker(0, opened, last, 0, run)
            return (opened is None) != (b.opened_at is None)  # it opened, or a carried probe closed it
        self.breakers[key] = Breaker(0, None, last)
        return b.opened_at is not None

    def probe_interval(self, carrier: str, network: str) -> float:
        """The wait between probes through the carrier's open breaker: `probe_interval_s`,
        doubled after each failed probe, at most `probe_backoff_max_s`."""
        b = self.breakers.get((carrier, self.breaker_scope(carrier, network)))
        failed = 0 if b is None else min(b.failed_probes, 20)
        return min(self.config.probe_interval_s * 2.0**failed, max(self.config.probe_backoff_max_s, 1.0))

    # --- as data (what the dataflow publishes; nothing executable) -----------------------------

    def to_data(self) -> dict[str, list[list[Any]]]:
        return {
            "cells": [[n, b, c, e.answers, e.failures, e.at] for (n, b, c), e in sorted(self.cells.items())],
            "breakers": [
                [c, n, br.run, br.opened_at, br.last_at, br.failed_probes, br.unanswered]
                for (c, n), br in sorted(self.breakers.items())
            ],
        }

    @classmethod
    def from_data(cls, data: dict[str, list[list[Any]]], config: RouterConfig) -> CarrierRouter:
        return cls(
            config,
            {
                (str(n), int(b), str(c)): Evidence(float(a), float(f), float(at))
                for n, b, c, a, f, at in data["cells"]
            },
            {(str(row[0]), str(row[1])): _breaker_of(row) for row in data["breakers"]},
        )

    # --- routing (API processes; read-only) ---------------------------------------------------

    def is_open(self, carrier: str, network: str) -> bool:
        for key in ((carrier, network), (carrier, ANY_NETWORK)):
            b = self.breakers.get(key)
            if b is not None and b.opened_at is not None:
                return True
        return False

    def breaker_scope(self, carrier: str, network: str) -> str:
        """The network key of the open breaker that holds the carrier back: `*` when it is
        carrier-wide (its probes then test the carrier, whatever the network)."""
        b = self.breakers.get((carrier, ANY_NETWORK))
        return ANY_NETWORK if b is not None and b.opened_at is not None else network

    def open_breakers(self) -> list[tuple[str, str]]:
        return sorted(k for k, b in self.breakers.items() if b.opened_at is not None)

    def posterior(self, network: str, band: int, carrier: str, now: float) -> tuple[float, float]:
        """Beta(answers, failures) for the cell, shrunk towards the carrier's rate on the
        network, itself shrunk towards the carrier's rate everywhere (empirical Bayes)."""
        cfg = self.config
        levels = [(ANY_NETWORK, ALL_BANDS)]
        if network != ANY_NETWORK:
            levels.append((network, ALL_BANDS))
        if band != ALL_BANDS:
            levels.append((network, band))
        a, f = cfg.prior_answers, cfg.prior_failures
        for i, (net, b) in enumerate(levels):
            if i:
                mean, k = a / (a + f), cfg.pool_strength
                a, f = k * mean, k * (1.0 - mean)
            e = self.cells.get((net, b, carrier))
            if e is not None:
                e = e.as_of(now, cfg.half_life_s)
                a, f = a + e.answers, f + e.failures
        return a, f

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
        if probes and rng.random() < cfg.probe_share:
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
        out = {}
        for (network, band, carrier) in self.cells:
            if band == ALL_BANDS and network != ANY_NETWORK:
                a, f = self.posterior(network, ALL_BANDS, carrier, now)
                out[(carrier, network)] = a / (a + f)
        return out


def _attempt_cost(c: CarrierSpec, channel: str) -> float:
    if channel == "sms":
        return c.cost_per_message + c.cost_per_attempt
    return c.cost_per_attempt


def route_seed(seed: int, address: str, now: float) -> random.Random:
    """Draws seeded by the request (address and event time): a replay routes the same."""
    return random.Random(f"{seed}|{address}|{now!r}")


def prior_mean(config: RouterConfig) -> float:
    return config.prior_answers / (config.prior_answers + config.prior_failures)


fast_pickling(RouterConfig, Observation, Evidence, Breaker, Route)
