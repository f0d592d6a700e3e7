"""The candidate grid of a decision, (channel on a contact point) × permitted hour, and how
many decisions' grids are scored at once.

Scoring is numpy over small arrays, where each call's fixed cost (~1 µs) outweighs the
arithmetic: a grid of 8 pairs × 14 hours costs about the same as 8 such grids stacked. So
`score` stacks every grid of a batch (pairs as rows, hours padded to the widest grid) and
computes the logits, probabilities, Thompson draws and values in one pass; only the pick of
each grid's best permitted cell, and its answer, are per decision. Pure: no I/O.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from engine.settings import Settings
from engine.wire import Account, ContactPoint
from features.account import FeatureView
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
    recent_contacts,
)
from models.carriers import route_seed
from models.contact import CHANNEL_INDEX, Scorer
from models.explore import normals, thompson_logit
from policy import journeys, windows
from policy.base import Block
from policy.caps import History, cap_block, rolling_week

CALL_CHANNELS = frozenset({"voice", "ivr"})  # where a number's right-party rate by hour applies
NO_LIFT = (0.0,) * 24


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
    propensity: float | None = None  # of this action under the exploration noise (models/explore.py)


@dataclass(frozen=True, slots=True)
class Wait:
    blocks: list[Block]
    next_eligible_at: float | None
    propensity: float | None = None  # set when the noise could have made it a contact


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


@dataclass(slots=True)
class Grid:
    """One decision's candidates, after the rules that need no hour or contact point."""

    account: Account
    view: FeatureView
    now: float
    slots: list[tuple[float, int]]  # (send time, local hour), the permitted hours in the horizon
    pairs: list[Pair]
    history: History
    window: windows.WeekWindow
    journey: journeys.Journey | None
    seed: int
    bucket: str
    balance: float  # in the base currency
    affinity: tuple[float, ...]  # the debtor's response affinity by local hour
    notes: list[str]  # reasons a contact from this grid carries besides its scores


def grid(
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
    notes: list[str] | None = None,
) -> Grid:
    bucket = dpd_bucket(account.days_past_due)
    balance = settings.money.to_base(account.balance, account.currency)
    return Grid(
        account,
        view,
        now,
        slots,
        _pairs(points, view, scorer, settings, channels, bucket, balance),
        history,
        window,
        journey,
        zlib.crc32(f"{settings.decisions.seed}|{account.account_id}|{now}".encode()),
        bucket,
        balance,
        hour_affinity(view),
        notes or [],
    )


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


class Scores(NamedTuple):
    """A batch of grids scored. Rows are the pairs of every grid in turn (grid i owns rows
    `first[i]:first[i + 1]`), columns its slots (padding past a grid's own slots is -inf)."""

    value: np.ndarray  # (row, slot) expected value of the Thompson draw, net of cost
    p_resp: np.ndarray  # (row, slot) the model's P(response)
    p_pay: np.ndarray  # (row, slot) P(pay | response)
    evidence: np.ndarray  # (row, slot) examples the model has seen of the cell's channel and hour
    logit: np.ndarray  # (row, slot) the response logit before the draw
    stake: np.ndarray  # (row, slot) what a response is worth: value = P̃(response) × stake − cost
    cost: np.ndarray  # (row,)
    first: list[int]
    template_z: list[np.ndarray]  # per grid, one standard normal per configured template


