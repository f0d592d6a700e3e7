"""From vendor callbacks to applied events: find the account(s) each callback is about,
build cadencia's wire events, validate them like POST /v1/events, apply them atomically
(`engine.gateways.ingest.apply`), and keep the callbacks that match no account in the dead-letter
stream.

The account: the decision the vendor echoes back (its opaque field) names one; failing that,
the address index (connectors/KEYS.md) gives the accounts holding the address, each checked
against its document (an index entry left by two racing uploads is never used). A reply or
an opt-out applies to every account holding the address (the person answered, or withdrew
consent for that address); a delivery or call status, to the newest holder only. The event's
`contact_point_id` and `channel` come from the decision or the matched contact point when
the vendor does not say.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
import orjson

from connectors import addresses
from connectors.store import RedisStore
from connectors.vendors import Callback
from engine.clock import Clock
from engine.errors import Invalid
from engine.gateways.ingest import apply, require_times
from engine.metrics import Metrics
from engine.wire import EventIn, check_event, detail, to_event

CARRIER_CHANNELS = ("voice", "ivr", "sms")
Target = tuple[str, str | None, str, str | None]  # account, decision id, channel, contact point


class Callbacks:
    """Applies normalised vendor callbacks to the accounts they are about."""

    def __init__(
        self, store: RedisStore, metrics: Metrics, clock: Clock, carriers: frozenset[str] = frozenset()
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.clock = clock
        self.carriers = carriers  # the [[carriers]] ids; a callback naming another is refused

    async def accept(
        self, vendor: str, callbacks: list[Callback], default_channel: str, carrier: str | None = None
    ) -> dict[str, int]:
        """Find each callback's account(s), apply the events, dead-letter the unmatched.
        `default_channel` is the vendor's when neither it nor the decision says; `carrier`
        (a [[carriers]] id) is set on voice, ivr and sms events that name none."""
        accepted_at = time.time()
        self.require_carriers([cb.carrier for cb in callbacks])
        targets = await self._targets(callbacks, default_channel)
        items: list[dict[str, Any]] = []
        where: list[int] = []
        unmatched: list[Callback] = []
        for i, (cb, found) in enumerate(zip(callbacks, targets, strict=True)):
            if not found:
                unmatched.append(cb)
            for account_id, decision_id, channel, contact_point in found:
                fields = {**cb.event_fields(), "account_id": account_id, "channel": channel}
                if decision_id:
                    fields["decision_id"] = decision_id
                if contact_point:
                    fields["contact_point_id"] = contact_point
                if "carrier" not in fields and carrier and channel in CARRIER_CHANNELS:
                    fields["carrier"] = carrier
                items.append(fields)
                where.append(i)
        events = self._validate(items, where)
        result = {"accepted": 0, "duplicates": 0}
        if events:
            normalised = [to_event(e, accepted_at, vendor) for e in events]
            require_times(self.clock, self.metrics, normalised, accepted_at)
            result = await apply(self.store, self.metrics, self.clock, normalised, accepted_at)
        if unmatched:
            await self.store.deadletter(
                [
                    {
                        "vendor": vendor,
                        "reason": "unmatched",
                        "event_id": cb.event_id,
                        "at": repr(accepted_at),
                        "callback": orjson.dumps(cb),
                    }
                    for cb in unmatched
                ]
            )
            self.metrics.rejected.labels("unmatched").inc(len(unmatched))
        return {**result, "unmatched": len(unmatched)}

    def require_carriers(self, named: list[str | None]) -> None:
        """A carrier the config does not name would become a router cell and a metric label of
        its own: refused like the API's events, matched or not (nothing is dead-lettered)."""
        if not self.carriers:
            return
        known = ", ".join(sorted(self.carriers))
        details = [
            {"index": i, "field": "carrier", "message": f"not a [[carriers]] id ({known})"}
            for i, carrier in enumerate(named)
            if carrier is not None and carrier not in self.carriers
        ]
        if details:
            self.metrics.rejected.labels("invalid").inc(len(named))
            raise Invalid("the callback names a carrier that is not configured; nothing was applied", details)

    def _validate(self, items: list[dict[str, Any]], where: list[int]) -> list[EventIn]:
        out, details = [], []
        for item, i in zip(items, where, strict=True):
            try:
                event = msgspec.convert(item, EventIn)
            except msgspec.ValidationError as exc:
                details.append(detail(i, exc))
                continue
            bad = check_event(i, item, event)
            if bad:
                details.append(bad)
            out.append(event)
        if details:
            self.metrics.rejected.labels("invalid").inc(len(items))
            raise Invalid("the callback does not make valid events; nothing was applied", details, len(items))
        return out

    async def _targets(self, callbacks: list[Callback], default_channel: str) -> list[list[Target]]:
        """For each callback: (account, decision id, channel, contact point) of every account
        it applies to. The decision the vendor echoes back names one account; failing that,
        the address: a reply or opt-out applies to every account holding it (the person
        answered, or withdrew consent for the address), a status to the newest holder."""
        decisions = await self._decisions({cb.decision_id for cb in callbacks if cb.decision_id})
        wanted = {
            cb.address: addresses.normalise(cb.address)
            for cb in callbacks
            if cb.address and decisions.get(cb.decision_id or "") is None
        }
        holders = await self.store.accounts_by_address(a for a in wanted.values() if a)
        docs = await self._contact_points(sorted({a for ids in holders.values() for a in ids}))
        out: list[list[Target]] = []
        for cb in callbacks:
            record = decisions.get(cb.decision_id or "")
            if record is not None:
                channel = cb.channel or record.get("channel") or default_channel
                out.append([(record["account_id"], cb.decision_id, channel, record.get("contact_point_id"))])
                continue
            address = wanted.get(cb.address or "")
            found = []
            for account_id in holders.get(address or "", []):
                point = _point(docs.get(account_id, []), address or "", cb.channel or default_channel)
                if point is not None:
                    found.append(
                        (account_id, None, cb.channel or _channel(point, default_channel), point["id"])
                    )
            out.append(found if cb.type in ("reply", "optout") else found[-1:])
        return out

    async def _decisions(self, ids: set[str]) -> dict[str, dict[str, Any] | None]:
        async def one(decision_id: str) -> dict[str, Any] | None:
            try:
                return await self.store.made(decision_id)
            except ValueError:  # not a cadencia decision id
                return None

        ordered = sorted(ids)
        return dict(zip(ordered, await asyncio.gather(*(one(d) for d in ordered)), strict=True))

    async def _contact_points(self, account_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        if not account_ids:
            return {}
        rows = await self.store.docs_and_features(account_ids)
        return {
            a: list(orjson.loads(doc).get("contact_points") or [])
            for a, (doc, _feat) in zip(account_ids, rows, strict=True)
            if doc
        }


def _point(points: list[dict[str, Any]], address: str, channel: str) -> dict[str, Any] | None:
    """The account's contact point at `address` (the one consenting to `channel` first)."""
    same = [p for p in points if addresses.normalise(str(p.get("address", ""))) == address]
    for p in same:
        if channel in (p.get("channels") or ()):
            return p
    return same[0] if same else None


def _channel(point: dict[str, Any], default: str) -> str:
    channels = point.get("channels") or ()
    return default if default in channels or not channels else str(channels[0])
