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
from typing import Any, NamedTuple

import msgspec
import numpy as np
import orjson

from connectors.redis_store import AccountRow, RedisStore, Reservation, log_json
from engine.errors import Invalid, NotFound
from engine.settings import Settings
from engine.wire import Account, ContactPoint, DecideRequest, epoch
from features.account import FeatureView, read
from features.records import DecisionRecord
from models.candidates import (
    account_x,
    channel_x,
    dpd_bucket,
    hour_affinity,
    hour_x,
    numeric_x,
    onehot_keys,
    point_hour_lifts,
    point_x,
)
from models.carriers import route_seed
from models.contact import CHANNEL_INDEX, Scorer
from models.explore import normals, thompson_logit
from policy import journeys, windows
from policy.base import (
    DIGITAL_CHANNELS,
    Block,
    Live,
    account_blocks,
    channel_block,
    eligible_again,
    reminder_days,
)
from policy.caps import History, cap_block

ALL_CHANNELS = ("voice", "ivr", "sms", "whatsapp", "email")
CALL_CHANNELS = frozenset({"voice", "ivr"})  # where a number's right-party rate by hour applies
CONTACT_HISTORY_S = 8 * 86400  # reserved contacts read for the frequency rules (all span ≤ 7 days)
MAX_ATTEMPTS = 3
OWN_CONTACT_POINTS_ONLY = frozenset({"MX"})  # CONDUSEF: only the debtor's own contact points


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
        rows = await store.read_accounts(
            [requests[i].account_id for i in pending], min(nows) - CONTACT_HISTORY_S
        )
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
    immediate: bool = False,
) -> Contact | Wait:
    """`immediate`: the contact must happen now (a dialer's lead), not at a later hour. A wait's
    `next_eligible_at` is when contact is allowed again: the rules' lifting time moved on to the
    next opening of the debtor's calling window (a cap that lifts at midnight lifts at 07:00)."""
    window = windows.window_for(account.country, settings.policy.get("windows"))

    def wait(blocks: list[Block], until: float | None) -> Wait:
        if until is None or until <= now:
            return Wait(blocks, until)
        opens = windows.next_window_start(until, account.timezone, window, days=14, country=account.country)
        return Wait(blocks, until if opens is None else opens)

    live = row.live()
    history = row.history()
    blocks = account_blocks(live, account.balance, account.timezone, now, settings.dispute_hold_s)
    journey = journeys.select(settings.journeys, facts(account, live), now) if settings.journeys else None
    if journey is not None:
        held = journeys.journey_block(journey, [c.ts for c in history.contacts], now)
        if held is not None:
            blocks.append(held)
    reminder = None
    if [b.rule for b in blocks] == ["promise_pending"] and live.promise is not None:
        since = [c.channel for c in history.contacts if c.ts >= live.promise.ts]
        reminder = reminder_days(live, account.timezone, now, since)
    if blocks and reminder is None:
        return wait(blocks, eligible_again(blocks))

    wanted = journeys.allowed_channels(journey, req.channels or ALL_CHANNELS)
    if reminder is not None:  # the one reminder a pending promise allows: digital, near the due date
        wanted = tuple(c for c in wanted if c in DIGITAL_CHANNELS)
    configured = settings.channels or {c: None for c in ALL_CHANNELS}
    points = usable_points(account)
    channel_blocks: list[Block] = []
    channels = []
    for c in wanted:
        if c not in configured:
            continue
        b = channel_block(live, c)
        if b is not None:
            channel_blocks.append(b)
        elif any(c in p.channels for p in points):
            channels.append(c)
    if not channels:
        if reminder is not None:
            return wait(blocks, eligible_again(blocks))
        return Wait(channel_blocks or [Block("no_channel")], None)

    horizon = req.horizon_hours or settings.decisions.default_horizon_hours
    slots = windows.permitted_hour_starts(now, account.timezone, horizon, window, account.country)
    if reminder is not None:
        tz = windows.zone(account.timezone)
        slots = [(t, h) for t, h in slots if datetime.fromtimestamp(t, tz).date() in reminder]
        if not slots:
            return wait(blocks, eligible_again(blocks))
    if immediate:
        slots = slots[:1] if slots and slots[0][0] == now else []
    if not slots:
        return Wait(
            [Block("quiet_hours")],
            windows.next_window_start(now, account.timezone, window, country=account.country),
        )

    choice = best_contact(
        account, points, view, scorer, settings, now, channels, slots, history, window, journey
    )
    if isinstance(choice, Wait):
        return wait(choice.blocks, choice.next_eligible_at)
    if reminder is not None:
        choice.reasons.append("promise_reminder")
    if journey is not None:
        choice.reasons.append(f"journey={journey.id}")
    return choice


