"""Events: applied once per id within the dedup window, the data clock, dead letters."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from connectors import keys as K
from connectors.store.base import StoreBase, _flat, _same_shard, log_json
from features.records import ClockRecord

DEADLETTER_MAXLEN = 100_000
SCRIPT_EVENTS = 32  # events per ingest script call: ~1 ms of Redis time at most (SLOWLOG)


def seen_member(event_id: str) -> bytes:
    """How the dedup window keeps an id: 8 bytes of its hash, not the id (often 40-80 bytes).
    Two ids of one account share a member with odds ~n²/2^65 for n ids in its window; an
    attacker could craft such a pair, and would only see its own second event counted a
    duplicate."""
    return hashlib.blake2b(event_id.encode(), digest_size=8).digest()


@dataclass(frozen=True, slots=True)
class Ingest:
    account_id: str
    event_id: str
    decision_id: str | None
    record: bytes
    ops: bytes
    ts: float = 0.0  # event time: the dedup window keeps its id by it


class EventsStore(StoreBase):
    async def ingest(self, items: Sequence[Ingest], wall: float | None = None) -> tuple[int, int]:
        """Apply events, one script call per shard and up to SCRIPT_EVENTS of its events (no
        script holds Redis long); returns (applied, duplicates). `wall`: the server's clock in
        wall mode (the dedup window ends there), None in data mode."""
        by_shard: dict[int, list[Ingest]] = defaultdict(list)
        for it in items:
            by_shard[self.keys.shard(it.account_id)].append(it)
        k = self.keys
        commands = []
        groups = [
            (shard, group[i : i + SCRIPT_EVENTS])
            for shard, group in by_shard.items()
            for i in range(0, len(group), SCRIPT_EVENTS)
        ]
        for shard, group in groups:
            keys: list[str] = [k.log(shard)]
            args: list[Any] = [
                self.log_maxlen,
                self.dedup_s,
                "" if wall is None else repr(wall),
            ]
            for it in group:
                acct = k.account(it.account_id)
                linked = it.decision_id is not None and _same_shard(it.decision_id, shard)
                dec = k.decision(it.decision_id) if linked and it.decision_id else acct
                keys += [acct, acct + K.SEEN_WINDOW, dec, acct + K.SEEN]
                args += [
                    it.event_id,
                    it.account_id,
                    "1" if linked else "0",
                    it.record,
                    it.ops,
                    repr(it.ts),
                    seen_member(it.event_id),
                ]
            commands.append(self._eval("ingest", keys, args))
        out = await self._run(commands, writes=True)
        return sum(int(a) for a, _ in out), sum(int(d) for _, d in out)

    async def clock(self, ts: float) -> None:
        """Tell every shard's log that the data's clock reached `ts` (clock = "data")."""
        record = log_json(ClockRecord(ts))
        await self._run(
            [
                ("XADD", self.keys.log(s), "MAXLEN", "~", self.log_maxlen, "*", "r", record)
                for s in range(self.keys.shards)
            ],
            writes=True,
        )

    async def deadletter(self, entries: Sequence[dict[str, bytes | str]]) -> None:
        """Keep callbacks that matched no account, for an operator to reconcile."""
        if entries:
            await self._run(
                [("XADD", K.DEADLETTER, "MAXLEN", "~", DEADLETTER_MAXLEN, "*", *_flat(e)) for e in entries],
                writes=True,
            )

    async def newest_events(self, account_ids: Iterable[str]) -> dict[str, float]:
        """Each account's newest event time applied so far (data mode's dedup window)."""
        ids = list(dict.fromkeys(account_ids))
        found = await self._run([("HGET", self.keys.account(a), "e_at") for a in ids])
        return {a: float(v) for a, v in zip(ids, found, strict=True) if v is not None}
