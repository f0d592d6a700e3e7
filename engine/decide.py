"""POST /v1/decide, top to bottom:
parse → one Redis round trip → candidates → policy → score → reserve → answer.

`plan` is pure (no I/O): given what Redis held and the current model, it returns either a
contact to reserve or a wait with the rules that hold it back. `decide_many` does the I/O:
one pipelined read for the whole batch, one pipelined reservation script per contact, and a
re-plan of any account that changed in between (optimistic concurrency on its `ver`).
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
import numpy as np
import orjson

from connectors.redis_store import AccountRow, RedisStore, Reservation, log_json
from engine.errors import Invalid, NotFound
from engine.settings import Settings
from engine.wire import Account, ContactPoint, DecideRequest, epoch
from features.account import FeatureView, read
from features.records import DecisionRecord
from models.candidates import dpd_bucket, hour_affinity, hour_x, numeric_x, onehot_keys
from models.contact import CHANNEL_INDEX, Scorer
from models.explore import normals, thompson_logit
from policy import windows
from policy.base import Block, account_blocks, channel_block, eligible_again

ALL_CHANNELS = ("voice", "ivr", "sms", "whatsapp", "email")
MAX_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Contact:
    channel: str
    point_id: str
    address: str
    send_at: float
    hour: int
    template: str | None
    carrier: str | None
    score: float
    p_response: float
    p_pay: float
    cost: float
    x: dict[str, float]
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Wait:
    blocks: list[Block]
    next_eligible_at: float | None


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def local_iso(ts: float, timezone: str) -> str:
    return datetime.fromtimestamp(ts, windows.zone(timezone)).isoformat(timespec="seconds")


# --- the I/O: read once, plan, reserve -----------------------------------------------------


async def decide_many(
    store: RedisStore, settings: Settings, scorer: Scorer, requests: list[DecideRequest]
) -> list[dict[str, Any]]:
    nows = [epoch(r.now) for r in requests]
    answers: list[dict[str, Any] | None] = [None] * len(requests)
    pending = list(range(len(requests)))
    for attempt in range(MAX_ATTEMPTS):
        rows = await store.read_accounts([requests[i].account_id for i in pending])
        if attempt == 0:
            _require_accounts(requests, rows)
        reservations, owners, waits = [], [], []
        for i, row in zip(pending, rows, strict=True):
            req, now = requests[i], nows[i]
            account = msgspec.json.decode(row.fields[b"doc"], type=Account)
            view = read(row.features(), now, settings.flow.half_life_days * 86400)
            choice = plan(req, account, row, view, scorer, settings, now)
            decision_id = new_decision_id(store.keys.shard(req.account_id))
            if isinstance(choice, Wait):
                answers[i] = wait_answer(decision_id, req.account_id, choice)
                waits.append((req.account_id, orjson.dumps({"k": "w", "ts": now, **answers[i]})))
                continue
            answer, reservation = contact_answer(decision_id, account, choice, scorer, settings, now, row)
            answers[i] = answer
            reservations.append(reservation)
            owners.append(i)
        reserved = await store.reserve(reservations, waits)
        pending = [i for i, ok in zip(owners, reserved, strict=True) if not ok]
        if not pending:
            break
    for i in pending:  # the account kept changing under us: let the caller come back
        answers[i] = wait_answer(
            new_decision_id(store.keys.shard(requests[i].account_id)),
            requests[i].account_id,
            Wait([Block("contention")], nows[i]),
        )
    return answers  # type: ignore[return-value]


def _require_accounts(requests: list[DecideRequest], rows: list[AccountRow]) -> None:
    missing = [i for i, row in enumerate(rows) if not row.exists]
    if not missing:
        return
    if len(requests) == 1:
        raise NotFound(f"unknown account {requests[0].account_id!r}")
    raise Invalid(
        f"{len(missing)} of {len(requests)} requests name unknown accounts; nothing was reserved",
        [
            {"index": i, "field": "account_id", "message": f"unknown account {requests[i].account_id!r}"}
            for i in missing
        ],
    )


def new_decision_id(shard: int) -> str:
    return f"d-{shard:03d}-{os.urandom(6).hex()}"


# --- the pure part: candidates → policy → score ---------------------------------------------


def plan(
    req: DecideRequest,
    account: Account,
    row: AccountRow,
    view: FeatureView,
    scorer: Scorer,
    settings: Settings,
    now: float,
) -> Contact | Wait:
    live = row.live()
    blocks = account_blocks(live, account.balance, account.timezone, now)
    if blocks:
        return Wait(blocks, eligible_again(blocks))

    wanted = req.channels or ALL_CHANNELS
    configured = settings.channels or {c: None for c in ALL_CHANNELS}
    channel_blocks: list[Block] = []
    channels = []
    for c in wanted:
        if c not in configured:
            continue
        b = channel_block(live, c)
        if b is not None:
            channel_blocks.append(b)
        elif any(c in p.channels for p in account.contact_points):
            channels.append(c)
    if not channels:
        return Wait(channel_blocks or [Block("no_channel")], None)

    window = windows.window_for(account.country, settings.policy.get("windows"))
    horizon = req.horizon_hours or settings.decisions.default_horizon_hours
    slots = windows.permitted_hour_starts(now, account.timezone, horizon, window)
    if not slots:
        return Wait([Block("quiet_hours")], windows.next_window_start(now, account.timezone, window))

    return best_contact(account, view, scorer, settings, now, channels, slots)


def best_contact(
    account: Account,
    view: FeatureView,
    scorer: Scorer,
    settings: Settings,
    now: float,
    channels: list[str],
    slots: list[tuple[float, int]],
) -> Contact | Wait:
    """Score every (channel, permitted hour) at once; each channel on its best contact point.

    value = P̃(response) × (P(pay | response) × balance × share + response value) − cost, where
    P̃ is a Thompson draw: the model's logit plus noise shrinking with the cell's evidence.
    """
    seed = zlib.crc32(f"{settings.decisions.seed}|{account.account_id}|{now}".encode())
    bucket = dpd_bucket(account.days_past_due)
    balance = settings.money.to_base(account.balance, account.currency)
    affinity = np.asarray(hour_affinity(view))
    hours = np.fromiter((h for _t, h in slots), dtype=np.intp, count=len(slots))
    rows = np.array([CHANNEL_INDEX[c] for c in channels], dtype=np.intp)[:, None]

    per_channel = [_channel_terms(account, view, scorer, settings, c, bucket, balance) for c in channels]
    # (head, channel, 1): the hour-free logit terms of each channel's best contact point
    base = np.array([[t[0] for t in per_channel], [t[1] for t in per_channel]])[:, :, None]
    cost = np.array([t[4] for t in per_channel])[:, None]

    # (head, channel, hour) logits of both heads at once: response [0], pay given response [1]
    logits = scorer.head_terms[:, rows, hours] + scorer.affinity_weights * affinity[hours] + base
    p = 1.0 / (1.0 + np.exp(-logits))
    p_resp, p_pay = p[0], p[1]
    evidence = scorer.evidence_grid[rows, hours]
    z = normals(seed, p_resp.size + len(settings.templates))
    drawn = thompson_logit(logits[0], p_resp, evidence, z[: p_resp.size].reshape(p_resp.shape))
    value = (1.0 / (1.0 + np.exp(-drawn))) * (
        p_pay * (balance * settings.decisions.payment_share) + settings.decisions.response_value
    ) - cost
    ci, hi = np.unravel_index(int(np.argmax(value)), value.shape)
    score = float(value[ci, hi])
    if score <= 0:
        return Wait([Block("no_positive_value")], None)
    channel = channels[ci]
    _rb, _pb, point, bx, channel_cost, carrier = per_channel[ci]
    send_at, hour = slots[hi]
    template = choose_template(settings, scorer, account, channel, bucket, z[p_resp.size :])
    reasons = [
        f"best_hour={hour}",
        f"p_response={p_resp[ci, hi]:.3f}",
        f"p_pay_if_response={p_pay[ci, hi]:.3f}",
        f"cost={channel_cost:.4f}",
        f"explore=thompson(n={int(evidence[ci, hi])})",
    ]
    if carrier:
        reasons.append("carrier=least_cost")
    x = {**bx, **hour_x(channel, hour, float(affinity[hour]))}
    return Contact(
        channel,
        point.id,
        point.address,
        send_at,
        hour,
        template,
        carrier,
        score,
        float(p_resp[ci, hi]),
        float(p_pay[ci, hi]),
        channel_cost,
        x,
        reasons,
    )


def _channel_terms(
    account: Account,
    view: FeatureView,
    scorer: Scorer,
    settings: Settings,
    channel: str,
    bucket: str,
    balance: float,
) -> tuple[float, float, ContactPoint, dict[str, float], float, str | None]:
    """The channel's best contact point, its hour-free logit terms, its cost and carrier."""
    cost, carrier = settings.contact_costs[channel]
    best = None
    for p in account.contact_points:
        if channel in p.channels:
            numeric = numeric_x(view, channel, p.id, balance)
            keys = onehot_keys(channel, bucket, p.type)
            (r1, p1), (r2, p2) = scorer.onehot_dots(keys), scorer.dots(numeric)
            if best is None or (r1 + r2, p1 + p2) > best[:2]:
                best = (r1 + r2, p1 + p2, p, keys, numeric)
    assert best is not None  # callers pass only channels some contact point consented to
    resp, pay, point, keys, numeric = best
    return resp, pay, point, dict.fromkeys(keys, 1.0) | numeric, cost, carrier


