"""The dataflow's Redis: read a shard's log, pop attribution timers, write features and
offsets, publish models. Synchronous (the dataflow's workers are threads of their own) and
free of any stream-processor import, so the wiring could move to another engine."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
import redis

from connectors import keys as K
from features.records import ExpireRecord, Record, from_log


@dataclass(frozen=True, slots=True)
class LogItem:
    shard: int
    entry_id: str | None  # None for records made by the reader itself (expired timers)
    accepted_at: float | None
    record: Record


def stream_id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class LogReader:
    """Reads one shard from `last_id` on, tracking the shard's event-time watermark."""

    def __init__(
        self,
        client: redis.Redis,
        keys: K.Keys,
        shard: int,
        last_id: str = "0-0",
        watermark: float = float("-inf"),
        batch: int = 2000,
    ) -> None:
        self.r = client
        self.keys = keys
        self.shard = shard
        self.last_id = last_id
        self.watermark = watermark
        self.batch = batch

    def read(self) -> list[LogItem]:
        out: list[LogItem] = []
        reply = self.r.xread({self.keys.log(self.shard): self.last_id}, count=self.batch)
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                raw = orjson.loads(fields[b"r"])
                accepted = raw.get("acc")
                record = from_log(raw)
                self.last_id = entry_id.decode()
                ts = getattr(record, "ts", None)
                if ts is not None and ts > self.watermark:
                    self.watermark = ts
                out.append(LogItem(self.shard, self.last_id, accepted, record))
        out.extend(self.due_timers())
        return out

    def due_timers(self) -> list[LogItem]:
        """Decisions whose attribution window closed before the watermark, popped atomically."""
        if self.watermark == float("-inf"):
            return []
        key = self.keys.timers(self.shard)
        pipe = self.r.pipeline(transaction=True)
        pipe.zrangebyscore(key, "-inf", self.watermark, withscores=True)
        pipe.zremrangebyscore(key, "-inf", self.watermark)
        due, _removed = pipe.execute()
        items = []
        for member, deadline in due:
            decision_id, _, account_id = member.decode().partition("|")
            items.append(LogItem(self.shard, None, None, ExpireRecord(decision_id, account_id, deadline)))
        return items


@dataclass(frozen=True, slots=True)
class FeatureWrite:
    account_id: str
    shard: int
    entry_id: str | None
    accepted_at: float | None
    is_event: bool
    served: dict[str, Any] | None  # None: the record did not change the features


class FeatureWriter:
    def __init__(self, client: redis.Redis, keys: K.Keys) -> None:
        self.r = client
        self.keys = keys

    def write(self, batch: Iterable[FeatureWrite]) -> list[float]:
        """Write the newest features of each account and the shards' offsets in one round
        trip; return the acceptance times of the events written (for the lag metric)."""
        latest: dict[str, FeatureWrite] = {}
        offsets: dict[int, str] = {}
        accepted = []
        for w in batch:
            if w.served is not None:
                latest[w.account_id] = w
            if w.entry_id is not None:
                prev = offsets.get(w.shard)
                if prev is None or stream_id_key(w.entry_id) > stream_id_key(prev):
                    offsets[w.shard] = w.entry_id
            if w.is_event and w.accepted_at is not None:
                accepted.append(w.accepted_at)
        pipe = self.r.pipeline(transaction=False)
        now = time.time()
        for w in latest.values():
            assert w.served is not None
            pipe.hset(
                self.keys.account(w.account_id),
                mapping={"feat": orjson.dumps(w.served), "feat_n": w.served["n"], "feat_at": now},
            )
        if offsets:
            pipe.hset(K.FLOW_OFFSETS, mapping={str(s): i for s, i in offsets.items()})
        if latest or offsets:
            pipe.execute()
        return accepted


def stored_offsets(client: redis.Redis) -> dict[int, str]:
    return {int(k): v.decode() for k, v in client.hgetall(K.FLOW_OFFSETS).items()}


def publish_model(client: redis.Redis, blob: bytes) -> str:
    seq = int(client.incr(f"{K.PREFIX}:model:seq"))
    version = f"m-{seq:06d}"
    pipe = client.pipeline(transaction=True)
    pipe.set(K.MODEL_BLOB, blob)
    pipe.set(K.MODEL_VERSION, version)
    pipe.execute()
    return version


def published_model(client: redis.Redis) -> bytes | None:
    return client.get(K.MODEL_BLOB)
