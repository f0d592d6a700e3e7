"""The API's Redis: one round trip to read, one script to reserve, one to ingest.

Every key comes from `connectors.keys`; every multi-key write is a Lua script on one
hash-tag slot. Commands go through `connectors.resp` (a multiplexed connection); Redis
failures surface as `StoreUnavailable`.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import orjson

from connectors import addresses
from connectors import keys as K
from connectors.resp import NoScript, NotConnected, RespClient, RespError
from features.records import KIND_OF, CancelRecord, ClockRecord, Record
from policy.base import Live, Lock, Promise
from policy.caps import History, parse_contacts

# The frequency rules look at most 7 days either side of a candidate contact. Decisions read
# the contacts from 8 days before their `now` on; each account keeps its contacts up to 15
# days behind its own newest one, so a request whose `now` is no more than 8 days before the
# account's newest contact finds every contact its rules need (engine.decisions.decide refuses earlier).
CONTACT_WINDOW_S = 8 * 86400
CONTACT_KEEP_S = 15 * 86400


class StoreUnavailable(Exception):
    """Redis did not answer or refused a command; nothing of it was applied."""


class OutcomeUnknown(StoreUnavailable):
    """A write left for Redis and no answer came back (a timeout, a lost connection): it may
    or may not have been applied. Retrying is safe (events and cancels are idempotent, a
    decide with the same `request_id` answers the same decision).

    `unsettled`: reservations the write may have made that nobody can claim (no request_id),
    for the caller to take back once Redis answers again."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.unsettled: list[Reservation] = []


