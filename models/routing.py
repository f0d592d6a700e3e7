"""Least-cost carrier: the expected cost of a contact's carrier in a decision's value, and the
fallback when every learned route is closed (`models.carriers` chooses the carrier)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Carrier(Protocol):
    id: str
    cost_per_attempt: float
    cost_per_minute: float
    cost_per_message: float
    channels: tuple[str, ...]


def carrier_cost(carrier: Carrier, channel: str, expected_minutes: float) -> float:
    if channel == "sms":
        return carrier.cost_per_message + carrier.cost_per_attempt
    return carrier.cost_per_attempt + carrier.cost_per_minute * expected_minutes


def least_cost(
    carriers: Sequence[Carrier], channel: str, expected_minutes: float
) -> tuple[str | None, float, list[str]]:
    """(carrier, its cost, the others in order of cost) for `channel`; (None, 0, []) if none."""
    usable = sorted(
        (carrier_cost(c, channel, expected_minutes), c.id) for c in carriers if channel in c.channels
    )
    if not usable:
        return None, 0.0, []
    return usable[0][1], usable[0][0], [cid for _cost, cid in usable[1:]]