def facts(account: Account, live: Live) -> journeys.Facts:
    return journeys.Facts(
        account.portfolio,
        account.product,
        account.country,
        account.days_past_due,
        account.balance,
        account.attributes,
        live.intent,
        live.intent_at,
    )


def best_contact(
    account: Account,
    points: tuple[ContactPoint, ...],
    view: FeatureView,
    scorer: Scorer,
    settings: Settings,
    now: float,
    channels: list[str],
    slots: list[tuple[float, int]],
    history: History,
    window: windows.WeekWindow,
    journey: journeys.Journey | None = None,
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

    # one row per (channel, consented contact point): a rule that binds one number leaves others
    pairs = _pairs(points, view, scorer, settings, channels, bucket, balance)
    rows = np.array([CHANNEL_INDEX[p.channel] for p in pairs], dtype=np.intp)[:, None]
    # (head, pair, 1): the hour-free logit terms of each pair
    base = np.array([[p.resp for p in pairs], [p.pay for p in pairs]])[:, :, None]
    cost = np.array([p.cost for p in pairs])[:, None]

    # (head, channel, hour) logits of both heads at once: response [0], pay given response [1]
    logits = scorer.head_terms[:, rows, hours] + scorer.affinity_weights * affinity[hours] + base
    if any(p.lifts is not None for p in pairs):  # numbers with a call history by hour
        lifts = np.array([p.lifts or NO_LIFT for p in pairs])
        logits = logits + scorer.point_hour_weights * lifts[:, hours]
    p = 1.0 / (1.0 + np.exp(-logits))
    p_resp, p_pay = p[0], p[1]
    evidence = scorer.evidence_grid[rows, hours]
    z = normals(seed, p_resp.size + len(settings.templates))
    drawn = thompson_logit(logits[0], p_resp, evidence, z[: p_resp.size].reshape(p_resp.shape))
    value = (1.0 / (1.0 + np.exp(-drawn))) * (
        p_pay * (balance * settings.decisions.payment_share) + settings.decisions.response_value
    ) - cost
    found = _first_permitted(account, history, settings, window, pairs, slots, value)
    if isinstance(found, Wait):
        return found
    ci, hi = found
    score = float(value[ci, hi])
    pair = pairs[ci]
    channel, point, channel_cost, carrier = pair.channel, pair.point, pair.cost, pair.carrier
    bx = dict.fromkeys(pair.keys, 1.0) | numeric_x(view, channel, point.id, balance)
    send_at, hour = slots[hi]
    template = choose_template(settings, scorer, account, channel, bucket, z[p_resp.size :], journey)
    reasons = [
        f"best_hour={hour}",
        f"p_response={p_resp[ci, hi]:.3f}",
        f"p_pay_if_response={p_pay[ci, hi]:.3f}",
        f"cost={channel_cost:.4f}",
        f"explore=thompson(n={int(evidence[ci, hi])})",
    ]
    if carrier:
        carrier, why = _carrier(scorer, settings, channel, point, hour, send_at, carrier)
        reasons.append(why)
    x = {**bx, **hour_x(channel, hour, float(affinity[hour]))}
    if pair.lifts is not None:
        x["pt_rpc_hour"] = pair.lifts[hour]
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


def _first_permitted(
    account: Account,
    history: History,
    settings: Settings,
    window: windows.WeekWindow,
    pairs: list[Pair],
    slots: list[tuple[float, int]],
    value: np.ndarray,
) -> tuple[int, int] | Wait:
    """The best-valued (channel, slot) that the frequency rules and the contact point's own
    time zone allow. Rules are checked lazily, best first: they rarely bind, so one check is
    the usual cost; a forbidden cell is masked and the next best tried."""
    caps = settings.caps
    value = value.copy()
    blocks: dict[str, Block] = {}
    while True:
        ci, hi = (int(i) for i in np.unravel_index(int(np.argmax(value)), value.shape))
        if value[ci, hi] <= 0:
            if not blocks:
                return Wait([Block("no_positive_value")], None)
            untils = [b.until for b in blocks.values() if b.until is not None]
            return Wait(list(blocks.values()), min(untils) if untils else None)
        channel, point, t = pairs[ci].channel, pairs[ci].point, slots[hi][0]
        block = None
        own_zone = point.timezone and point.timezone != account.timezone
        if own_zone and not windows.allowed_at(t, point.timezone, window):
            block = Block("quiet_hours_contact_point", None)
        if block is None:
            block = cap_block(account.country, caps, history, channel, point.id, t, account.timezone)
        if block is None:
            return ci, hi
        kept = blocks.get(block.rule)
        if kept is None or (block.until is not None and kept.until is not None and block.until < kept.until):
            blocks[block.rule] = block
        value[ci, hi] = -np.inf


def _carrier(
    scorer: Scorer,
    settings: Settings,
    channel: str,
    point: ContactPoint,
    hour: int,
    send_at: float,
    least_cost: str,
) -> tuple[str, str]:
    """The learned router's carrier for this number's network at the chosen hour (breakers
    respected; probes are left to /v1/route); the least-cost carrier when every breaker is open."""
    rng = route_seed(settings.decisions.seed, point.address, send_at)
    route = scorer.router.route(settings.carriers, channel, point.network, hour, send_at, rng)
    if route.carrier is None:
        return least_cost, "carrier=least_cost(all_breakers_open)"
    return route.carrier, f"carrier_asr={route.asr:.3f}"


def usable_points(account: Account) -> tuple[ContactPoint, ...]:
    """The contact points a collection contact may use: in MX, only the debtor's own."""
    if account.country in OWN_CONTACT_POINTS_ONLY:
        return tuple(p for p in account.contact_points if p.owner == "debtor")
    return account.contact_points


class Pair(NamedTuple):
    """A channel on one of the debtor's contact points, with its hour-free scoring terms."""

    channel: str
    point: ContactPoint
    resp: float  # response-head logit terms that do not depend on the hour
    pay: float
    keys: tuple[str, ...]
    cost: float
    carrier: str | None
    lifts: tuple[float, ...] | None  # the number's right-party lift by local hour, if it has calls by hour


NO_LIFT = (0.0,) * 24


def _pairs(
    points: tuple[ContactPoint, ...],
    view: FeatureView,
    scorer: Scorer,
    settings: Settings,
    channels: list[str],
    bucket: str,
    balance: float,
) -> list[Pair]:
    """Every channel on every contact point consented to it. The logit terms split by what
    they depend on (the account, the channel, the point), so each is computed once."""
    account_r, account_p = scorer.dots(account_x(view, balance))
    point_terms: dict[str, tuple[float, float]] = {}
    lifts = {p.id: point_hour_lifts(view, p.id) for p in points} if view.point_bands else {}
    out = []
    for channel in channels:
        cost, carrier = settings.contact_costs[channel]
        channel_r, channel_p = scorer.dots(channel_x(view, channel))
        for p in points:
            if channel not in p.channels:
                continue
            terms = point_terms.get(p.id)
            if terms is None:
                terms = point_terms[p.id] = scorer.dots(point_x(view, p.id))
            point_r, point_p = terms
            keys = onehot_keys(channel, bucket, p.type)
            onehot_r, onehot_p = scorer.onehot_dots(keys)
            resp = onehot_r + account_r + channel_r + point_r
            pay = onehot_p + account_p + channel_p + point_p
            lift = lifts.get(p.id) if channel in CALL_CHANNELS else None
            out.append(Pair(channel, p, resp, pay, keys, cost, carrier, lift))
    return out


def choose_template(
    settings: Settings,
    scorer: Scorer,
    account: Account,
    channel: str,
    bucket: str,
    z: np.ndarray,
    journey: journeys.Journey | None = None,
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
    eligible = journeys.allowed_templates(journey, eligible)
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
    lease: bool = False,
) -> tuple[dict[str, Any], Reservation]:
    """`lease`: a dialer's lead, held for the lease's minutes rather than a reservation's."""
    d = settings.decisions
    expires = c.send_at + (d.lease_minutes if lease else d.reservation_minutes) * 60
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
        lease=lease,
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
        expires_at=expires,
    )
    return answer, reservation
