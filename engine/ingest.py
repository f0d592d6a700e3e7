"""POST /v1/events: validate the whole batch, check every account, then apply atomically per
shard (dedupe, binding facts, log append) in one pipelined round trip."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import orjson

from connectors.redis_store import Ingest, RedisStore, log_json
from engine.errors import Invalid
from engine.metrics import Metrics
from engine.wire import to_event, validate_events
from features.records import Event
from policy.binding import ops_for


async def ingest_events(
    store: RedisStore, metrics: Metrics, items: list[Any], source: str = "api"
) -> dict[str, int]:
    try:
        wire_events = validate_events(items)
    except Invalid:
        metrics.rejected.labels("invalid").inc(len(items))
        raise
    accepted_at = time.time()
    events = [to_event(e, accepted_at, source) for e in wire_events]
    await require_accounts(store, metrics, events)
    return await apply(store, metrics, events, accepted_at)


async def require_accounts(store: RedisStore, metrics: Metrics, events: list[Event]) -> None:
    """Refuse the batch if any event names an account we do not know."""
    known = await store.existing(e.account_id for e in events)
    unknown = [i for i, e in enumerate(events) if e.account_id not in known]
    if unknown:
        metrics.rejected.labels("unknown_account").inc(len(events))
        raise Invalid(
            f"{len(unknown)} of {len(events)} events name unknown accounts; nothing was applied",
            [
                {"index": i, "field": "account_id", "message": f"unknown account {events[i].account_id!r}"}
                for i in unknown
            ],
        )


async def apply(
    store: RedisStore, metrics: Metrics, events: list[Event], accepted_at: float
) -> dict[str, int]:
    applied, duplicates = await store.ingest(
        [
            Ingest(
                e.account_id, e.event_id, e.decision_id, log_json(e, accepted_at), orjson.dumps(ops_for(e))
            )
            for e in events
        ]
    )
    for (kind, source), n in Counter((e.type, e.source) for e in events).items():
        metrics.events.labels(kind, source).inc(n)
    return {"accepted": applied, "duplicates": duplicates}
