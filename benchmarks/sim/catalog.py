"""What the operation buys and says, read from the sim config (`sim.toml`), plus the hidden
truth about how well each of them works: carriers' answer rates by destination network and
hour (and one carrier's outage), and each template's effect by channel and DPD bucket."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

CONFIG = Path(__file__).resolve().parent / "sim.toml"
CARRIER_CHANNELS = ("voice", "ivr", "sms")


@dataclass(frozen=True)
class Template:
    id: str
    channel: str
    dpd_min: int
    dpd_max: int


@dataclass(frozen=True)
class Outage:
    carrier: str
    start: datetime
    end: datetime
    kind: str = "sip503"  # "sip503": calls fail at once; "timeout": they ring out, unanswered

    def down(self, carrier: str | None, t: datetime) -> bool:
        return carrier == self.carrier and self.start <= t < self.end


def dpd_bucket(dpd: int) -> str:
    if dpd <= 30:
        return "1-30"
    if dpd <= 60:
        return "31-60"
    if dpd <= 90:
        return "61-90"
    return "91-180"


# Hidden: how a template changes the chance that an engaged debtor pays or promises.
_TEMPLATE_EFFECT: dict[str, dict[str, float]] = {
    "sms_reminder": {"1-30": 1.15},
    "sms_firm": {"31-60": 1.1, "61-90": 1.05, "91-180": 0.95},
    "sms_paylink": {"1-30": 1.25, "31-60": 1.0, "61-90": 0.85, "91-180": 0.75},
    "wa_friendly": {"1-30": 1.3, "31-60": 0.9},
    "wa_offer": {"31-60": 0.9, "61-90": 1.35, "91-180": 1.5},
    "wa_firm": {"61-90": 1.0, "91-180": 0.8},
    "email_statement": {"1-30": 1.0, "31-60": 0.9, "61-90": 0.8, "91-180": 0.7},
    "email_offer": {"61-90": 1.2, "91-180": 1.4},
}

# Hidden: each carrier's answer-seizure ratio per kind of destination network, and its
# behaviour at the evening peak (local 18-21 h), when the cheapest route congests.
_ASR = {
    "c1": {"a": 0.62, "b": 0.40, "fixed": 0.50},
    "c2": {"a": 0.55, "b": 0.60, "fixed": 0.55},
    "c3": {"a": 0.66, "b": 0.64, "fixed": 0.62},
}
_PEAK = {"c1": 0.7, "c2": 0.95, "c3": 1.0}
_NETWORK_KIND = {
    "telcel": "a",
    "claro": "a",
    "verizon": "a",
    "entel": "a",
    "movistar": "b",
    "att_mx": "b",
    "tigo": "b",
    "att": "b",
    "tmobile": "b",
}


class Catalog:
    def __init__(self, path: Path = CONFIG) -> None:
        self.path = path
        self.raw: dict[str, Any] = tomllib.loads(path.read_text())

    @cached_property
    def rates(self) -> dict[str, float]:
        return {self.raw["money"]["currency"]: 1.0, **self.raw["money"]["rates"]}

    def to_base(self, amount: float, currency: str) -> float:
        return amount * self.rates[currency]

    @cached_property
    def carriers(self) -> dict[str, dict[str, float]]:
        return {c["id"]: c for c in self.raw["carriers"]}

    @cached_property
    def templates(self) -> tuple[Template, ...]:
        return tuple(
            Template(t["id"], t["channel"], t.get("days_past_due_min", 0), t.get("days_past_due_max", 10**5))
            for t in self.raw["templates"]
        )

    def templates_for(self, channel: str, dpd: int) -> list[str]:
        return [t.id for t in self.templates if t.channel == channel and t.dpd_min <= dpd <= t.dpd_max]

    @cached_property
    def caps(self) -> dict[str, int]:
        return dict(self.raw.get("policy", {}).get("caps", {}))

    def channel_cost(self, channel: str, minutes: float) -> float:
        spec = self.raw["channels"][channel]
        return spec.get("cost", 0.0) + spec.get("cost_per_minute", 0.0) * minutes

    def carrier_cost(self, carrier: str | None, channel: str, minutes: float) -> float:
        if carrier is None or channel not in CARRIER_CHANNELS:
            return 0.0
        c = self.carriers[carrier]
        if channel == "sms":
            return c.get("cost_per_message", 0.0) + c.get("cost_per_attempt", 0.0)
        return c.get("cost_per_attempt", 0.0) + c.get("cost_per_minute", 0.0) * minutes

    def expected_minutes(self, channel: str) -> float:
        return self.raw["channels"][channel].get("expected_minutes", 0.0)

    def expected_cost(self, channel: str, carrier: str | None) -> float:
        m = self.expected_minutes(channel)
        return self.channel_cost(channel, m) + self.carrier_cost(carrier, channel, m)

    @staticmethod
    def template_effect(template: str | None, dpd: int) -> float:
        if template is None:
            return 0.9
        return _TEMPLATE_EFFECT.get(template, {}).get(dpd_bucket(dpd), 1.0)

    @staticmethod
    def asr(carrier: str, network: str, local_hour: int) -> float:
        """Chance the carrier completes a call to this network at this local hour (the
        debtor's phone rings and is picked up by someone), before the debtor's own habits."""
        kind = "fixed" if network.endswith("_fixed") else _NETWORK_KIND.get(network, "b")
        peak = _PEAK[carrier] if 18 <= local_hour <= 21 else 1.0
        return _ASR[carrier][kind] * peak