def score(grids: Sequence[Grid], scorer: Scorer, settings: Settings) -> Scores:
    """value = P̃(response) × (P(pay | response) × balance × share + response value) − cost,
    where P̃ is a Thompson draw: the model's logit plus noise shrinking with the cell's
    evidence. Each grid draws its noise from its own seed, so a decision scores the same
    alone or in a batch."""
    first = [0]
    for g in grids:
        first.append(first[-1] + len(g.pairs))
    width = max(len(g.slots) for g in grids)
    pairs = [p for g in grids for p in g.pairs]
    share = settings.decisions.payment_share
    loss = settings.decisions.optout_loss
    # per row (a pair): its logit terms that do not depend on the hour, cost, and money at stake
    terms = np.array(
        [
            [p.resp for p in pairs],
            [p.pay for p in pairs],
            [p.cost for p in pairs] if not loss else _costs(grids, scorer, share * loss),
            [g.balance * share for g in grids for _p in g.pairs],
        ]
    )
    # the local hour of each (row, slot), and the debtor's affinity to it; a grid narrower than
    # the widest repeats its last hour (padding, never chosen)
    hour_lists = [[h for _t, h in g.slots] for g in grids]
    if len(grids) == 1:
        hours = np.array(hour_lists[0], dtype=np.intp)[None, :]  # (1, slot): the same for every row
        affinity = np.asarray(grids[0].affinity)[hours]
    else:
        for hl in hour_lists:
            hl += [hl[-1]] * (width - len(hl))
        by_grid = np.repeat(np.arange(len(grids)), np.diff(first))
        hours = np.array(hour_lists, dtype=np.intp)[by_grid]
        affinity = np.array([g.affinity for g in grids])[by_grid[:, None], hours]
    channel = np.array([CHANNEL_INDEX[p.channel] for p in pairs], dtype=np.intp)[:, None]

    # (head, row, slot) logits of both heads at once: response [0], pay given response [1]
    logits = scorer.head_terms[:, channel, hours] + scorer.affinity_weights * affinity + terms[:2, :, None]
    if any(p.lifts is not None for p in pairs):  # numbers with a call history by hour
        lifts = np.array([p.lifts or NO_LIFT for p in pairs])
        logits = logits + scorer.point_hour_weights * lifts[np.arange(len(pairs))[:, None], hours]
    p = 1.0 / (1.0 + np.exp(-logits))
    p_resp, p_pay = p[0], p[1]
    evidence = scorer.evidence_grid[channel, hours]

    n_templates = len(settings.templates)
    z_blocks, template_z = [], []
    for g, top, bottom in zip(grids, first[:-1], first[1:], strict=True):
        cells = (bottom - top) * len(g.slots)
        drawn = normals(g.seed, cells + n_templates)
        block = drawn[:cells].reshape(bottom - top, len(g.slots))
        if len(g.slots) < width:
            block = np.concatenate([block, np.zeros((bottom - top, width - len(g.slots)))], axis=1)
        z_blocks.append(block)
        template_z.append(drawn[cells:])
    z = z_blocks[0] if len(z_blocks) == 1 else np.concatenate(z_blocks)
    drawn = thompson_logit(logits[0], p_resp, evidence, z)
    stake = p_pay * terms[3][:, None] + settings.decisions.response_value
    value = (1.0 / (1.0 + np.exp(-drawn))) * stake
    value -= terms[2][:, None]
    if any(len(g.slots) < width for g in grids):
        slots = np.array([len(g.slots) for g in grids])[by_grid][:, None]
        value[np.arange(width)[None, :] >= slots] = -np.inf
    return Scores(value, p_resp, p_pay, evidence, logits[0], stake, terms[2], first, template_z)


def _costs(grids: Sequence[Grid], scorer: Scorer, stake_share: float) -> list[float]:
    """Each pair's cost: its money, plus the learned risk that the contact ends in an opt-out or
    a dispute (by channel and the account's recent contacts) times what that loses."""
    out = []
    for g in grids:
        recent = recent_contacts(g.view)
        for p in g.pairs:
            out.append(p.cost + scorer.optout.risk(p.channel, recent) * g.balance * stake_share)
    return out


