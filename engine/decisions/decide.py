"""POST /v1/decide, top to bottom:
parse → one Redis round trip → candidates → policy → score → reserve → answer.

`plan_many` is pure (no I/O): given what Redis held and the current model, it returns for each
request either a contact to reserve or a wait with the rules that hold it back, scoring every
open request's grid in one pass (`engine.decisions.grid`). `decide_many` does the I/O: one pipelined
read for the whole batch, one pipelined reservation script per contact, and a re-plan of any
account that changed in between (optimistic concurrency on its `ver`). A batch is a request's
JSON array, or the single requests that reached the process together (`engine.decisions.coalesce`)."""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, NamedTuple

import msgspec
import orjson

from connectors.store import (
    CONTACT_WINDOW_S,
    AccountRow,
    OutcomeUnknown,
    RedisStore,
    Reservation,
    StoreUnavailable,
    log_json,
    partly_applied,
)
from engine.decisions.experiments import Assign
from engine.decisions.grid import Contact, Grid, Wait, grid, pick, score
from engine.errors import Invalid, NotFound
from engine.settings import Settings
from engine.wire import Account, ContactPoint, DecideRequest, epoch
from features.account import FeatureView, read
from features.records import DecisionRecord
from models.candidates import dpd_bucket
from models.contact import Scorer
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

ALL_CHANNELS = ("voice", "ivr", "sms", "whatsapp", "email")
CONTACT_HISTORY_S = CONTACT_WINDOW_S  # reserved contacts read for the frequency rules (all span ≤ 7 days)
MAX_ATTEMPTS = 3
OWN_CONTACT_POINTS_ONLY = frozenset({"MX"})  # CONDUSEF: only the debtor's own contact points


def iso(ts: float | None) -> str | None:
    if ts is None or not math.isfinite(ts):
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def local_iso(ts: float, timezone: str) -> str:
    return datetime.fromtimestamp(ts, windows.zone(timezone)).isoformat(timespec="seconds")


# --- the I/O: read once, plan, reserve -----------------------------------------------------


async def decide_many(
    store: RedisStore,
    settings: Settings,
    scorer: Scorer,
    requests: list[DecideRequest],
    slice_cpu: Callable[[float], None] | None = None,
    assign: Assign | None = None,
) -> list[dict[str, Any]]:
    """Decide and reserve a batch; an unknown account rejects it whole, nothing reserved.

    A batch longer than `[server] slice_items` is decided slice by slice, yielding the event
    loop in between so that other requests are served meanwhile. Should Redis fail after a
    slice reserved, the request answers `outcome_unknown` and the reservations no request_id
    can claim are handed back with the exception, to be taken back. `slice_cpu` is told the
    CPU seconds each slice took."""
    size = settings.server.slice_items
    if len(requests) <= size:
        return await _decide(store, settings, scorer, requests, False, None, assign)  # type: ignore[return-value]
    known = await store.existing(r.account_id for r in requests)
    _require_known(requests, [r.account_id in known for r in requests])
    answers: list[dict[str, Any]] = []
    made: list[Reservation] = []
    for start in range(0, len(requests), size):
        if start:
            await asyncio.sleep(0)
        began = time.thread_time()
        try:
            part = await _decide(store, settings, scorer, requests[start : start + size], True, made, assign)
        except StoreUnavailable as exc:
            if not made:
                raise
            raise partly_applied(exc, f"after {start} of {len(requests)} decisions", made) from exc
        answers += [a for a in part if a is not None]  # every account exists: none is None
        if slice_cpu is not None:
            slice_cpu(time.thread_time() - began)
    return answers


async def decide_each(
    store: RedisStore,
    settings: Settings,
    scorer: Scorer,
    requests: list[DecideRequest],
    assign: Assign | None = None,
) -> list[dict[str, Any] | None]:
    """Requests of different callers, decided together: an unknown account answers None for
    its own request only."""
    return await _decide(store, settings, scorer, requests, True, None, assign)


