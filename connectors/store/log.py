"""The dataflow's Redis: read a shard's log, pop attribution timers, write features and
offsets, publish models. Synchronous (the dataflow's workers are threads of their own) and
free of any stream-processor import, so the wiring could move to another engine."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

import msgspec
import orjson
import redis

from connectors import keys as K
from connectors.archive import ArchiveWriter, Row, entry_key
from features.account import AccountFeatures, serving
from features.pickling import fast_pickling
from features.records import (
    AccountRecord,
    CancelRecord,
    ClockRecord,
    DecisionRecord,
    Event,
    ExpireRecord,
    Record,
    decode_log,
)
from models.eventtime import NEVER, ShardTime
from models.learner import Frontier, Publication

log = logging.getLogger("cadencia.flow")


@dataclass(frozen=True, slots=True)
class LogItem:
    shard: int
    entry_id: str | None  # None for records made by the reader itself (expired timers)
    accepted_at: float | None
    record: Record


@dataclass(frozen=True, slots=True)
class Progress:
    """How far in event time every lesson of these shards has been emitted (see
    models/eventtime.py): the learner may learn up to the smallest, in event-time order."""

    frontiers: dict[int, float]


# The most a poll asks of Redis, over all its shards, so that no dataflow round trip holds it
# (single-threaded: the API's decisions wait behind it) for more than about half a millisecond:
# log entries per XREAD and timers read. Measured before these bounds (Redis SLOWLOG during
# decisions at 1,000/s): after event time jumped, a pop took 0.6-1.0 ms a shard, 16 of them in
# one pipeline, and an XREAD of a backlog (2,000 entries a shard) 7.5 ms. Over all shards, in
# quick speed suites (the dataflow's CPU per event at 5,000 events/s; XREADs over 2 ms in
# SLOWLOG): 2,000 entries 169-183 µs, 0-8 XREADs of 3.6-4.0 ms; 1,024: 260 µs, none; 512:
# 264-321 µs, none. Smaller reads cost the dataflow more per event (the Bytewax runtime's
# work per batch, 65% of its samples under py-spy), so this is the largest under 2 ms.
READ_BATCH = 1024
# ... and bytes: a log of decisions (each with its model inputs, 1-2 KB) read 1,024 at a time
# took up to 4.75 ms in a steady-state suite, so a poll also asks for no more entries than
# READ_BYTES at the entry size the log has lately shown
READ_BYTES = 400_000
TIMERS_PER_POLL = 512
Positions = dict[int, tuple[str, ShardTime]]  # shard -> (last log id, its event time)


WAIT_PREFIX = b'{"k":"w"'  # a wait's record (engine/decisions): for the timeline only
BACKFILL_BATCH = 512


def wait_row(entry_id: str, blob: bytes) -> Row:
    """A wait's log entry (WAIT_PREFIX) as the archive keeps it: the flow never sees waits."""
    return str(orjson.loads(blob)["account_id"]), entry_id, blob


def timeline_row(record: Record, blob: bytes) -> bytes | None:
    """What the timeline archive keeps of a log entry: events and cancels as they are, a
    decision without its model inputs; nothing of uploads, clocks and expiries."""
    if isinstance(record, Event | CancelRecord):
        return blob
    if isinstance(record, DecisionRecord):
        raw = orjson.loads(blob)
        raw.pop("x", None)
        return orjson.dumps(raw)
    return None


def _score(x: float) -> str:
    return "-inf" if x == NEVER else repr(x)