def choose_template(
    settings: Settings, scorer: Scorer, account: Account, channel: str, bucket: str, z: np.ndarray
) -> str | None:
    """Thompson sampling among the templates configured for this channel, DPD and portfolio;
    `z` holds one standard normal per configured template."""
    eligible = [
        t.id
        for t in settings.templates
        if t.channel == channel
        and t.days_past_due_min <= account.days_past_due <= t.days_past_due_max
        and (t.portfolio is None or t.portfolio == account.portfolio)
    ]
    if not eligible:
        return None
    return scorer.templates.choose(channel, bucket, eligible, z[: len(eligible)])[0]


# --- answers --------------------------------------------------------------------------------


def wait_answer(decision_id: str, account_id: str, wait: Wait) -> dict[str, Any]:
    return {
        "decision_id": decision_id,
        "account_id": account_id,
        "action": "wait",
        "next_eligible_at": iso(wait.next_eligible_at),
        "reasons": [b.rule for b in wait.blocks],
    }


def contact_answer(
    decision_id: str,
    account: Account,
    c: Contact,
    scorer: Scorer,
    settings: Settings,
    now: float,
    row: AccountRow,
) -> tuple[dict[str, Any], Reservation]:
    expires = c.send_at + settings.decisions.reservation_minutes * 60
    deadline = c.send_at + settings.decisions.attribution_hours * 3600
    record = DecisionRecord(
        decision_id=decision_id,
        account_id=account.account_id,
        ts=now,
        send_at=c.send_at,
        deadline=deadline,
        channel=c.channel,
        contact_point_id=c.point_id,
        template=c.template,
        model_version=scorer.version,
        dpd_bucket=dpd_bucket(account.days_past_due),
        hour=c.hour,
        response_deadline=c.send_at + settings.decisions.response_window_hours * 3600,
        x=c.x,
    )
    answer = {
        "decision_id": decision_id,
        "account_id": account.account_id,
        "action": "contact",
        "channel": c.channel,
        "contact_point_id": c.point_id,
        "address": c.address,
        "carrier": c.carrier,
        "template": c.template,
        "send_at": local_iso(c.send_at, account.timezone),
        "expires_at": local_iso(expires, account.timezone),
        "score": round(c.score, 4),
        "model_version": scorer.version,
        "reasons": c.reasons,
    }
    reservation = Reservation(
        account_id=account.account_id,
        decision_id=decision_id,
        expected_ver=row.ver,
        lock=f"{decision_id}|{c.channel}|{expires}",
        contact_at=c.send_at,
        contact_member=f"{decision_id}|{c.channel}|{c.point_id}",
        record=log_json(record),
        deadline=deadline,
    )
    return answer, reservation
