"""The dataflow's Redis: read a shard's log, pop attribution timers, write features and
offsets, publish models. Synchronous (the dataflow's workers are threads of their own) and
free of any stream-processor import, so the wiring could move to another engine."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

import orjson
import redis

from connectors import keys as K
from features.account import AccountFeatures, serving
from features.records import AccountRecord, ExpireRecord, Record, decode_log


@dataclass(frozen=True, slots=True)
class LogItem:
    shard: int
    entry_id: str | None  # None for records made by the reader itself (expired timers)
    accepted_at: float | None
    record: Record


NO_WATERMARK = float("-inf")
# The most a poll asks of Redis, over all its shards, so that no dataflow round trip holds it
# (single-threaded: the API's decisions wait behind it) for more than about half a millisecond:
# log entries per XREAD and timers popped. Measured before these bounds (Redis SLOWLOG during
# decisions at 1,000/s): after event time jumped, a pop took 0.6-1.0 ms a shard, 16 of them in
# one pipeline, and an XREAD of a backlog (2,000 entries a shard) 7.5 ms.
READ_BATCH = 2000
TIMERS_PER_POLL = 512
_POP_TIMERS = resources.files("connectors").joinpath("lua/pop_timers.lua").read_text()


def stream_id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class LogReader:
    """Reads a group of shards with one XREAD per poll, tracking each shard's position and
    event-time watermark, and pops the attribution timers the watermarks have passed."""

    def __init__(
        self,
        client: redis.Redis,
        keys: K.Keys,
        shards: list[int],
        positions: dict[int, tuple[str, float]] | None = None,
        batch: int = READ_BATCH,
    ) -> None:
        self.r = client
        self.keys = keys
        self.shards = shards
        positions = positions or {}
        self.last_id = {s: positions.get(s, ("0-0", NO_WATERMARK))[0] for s in shards}
        self.watermark = {s: positions.get(s, ("0-0", NO_WATERMARK))[1] for s in shards}
        self._timers_checked = dict.fromkeys(shards, NO_WATERMARK)
        self.batch = batch
        self.drained = True  # the last read took everything there was (log and due timers)
        self._pop_sha = client.script_load(_POP_TIMERS)
        # raw XREAD replies: redis-py's conversion of every entry to a dict was ~6% of the flow
        client.set_response_callback("XREAD", lambda response, **_options: response)

    def positions(self) -> dict[int, tuple[str, float]]:
        return {s: (self.last_id[s], self.watermark[s]) for s in self.shards}

    def read(self) -> list[LogItem]:
        """The attribution timers due by the watermarks so far, then what the log holds after
        the last read: one round trip (a poll that also popped timers after the read paid two,
        and at 1,000 decisions/s there is a poll every few records). A timer due by what this
        read brings is popped next poll, never before the records that made it due."""
        streams = {self.keys.log(s): self.last_id[s] for s in self.shards}
        count = max(1, self.batch // len(self.shards))
        moved = [s for s in self.shards if self.watermark[s] > self._timers_checked[s]]
        limit = max(1, TIMERS_PER_POLL // max(1, len(moved)))
        pipe = self.r.pipeline(transaction=False)
        pipe.xread(streams, count=count)
        for s in moved:
            pipe.evalsha(self._pop_sha, 1, self.keys.timers(s), self.watermark[s], limit)
        try:
            reply, *popped = pipe.execute()
        except redis.exceptions.NoScriptError:  # Redis restarted: the read is repeated, not lost
            self._pop_sha = self.r.script_load(_POP_TIMERS)
            return self.read()
        self.drained = True
        out = self._expired(moved, popped, limit)
        by_stream = {self.keys.log(s): s for s in self.shards}
        reply = reply or []
        for stream, entries in reply.items() if isinstance(reply, dict) else reply:  # RESP3 or RESP2
            shard = by_stream[stream.decode()]
            self.drained = self.drained and len(entries) < count
            for entry_id, fields in entries:
                record, accepted = decode_log(fields[1])  # every entry holds one field, `r`
                last = entry_id.decode()
                ts = getattr(record, "ts", None)
                if ts is not None and ts > self.watermark[shard]:
                    self.watermark[shard] = ts
                out.append(LogItem(shard, last, accepted, record))
            self.last_id[shard] = last
        return out

    def _expired(self, shards: list[int], popped: list[list[bytes]], limit: int) -> list[LogItem]:
        """Decisions whose attribution windows closed before their shard's watermark, at most
        TIMERS_PER_POLL over the shards (a shard with more due is popped again next poll)."""
        items = []
        for s, due in zip(shards, popped, strict=True):
            if len(due) < 2 * limit:  # all that was due is out
                self._timers_checked[s] = self.watermark[s]
            else:
                self.drained = False
            for member, deadline in zip(due[::2], due[1::2], strict=True):
                decision_id, _, account_id = member.decode().partition("|")
                items.append(LogItem(s, None, None, ExpireRecord(decision_id, account_id, float(deadline))))
        return items


@dataclass(frozen=True, slots=True)
class FeatureWrite:
    account_id: str
    shard: int
    entry_id: str | None
    accepted_at: float | None
    is_event: bool
    features: AccountFeatures | None  # None: the record did not change the features
    boost: bool = False  # a digital contact failed and no call has followed yet
    account: AccountRecord | None = None  # the account's latest upload, for call campaigns
    upload: bool = False  # this write comes from an upload (campaign membership may change)


class QueueWriter:
    """The dataflow's side of the call campaigns: the documents and features of changed
    accounts (one round trip), then their new priorities (one round trip)."""

    def __init__(self, client: redis.Redis, keys: K.Keys) -> None:
        self.r = client
        self.keys = keys
        self._enqueue = client.register_script(
            resources.files("connectors").joinpath("lua/enqueue.lua").read_text()
        )

    def campaigns(self, known_version: int) -> tuple[int, dict[str, bytes] | None]:
        """(version, definitions) when they changed since `known_version`, else (it, None)."""
        version = int(self.r.get(K.CAMPAIGNS_VERSION) or 0)
        if version == known_version:
            return version, None
        return version, {k.decode(): v for k, v in self.r.hgetall(K.CAMPAIGNS).items()}

    def rows(self, account_ids: list[str]) -> list[tuple[bytes | None, bytes | None]]:
        pipe = self.r.pipeline(transaction=False)
        for a in account_ids:
            pipe.hmget(self.keys.account(a), "doc", "feat")
        return [(doc, feat) for doc, feat in pipe.execute()]

    def enqueue(self, items: list[tuple[str, str, float | None, bool]]) -> None:
        pipe = self.r.pipeline(transaction=False)
        for campaign, account, prio, ready in items:
            self._enqueue(
                keys=list(self.keys.queue(campaign, self.keys.shard(account))),
                args=[account, "" if prio is None else prio, "1" if ready else "0"],
                client=pipe,
            )
        pipe.execute()


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
            if w.features is not None:
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
            assert w.features is not None
            pipe.hset(
                self.keys.account(w.account_id),
                mapping={
                    "feat": orjson.dumps(serving(w.features)),
                    "feat_n": w.features.events_applied,
                    "feat_at": now,
                },
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