class LogReader:
    """Reads a group of shards with one XREAD per poll, tracks each shard's event time
    (models/eventtime.py), and reads the attribution timers its timer watermark has passed.

    Timers are read, not popped: the position (score, members of that score read) is part of
    the snapshot, so after a crash the windows closed since the last snapshot close again.
    A decision read from the log whose deadline the timers have already passed (it was made
    with an old `now`) is closed right after it by the reader itself. Either path may repeat
    an expiry; closing a window twice changes nothing."""

    def __init__(
        self,
        client: redis.Redis,
        keys: K.Keys,
        shards: list[int],
        positions: Positions | None = None,
        batch: int = READ_BATCH,
        allowed_lateness_s: float = 300.0,
        reorder_s: float = 2.0,
        wall_clock: bool = False,
        archive: ArchiveWriter | None = None,
    ) -> None:
        self.r = client
        self.archive = archive
        self.keys = keys
        self.shards = shards
        positions = positions or {}
        self.last_id = {s: positions.get(s, ("0-0", ShardTime()))[0] for s in shards}
        self.time = {s: positions.get(s, ("0-0", ShardTime()))[1] for s in shards}
        self.batch = batch
        self.lateness = allowed_lateness_s
        self.reorder = reorder_s
        self.wall_clock = wall_clock
        self.drained = True  # the last read took everything there was (log and due timers)
        self.unreadable = 0  # log entries skipped as unreadable
        self.entry_bytes = 400.0  # a log entry's recent mean size (bounds a poll's bytes)
        self._published: dict[int, str] = {}
        # raw XREAD replies: redis-py's conversion of every entry to a dict was ~6% of the flow
        client.set_response_callback("XREAD", lambda response, **_options: response)
        if archive is not None:
            self._backfill(archive)

    def _backfill(self, archive: ArchiveWriter) -> None:
        """Archive what the log holds between a shard's archive frontier and where this
        reader resumes (a power cut lost the archive's last commits). A shard never archived
        starts at the resume position: what came before is on the timelines of the version
        that wrote them (`:t` streams, kept until they expire)."""
        for shard in self.shards:
            frontier = archive.frontier(shard)
            if frontier is None or entry_key(frontier) >= entry_key(self.last_id[shard]):
                continue
            start = "(" + frontier
            while True:
                log_key = self.keys.log(shard)
                entries = self.r.xrange(log_key, start, self.last_id[shard], count=BACKFILL_BATCH)
                if not entries:
                    break
                rows = []
                for entry_id, fields in entries:
                    row = self._row(shard, entry_id.decode(), fields[b"r"])
                    if row is not None:
                        rows.append(row)
                last = entries[-1][0].decode()
                archive.append(shard, rows, last)
                archive.flush()
                log.info("shard %d: archived %d timeline entries up to %s again", shard, len(rows), last)
                start = "(" + last

    def _row(self, shard: int, entry_id: str, blob: bytes) -> Row | None:
        if blob.startswith(WAIT_PREFIX):
            return wait_row(entry_id, blob)
        try:
            record, _accepted = decode_log(blob)
        except (msgspec.ValidationError, msgspec.DecodeError, KeyError):
            return None
        kept = timeline_row(record, blob)
        return None if kept is None else (record.account_id, entry_id, kept)

    def positions(self) -> Positions:
        return {s: (self.last_id[s], self.time[s]) for s in self.shards}

    def frontiers(self) -> dict[int, float]:
        """Per shard, how far every lesson has been emitted; a shard that has never held a
        record holds nothing back (+inf)."""
        return {
            s: math.inf if self.time[s].clock == NEVER else self.time[s].frontier(self.lateness, self.reorder)
            for s in self.shards
        }

    def _settled(self, shard: int) -> bool:
        t = self.time[shard]
        return t.timer_watermark(self.lateness) <= t.timers_done

    def read(self) -> list[LogItem]:
        """The timers due by each shard's timer watermark so far, then what the log holds
        after the last read: one round trip. A timer due by what this read brings is read
        next poll, never before the records that made it due."""
        polled_at = time.time()
        streams = {self.keys.log(s): self.last_id[s] for s in self.shards}
        entries_fit = max(len(self.shards), int(READ_BYTES / self.entry_bytes))
        count = max(1, min(self.batch, entries_fit) // len(self.shards))
        due = [
            s for s in self.shards if self.time[s].timer_watermark(self.lateness) > self.time[s].timers_done
        ]
        limit = max(1, TIMERS_PER_POLL // max(1, len(due)))
        pipe = self.r.pipeline(transaction=False)
        pipe.xread(streams, count=count)
        for s in due:
            t = self.time[s]
            pipe.zrangebyscore(
                self.keys.timers(s),
                _score(t.timers_at),
                repr(t.timer_watermark(self.lateness)),
                start=t.timers_offset,
                num=limit,
                withscores=True,
            )
        # how far the last read got (event time, and the last entry it covers), for /readyz
        # and for replays that wait on it
        # ("settled": no timer is due at this clock, so the frontier will not move without data)
        marks = {s: f"{f!r}|{self.last_id[s]}|{int(self._settled(s))}" for s, f in self.frontiers().items()}
        changed = {s: m for s, m in marks.items() if m != self._published.get(s)}
        if changed:
            pipe.hset(K.FLOW_FRONTIER, mapping={str(s): m for s, m in changed.items()})
        reply, *rest = pipe.execute()
        self._published.update(changed)
        self.drained = True
        out = self._expired(due, rest[: len(due)], limit)
        by_stream = {self.keys.log(s): s for s in self.shards}
        reply = reply or []
        read_full: set[int] = set()
        read_bytes = read_entries = 0
        for stream, entries in reply.items() if isinstance(reply, dict) else reply:  # RESP3 or RESP2
            shard = by_stream[stream.decode()]
            if len(entries) >= count:
                read_full.add(shard)
                self.drained = False
            t = self.time[shard]
            read_entries += len(entries)
            read_bytes += sum(len(fields[1]) for _entry_id, fields in entries)
            rows: list[Row] = []
            position_only = False  # the batch ends in entries no step applies
            for entry_id, fields in entries:
                last = entry_id.decode()
                blob = fields[1]  # every entry holds one field, `r`
                position_only = blob.startswith(WAIT_PREFIX)
                if position_only:  # the timeline's alone
                    rows.append(wait_row(last, blob))
                    continue
                try:
                    record, accepted = decode_log(blob)
                except (msgspec.ValidationError, msgspec.DecodeError, KeyError) as exc:
                    # written by something other than this engine's API (or by a bug): one
                    # bad entry must not stop the log; it stays there for whoever looks
                    self.unreadable += 1
                    position_only = True
                    log.error("shard %d log entry %s cannot be read, skipped: %s", shard, last, exc)
                    continue
                ts = getattr(record, "ts", None)
                if isinstance(record, ClockRecord):
                    t = t.idle(record.ts)
                elif ts is not None:
                    t = t.seen(record.account_id, ts)
                out.append(LogItem(shard, last, accepted, record))
                if isinstance(record, DecisionRecord):
                    out += _late_expiries(shard, record, t.timers_done)
                if self.archive is not None:
                    kept = timeline_row(record, blob)
                    if kept is not None:
                        rows.append((record.account_id, last, kept))
            if position_only:  # so that the shard's offset passes them (/readyz's lag)
                out.append(LogItem(shard, last, None, ClockRecord(t.clock)))
            if self.archive is not None and entries:
                self.archive.append(shard, rows, last)
            self.time[shard] = t
            self.last_id[shard] = last
        if self.archive is not None:
            self.archive.tick()
        if read_entries:  # the mean entry size, weighted by what was read
            weight = min(1.0, read_entries / 256)
            self.entry_bytes += weight * (read_bytes / read_entries - self.entry_bytes)
        if self.wall_clock:  # a drained shard is idle, not behind: it follows the server's clock
            for s in self.shards:
                if s not in read_full:
                    self.time[s] = self.time[s].idle(polled_at)
        return out

    def _expired(
        self, shards: list[int], replies: list[list[tuple[bytes, float]]], limit: int
    ) -> list[LogItem]:
        """Decisions whose windows closed by their shard's timer watermark, at most
        TIMERS_PER_POLL over the shards (a shard with more due is read again next poll)."""
        items = []
        for s, due in zip(shards, replies, strict=True):
            t = self.time[s]
            complete = len(due) < limit
            if not complete:
                self.drained = False
            self.time[s] = t.timers_read(
                [score for _m, score in due], t.timer_watermark(self.lateness) if complete else None
            )
            for member, deadline in due:
                decision_id, account_id = member.decode().split("|")[:2]
                items.append(LogItem(s, None, None, ExpireRecord(decision_id, account_id, float(deadline))))
        return items

    def trim_timers(self, before: dict[int, float]) -> None:
        """Drop the timers scored below `before` (a read position every snapshot since has
        passed): no resume needs them again. Members at or above a position stay, so the
        count of those read at it (the offset) stays right."""
        pipe = self.r.pipeline(transaction=False)
        for s, done in before.items():
            if done != NEVER:
                pipe.zremrangebyscore(self.keys.timers(s), "-inf", f"({done!r}")
        pipe.execute()


def _late_expiries(shard: int, d: DecisionRecord, timers_done: float) -> list[LogItem]:
    """A decision whose windows the timers have already passed closes as soon as it is read."""
    out = []
    for deadline in sorted({d.deadline, d.response_deadline or d.deadline}):
        if deadline <= timers_done:
            out.append(LogItem(shard, None, None, ExpireRecord(d.decision_id, d.account_id, deadline)))
    return out


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
    ts: float | None = None  # the record's event time (None: an upload, which has none)
    current: AccountFeatures | None = None  # the account's features after the record


class QueueWriter:
    """The dataflow's side of the call campaigns: their definitions, the published models
    their priorities are computed with, and the new priorities (one round trip)."""

    def __init__(self, client: redis.Redis, keys: K.Keys) -> None:
        self.r = client
        self.keys = keys
        self._enqueue = client.register_script(
            resources.files("connectors.store").joinpath("enqueue.lua").read_text()
        )

    def campaigns(self, known_version: int) -> tuple[int, dict[str, bytes] | None]:
        """(version, definitions) when they changed since `known_version`, else (it, None)."""
        version = int(self.r.get(K.CAMPAIGNS_VERSION) or 0)
        if version == known_version:
            return version, None
        return version, {k.decode(): v for k, v in self.r.hgetall(K.CAMPAIGNS).items()}

    def model_data(self, version: str) -> bytes | None:
        return model_data(self.r, version)

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
                if prev is None or entry_key(w.entry_id) > entry_key(prev):
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


_PUBLISH = resources.files("connectors.store").joinpath("publish_model.lua").read_text()


def publish_model(client: redis.Redis, pub: Publication, retention_s: float) -> bool:
    """Keep a published version for `retention_s` and make it current (unless a later one
    is); True when it became current."""
    fields = {
        "data": pub.data,
        "as_of": repr(pub.as_of),
        "examples_learned": pub.examples_learned,
        "observations_learned": pub.observations_learned,
        "reason": pub.reason,
        "late": pub.late,
        "published_at": repr(time.time()),
    }
    flat = [x for pair in fields.items() for x in pair]
    seq = int(pub.version.rsplit("-", 1)[1])
    keys = [K.model(pub.version), K.MODEL_VERSION, K.MODEL_INDEX]
    return bool(client.eval(_PUBLISH, 3, *keys, pub.version, seq, int(retention_s), repr(time.time()), *flat))


def write_frontier(client: redis.Redis, frontier: Frontier) -> None:
    client.set(K.MODEL_FRONTIER, f"{frontier.at!r}|{frontier.version}")


def model_data(client: redis.Redis, version: str) -> bytes | None:
    return client.hget(K.model(version), "data")


fast_pickling(LogItem, Progress, FeatureWrite)