async def _decide(
    store: RedisStore,
    settings: Settings,
    scorer: Scorer,
    requests: list[DecideRequest],
    each_alone: bool,
    made: list[Reservation] | None = None,
    assign: Assign | None = None,
) -> list[dict[str, Any] | None]:
    """`made`, when given, collects the reservations this call made that no request_id names.
    `assign`: an account's experiment arm and the settings it decides with (none: `settings`)."""
    nows = [epoch(r.now) for r in requests]
    answers: list[dict[str, Any] | None] = [None] * len(requests)
    pending = list(range(len(requests)))
    half_life = settings.flow.half_life_days * 86400
    # a request_id names its decision: a repeat finds the decision its first attempt made
    named = [request_decision_id(store, r) if r.request_id else None for r in requests]
    for attempt in range(MAX_ATTEMPTS):
        rows = await store.read_accounts(
            [requests[i].account_id for i in pending],
            min(nows) - CONTACT_HISTORY_S,
            [named[i] for i in pending] if attempt == 0 else (),
        )
        if attempt == 0:
            if not each_alone:
                _require_accounts(requests, rows)
            pending, rows = _known(pending, rows)
            for i, row in zip(pending, rows, strict=True):
                if row.prior is not None:
                    answers[i] = orjson.loads(row.prior)
            pending, rows = _unanswered(pending, rows)
        asks = []
        for i, row in zip(pending, rows, strict=True):
            account = msgspec.json.decode(row.fields[b"doc"], type=Account)
            view = read(row.features(), nows[i], half_life)
            asks.append(Ask(requests[i], account, row, view, nows[i], settings.clock.lock_time(nows[i])))
        reservations, owners, waits = [], [], []
        # each ask's experiment arm (label), and the settings and model it decides with
        arms = [assign(a.req.account_id) for a in asks] if assign else [(None, settings, None)] * len(asks)
        labels = [label for label, _s, _m in arms]
        ways = [(arm_settings, pinned or scorer) for _label, arm_settings, pinned in arms]
        choices = plan_by_arm(asks, ways)
        for i, ask, choice, arm, (arm_settings, arm_scorer) in zip(
            pending, asks, choices, labels, ways, strict=True
        ):
            account_id, now = ask.req.account_id, ask.now
            decision_id = named[i] or new_decision_id(store.keys.shard(account_id))
            if isinstance(choice, Wait):
                answers[i] = wait_answer(decision_id, account_id, choice, arm)
                waits.append((account_id, orjson.dumps({"k": "w", "ts": now, **answers[i]})))
                continue
            answer, reservation = contact_answer(
                decision_id,
                ask.account,
                choice,
                arm_scorer,
                arm_settings,
                now,
                ask.row,
                lock_now=ask.lock_now,
                arm=arm,
            )
            if named[i]:
                reservation = replace(reservation, answer=orjson.dumps(answer))
            answers[i] = answer
            reservations.append(reservation)
            owners.append(i)
        try:
            reserved = await store.reserve(reservations, waits)
        except OutcomeUnknown as exc:
            # the reservations may stand with nobody told: the API takes back those no
            # request_id can claim (engine.api.app settles them); a request_id's retry finds its own
            exc.unsettled = [r for r, i in zip(reservations, owners, strict=True) if not named[i]]
            raise
        for i, r, result in zip(owners, reservations, reserved, strict=True):
            if isinstance(result, bytes):  # a concurrent repeat of this request_id reserved first
                answers[i] = orjson.loads(result)
            elif result is not False and made is not None and not named[i]:
                made.append(r)
        pending = [i for i, ok in zip(owners, reserved, strict=True) if ok is False]
        if not pending:
            break
    for i in pending:  # the account kept changing under us: let the caller come back
        answers[i] = wait_answer(
            new_decision_id(store.keys.shard(requests[i].account_id)),
            requests[i].account_id,
            Wait([Block("contention")], nows[i]),
        )
    return answers


def _known(pending: list[int], rows: list[AccountRow]) -> tuple[list[int], list[AccountRow]]:
    kept = [(i, row) for i, row in zip(pending, rows, strict=True) if row.exists]
    return [i for i, _row in kept], [row for _i, row in kept]


def _unanswered(pending: list[int], rows: list[AccountRow]) -> tuple[list[int], list[AccountRow]]:
    kept = [(i, row) for i, row in zip(pending, rows, strict=True) if row.prior is None]
    return [i for i, _row in kept], [row for _i, row in kept]


def _require_accounts(requests: list[DecideRequest], rows: list[AccountRow]) -> None:
    _require_known(requests, [row.exists for row in rows])


def _require_known(requests: list[DecideRequest], exists: list[bool]) -> None:
    missing = [i for i, known in enumerate(exists) if not known]
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


def request_decision_id(store: RedisStore, request: DecideRequest) -> str:
    """The decision id a request_id makes: the same for every repeat of the request."""
    digest = hashlib.sha256(f"{request.account_id}\x00{request.request_id}".encode()).hexdigest()
    return f"d-{store.keys.shard(request.account_id):03d}-{digest[:12]}"


# --- the pure part: candidates → policy → score ---------------------------------------------


class Ask(NamedTuple):
    """One decision to plan: the request and what Redis held for its account."""

    req: DecideRequest
    account: Account
    row: AccountRow
    view: FeatureView
    now: float
    lock_now: float | None = None  # the time the contact lock is judged by (engine.clock)


