"""Call campaigns: which accounts an agent-call campaign holds, and each one's priority.

A campaign (`PUT /v1/campaigns/{id}`) is a channel and a filter over the portfolio. Its leads
live in Redis per shard (connectors/KEYS.md): a ready sorted set by priority, a held set by
the time each held account comes back, and the priorities. The dataflow keeps priorities
current as outcomes arrive (engine/flow/dataflow.py); `enrol` fills a new or changed campaign
from the shards' account indexes once; `dialer/next` (engine/calls/dialer.py) hands out the top.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
import orjson

from connectors.store import RedisStore, StoreUnavailable
from engine.settings import Settings
from engine.wire import MAX_DPD, Account, Money
from features.account import read
from features.records import AccountRecord
from models.candidates import dpd_bucket, hour_affinity, numeric_x, onehot_keys
from models.contact import Scorer
from models.priority import call_priority
from policy.journeys import Facts, in_segment

log = logging.getLogger("cadencia.campaigns")

CampaignId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class CampaignFilter(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    portfolio: str | None = None
    product: str | None = None
    country: str | None = None
    segment: str | None = None  # the account's `attributes.segment`
    days_past_due_min: Annotated[int, msgspec.Meta(ge=0, le=MAX_DPD)] | None = None
    days_past_due_max: Annotated[int, msgspec.Meta(ge=0, le=MAX_DPD)] | None = None
    balance_min: Money | None = None
    balance_max: Money | None = None


class Campaign(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    channel: Literal["voice", "ivr"] = "voice"
    filter: CampaignFilter = CampaignFilter()
    active: bool = True


def matches(f: CampaignFilter, a: Account) -> bool:
    facts = Facts(a.portfolio, a.product, a.country, a.days_past_due, a.balance, a.attributes)
    return in_segment(f, facts)


def in_campaign(campaign: Campaign, a: AccountRecord) -> bool:
    """The same test as `matches`, on the facts an upload carries through the log."""
    facts = Facts(a.portfolio, a.product, a.country, a.days_past_due, a.owed, {"segment": a.segment})
    return in_segment(campaign.filter, facts)


def priority(
    campaign: Campaign,
    account: Account,
    served: dict[str, Any] | None,
    scorer: Scorer,
    settings: Settings,
    boost: bool = False,
) -> float | None:
    """The account's priority in the campaign; None when it is not in it."""
    if not campaign.active or not matches(campaign.filter, account):
        return None
    balance = settings.money.to_base(account.balance, account.currency)
    points = [(p.id, p.type, p.channels) for p in account.contact_points]
    return _value(campaign, balance, account.days_past_due, points, served, scorer, settings, boost)


def record_priority(
    campaign: Campaign,
    account: AccountRecord,
    served: dict[str, Any] | None,
    scorer: Scorer,
    settings: Settings,
    boost: bool = False,
) -> float | None:
    """`priority` from what the dataflow keeps of the account (its latest upload)."""
    if not campaign.active or not in_campaign(campaign, account):
        return None
    dpd, points = account.days_past_due, account.points
    return _value(campaign, account.balance, dpd, points, served, scorer, settings, boost)


def _value(
    campaign: Campaign,
    balance: float,  # base currency
    days_past_due: int,
    points: Sequence[tuple[str, str, Sequence[str]]],  # (id, type, channels)
    served: dict[str, Any] | None,
    scorer: Scorer,
    settings: Settings,
    boost: bool,
) -> float | None:
    now = (served or {}).get("as_of") or 0.0
    view = read(served, now, settings.flow.half_life_days * 86400)
    bucket = dpd_bucket(days_past_due)
    channel = campaign.channel
    numbers = [
        (onehot_keys(channel, bucket, kind), numeric_x(view, channel, pid, balance))
        for pid, kind, channels in points
        if channel in channels
    ]
    cost, _carrier = settings.contact_costs[channel]
    value = call_priority(
        scorer,
        channel,
        numbers,
        hour_affinity(view),
        balance * settings.decisions.payment_share + settings.decisions.response_value,
        cost,
        settings.decisions.digital_failure_boost if boost else 0.0,
    )
    return None if value is None else round(value, 6)


_ACCOUNT = msgspec.json.Decoder(Account)
_CAMPAIGN = msgspec.json.Decoder(Campaign)


