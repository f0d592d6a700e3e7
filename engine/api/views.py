"""The read-only views the console (and any operator's script) reads: the rules in force, the
carriers' health, the published models. Pure: they shape what the API already holds."""

from __future__ import annotations

import dataclasses
from typing import Any

from engine.decisions.decide import iso
from engine.settings import Settings
from models.carriers import ALL_BANDS, ANY_NETWORK, CarrierRouter
from policy import windows
from policy.caps import COUNTRY_RULES

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _window(w: windows.WeekWindow) -> dict[str, str | None]:
    def span(day: int) -> str | None:
        if day not in w:
            return None
        start, end = w[day]
        return f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"

    return {name: span(i + 1) for i, name in enumerate(WEEKDAYS)}


def rules(settings: Settings) -> dict[str, Any]:
    """The contact windows per country (the law's, or `[policy.windows]`), the countries whose
    holidays and frequency rules apply, the operation's caps, journeys and dispute hold."""
    overrides = settings.policy.get("windows") or {}
    countries = sorted(set(windows.COUNTRY_WINDOWS) | set(overrides))
    caps = settings.caps
    return {
        "windows": {c: _window(windows.window_for(c, overrides)) for c in countries},
        "default_window": _window(windows.DEFAULT_WINDOW),
        "holiday_ban": sorted(windows.HOLIDAY_BAN),
        "country_frequency_rules": sorted(COUNTRY_RULES),
        "caps": {
            **{k: v for k, v in dataclasses.asdict(caps).items() if k != "by_country"},
            "by_country": {
                c: {k: v for k, v in dataclasses.asdict(cc).items() if k != "by_country"}
                for c, cc in caps.by_country.items()
            },
        },
        "dispute_hold_days": settings.policy.get("dispute", {}).get("hold_days"),
        "journeys": [_plain(dataclasses.asdict(j)) for j in settings.journeys],
    }


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def carriers(settings: Settings, router: CarrierRouter, model_version: str) -> dict[str, Any]:
    """Each carrier's learned answer ratio per destination network ("*": every network
    pooled) and its breakers, from the model this process serves."""
    now = router.clock()
    rows = []
    for c in settings.carriers:
        learned = {n for (n, band, carrier) in router.cells if carrier == c.id and band == ALL_BANDS}
        networks = learned | {n for (carrier, n) in router.breakers if carrier == c.id}
        for n in sorted(networks, key=lambda n: (n != ANY_NETWORK, n)):
            a, f = router.posterior(n, ALL_BANDS, c.id, now)
            b = router.breakers.get((c.id, n))
            opened = b.opened_at if b is not None else None
            rows.append(
                {
                    "carrier": c.id,
                    "network": n,
                    "answer_ratio": round(a / (a + f), 4),
                    "breaker_open": opened is not None,
                    "opened_at": iso(opened) if opened is not None else None,
                }
            )
    return {"model_version": model_version, "carriers": [c.id for c in settings.carriers], "cells": rows}