def pick(g: Grid, scores: Scores, index: int, scorer: Scorer, settings: Settings) -> Contact | Wait:
    """The `index`-th grid's best permitted cell as a contact, or why none is."""
    top = scores.first[index]
    rows = slice(top, scores.first[index + 1])
    checked: dict[tuple[int, int], bool] = {}
    found = _first_permitted(g, settings, scores.value[rows, : len(g.slots)], checked)
    draws = settings.decisions.propensity_draws
    if isinstance(found, Wait):
        if draws:
            held = cell_propensity(g, scores, index, settings, None, checked)
            return Wait(found.blocks, found.next_eligible_at, held)
        return found
    pi, hi = found
    ri = top + pi
    pair = g.pairs[pi]
    channel, point, channel_cost, carrier = pair.channel, pair.point, pair.cost, pair.carrier
    bx = dict.fromkeys(pair.keys, 1.0) | numeric_x(g.view, channel, point.id, g.balance)
    send_at, hour = g.slots[hi]
    template, template_p = choose_template(
        settings, scorer, g.account, channel, g.bucket, scores.template_z[index], g.journey, draws, g.seed
    )
    propensity = cell_propensity(g, scores, index, settings, found, checked) * template_p if draws else None
    p_resp, p_pay = float(scores.p_resp[ri, hi]), float(scores.p_pay[ri, hi])
    reasons = [
        f"best_hour={hour}",
        f"p_response={p_resp:.3f}",
        f"p_pay_if_response={p_pay:.3f}",
        f"cost={channel_cost:.4f}",
        f"explore=thompson(n={int(scores.evidence[ri, hi])})",
    ]
    if carrier:
        carrier, why = _carrier(scorer, settings, channel, point, hour, send_at, carrier)
        reasons.append(why)
    x = {**bx, **hour_x(channel, hour, g.affinity[hour])}
    if pair.lifts is not None:
        x["pt_rpc_hour"] = pair.lifts[hour]
    reasons += g.notes
    return Contact(
        channel,
        point.id,
        point.address,
        send_at,
        hour,
        template,
        carrier,
        float(scores.value[ri, hi]),
        p_resp,
        p_pay,
        channel_cost,
        x,
        reasons,
        propensity,
    )


def best_contact(g: Grid, scorer: Scorer, settings: Settings) -> Contact | Wait:
    """One grid scored alone (the same answer it gets in any batch)."""
    return pick(g, score([g], scorer, settings), 0, scorer, settings)


def _first_permitted(
    g: Grid, settings: Settings, value: np.ndarray, checked: dict[tuple[int, int], bool] | None = None
) -> tuple[int, int] | Wait:
    """The best-valued (pair, slot) that the frequency rules and the contact point's own
    time zone allow. Rules are checked lazily, best first: they rarely bind, so one check is
    the usual cost; a forbidden cell is masked and the next best tried. `checked` collects
    each cell looked at and whether it was permitted."""
    width = value.shape[1]
    flat = value.ravel()
    # best first, ties in index order (what argmax picks); one sort instead of an argmax per
    # forbidden cell, so a capped account's wait costs its cells' rule checks and no more
    order = np.argsort(-flat, kind="stable")
    positive = int(np.count_nonzero(flat > 0))
    blocks: dict[str, Block] = {}
    for cell in order[:positive].tolist():
        ci, hi = divmod(cell, width)
        block = _cell_block(g, settings, ci, hi)
        if checked is not None:
            checked[ci, hi] = block is None
        if block is None:
            return ci, hi
        kept = blocks.get(block.rule)
        if kept is None or (block.until is not None and kept.until is not None and block.until < kept.until):
            blocks[block.rule] = block
    if not blocks:
        return Wait([Block("no_positive_value")], None)
    untils = [b.until for b in blocks.values() if b.until is not None]
    return Wait(list(blocks.values()), min(untils) if untils else None)


