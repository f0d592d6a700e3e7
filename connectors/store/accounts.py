"""Accounts: uploads (and the address index), what a decision reads, timelines."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from connectors import addresses
from connectors.archive import TIMELINE_KINDS, read_account
from connectors.store.base import Command, StoreBase, _pairs, log_json
from features.records import Record
from policy.base import Live, Lock, Promise
from policy.caps import History, parse_contacts

ADDRESS_HOLDERS = 50  # accounts kept per address in the address index, newest last
# A timeline reads the shard's log past the archive's frontier in reads of TAIL_BATCH entries
# (each well under a millisecond of Redis), at most TAIL_MAX of them: the dataflow archives
# within a second, so the tail is short unless it is down (then the answer says incomplete).
TAIL_BATCH = 256
TAIL_MAX = 40 * TAIL_BATCH
LEGACY_MAX = 10_000  # entries of a `:t` stream (the timelines of versions before the archive)


@dataclass(frozen=True, slots=True)
class Timeline:
    records: list[dict[str, Any]]  # log records, in the order the log took them
    complete: bool  # False: the log's tail past the archive was longer than a timeline reads


def _identity(record: dict[str, Any]) -> tuple[Any, ...]:
    kind = record.get("k")
    return (kind, record.get("event_id") if kind == "e" else record.get("decision_id"), record.get("ts"))


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

    @property
    def history_from(self) -> float | None:
        """The time the reserved contacts are whole from (older ones were trimmed), if any were."""
        raw = self.fields.get(b"c_trim")
        return float(raw) if raw is not None else None

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


class AccountsStore(StoreBase):
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

    async def timeline(self, account_id: str, archive: Path | None) -> Timeline:
        """Every decision and event of the account: what versions before the archive kept on
        its `:t` stream, then the archive (connectors/archive.py), then the shard's log past
        the archive's frontier. An entry both on a `:t` stream and in the archive (written
        while the first archiving dataflow caught up) is shown once."""
        shard = self.keys.shard(account_id)
        (legacy_rows,) = await self._run(
            [("XRANGE", self.keys.timeline(account_id), "-", "+", "COUNT", LEGACY_MAX)]
        )
        legacy = [orjson.loads(_pairs(fields)[b"r"]) for _id, fields in legacy_rows]
        archived, frontier = (
            await asyncio.to_thread(read_account, archive, shard, account_id) if archive else ([], None)
        )
        tail, complete = await self._log_tail(shard, account_id, frontier)
        seen = {_identity(r) for r in legacy}
        later = [orjson.loads(b) for b in archived] + tail
        return Timeline(legacy + [r for r in later if _identity(r) not in seen], complete)

    async def _log_tail(
        self, shard: int, account_id: str, after: str | None
    ) -> tuple[list[dict[str, Any]], bool]:
        needle = b'"account_id":' + orjson.dumps(account_id)
        start = "-" if after is None else "(" + after
        out: list[dict[str, Any]] = []
        for _ in range(TAIL_MAX // TAIL_BATCH):
            (rows,) = await self._run([("XRANGE", self.keys.log(shard), start, "+", "COUNT", TAIL_BATCH)])
            for _entry_id, fields in rows:
                blob = _pairs(fields).get(b"r", b"")
                if needle not in blob:
                    continue
                try:
                    record = orjson.loads(blob)
                except orjson.JSONDecodeError:
                    continue  # unreadable entries are the dataflow's to count
                if record.get("k") in TIMELINE_KINDS and record.get("account_id") == account_id:
                    out.append(record)
            if len(rows) < TAIL_BATCH:
                return out, True
            start = "(" + rows[-1][0].decode()
        return out, False