def decode_campaigns(raw: dict[str, bytes]) -> dict[str, Campaign]:
    return {cid: _CAMPAIGN.decode(blob) for cid, blob in raw.items()}


def queue_items(
    campaigns: dict[str, Campaign],
    rows: list[tuple[str, bytes | None, bytes | None, bool, bool]],
    scorer: Scorer,
    settings: Settings,
) -> list[tuple[str, str, float | None, bool]]:
    """(campaign, account, priority or None, ready) for every campaign and account row
    (account id, document JSON, features JSON, ready now, boosted)."""
    out = []
    for account_id, doc, feat, ready, boosted in rows:
        if doc is None:
            continue
        account = _ACCOUNT.decode(doc)
        served = orjson.loads(feat) if feat else None
        for cid, campaign in campaigns.items():
            prio = priority(campaign, account, served, scorer, settings, boosted)
            out.append((cid, account_id, prio, ready))
    return out


# Accounts scored between two turns of the event loop during enrolment. Scoring costs ~50 µs
# an account that matches, so a scan step of 500 matching accounts scored at once held every
# request of the process back for ~25 ms; a slice is ~1.5 ms. After each slice the walk rests
# as long as the slice took, so it never takes more than half of the process from requests.
ENROL_SLICE = 32


async def _queue_items_yielding(
    campaigns: dict[str, Campaign],
    rows: list[tuple[str, bytes | None, bytes | None, bool, bool]],
    scorer: Scorer,
    settings: Settings,
) -> list[tuple[str, str, float | None, bool]]:
    """`queue_items` a slice at a time, resting after each slice as long as it took (pacing
    is operations, not data: the system clock is right here)."""
    items: list[tuple[str, str, float | None, bool]] = []
    for start in range(0, len(rows), ENROL_SLICE):
        began = time.perf_counter()
        items += queue_items(campaigns, rows[start : start + ENROL_SLICE], scorer, settings)
        await asyncio.sleep(time.perf_counter() - began)
    return items


@dataclass
class Enrolment:
    campaign: str
    started: float
    accounts: int = 0  # walked
    placed: int = 0  # in the campaign
    done: bool = False
    error: str | None = None


async def enrol(
    store: RedisStore, settings: Settings, scorer: Scorer, cid: str, campaign: Campaign, state: Enrolment
) -> None:
    """Walk every shard's account index once and place each account in (or out of) the
    campaign: the one pass over the portfolio a campaign costs, at creation or change. It
    stops when the campaign is changed or deleted meanwhile (by any API process)."""
    definition = msgspec.json.encode(campaign)
    try:
        for shard in range(store.keys.shards):
            cursor = 0
            while True:
                if await store.campaign_definition(cid) != definition:
                    state.error = "the campaign was changed or deleted during its enrolment"
                    log.info("campaign %s: enrolment stopped: %s", cid, state.error)
                    return
                cursor, ids = await store.scan_accounts(shard, cursor)
                if ids:
                    got = await store.enrolment_rows(cid, shard, ids)
                    rows = [(a, d, f, True, False) for a, (d, f, _in) in zip(ids, got, strict=True)]
                    members = {a for a, (_d, _f, inside) in zip(ids, got, strict=True) if inside}
                    # an account that is not in the campaign and does not belong there costs
                    # nothing more: most of a portfolio, for a campaign over one segment of it
                    items = await _queue_items_yielding({cid: campaign}, rows, scorer, settings)
                    await store.enqueue([i for i in items if i[2] is not None or i[1] in members])
                    state.accounts += len(ids)
                    state.placed += sum(i[2] is not None for i in items)
                if cursor == 0:
                    break
        state.done = True
        log.info(
            "campaign %s: %d of %d accounts placed in %.1fs",
            cid,
            state.placed,
            state.accounts,
            time.time() - state.started,
        )
    except StoreUnavailable as exc:
        state.error = str(exc)
        log.error("campaign %s: enrolment stopped: %s", cid, exc)


class CampaignBook:
    """The campaigns an API process knows, refreshed when their version in Redis moves."""

    def __init__(self) -> None:
        self.version = -1
        self.campaigns: dict[str, Campaign] = {}

    async def refresh(self, store: RedisStore) -> dict[str, Campaign]:
        if await store.campaigns_version() != self.version:
            self.version, raw = await store.campaigns()
            self.campaigns = decode_campaigns(raw)
        return self.campaigns