SCRIPTS = (
    "ingest",
    "reserve",
    "cancel",
    "upsert",
    "take_route",
    "pull",
    "claim",
    "enqueue",
    "park",
    "address",
)
ADDRESS_HOLDERS = 50  # accounts kept per address in the address index, newest last
DEADLETTER_MAXLEN = 100_000
SCRIPT_EVENTS = 32  # events per ingest script call: ~1 ms of Redis time at most (SLOWLOG)


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
    prior: bytes | None = None  # the answer a decision with this request's request_id already has

    @property
    def exists(self) -> bool:
        return b"doc" in self.fields

    @property
    def ver(self) -> str:
        return self.fields.get(b"ver", b"0").decode()

    def features(self) -> dict[str, Any] | None:
        raw = self.fields.get(b"feat")
        return orjson.loads(raw) if raw else None

    def history(self) -> History:
        f = self.fields
        direct_at, direct_channel = None, None
        if b"direct" in f:
            ts, _, channel = f[b"direct"].decode().partition("|")
            direct_at, direct_channel = float(ts), channel
        return History(
            contacts=parse_contacts(self.contacts),
            conversation_at=float(f[b"conv"]) if b"conv" in f else None,
            direct_at=direct_at,
            direct_channel=direct_channel,
        )

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
        intent_at, intent = None, None
        if b"intent" in f:
            ts, _, said = f[b"intent"].decode().partition("|")
            intent_at, intent = float(ts), said
        return Live(
            ver=int(f.get(b"ver", b"0")),
            lock=lock,
            lock_floor=float(f.get(b"lock_floor", b"0")),
            optouts=optouts,
            promise=promise,
            paid_total=float(f.get(b"paid", b"0")),
            paid_base=float(f.get(b"paid_base", b"0")),
            dispute_at=float(f[b"disp"]) if b"disp" in f else None,
            intent=intent,
            intent_at=intent_at,
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
    campaign: str | None = None  # a dialer lease: held out of the campaign until it expires
    expires_at: float = 0.0
    lock_start: float = 0.0  # the time the lock is judged from (engine.clock.Clock.lock_time)
    answer: bytes | None = None  # a request_id's decision: its answer, kept to answer a repeat
    response_deadline: float | None = None  # the response window's end: a timer closes it too
    # the record without its model inputs, for the timeline and the decision's hash (only the
    # log, which the dataflow learns from, needs the inputs); None: `record` itself
    brief: bytes | None = None

    def cancel_record(self) -> bytes:
        """The log record that takes this reservation back (after an unknown outcome)."""
        _decision, channel, point = self.contact_member.split("|", 2)
        return log_json(CancelRecord(self.decision_id, self.account_id, self.lock_start, channel, point))


@dataclass(frozen=True, slots=True)
class Ingest:
    account_id: str
    event_id: str
    decision_id: str | None
    record: bytes
    ops: bytes
    ts: float = 0.0  # event time: the dedup window keeps its id by it


Command = tuple[Any, ...]


def _pairs(flat: list[Any]) -> dict[bytes, Any]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


class RedisStore:
    def __init__(
        self,
        client: RespClient,
        shards: int,
        log_maxlen: int = 1_000_000,
        timeline_maxlen: int = 300,
        retention_days: int = 400,
        timeout_s: float = 2.0,
        dedup_days: float = 400.0,
        decision_days: float = 10.0,
    ) -> None:
        self.r = client
        self.keys = K.Keys(shards)
        self.log_maxlen = log_maxlen
        self.timeline_maxlen = timeline_maxlen
        self.ttl = retention_days * 86400
        self.dedup_s = dedup_days * 86400
        self.decision_ttl = int(decision_days * 86400)
        self.timeout_s = timeout_s
        self._sources = {name: _script(name) for name in SCRIPTS}
        self._sha = {name: _sha1(src) for name, src in self._sources.items()}
        # Accounts known to exist. No endpoint deletes accounts, so an id once seen stays true;
        # a miss asks Redis. Bounded: cleared when full (a deletion endpoint must clear it too).
        self._known: set[str] = set()
        self.known_limit = 500_000

    @classmethod
    def from_url(cls, url: str, shards: int, **kw: Any) -> RedisStore:
        return cls(RespClient(url), shards, **kw)

    async def close(self) -> None:
        await self.r.close()

    def _eval(self, name: str, keys: list[str], args: list[Any]) -> Command:
        return ("EVALSHA", self._sha[name], len(keys), *keys, *args)

    async def _run(self, commands: list[Command], writes: bool = False) -> list[Any]:
        """One round trip under one deadline. Scripts missing from Redis (a restart, SCRIPT
        FLUSH) are loaded and the commands sent again: safe, as NOSCRIPT means the script
        did not run (every other command of ours is a read or an idempotent write).

        `writes`: the commands change data, so a timeout or a connection lost once they were
        sent is `OutcomeUnknown`, not "nothing applied"."""
        for attempt in (1, 2):
            try:
                return await self.r.execute(commands, self.timeout_s)
            except NoScript:
                if attempt == 2:
                    raise StoreUnavailable("redis keeps forgetting cadencia's scripts") from None
                await self.r.execute([("SCRIPT", "LOAD", src) for src in self._sources.values()])
            except NotConnected as exc:
                raise StoreUnavailable(f"redis: {exc}") from exc
            except (TimeoutError, OSError) as exc:
                if writes:
                    raise OutcomeUnknown(
                        f"redis: {exc or type(exc).__name__} after the write was sent"
                    ) from exc
                raise StoreUnavailable(f"redis: {exc or type(exc).__name__}") from exc
            except RespError as exc:
                raise StoreUnavailable(f"redis: {exc}") from exc
        raise AssertionError("unreachable")

    async def ping(self) -> bool:
        try:
            return (await self._run([("PING",)]))[0] == b"PONG"
        except StoreUnavailable:
            return False

    # --- accounts ---------------------------------------------------------------------------

    async def upsert_accounts(self, docs: Sequence[tuple[str, bytes, Record]]) -> None:
        """Write the accounts, then index their addresses: two round trips, as the address
        index lives in the addresses' own slots. The upsert script hands back the addresses
        each account had, so addresses it no longer has leave the index."""
        k = self.keys
        now = [addresses.of_document(doc) for _a, doc, _r in docs]
        before = await self._run(
            [
                self._eval(
                    "upsert",
                    [k.account(a), k.log(k.shard(a)), k.account_index(k.shard(a))],
                    [doc, log_json(record), self.log_maxlen, a, "\n".join(addrs)],
                )
                for (a, doc, record), addrs in zip(docs, now, strict=True)
            ],
            writes=True,
        )
        ops: dict[tuple[str, str], list[str]] = defaultdict(list)
        for (a, _doc, _record), addrs, old in zip(docs, now, before, strict=True):
            for gone in set((old or b"").decode().split("\n")) - set(addrs) - {""}:
                ops[(k.address_index(gone), a)] += ["-", gone]
            for address in addrs:  # re-added every time: an index lost or older than this heals
                ops[(k.address_index(address), a)] += ["+", address]
        if ops:
            await self._run(
                [self._eval("address", [key], [a, ADDRESS_HOLDERS, *args]) for (key, a), args in ops.items()],
                writes=True,
            )

    async def accounts_by_address(self, wanted: Iterable[str]) -> dict[str, list[str]]:
        """The accounts holding each normalised address, oldest first (one round trip)."""
        unique = list(dict.fromkeys(wanted))
        if not unique:
            return {}
        found = await self._run([("HGET", self.keys.address_index(a), a) for a in unique])
        return {a: v.decode().split() for a, v in zip(unique, found, strict=True) if v}

    async def deadletter(self, entries: Sequence[dict[str, bytes | str]]) -> None:
        """Keep callbacks that matched no account, for an operator to reconcile."""
        if entries:
            await self._run(
                [("XADD", K.DEADLETTER, "MAXLEN", "~", DEADLETTER_MAXLEN, "*", *_flat(e)) for e in entries],
                writes=True,
            )

    async def read_accounts(
        self, account_ids: Sequence[str], since: float, priors: Sequence[str | None] = ()
    ) -> list[AccountRow]:
        """What decisions need of each account, in one round trip: its hash, the contacts it
        has reserved since `since` (the frequency rules count them), and, for each decision id
        in `priors` (requests with a request_id), the answer that decision already has."""
        k = self.keys
        commands: list[Command] = []
        for a in account_ids:
            commands.append(("HGETALL", k.account(a)))
            commands.append(("ZRANGEBYSCORE", k.contacts(a), since, "+inf", "WITHSCORES"))
        asked = [(n, d) for n, d in enumerate(priors) if d is not None]
        commands += [("HGET", k.decision(d), "answer") for _n, d in asked]
        out = await self._run(commands)
        found = dict(zip((n for n, _d in asked), out[2 * len(account_ids) :], strict=True))
        return [
            AccountRow(
                _pairs(out[2 * n]),
                [(m, float(sc)) for m, sc in _pairs(out[2 * n + 1]).items()],
                found.get(n),
            )
            for n in range(len(account_ids))
        ]

    async def read_account_with_contacts(self, account_id: str) -> AccountRow:
        """The account's hash and every reserved contact it keeps (up to CONTACT_KEEP_S
        behind its newest)."""
        k = self.keys
        fields, contacts = await self._run(
            [
                ("HGETALL", k.account(account_id)),
                ("ZRANGEBYSCORE", k.contacts(account_id), "-inf", "+inf", "WITHSCORES"),
            ]
        )
        return AccountRow(_pairs(fields), [(m, float(sc)) for m, sc in _pairs(contacts).items()])

    async def newest_events(self, account_ids: Iterable[str]) -> dict[str, float]:
        """Each account's newest event time applied so far (data mode's dedup window)."""
        ids = list(dict.fromkeys(account_ids))
        found = await self._run([("HGET", self.keys.account(a), "e_at") for a in ids])
        return {a: float(v) for a, v in zip(ids, found, strict=True) if v is not None}

    async def existing(self, account_ids: Iterable[str]) -> set[str]:
        """The given ids that name accounts."""
        requested = list(dict.fromkeys(account_ids))
        known = self._known
        unsure = [a for a in requested if a not in known]
        if unsure:
            found = await self._run([("HEXISTS", self.keys.account(a), "doc") for a in unsure])
            if len(known) + len(unsure) > self.known_limit:
                known.clear()
            known.update(a for a, ok in zip(unsure, found, strict=True) if ok)
        return {a for a in requested if a in known}

    async def timeline(self, account_id: str, count: int = 10_000) -> list[dict[str, Any]]:
        (rows,) = await self._run([("XRANGE", self.keys.timeline(account_id), "-", "+", "COUNT", count)])
        return [orjson.loads(_pairs(fields)[b"r"]) for _id, fields in rows]

    # --- decisions --------------------------------------------------------------------------

    async def reserve(
        self,
        items: Sequence[Reservation],
        waits: Sequence[tuple[str, bytes]] = (),
        parks: Sequence[tuple[str, str, float]] = (),
    ) -> list[bool | bytes]:
        """Reserve each item atomically; also append `waits` (account, record) to timelines
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
                        k.timeline(it.account_id),
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
                        self.ttl,
                        it.deadline,
                        f"{it.decision_id}|{it.account_id}",
                        self.log_maxlen,
                        self.timeline_maxlen,
                        it.expires_at,
                        it.lock_start,
                        it.answer or "",
                        "" if it.response_deadline is None else it.response_deadline,
                        self.decision_ttl,
                        it.brief if it.brief is not None else it.record,
                    ],
                )
            )
        for account_id, record in waits:
            tl = k.timeline(account_id)
            commands.append(("XADD", tl, "MAXLEN", "~", self.timeline_maxlen, "*", "r", record))
            commands.append(("EXPIRE", tl, self.ttl))
        for campaign, account_id, until in parks:
            ready, held, _prio = k.queue(campaign, k.shard(account_id))
            commands.append(self._eval("park", [ready, held], [account_id, until]))
        out = await self._run(commands, writes=True)
        return [v if isinstance(v, bytes) else bool(v) for v in out[: len(items)]]

    # --- campaigns --------------------------------------------------------------------------

    async def put_campaign(self, campaign: str, definition: bytes) -> None:
        await self._run(
            [("HSET", K.CAMPAIGNS, campaign, definition), ("INCR", K.CAMPAIGNS_VERSION)], writes=True
        )

    async def delete_campaign(self, campaign: str) -> bool:
        """Forget a campaign and drop its queues on every shard; False if there was none."""
        removed, _version = await self._run(
            [("HDEL", K.CAMPAIGNS, campaign), ("INCR", K.CAMPAIGNS_VERSION)], writes=True
        )
        await self.drop_queues(campaign)
        return bool(removed)

    async def drop_queues(self, campaign: str) -> None:
        await self._run(
            [("DEL", *self.keys.queue(campaign, shard)) for shard in range(self.keys.shards)], writes=True
        )

    async def campaign_definition(self, campaign: str) -> bytes | None:
        (definition,) = await self._run([("HGET", K.CAMPAIGNS, campaign)])
        return definition

    async def campaigns(self) -> tuple[int, dict[str, bytes]]:
        version, flat = await self._run([("GET", K.CAMPAIGNS_VERSION), ("HGETALL", K.CAMPAIGNS)])
        return int(version or 0), {k.decode(): v for k, v in _pairs(flat).items()}

    async def campaigns_version(self) -> int:
        (version,) = await self._run([("GET", K.CAMPAIGNS_VERSION)])
        return int(version or 0)

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

    async def decision(self, decision_id: str) -> dict[bytes, bytes]:
        key = self.keys.decision(decision_id)  # ValueError for ids that are not ours
        (flat,) = await self._run([("HGETALL", key)])
        return _pairs(flat)

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

    async def cancel(self, account_id: str, decision_id: str, record: bytes) -> int:
        k = self.keys
        keys = [
            k.account(account_id),
            k.contacts(account_id),
            k.log(k.shard(account_id)),
            k.timeline(account_id),
            k.decision(decision_id),
        ]
        (result,) = await self._run(
            [self._eval("cancel", keys, [decision_id, record, self.log_maxlen, self.timeline_maxlen])],
            writes=True,
        )
        return int(result)

    # --- events -----------------------------------------------------------------------------

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
                self.timeline_maxlen,
                self.ttl,
                self.dedup_s,
                "" if wall is None else repr(wall),
            ]
            for it in group:
                acct = k.account(it.account_id)
                linked = it.decision_id is not None and _same_shard(it.decision_id, shard)
                dec = k.decision(it.decision_id) if linked and it.decision_id else acct
                keys += [acct, acct + K.SEEN_WINDOW, acct + K.TIMELINE, dec, acct + K.SEEN]
                args += [it.event_id, it.account_id, "1" if linked else "0", it.record, it.ops, repr(it.ts)]
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

    # --- models and flow --------------------------------------------------------------------

    async def model_version(self) -> bytes | None:
        (version,) = await self._run([("GET", K.MODEL_VERSION)])
        return version

    async def model(self, version: str) -> dict[bytes, bytes]:
        """A published version's data and facts (connectors/KEYS.md); {} when not kept."""
        (flat,) = await self._run([("HGETALL", K.model(version))])
        return _pairs(flat)

    async def flow_progress(
        self,
    ) -> tuple[dict[int, tuple[float, str]], bytes | None, dict[int, float], list[str]]:
        """How far the readers have read each shard (event time, and the last log entry that
        covers: "" while timers due at its clock are still to be read), what the learner has
        learned up to (`at|version`), how far each shard's campaign changes are placed, and
        the last entry of each shard's log ("0-0": empty)."""
        k = self.keys
        read, learned, queued, *tails = await self._run(
            [("HGETALL", K.FLOW_FRONTIER), ("GET", K.MODEL_FRONTIER), ("HGETALL", K.QUEUES_FRONTIER)]
            + [("XREVRANGE", k.log(s), "+", "-", "COUNT", 1) for s in range(k.shards)]
        )
        marks = {}
        for shard, value in _pairs(read).items():
            at, last, settled = value.decode().split("|")
            marks[int(shard)] = (float(at), last if settled == "1" else "")
        placed = {int(s): float(v) for s, v in _pairs(queued).items()}
        return marks, learned, placed, [t[0][0].decode() if t else "0-0" for t in tails]

    async def flow_lag(self, now_ms: int) -> float:
        """Seconds since the oldest log entry the dataflow has not applied yet (0 if none)."""
        (flat,) = await self._run([("HGETALL", K.FLOW_OFFSETS)])
        offsets = _pairs(flat)
        commands: list[Command] = []
        for shard in range(self.keys.shards):
            last = offsets.get(str(shard).encode(), b"0-0").decode()
            commands.append(("XRANGE", self.keys.log(shard), f"({last}", "+", "COUNT", 1))
        lag = 0.0
        for rows in await self._run(commands):
            if rows:
                ms = int(rows[0][0].split(b"-")[0])
                lag = max(lag, (now_ms - ms) / 1000.0)
        return lag


def _flat(fields: dict[str, bytes | str]) -> list[bytes | str]:
    return [x for pair in fields.items() for x in pair]


def _same_shard(decision_id: str, shard: int) -> bool:
    try:
        return K.decision_shard(decision_id) == shard
    except ValueError:
        return False
