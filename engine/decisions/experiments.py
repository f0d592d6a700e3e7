"""Champion/challenger: a stable hash split of accounts into arms, each deciding with its own
parameters (and journey set), until one arm is promoted and decides for everyone.

An arm's parameters override `[decisions]`' value terms (what a contact is worth and costs),
never the windows the models learn their labels over, so every arm's outcomes teach the same
models. An account's arm is `crc32(experiment id | account id)`: the same in every process
and every replay, and independent of the other experiments' splits.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

import msgspec

from engine.settings import NonNegative, Settings, Share

ID = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
BUCKETS = 10_000


class ArmParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What an arm may change; unset: the configuration's value."""

    payment_share: Share | None = None
    response_value: NonNegative | None = None
    optout_loss: NonNegative | None = None
    digital_failure_boost: NonNegative | None = None
    journeys: tuple[ID, ...] | None = None  # the configured journeys this arm applies (ids); () none
    # a published model version this arm decides with, frozen (kept [flow] model_retention_days);
    # unset: the model the dataflow keeps learning
    model: ID | None = None


class Arm(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: ID
    share: Annotated[float, msgspec.Meta(gt=0, le=1)]
    params: ArmParams = ArmParams()


class Experiment(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    arms: Annotated[tuple[Arm, ...], msgspec.Meta(min_length=2, max_length=8)]
    description: str = ""
    # set by POST .../promote: this arm then decides for every account
    promoted: str | None = None
    started: date | None = None  # the first day its results count (default: the day it is stored)


def problems(experiment: Experiment, settings: Settings) -> list[dict[str, object]]:
    """What the schema cannot say: shares summing to 1, distinct arm ids, known journeys."""
    out: list[dict[str, object]] = []
    total = sum(a.share for a in experiment.arms)
    if abs(total - 1.0) > 1e-9:
        out.append({"index": 0, "field": "arms", "message": f"shares must sum to 1 (they sum to {total:g})"})
    ids = [a.id for a in experiment.arms]
    if len(set(ids)) != len(ids):
        out.append({"index": 0, "field": "arms", "message": "arm ids repeat"})
    known = {j.id for j in settings.journeys}
    for i, arm in enumerate(experiment.arms):
        for j in arm.params.journeys or ():
            if j not in known:
                out.append(
                    {"index": 0, "field": f"arms[{i}].params.journeys", "message": f"unknown journey {j!r}"}
                )
    return out


def bucket(experiment_id: str, account_id: str) -> int:
    return zlib.crc32(f"{experiment_id}|{account_id}".encode()) % BUCKETS


def arm_of(experiment_id: str, experiment: Experiment, account_id: str) -> Arm:
    """The account's arm: the promoted one, else its hash bucket's by the arms' shares."""
    if experiment.promoted is not None:
        return next(a for a in experiment.arms if a.id == experiment.promoted)
    b, edge = bucket(experiment_id, account_id), 0.0
    for arm in experiment.arms:
        edge += arm.share * BUCKETS
        if b < edge:
            return arm
    return experiment.arms[-1]  # rounding: the last bucket


_ARMS: dict[tuple[int, ArmParams], Settings] = {}


def arm_settings(settings: Settings, params: ArmParams) -> Settings:
    """`settings` with the arm's overrides: one object per arm (the grid scores each arm's
    accounts together), kept while the process lives."""
    key = (id(settings), params)
    cached = _ARMS.get(key)
    if cached is not None:
        return cached
    if len(_ARMS) > 256:
        _ARMS.clear()
    changes = {
        f: getattr(params, f)
        for f in ("payment_share", "response_value", "optout_loss", "digital_failure_boost")
        if getattr(params, f) is not None
    }
    out = dataclasses.replace(settings, decisions=dataclasses.replace(settings.decisions, **changes))
    if params.journeys is not None:
        keep = set(params.journeys)
        out = dataclasses.replace(out, journeys=tuple(j for j in settings.journeys if j.id in keep))
    _ARMS[key] = out
    return out


# an account id -> its arm's label ("experiment/arm"), the settings it decides with, and the
# model (None: the live one)
Assign = Callable[[str], tuple[str | None, Settings, Any]]


def assigner(
    settings: Settings, running: tuple[str, Experiment] | None, models: dict[str, Any] | None = None
) -> Assign:
    """`models`: the scorers of the published versions the arms pin, by version."""
    if running is None:
        return lambda _account_id: (None, settings, None)
    experiment_id, experiment = running
    pinned = models or {}

    def assign(account_id: str) -> tuple[str | None, Settings, Any]:
        arm = arm_of(experiment_id, experiment, account_id)
        model = pinned.get(arm.params.model) if arm.params.model else None
        return f"{experiment_id}/{arm.id}", arm_settings(settings, arm.params), model

    return assign


def wilson(successes: float, trials: float, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (95% at z = 1.96); None without trials."""
    if trials <= 0:
        return None
    p = successes / trials
    centre = p + z * z / (2 * trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    denom = 1 + z * z / trials
    return (max(0.0, (centre - half) / denom), min(1.0, (centre + half) / denom))


def arm_results(
    experiment_id: str, experiment: Experiment, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Per arm, from the results report grouped by arm: the totals, the rates per contact with
    their 95% intervals, and each challenger's promise-rate difference from the first arm (the
    champion) with its 95% interval (normal approximation)."""
    by_label = {r["arm"]: r for r in rows}
    out = []
    for arm in experiment.arms:
        r = by_label.get(f"{experiment_id}/{arm.id}", {})
        contacts = float(r.get("contacts", 0))
        stats: dict[str, Any] = {
            "arm": arm.id,
            "share": arm.share,
            **{
                m: r.get(m, 0)
                for m in ("contacts", "engaged", "promises", "payments", "optouts", "cost", "paid", "net")
            },
            "net_per_contact": round(r.get("net", 0.0) / contacts, 4) if contacts else None,
        }
        for name, measure in (
            ("engagement_rate", "engaged"),
            ("promise_rate", "promises"),
            ("payment_rate", "payments"),
        ):
            n = float(r.get(measure, 0))
            stats[name] = round(n / contacts, 4) if contacts else None
            interval = wilson(min(n, contacts), contacts)
            stats[f"{name}_ci95"] = [round(interval[0], 4), round(interval[1], 4)] if interval else None
        out.append(stats)
    champion = out[0]
    for stats in out[1:]:
        stats["promise_rate_vs_champion"] = _difference(champion, stats)
    return out


def _difference(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any] | None:
    na, nb = float(a["contacts"]), float(b["contacts"])
    if not na or not nb:
        return None
    pa, pb = min(1.0, a["promises"] / na), min(1.0, b["promises"] / nb)
    se = math.sqrt(pa * (1 - pa) / na + pb * (1 - pb) / nb)
    d = pb - pa
    return {"difference": round(d, 4), "ci95": [round(d - 1.96 * se, 4), round(d + 1.96 * se, 4)]}
