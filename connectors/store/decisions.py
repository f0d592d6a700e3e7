"""Decisions: reservations (the lock and the contact the caps count), leases, cancels, the
carriers' per-second counters."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from connectors.store.base import CONTACT_KEEP_S, Command, StoreBase, _pairs, log_json
from features.records import CancelRecord

# a decision's hash outlives its attribution window by this much: outcomes reported late, a
# gateway's confirm or a cancel near the end still find it
DECISION_GRACE_S = 2 * 86400


@dataclass(frozen=True, slots=True)
class Reservation:
    account_id: str
    decision_id: str
    expected_ver: str
    lock: str
    contact_at: float
    contact_member: str
    record: bytes
    deadline: float
    campaign: str | None = None  # a dialer lease: held out of the campaign until it expires
    expires_at: float = 0.0
    lock_start: float = 0.0  # the time the lock is judged from (engine.clock.Clock.lock_time)
    answer: bytes | None = None  # a request_id's decision: its answer, kept to answer a repeat
    response_deadline: float | None = None  # the response window's end: a timer closes it too
    made_at: float = 0.0  # the decision's time (its record's `ts`)

    def cancel_record(self) -> bytes:
        """The log record that takes this reservation back (after an unknown outcome)."""
        _decision, channel, point = self.contact_member.split("|", 2)
        return log_json(CancelRecord(self.decision_id, self.account_id, self.lock_start, channel, point))


def made_of(meta: dict[bytes, bytes]) -> dict[str, Any] | None:
    """A decision's hash, as {account_id, ts, channel, contact_point_id}. The hash keeps the
    decision's time and its contact's member (`decision|channel|point`); hashes written
    before it did hold the whole record."""
    if b"made" in meta:
        _decision, channel, point = meta[b"member"].decode().split("|", 2)
        return {
            "account_id": meta[b"account"].decode(),
            "ts": float(meta[b"made"]),
            "channel": channel,
            "contact_point_id": point,
        }
    return orjson.loads(meta[b"record"]) if b"record" in meta else None


class DecisionsStore(StoreBase):
    async def reserve(
        self,
        items: Sequence[Reservation],
        waits: Sequence[tuple[str, bytes]] = (),
        parks: Sequence[tuple[str, str, float]] = (),
    ) -> list[bool | bytes]:
        """Reserve each item atomically; also append `waits` (account, record) to the log
        and hold `parks` (campaign, account, until) out of their campaign's ready set. Each
        item answers True (reserved), False (the account changed: decide again) or the
        answer its decision already had (a repeat of a request_id, reserved meanwhile)."""
        k = self.keys
        commands: list[Command] = []
        for it in items:
            shard = k.shard(it.account_id)
            queue = list(k.queue(it.campaign, shard)[:2]) if it.campaign else []
            commands.append(
                self._eval(
                    "reserve",
                    [
                        k.account(it.account_id),
                        k.contacts(it.account_id),
                        k.log(shard),
                        k.decision(it.decision_id),
                        k.timers(shard),
                        *queue,
                    ],
                    [
                        it.expected_ver,
                        it.lock,
                        it.contact_at,
                        it.contact_member,
                        CONTACT_KEEP_S,
                        it.record,
                        it.account_id,
                        it.deadline,
                        f"{it.decision_id}|{it.account_id}",
                        self.log_maxlen,
                        it.expires_at,
                        it.lock_start,
                        it.answer or "",
                        "" if it.response_deadline is None else it.response_deadline,
                        self.decision_ttl_of(it),
                        it.made_at,
                    ],
                )
            )
        for account_id, record in waits:  # the log carries them to the timelines' archive
            log = k.log(k.shard(account_id))
            commands.append(("XADD", log, "MAXLEN", "~", self.log_maxlen, "*", "r", record))
        for campaign, account_id, until in parks:
            ready, held, _prio = k.queue(campaign, k.shard(account_id))
            commands.append(self._eval("park", [ready, held], [account_id, until]))
        out = await self._run(commands, writes=True)
        return [v if isinstance(v, bytes) else bool(v) for v in out[: len(items)]]

    async def decision(self, decision_id: str) -> dict[bytes, bytes]:
        key = self.keys.decision(decision_id)  # ValueError for ids that are not ours
        (flat,) = await self._run([("HGETALL", key)])
        return _pairs(flat)

    async def made(self, decision_id: str) -> dict[str, Any] | None:
        """What a cancel or a callback naming only the decision needs of it: its account,
        time, channel and contact point; None for a decision Redis does not hold."""
        return made_of(await self.decision(decision_id))

    async def lease(self, decision_id: str) -> tuple[dict[bytes, bytes], dict[bytes, bytes]]:
        """A reservation and its account's live fields: (decision hash, account hash), or
        ({}, {}) when the decision is unknown. Two round trips: the account is in the first."""
        meta = await self.decision(decision_id)
        if not meta:
            return {}, {}
        (flat,) = await self._run([("HGETALL", self.keys.account(meta[b"account"].decode()))])
        return meta, _pairs(flat)

    async def take_route(
        self, probe: str | None, counters: Sequence[str], limits: Sequence[float | None], probe_ttl: int
    ) -> int:
        """0-based index into `counters` of the carrier taken (see take_route.lua), or -1."""
        keys = [probe or counters[0], *counters]
        args = ["1" if probe else "0", probe_ttl, *("" if x is None else x for x in limits)]
        (taken,) = await self._run([self._eval("take_route", keys, args)], writes=True)
        return int(taken) - 1

    def decision_ttl_of(self, it: Reservation) -> int:
        """How long a decision's hash lives: until its attribution window closes (the last
        outcome that may name it) and DECISION_GRACE_S more, at most `[redis] decision_days`.
        A plan for today's afternoon so keeps ~4 days, not 10 (measured per hash: ~1.1 KB)."""
        return max(1, min(self.decision_ttl, math.ceil(it.deadline - it.lock_start) + DECISION_GRACE_S))

    async def confirm(self, account_id: str, decision_id: str, now: float) -> str | None:
        """None when the decision still stands (it is now marked sent), else why not
        (confirm.lua); "unknown" for a decision Redis does not hold."""
        keys = [self.keys.decision(decision_id), self.keys.account(account_id)]
        (result,) = await self._run([self._eval("confirm", keys, [decision_id, repr(now)])], writes=True)
        kind = result[0].decode()
        if kind == "ok":
            return None
        return "unknown" if kind == "unknown" else result[1].decode()

    async def cancel(self, account_id: str, decision_id: str, record: bytes) -> int:
        k = self.keys
        keys = [
            k.account(account_id),
            k.contacts(account_id),
            k.log(k.shard(account_id)),
            k.decision(decision_id),
        ]
        (result,) = await self._run(
            [self._eval("cancel", keys, [decision_id, record, self.log_maxlen])],
            writes=True,
        )
        return int(result)
