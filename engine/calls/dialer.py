"""POST /v1/dialer/next, top to bottom: the campaign's best candidates from every shard's
queue (one round trip, held accounts whose time came brought back on the way) → their
accounts (one round trip) → the decision path at this very minute, voice only, every
candidate scored in one pass → lease the best `count` and hold back the ones a rule stops
until the rule lifts (one round trip).

Handing out a lead is O(log n) in the campaign's size: only the top few are ever read.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec
import orjson

from connectors.store import OutcomeUnknown, RedisStore, Reservation
from engine.calls.campaigns import Campaign, matches
from engine.decisions.decide import (
    CONTACT_HISTORY_S,
    Ask,
    Contact,
    contact_answer,
    new_decision_id,
    plan_many,
    wait_answer,
)
from engine.errors import NotFound
from engine.settings import Settings
from engine.wire import Account, DecideRequest, DialerNextRequest, epoch
from features.account import read
from models.contact import Scorer

ROUNDS = 3  # pulls per request when the top is held back by rules or taken by another dialer
RECHECK_S = 3600.0  # a lead with no value now, or with no known time to come back, is re-read in an hour
CLAIM_S = 60.0  # a claimed candidate a request never settles (its process died) returns after this


@dataclasses.dataclass
class Handout:
    leads: list[dict[str, Any]]
    waits: list[dict[str, Any]]  # the rules that held candidates back, for metrics


async def next_leads(
    store: RedisStore,
    settings: Settings,
    scorer: Scorer,
    campaigns: dict[str, Campaign],
    req: DialerNextRequest,
) -> Handout:
    campaign = campaigns.get(req.campaign)
    if campaign is None:
        raise NotFound(f"unknown campaign {req.campaign!r}")
    out = Handout([], [])
    if not campaign.active:
        return out
    now = epoch(req.now)
    half_life = settings.flow.half_life_days * 86400
    seen: set[str] = set()
    for _round in range(ROUNDS):
        want = req.count - len(out.leads)
        top = [(a, s) for a, s in await store.pull(req.campaign, now, want * 2 + 2) if a not in seen]
        top = top[: want * 2 + 2]
        if not top:
            break
        ids = [a for a, _score in top]
        seen.update(ids)
        priority = dict(top)
        claimed = await store.claim_and_read(req.campaign, ids, now + CLAIM_S, now - CONTACT_HISTORY_S)
        offers: list[tuple[Contact, Account, Any]] = []
        waits: list[tuple[str, bytes]] = []
        parks: list[tuple[str, str, float]] = []
        asks = []
        for account_id, row in zip(ids, claimed, strict=True):
            if row is None:  # another dialer's request has it
                continue
            if not row.exists:
                parks.append((req.campaign, account_id, now + 365 * 86400))
                continue
            account = msgspec.json.decode(row.fields[b"doc"], type=Account)
            if not matches(campaign.filter, account):  # changed since the dataflow placed it
                parks.append((req.campaign, account_id, now + RECHECK_S))
                continue
            view = read(row.features(), now, half_life)
            request = DecideRequest(account_id, channels=(campaign.channel,))
            asks.append(Ask(request, account, row, view, now, settings.clock.lock_time(now)))
        for ask, choice in zip(asks, plan_many(asks, scorer, settings, immediate=True), strict=True):
            account_id = ask.account.account_id
            if isinstance(choice, Contact):
                offers.append((choice, ask.account, ask.row))
                continue
            answer = wait_answer(new_decision_id(store.keys.shard(account_id)), account_id, choice)
            out.waits.append(answer)
            record = {"k": "w", "ts": now, "campaign": req.campaign, **answer}
            waits.append((account_id, orjson.dumps(record)))
            until = choice.next_eligible_at if choice.next_eligible_at is not None else now + RECHECK_S
            parks.append((req.campaign, account_id, max(until, now + 60.0)))
        offers.sort(key=lambda o: o[0].score, reverse=True)
        leases: list[tuple[dict[str, Any], Reservation]] = []
        for contact, account, row in offers[:want]:
            decision_id = new_decision_id(store.keys.shard(account.account_id))
            answer, reservation = contact_answer(
                decision_id, account, contact, scorer, settings, now, row, lease=True,
                lock_now=settings.clock.lock_time(now), campaign=req.campaign,
            )
            leases.append((answer, dataclasses.replace(reservation, campaign=req.campaign)))
        try:
            reserved = await store.reserve([r for _a, r in leases], waits, parks)
        except OutcomeUnknown as exc:
            exc.unsettled = [r for _a, r in leases]  # no dialer learnt of them: take them back
            raise
        out.leads += [_lead(answer) for (answer, _r), ok in zip(leases, reserved, strict=True) if ok]
        # claimed but not leased (more offers than wanted, or the account changed meanwhile): ready again
        unused = [account.account_id for _c, account, _r in offers[want:]]
        unused += [r.account_id for (_a, r), ok in zip(leases, reserved, strict=True) if not ok]
        if unused:
            await store.enqueue([(req.campaign, a, priority[a], True) for a in unused])
        if len(out.leads) >= req.count:
            break
    out.leads.sort(key=lambda lead: lead["score"], reverse=True)
    return out


def _lead(answer: dict[str, Any]) -> dict[str, Any]:
    keep = ("decision_id", "account_id", "channel", "contact_point_id", "address", "carrier", "score")
    return {**{k: answer[k] for k in keep}, "expires_at": answer["expires_at"], "reasons": answer["reasons"]}
