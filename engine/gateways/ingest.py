"""POST /v1/events: validate the whole batch, check every account, then apply atomically per
shard (dedupe, binding facts, log append), one pipelined round trip per slice of the batch."""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter

import orjson

from connectors.store import Ingest, RedisStore, StoreUnavailable, log_json, partly_applied
from engine.clock import Clock
from engine.errors import Invalid
from engine.metrics import Metrics
from engine.wire import decode_events, to_event
from features.records import Event
from policy.binding import ops_for

# events applied per round trip: a slice's Python work and each shard's script stay within a
# few milliseconds (the event loop and Redis serve other clients in between)
SLICE_EVENTS = 64


async def ingest_events(
    store: RedisStore,
    metrics: Metrics,
    clock: Clock,
    body: bytes,
    content_type: str,
    source: str = "api",
    limit: int | None = None,
    carriers: frozenset[str] | None = None,
) -> dict[str, int]:
    """Validate the whole body, check every account, apply. Nothing is applied unless all is."""
    try:
        wire_events, _many = decode_events(body, content_type, limit, carriers)
    except Invalid as exc:
        metrics.rejected.labels("invalid").inc(exc.items)
        raise
    if not wire_events:
        metrics.rejected.labels("invalid").inc()
        raise Invalid("the body holds no events", [])
    accepted_at = time.time()
    events = [to_event(e, accepted_at, source) for e in wire_events]
    require_times(clock, metrics, events, accepted_at)
    await require_accounts(store, metrics, events)
    return await apply(store, metrics, clock, events, accepted_at)


def require_times(clock: Clock, metrics: Metrics, events: list[Event], accepted_at: float) -> None:
    """Refuse the batch if an event is dated too far ahead of the server's clock (wall mode)."""
    details = [d for i, e in enumerate(events) if (d := clock.check_ts(e.ts, i, accepted_at))]
    if details:
        metrics.rejected.labels("clock_skew").inc(len(events))
        raise Invalid(
            f"{len(details)} of {len(events)} events are dated ahead of the server's clock; "
            "nothing was applied",
            details,
            len(events),
        )


async def require_window(
    store: RedisStore, clock: Clock, metrics: Metrics, events: list[Event], accepted_at: float
) -> None:
    """Refuse the batch if an event is older than the dedup window ([redis] dedup_days): its
    id may be forgotten, so applying it could count it twice."""
    if clock.bounded:
        cutoff = {e.account_id: accepted_at - store.dedup_s for e in events}
    else:  # data mode: the window follows each account's newest event
        newest = await store.newest_events(e.account_id for e in events)
        cutoff = {a: at - store.dedup_s for a, at in newest.items()}
    details = [
        {
            "index": i,
            "field": "ts",
            "message": f"older than the dedup window ({store.dedup_s / 86400:g} days, [redis] dedup_days): "
            "a resend could not be told from the first delivery",
        }
        for i, e in enumerate(events)
        if e.ts < cutoff.get(e.account_id, -math.inf)
    ]
    if details:
        metrics.rejected.labels("stale").inc(len(events))
        raise Invalid(
            f"{len(details)} of {len(events)} events are too old; nothing was applied", details, len(events)
        )


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
    store: RedisStore, metrics: Metrics, clock: Clock, events: list[Event], accepted_at: float
) -> dict[str, int]:
    """Apply validated events (the API's and the vendors' alike), unless one is older than the
    dedup window; the window ends at the server's clock in wall mode, the data's in data mode."""
    await require_window(store, clock, metrics, events, accepted_at)
    applied = duplicates = 0
    cpu = metrics.slice_cpu["events"]
    for start in range(0, len(events), SLICE_EVENTS):
        if start:
            await asyncio.sleep(0)  # a long batch lets other requests through between slices
        began = time.thread_time()
        part = events[start : start + SLICE_EVENTS]
        items = []
        for e in part:
            record, ops = log_json(e, accepted_at), orjson.dumps(ops_for(e))
            items.append(Ingest(e.account_id, e.event_id, e.decision_id, record, ops, e.ts))
        try:
            a, d = await store.ingest(items, accepted_at if clock.bounded else None)
        except StoreUnavailable as exc:
            if start:  # earlier slices stand
                raise partly_applied(exc, f"after {start} of {len(events)} events were applied") from exc
            raise
        applied, duplicates = applied + a, duplicates + d
        cpu.observe(time.thread_time() - began)
    for (kind, source), n in Counter((e.type, e.source) for e in events).items():
        metrics.events.labels(kind, source).inc(n)
    return {"accepted": applied, "duplicates": duplicates}
