"""Call campaigns: definitions, queues per shard, pulls and claims, enrolment reads."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from connectors import keys as K
from connectors.store.accounts import AccountRow
from connectors.store.base import Command, StoreBase, _pairs

TABLE = (K.CAMPAIGNS, K.CAMPAIGNS_VERSION)


class CampaignsStore(StoreBase):
    async def put_campaign(self, campaign: str, definition: bytes) -> None:
        await self._put_definition(TABLE, campaign, definition)

    async def delete_campaign(self, campaign: str) -> bool:
        """Forget a campaign and drop its queues on every shard; False if there was none."""
        removed = await self._delete_definition(TABLE, campaign)
        await self.drop_queues(campaign)
        return removed

    async def drop_queues(self, campaign: str) -> None:
        await self._run(
            [("DEL", *self.keys.queue(campaign, shard)) for shard in range(self.keys.shards)], writes=True
        )

    async def campaign_definition(self, campaign: str) -> bytes | None:
        (definition,) = await self._run([("HGET", K.CAMPAIGNS, campaign)])
        return definition

    async def campaigns(self) -> tuple[int, dict[str, bytes]]:
        return await self._definitions(TABLE)

    async def campaigns_version(self) -> int:
        return await self._definitions_version(TABLE)

    async def pull(self, campaign: str, now: float, count: int) -> list[tuple[str, float]]:
        """Each shard's best `count` ready candidates (held ones whose time came included),
        one round trip for every shard; merged best first."""
        commands = [
            self._eval("pull", list(self.keys.queue(campaign, shard)), [now, count])
            for shard in range(self.keys.shards)
        ]
        merged = [
            (flat[i].decode(), float(flat[i + 1]))
            for flat in await self._run(commands, writes=True)
            for i in range(0, len(flat), 2)
        ]
        merged.sort(key=lambda item: item[1], reverse=True)
        return merged

    async def claim_and_read(
        self, campaign: str, account_ids: Sequence[str], until: float, since: float
    ) -> list[AccountRow | None]:
        """Claim the candidates (claim.lua) and read them, in one round trip: each account's
        row, or None when another request claimed it first."""
        k = self.keys
        by_shard: dict[int, list[str]] = defaultdict(list)
        for a in account_ids:
            by_shard[k.shard(a)].append(a)
        commands: list[Command] = [
            self._eval("claim", list(k.queue(campaign, shard)[:2]), [until, *ids])
            for shard, ids in by_shard.items()
        ]
        for a in account_ids:
            commands.append(("HGETALL", k.account(a)))
            commands.append(("ZRANGEBYSCORE", k.contacts(a), since, "+inf", "WITHSCORES"))
        out = await self._run(commands, writes=True)
        claimed = {
            a: bool(ok)
            for (_shard, ids), flags in zip(by_shard.items(), out[: len(by_shard)], strict=True)
            for a, ok in zip(ids, flags, strict=True)
        }
        reads = out[len(by_shard) :]
        return [
            AccountRow(_pairs(reads[2 * i]), [(m, float(sc)) for m, sc in _pairs(reads[2 * i + 1]).items()])
            if claimed[a]
            else None
            for i, a in enumerate(account_ids)
        ]

    async def enqueue(self, items: Sequence[tuple[str, str, float | None, bool]]) -> None:
        """(campaign, account, priority or None to remove, ready now) for each item."""
        k = self.keys
        await self._run(
            [
                self._eval(
                    "enqueue",
                    list(k.queue(campaign, k.shard(account))),
                    [account, "" if prio is None else prio, "1" if ready else "0"],
                )
                for campaign, account, prio, ready in items
            ],
            writes=True,
        )

    async def queue_sizes(self, campaign: str) -> tuple[int, int]:
        """(ready, held) accounts in a campaign, over every shard."""
        commands: list[Command] = []
        for shard in range(self.keys.shards):
            ready, held, _prio = self.keys.queue(campaign, shard)
            commands += [("ZCARD", ready), ("ZCARD", held)]
        out = await self._run(commands)
        return sum(out[::2]), sum(out[1::2])

    async def scan_accounts(self, shard: int, cursor: int, count: int = 500) -> tuple[int, list[str]]:
        """One step through a shard's account index (admin work: campaign enrolment)."""
        ((next_cursor, ids),) = await self._run(
            [("SSCAN", self.keys.account_index(shard), cursor, "COUNT", count)]
        )
        return int(next_cursor), [i.decode() for i in ids]

    async def docs_and_features(self, account_ids: Sequence[str]) -> list[tuple[bytes | None, bytes | None]]:
        out = await self._run([("HMGET", self.keys.account(a), "doc", "feat") for a in account_ids])
        return [(doc, feat) for doc, feat in out]

    async def enrolment_rows(
        self, campaign: str, shard: int, account_ids: Sequence[str]
    ) -> list[tuple[bytes | None, bytes | None, bool]]:
        """(document, features, in the campaign now) of accounts of one shard, one round trip."""
        prio = self.keys.queue(campaign, shard)[2]
        commands: list[Command] = []
        for a in account_ids:
            commands += [("HMGET", self.keys.account(a), "doc", "feat"), ("HEXISTS", prio, a)]
        out = await self._run(commands)
        return [(doc, feat, bool(member)) for (doc, feat), member in zip(out[::2], out[1::2], strict=True)]
