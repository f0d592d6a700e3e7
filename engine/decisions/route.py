"""POST /v1/route, top to bottom: parse → (the lease, when a decision is named) → the learned
router's order → one script that takes a probe slot and a calls-per-second token → answer.

The router is the published copy (`Scorer.router`): per destination network and local hour
band, a Thompson draw of each carrier's answer-seizure ratio, minus cost; carriers behind an
open breaker get only probes: a `probe_share` of the attempts, and at most one per carrier and
breaker per `probe_interval_s` across every API process.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import orjson

from connectors import keys as K
from connectors.store import RedisStore
from engine.errors import Conflict, NotFound
from engine.settings import CarrierSettings, Settings
from engine.wire import RouteRequest, epoch
from models.carriers import ANY_NETWORK, CarrierRouter, Route, route_seed
from policy import windows


class Revoked(Conflict):
    code = "lease_revoked"


async def route_one(
    store: RedisStore, settings: Settings, router: CarrierRouter, req: RouteRequest
) -> dict[str, Any]:
    now = epoch(req.now)
    network, hour = req.network, _hour_of(req.now, now)
    decision_id = req.decision_id
    if decision_id is not None:
        account = await _live_lease(store, decision_id, now)
        point = _point(account, req.address)
        network = network or (point or {}).get("network")
        hour = datetime.fromtimestamp(now, windows.zone(account["timezone"])).hour
    carriers = settings.carriers
    probe_due = [
        c.id for c in carriers if router.is_open(c.id, network or ANY_NETWORK) and req.channel in c.channels
    ]
    rng = route_seed(settings.decisions.seed, req.address, now)
    chosen = router.route(carriers, req.channel, network, hour, now, rng, probe_due)
    chosen = await _take(store, settings, router, chosen, network or ANY_NETWORK, now)
    return {
        "decision_id": decision_id or f"r-{os.urandom(6).hex()}",
        "carrier": chosen.carrier,
        "alternates": chosen.alternates,
        "reasons": chosen.reasons,
    }


async def _take(
    store: RedisStore, settings: Settings, router: CarrierRouter, chosen: Route, network: str, now: float
) -> Route:
    """The first carrier in the router's order with room under its rate limit (and, for a
    probe, the interval's probe slot). Carriers without limits and no probe: no round trip."""
    if chosen.carrier is None:
        return chosen
    order = [chosen.carrier, *chosen.alternates]
    by_id: dict[str, CarrierSettings] = {c.id: c for c in settings.carriers}
    if not chosen.probe and by_id[chosen.carrier].cps is None:
        return chosen
    interval = router.probe_interval(chosen.carrier, network)
    scope = router.breaker_scope(chosen.carrier, network)
    probe = K.probe_slot(chosen.carrier, scope, int(now // interval)) if chosen.probe else None
    second = int(now)
    taken = await store.take_route(
        probe,
        [K.carrier_second(cid, second) for cid in order],
        [by_id[cid].cps for cid in order],
        max(1, int(interval)),
    )
    if taken < 0:
        kept = [r for r in chosen.reasons if r.startswith("breaker_open=")]
        return Route(None, [], [*kept, "carriers_at_rate_limit"])
    reasons = list(chosen.reasons)
    if chosen.probe and taken > 0:
        reasons = [r for r in reasons if not r.startswith("probe=")]
    if taken > (1 if chosen.probe else 0):
        reasons.append(f"rate_limited={','.join(order[:taken])}")
    return Route(order[taken], order[taken + 1 :], reasons, probe=chosen.probe and taken == 0)


async def _live_lease(store: RedisStore, decision_id: str, now: float) -> dict[str, Any]:
    """The leased account's document, or the reason the lease no longer holds (409)."""
    try:
        meta, account = await store.lease(decision_id)
    except ValueError as exc:
        raise NotFound(str(exc)) from exc
    if not meta:
        raise NotFound(f"unknown decision {decision_id!r}")

    def refuse(reason: str, message: str) -> Revoked:
        return Revoked(message, [{"field": "decision_id", "message": reason}])

    revoked = account.get(b"revoked", b"").decode()
    if revoked.startswith(decision_id + "|"):
        reason = revoked.partition("|")[2]
        raise refuse(reason, f"decision {decision_id!r} was revoked by a {reason}: do not call")
    state = meta.get(b"state", b"").decode()
    if state == "cancelled":
        raise refuse("cancelled", f"decision {decision_id!r} was cancelled")
    lock = account.get(b"lock", b"").decode().split("|")
    if state == "used" or lock[0] != decision_id:
        raise refuse("released", f"decision {decision_id!r} no longer holds the account (outcome or expiry)")
    if float(lock[2]) < now:
        raise refuse("expired", f"decision {decision_id!r} expired at {float(lock[2]):.0f}")
    return orjson.loads(account[b"doc"])


def _point(account: dict[str, Any], address: str) -> dict[str, Any] | None:
    return next((p for p in account.get("contact_points", ()) if p.get("address") == address), None)


def _hour_of(value: datetime | None, now: float) -> int:
    """The local hour as the caller wrote `now` (its offset); UTC when no time was given."""
    if value is not None:
        return value.hour
    return datetime.fromtimestamp(now).astimezone(windows.zone("UTC")).hour