def plan_by_arm(asks: Sequence[Ask], ways: Sequence[tuple[Settings, Scorer]]) -> list[Contact | Wait]:
    """`plan_many` for asks that decide with different settings or models (experiment arms):
    each arm's asks planned together, the answers in the asks' order."""
    if not asks:
        return []
    keys = [(id(s), id(m)) for s, m in ways]
    if len(set(keys)) == 1:
        return plan_many(asks, ways[0][1], ways[0][0])
    groups: dict[tuple[int, int], list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    out: list[Contact | Wait | None] = [None] * len(asks)
    for members in groups.values():
        arm_settings, arm_scorer = ways[members[0]]
        planned = plan_many([asks[i] for i in members], arm_scorer, arm_settings)
        for i, choice in zip(members, planned, strict=True):
            out[i] = choice
    return out  # type: ignore[return-value]


def plan_many(
    asks: Sequence[Ask], scorer: Scorer, settings: Settings, immediate: bool = False
) -> list[Contact | Wait]:
    """Each ask's contact to reserve, or the wait with the rules that hold it back; the grids
    of every ask the rules leave open are scored together (`engine.decisions.grid`).

    `immediate`: the contact must happen now (a dialer's lead), not at a later hour. A wait's
    `next_eligible_at` is when contact is allowed again: the rules' lifting time moved on to the
    next opening of the debtor's calling window (a cap that lifts at midnight lifts at 07:00)."""
    framed = [frame(a, scorer, settings, immediate) for a in asks]
    grids = [f for f in framed if isinstance(f, Grid)]
    if not grids:
        return framed  # type: ignore[return-value]
    scores = score(grids, scorer, settings)
    out: list[Contact | Wait] = []
    index = 0
    for f in framed:
        if isinstance(f, Wait):
            out.append(f)
            continue
        choice = pick(f, scores, index, scorer, settings)
        index += 1
        out.append(_held(f.account, f.window, f.now, choice) if isinstance(choice, Wait) else choice)
    return out


def _held(account: Account, window: windows.WeekWindow, now: float, wait: Wait) -> Wait:
    """`wait` with its lifting time moved on to the next opening of the calling window."""
    until = wait.next_eligible_at
    if until is None or until <= now:
        return wait
    opens = windows.next_window_start(until, account.timezone, window, days=14, country=account.country)
    return Wait(wait.blocks, until if opens is None else opens)


def frame(ask: Ask, scorer: Scorer, settings: Settings, immediate: bool) -> Grid | Wait:
    """The rules that need no hour or contact point, then the grid of what is left to score."""
    req, account, row, view, now, lock_now = ask
    window = windows.window_for(account.country, settings.policy.get("windows"))

    def wait(blocks: list[Block], until: float | None) -> Wait:
        return _held(account, window, now, Wait(blocks, until))

    live = row.live()
    history = row.history()
    newest = max((c.ts for c in history.contacts), default=None)
    behind = max(
        newest - CONTACT_HISTORY_S if newest is not None else -math.inf,
        row.history_from + CONTACT_HISTORY_S if row.history_from is not None else -math.inf,
    )
    if now < behind:
        # contacts older than the account's history keeps may hold this one back: refuse
        return Wait([Block("clock_behind_history")], behind)
    blocks = account_blocks(live, account.balance, account.timezone, now, settings.dispute_hold_s, lock_now)
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
    notes = (["promise_reminder"] if reminder is not None else []) + (
        [f"journey={journey.id}"] if journey is not None else []
    )
    return grid(
        account, points, view, scorer, settings, now, channels, slots, history, window, journey, notes
    )


def usable_points(account: Account) -> tuple[ContactPoint, ...]:
    """The contact points a collection contact may use: in MX, only the debtor's own."""
    if account.country in OWN_CONTACT_POINTS_ONLY:
        return tuple(p for p in account.contact_points if p.owner == "debtor")
    return account.contact_points


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


# --- answers --------------------------------------------------------------------------------


def wait_answer(decision_id: str, account_id: str, wait: Wait, arm: str | None = None) -> dict[str, Any]:
    return {
        "decision_id": decision_id,
        "account_id": account_id,
        "action": "wait",
        "next_eligible_at": iso(wait.next_eligible_at),
        "reasons": [b.rule for b in wait.blocks],
        **({"propensity": round(wait.propensity, 4)} if wait.propensity is not None else {}),
        **({"arm": arm} if arm is not None else {}),
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
    lock_now: float | None = None,
    campaign: str | None = None,
    arm: str | None = None,
) -> tuple[dict[str, Any], Reservation]:
    """`lease`: a dialer's lead (from `campaign`), held for the lease's minutes rather than a
    reservation's. `lock_now`: the time the lock starts from (default `now`)."""
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
        propensity=c.propensity,
        carrier=c.carrier,
        campaign=campaign,
        cost=round(c.cost, 6),
        arm=arm,
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
        **({"propensity": round(c.propensity, 4)} if c.propensity is not None else {}),
        **({"arm": arm} if arm is not None else {}),
    }
    reservation = Reservation(
        account_id=account.account_id,
        decision_id=decision_id,
        expected_ver=row.ver,
        lock=f"{decision_id}|{c.channel}|{expires}",
        contact_at=c.send_at,
        contact_member=f"{decision_id}|{c.channel}|{c.point_id}",
        record=log_json(record),
        made_at=record.ts,
        deadline=deadline,
        expires_at=expires,
        lock_start=now if lock_now is None else lock_now,
        response_deadline=record.response_deadline,
    )
    return answer, reservation