def _cell_block(g: Grid, settings: Settings, ci: int, hi: int) -> Block | None:
    """The rule that forbids contact on pair `ci` at slot `hi`, if any."""
    account = g.account
    channel, point, t = g.pairs[ci].channel, g.pairs[ci].point, g.slots[hi][0]
    own_zone = point.timezone and point.timezone != account.timezone
    if own_zone and not windows.allowed_at(t, point.timezone, g.window):
        return Block("quiet_hours_contact_point", None)
    block = cap_block(account.country, settings.caps, g.history, channel, point.id, t, account.timezone)
    if block is None and g.journey is not None and g.journey.contacts_per_week is not None:
        until = rolling_week([c.ts for c in g.history.contacts], t, g.journey.contacts_per_week)
        if until is not None:
            block = Block(f"journey_week:{g.journey.id}", until)
    return block


def cell_propensity(
    g: Grid,
    scores: Scores,
    index: int,
    settings: Settings,
    chosen: tuple[int, int] | None,
    checked: dict[tuple[int, int], bool],
) -> float:
    """P(the exploration noise picks `chosen`; None: a wait) for off-policy evaluation.

    Monte-Carlo: `propensity_draws` fresh draws of the Thompson noise (from the decision's
    own seed, so a replay logs the same figure), each resolved as `pick` resolves its draw:
    the best cell the rules permit, if its value is positive. The decision's own draw is one
    more sample, so the estimate is (hits + 1) / (draws + 1): never 0 for what was done."""
    draws = settings.decisions.propensity_draws
    top, bottom = scores.first[index], scores.first[index + 1]
    width = len(g.slots)
    rows = bottom - top
    logit = scores.logit[top:bottom, :width]
    p = scores.p_resp[top:bottom, :width]
    z = normals(g.seed ^ 0x5DEECE66D, draws * rows * width).reshape(draws, rows, width)
    drawn = thompson_logit(logit, p, scores.evidence[top:bottom, :width], z)
    value = (1.0 / (1.0 + np.exp(-drawn))) * scores.stake[top:bottom, :width]
    value = (value - scores.cost[top:bottom, None]).reshape(draws, rows * width)
    permitted = {ci * width + hi: ok for (ci, hi), ok in checked.items()}
    for cell, ok in permitted.items():
        if not ok:
            value[:, cell] = -np.inf
    while True:  # each draw's best cell, checking the rules of cells no draw had reached yet
        best = value.argmax(axis=1)
        positive = value[np.arange(draws), best] > 0
        fresh = set(np.unique(best[positive]).tolist()) - permitted.keys()
        if not fresh:
            break
        for cell in fresh:
            permitted[cell] = _cell_block(g, settings, *divmod(cell, width)) is None
            if not permitted[cell]:
                value[:, cell] = -np.inf
    if chosen is None:
        hits = int(np.sum(~positive))
    else:
        hits = int(np.sum(positive & (best == chosen[0] * width + chosen[1])))
    return (hits + 1) / (draws + 1)


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


def choose_template(
    settings: Settings,
    scorer: Scorer,
    account: Account,
    channel: str,
    bucket: str,
    z: np.ndarray,
    journey: journeys.Journey | None = None,
    draws: int = 0,
    seed: int = 0,
) -> tuple[str | None, float]:
    """Thompson sampling among the templates configured for this channel, DPD and portfolio;
    `z` holds one standard normal per configured template. With the template, the propensity
    of that choice over `draws` more draws (1.0 when there was no choice)."""
    eligible = [
        t.id
        for t in settings.templates
        if t.channel == channel
        and t.days_past_due_min <= account.days_past_due <= t.days_past_due_max
        and (t.portfolio is None or t.portfolio == account.portfolio)
    ]
    eligible = journeys.allowed_templates(journey, eligible)
    if not eligible:
        return None, 1.0
    chosen = scorer.templates.choose(channel, bucket, eligible, z[: len(eligible)])[0]
    if len(eligible) == 1 or not draws:
        return chosen, 1.0
    noise = normals(seed ^ 0x2545F491, draws * len(eligible)).reshape(draws, len(eligible))
    hits = scorer.templates.choices(channel, bucket, eligible, noise).count(chosen)
    return chosen, (hits + 1) / (draws + 1)
