"""Journeys: the operation's strategy per segment, as constraints on what the learned policy
may pick. Pure.

A journey matches accounts by segment (portfolio, product, country, `attributes.segment`, DPD
and balance ranges, equality on other attributes) and, optionally, by the debtor's last reply
intent (for example `hardship` within the last 14 days). The first journey in the config that
matches an account applies; an account no journey matches is unconstrained. A journey may
restrict the channels and the templates, cap the account's contacts in a rolling week, or stop
contact altogether (`stop = true`, for example deceased or bankruptcy segments).
The models choose within what the journey allows; the rules of `policy/` still apply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from policy.base import Block

WEEK_S = 7 * 86400.0
CHANNELS = ("voice", "ivr", "sms", "whatsapp", "email")
MATCH_KEYS = (
    "portfolio",
    "product",
    "country",
    "segment",
    "days_past_due_min",
    "days_past_due_max",
    "balance_min",
    "balance_max",
    "attributes",
    "after_intent",
    "intent_days",
)


class JourneyError(ValueError):
    """A `[[journeys]]` entry is malformed."""


@dataclass(frozen=True, slots=True)
class Journey:
    id: str  # named in the rules' reasons (journey_week:<id>, journey_stop:<id>)
    description: str = ""
    portfolio: str | None = None  # who: accounts of this portfolio ...
    product: str | None = None  # ... product ...
    country: str | None = None  # ... country ...
    segment: str | None = None  # ... `segment` attribute ...
    days_past_due_min: int | None = None  # ... DPD range ...
    days_past_due_max: int | None = None
    balance_min: float | None = None  # ... balance range (the account's own currency)
    balance_max: float | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)  # equality on account attributes
    after_intent: str | None = None  # the debtor's last reply carried this intent ...
    intent_days: float = 14.0  # ... this recently
    channels: tuple[str, ...] | None = None  # what: only these channels ...
    templates: tuple[str, ...] | None = None  # ... only these templates ...
    contacts_per_week: int | None = None  # ... at most this many contacts a week ...
    stop: bool = False  # ... or no contact at all


@dataclass(frozen=True, slots=True)
class Facts:
    """What journeys look at, from the account document and its live state."""

    portfolio: str
    product: str
    country: str
    days_past_due: int
    balance: float
    attributes: Mapping[str, Any]
    intent: str | None = None
    intent_at: float | None = None


def in_segment(rule: Any, f: Facts) -> bool:
    """Whether an account falls in a rule's segment (a journey's, a call campaign's filter):
    every one of portfolio, product, country, segment, DPD and balance bounds the rule sets."""
    return (
        (rule.portfolio is None or f.portfolio == rule.portfolio)
        and (rule.product is None or f.product == rule.product)
        and (rule.country is None or f.country == rule.country)
        and (rule.segment is None or f.attributes.get("segment") == rule.segment)
        and (rule.days_past_due_min is None or f.days_past_due >= rule.days_past_due_min)
        and (rule.days_past_due_max is None or f.days_past_due <= rule.days_past_due_max)
        and (rule.balance_min is None or f.balance >= rule.balance_min)
        and (rule.balance_max is None or f.balance <= rule.balance_max)
    )


def matches(j: Journey, f: Facts, now: float) -> bool:
    if j.after_intent is not None and (
        f.intent != j.after_intent or f.intent_at is None or now - f.intent_at > j.intent_days * 86400
    ):
        return False
    return in_segment(j, f) and all(f.attributes.get(k) == v for k, v in j.attributes.items())


def select(journeys: Sequence[Journey], f: Facts, now: float) -> Journey | None:
    return next((j for j in journeys if matches(j, f, now)), None)


def journey_block(j: Journey, contacts_at: Sequence[float], now: float) -> Block | None:
    """What the journey itself holds back at `now`, given the account's reserved contact times."""
    if j.stop:
        return Block(f"journey_stop:{j.id}")
    if j.contacts_per_week is not None:
        recent = sorted(t for t in contacts_at if now - WEEK_S < t <= now)
        if len(recent) >= j.contacts_per_week:
            # lifts when enough of the week's contacts have aged out
            return Block(f"journey_week:{j.id}", recent[len(recent) - j.contacts_per_week] + WEEK_S)
    return None


def allowed_channels(j: Journey | None, wanted: Sequence[str]) -> tuple[str, ...]:
    if j is None or j.channels is None:
        return tuple(wanted)
    return tuple(c for c in wanted if c in j.channels)


def allowed_templates(j: Journey | None, eligible: Sequence[str]) -> list[str]:
    if j is None or j.templates is None:
        return list(eligible)
    return [t for t in eligible if t in j.templates]


def from_config(raw: Sequence[Mapping[str, Any]], template_ids: set[str]) -> tuple[Journey, ...]:
    """`[[journeys]]` entries, validated: unknown keys, channels and templates are errors."""
    out = []
    seen: set[str] = set()
    known = set(Journey.__dataclass_fields__)
    for i, entry in enumerate(raw):
        where = f"[[journeys]] #{i + 1} ({entry.get('id', 'no id')})"
        unknown = set(entry) - known
        if unknown:
            raise JourneyError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
        if "id" not in entry or entry["id"] in seen:
            raise JourneyError(f"{where}: needs a unique id")
        seen.add(entry["id"])
        spec = dict(entry)
        for key in ("channels", "templates"):
            if key in spec:
                spec[key] = tuple(spec[key])
        bad = set(spec.get("channels") or ()) - set(CHANNELS)
        if bad:
            raise JourneyError(f"{where}: unknown channels {', '.join(sorted(bad))}")
        missing = set(spec.get("templates") or ()) - template_ids
        if missing:
            raise JourneyError(f"{where}: templates not in [[templates]]: {', '.join(sorted(missing))}")
        try:
            out.append(Journey(**spec))
        except TypeError as exc:
            raise JourneyError(f"{where}: {exc}") from exc
    return tuple(out)
