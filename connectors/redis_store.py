"""The API's Redis: one pipelined round trip to read, one script to reserve, one to ingest.

Every key comes from `connectors.keys`; every multi-key write is a Lua script on one
hash-tag slot. Redis failures surface as `StoreUnavailable`.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from connectors import keys as K
from features.records import KIND_OF, Record
from policy.base import Live, Lock, Promise

CONTACT_WINDOW_S = 8 * 86400  # reservations kept per account for caps


class StoreUnavailable(Exception):
    """Redis did not answer or refused a command."""


SCRIPTS = ("ingest", "reserve", "cancel", "upsert")


def _sha1(source: str) -> str:
    return hashlib.sha1(source.encode()).hexdigest()


def _script(name: str) -> str:
    return resources.files("connectors").joinpath(f"lua/{name}.lua").read_text()


def log_json(record: Record, accepted: float | None = None) -> bytes:
    """The record as a flat JSON object with its kind `k` and acceptance time `acc`.

    orjson serialises the dataclass natively; the two envelope fields are spliced in front
    rather than building an intermediate dict (this runs for every event ingested)."""
    head = b'{"k":"%s","acc":%s,' % (
        KIND_OF[type(record)].encode(),
        orjson.dumps(time.time() if accepted is None else accepted),
    )
    return head + orjson.dumps(record)[1:]


@dataclass(frozen=True, slots=True)
class AccountRow:
    """Everything one decision reads about an account, from one round trip."""

    fields: dict[bytes, bytes]
    contacts: list[tuple[bytes, float]]

    @property
    def exists(self) -> bool:
        return b"doc" in self.fields

    @property
    def ver(self) -> str:
        return self.fields.get(b"ver", b"0").decode()

    def features(self) -> dict[str, Any] | None:
        raw = self.fields.get(b"feat")
        return orjson.loads(raw) if raw else None

    def live(self) -> Live:
        f = self.fields
        lock = None
        if b"lock" in f:
            decision_id, channel, expires = f[b"lock"].decode().split("|")
            lock = Lock(decision_id, channel, float(expires))
        promise = None
        if b"ptp" in f:
            p = orjson.loads(f[b"ptp"])
            promise = Promise(p["amount"], p["due_date"], p["ts"], float(f.get(b"ptp_paid", b"0")))
        optouts = {k[3:].decode(): float(v) for k, v in f.items() if k.startswith(b"oo:")}
        return Live(
            ver=int(f.get(b"ver", b"0")),
            lock=lock,
            optouts=optouts,
            promise=promise,
            paid_total=float(f.get(b"paid", b"0")),
            dispute_at=float(f[b"disp"]) if b"disp" in f else None,
        )


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


@dataclass(frozen=True, slots=True)
class Ingest:
    account_id: str
    event_id: str
    decision_id: str | None
    record: bytes
    ops: bytes


class RedisStore:
    def __init__(
        self,
        client: aioredis.Redis,
        shards: int,
        log_maxlen: int = 1_000_000,
        timeline_maxlen: int = 2000,
        retention_days: int = 400,
        timeout_s: float = 2.0,
    ) -> None:
        self.r = client
        self.keys = K.Keys(shards)
        self.log_maxlen = log_maxlen
        self.timeline_maxlen = timeline_maxlen
        self.ttl = retention_days * 86400
        self._sources = {name: _script(name) for name in SCRIPTS}
        self._sha = {name: _sha1(src) for name, src in self._sources.items()}
        self.timeout_s = timeout_s

    @classmethod
    def from_url(cls, url: str, shards: int, **kw: Any) -> RedisStore:
        # No per-command socket timeout: redis-py wraps every read and write in wait_for for it,
        # a large share of a decision's CPU. One deadline per round trip is enforced in `_run`.
        client = aioredis.Redis.from_url(url, socket_connect_timeout=2.0, max_connections=256)
        return cls(client, shards, **kw)

    async def close(self) -> None:
        await self.r.aclose()

    def _eval(self, pipe: Any, name: str, keys: list[str], args: list[Any]) -> None:
        """Queue a script by its SHA. (redis-py's Script objects make every pipeline ask Redis
        SCRIPT EXISTS first: an extra round trip per request.)"""
        pipe.evalsha(self._sha[name], len(keys), *keys, *args)

    async def _load_scripts(self) -> None:
        for src in self._sources.values():
            await self.r.script_load(src)

    async def _run(self, fill: Callable[[Any], None], transaction: bool = False) -> list[Any]:
        """One round trip: a pipeline filled by `fill`, under one deadline. Scripts missing
        from Redis (a restart, SCRIPT FLUSH) are loaded and the pipeline sent again: safe,
        because NOSCRIPT means that script did not run."""
        for attempt in (1, 2):
            pipe = self.r.pipeline(transaction=transaction)
            fill(pipe)
            try:
                async with asyncio.timeout(self.timeout_s):
                    return await pipe.execute()
            except NoScriptError:
                if attempt == 2:
                    raise StoreUnavailable("redis keeps forgetting cadencia's scripts") from None
                await self._load_scripts()
            except (RedisError, TimeoutError, OSError) as exc:
                raise StoreUnavailable(f"redis: {exc or type(exc).__name__}") from exc
        raise AssertionError("unreachable")

    async def ping(self) -> bool:
        try:
            return bool(await self.r.ping())
        except (RedisError, OSError):
            return False

    # --- accounts ---------------------------------------------------------------------------

    async def upsert_accounts(self, docs: Sequence[tuple[str, bytes, Record]]) -> None:
        k = self.keys

        def fill(pipe: Any) -> None:
            for account_id, doc, record in docs:
                self._eval(
                    pipe,
                    "upsert",
                    [k.account(account_id), k.log(k.shard(account_id))],
                    [doc, log_json(record), self.log_maxlen],
                )

        await self._run(fill)

    async def read_accounts(self, account_ids: Sequence[str], now: float) -> list[AccountRow]:
        def fill(pipe: Any) -> None:
            for account_id in account_ids:
                pipe.hgetall(self.keys.account(account_id))
                pipe.zrangebyscore(
                    self.keys.contacts(account_id), now - CONTACT_WINDOW_S, "+inf", withscores=True
                )

        out = await self._run(fill)
        return [AccountRow(out[i], out[i + 1]) for i in range(0, len(out), 2)]

    async def existing(self, account_ids: Iterable[str]) -> set[str]:
        ids = list(dict.fromkeys(account_ids))

        def fill(pipe: Any) -> None:
            for account_id in ids:
                pipe.hexists(self.keys.account(account_id), "doc")

        found = await self._run(fill)
        return {a for a, ok in zip(ids, found, strict=True) if ok}

    async def timeline(self, account_id: str, count: int = 10_000) -> list[dict[str, Any]]:
        (rows,) = await self._run(lambda pipe: pipe.xrange(self.keys.timeline(account_id), count=count))
        return [orjson.loads(fields[b"r"]) for _id, fields in rows]

    # --- decisions --------------------------------------------------------------------------

    async def reserve(
        self, items: Sequence[Reservation], waits: Sequence[tuple[str, bytes]] = ()
    ) -> list[bool]:
        """Reserve each item atomically; also append `waits` (account, record) to timelines."""
        k = self.keys

        def fill(pipe: Any) -> None:
            for it in items:
                shard = k.shard(it.account_id)
                self._eval(
                    pipe,
                    "reserve",
                    [
                        k.account(it.account_id),
                        k.contacts(it.account_id),
                        k.log(shard),
                        k.timeline(it.account_id),
                        k.decision(it.decision_id),
                        k.timers(shard),
                    ],
                    [
                        it.expected_ver,
                        it.lock,
                        it.contact_at,
                        it.contact_member,
                        it.contact_at - CONTACT_WINDOW_S,
                        it.record,
                        it.account_id,
                        self.ttl,
                        it.deadline,
                        f"{it.decision_id}|{it.account_id}",
                        self.log_maxlen,
                        self.timeline_maxlen,
                    ],
                )
            for account_id, record in waits:
                tl = k.timeline(account_id)
                pipe.xadd(tl, {"r": record}, maxlen=self.timeline_maxlen, approximate=True)
                pipe.expire(tl, self.ttl)

        if not items and not waits:
            return []
        out = await self._run(fill)
        return [bool(v) for v in out[: len(items)]]

    async def decision(self, decision_id: str) -> dict[bytes, bytes]:
        key = self.keys.decision(decision_id)  # ValueError for ids that are not ours
        (fields,) = await self._run(lambda pipe: pipe.hgetall(key))
        return fields

    async def cancel(self, account_id: str, decision_id: str, record: bytes) -> int:
        k = self.keys
        keys = [
            k.account(account_id),
            k.contacts(account_id),
            k.log(k.shard(account_id)),
            k.timeline(account_id),
            k.decision(decision_id),
        ]
        args = [decision_id, record, self.log_maxlen, self.timeline_maxlen]
        (result,) = await self._run(lambda pipe: self._eval(pipe, "cancel", keys, args))
        return int(result)

    # --- events -----------------------------------------------------------------------------

    async def ingest(self, items: Sequence[Ingest]) -> tuple[int, int]:
        """Apply events, one script call per shard; returns (applied, duplicates)."""
        by_shard: dict[int, list[Ingest]] = defaultdict(list)
        for it in items:
            by_shard[self.keys.shard(it.account_id)].append(it)
        k = self.keys

        def fill(pipe: Any) -> None:
            for shard, group in by_shard.items():
                keys: list[str] = [k.log(shard)]
                args: list[Any] = [self.log_maxlen, self.timeline_maxlen, self.ttl]
                for it in group:
                    acct = k.account(it.account_id)
                    linked = it.decision_id is not None and _same_shard(it.decision_id, shard)
                    dec = k.decision(it.decision_id) if linked and it.decision_id else acct
                    keys += [acct, k.seen(it.account_id), k.timeline(it.account_id), dec]
                    args += [it.event_id, it.account_id, "1" if linked else "0", it.record, it.ops]
                self._eval(pipe, "ingest", keys, args)

        out = await self._run(fill)
        return sum(int(a) for a, _ in out), sum(int(d) for _, d in out)

    # --- models and flow --------------------------------------------------------------------

    async def model_version(self) -> bytes | None:
        (version,) = await self._run(lambda pipe: pipe.get(K.MODEL_VERSION))
        return version

    async def model_blob(self) -> tuple[bytes | None, bytes | None]:
        def fill(pipe: Any) -> None:
            pipe.get(K.MODEL_VERSION)
            pipe.get(K.MODEL_BLOB)

        version, blob = await self._run(fill, transaction=True)
        return version, blob

    async def flow_lag(self, now_ms: int) -> float:
        """Seconds since the oldest log entry the dataflow has not applied yet (0 if none)."""
        (offsets,) = await self._run(lambda pipe: pipe.hgetall(K.FLOW_OFFSETS))

        def fill(pipe: Any) -> None:
            for shard in range(self.keys.shards):
                last = offsets.get(str(shard).encode(), b"0-0").decode()
                pipe.xrange(self.keys.log(shard), min=f"({last}", count=1)

        lag = 0.0
        for rows in await self._run(fill):
            if rows:
                ms = int(rows[0][0].split(b"-")[0])
                lag = max(lag, (now_ms - ms) / 1000.0)
        return lag


def _same_shard(decision_id: str, shard: int) -> bool:
    try:
        return K.decision_shard(decision_id) == shard
    except ValueError:
        return False
