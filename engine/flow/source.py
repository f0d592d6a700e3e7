"""The input: the shards' log streams, read in groups of shards, with the positions and
event time each snapshot keeps."""

from __future__ import annotations

import gc
import time
from collections import deque
from datetime import UTC, datetime, timedelta

import redis
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from connectors import keys as K
from connectors.archive import ArchiveWriter
from connectors.store.log import LogItem, LogReader, Positions, Progress
from engine.settings import Settings, archive_dir

IDLE_BACKOFF_S = (0.002, 0.02)  # poll idle shards from every 2 ms, backing off to 20 ms
# Timers already read are dropped once this many snapshots have passed them (a resume starts
# from the newest snapshot written; the margin covers one being written when a crash comes).
TIMER_SNAPSHOTS_KEPT = 4


FREEZE_INTERVAL_S = 1.0
_next_freeze = 0.0


def freeze_survivors() -> None:
    """Move every object alive now out of the cyclic collector's reach, once a second.

    The flow's state is many small immutable objects, replaced on every event: each new one
    survives into the oldest generation, and every 25% of growth there Python scans all of
    it (100-300 ms pauses measured here, all of them lag). Frozen objects are still freed by
    reference counting; a garbage *cycle* frozen alive would stay, so the young generations
    (small: sub-millisecond) are collected first, and the state itself holds no cycles
    (frozen dataclasses of tuples and dicts)."""
    global _next_freeze
    now = time.monotonic()
    if now >= _next_freeze:
        gc.collect(1)
        gc.freeze()
        _next_freeze = now + FREEZE_INTERVAL_S


class _ShardGroupPartition(StatefulSourcePartition[LogItem | Progress, Positions]):
    """Reads at once again while the log is behind; once a read has drained it, lets the
    next records gather for `linger_s` (Kafka's fetch.max.wait, in effect): a trickle of
    records otherwise costs a read and a feature write, two Redis round trips, for every one
    or two of them; at 1,000 decisions/s that was a third of a core next to Redis.

    After each snapshot (the end of an epoch) the first batch of the next epoch starts with a
    `Progress` marker: the frontiers as they were at the snapshot. Bytewax processes epochs in
    order, so the learner sees it after every lesson of the records read before it."""

    def __init__(self, reader: LogReader, linger_s: float) -> None:
        self.reader = reader
        self.linger_s = linger_s
        self.idle = IDLE_BACKOFF_S[0]
        self.awake: datetime | None = None
        self.marker: Progress | None = None
        self.timers_read: deque[dict[int, float]] = deque(maxlen=TIMER_SNAPSHOTS_KEPT)

    def next_batch(self) -> list[LogItem | Progress]:
        freeze_survivors()
        items: list[LogItem | Progress] = list(self.reader.read())
        if self.marker is not None:
            items.insert(0, self.marker)
            self.marker = None
        if items:
            self.idle = IDLE_BACKOFF_S[0]
            drained = self.reader.drained and self.linger_s > 0
            self.awake = datetime.now(UTC) + timedelta(seconds=self.linger_s) if drained else None
        else:
            self.awake = datetime.now(UTC) + timedelta(seconds=self.idle)
            self.idle = min(self.idle * 2, IDLE_BACKOFF_S[1])
        return items

    def next_awake(self) -> datetime | None:
        return self.awake

    def snapshot(self) -> Positions:
        self.marker = Progress(self.reader.frontiers())
        self.awake = None  # send it now
        # below the read position of a snapshot TIMER_SNAPSHOTS_KEPT ago, nothing is needed
        # again, and removing it cannot shift the count of members read at a later position
        self.timers_read.append({s: t.timers_at for s, t in self.reader.time.items()})
        if len(self.timers_read) == self.timers_read.maxlen:
            self.reader.trim_timers(self.timers_read[0])
        return self.reader.positions()

    def close(self) -> None:
        if self.reader.archive is not None:
            self.reader.archive.close()
        self.reader.r.close()


class LogSource(FixedPartitionedSource[LogItem | Progress, Positions]):
    """One partition per group of shards, each group read with one XREAD per poll (a stream
    per partition would pay a round trip for every few events). On Redis Cluster use as many
    groups as shards: one XREAD may not span slots."""

    def __init__(self, url: str, keys: K.Keys, settings: Settings) -> None:
        self.url = url
        self.keys = keys
        self.settings = settings
        self.groups = max(1, min(settings.flow.source_partitions, keys.shards))

    def list_parts(self) -> list[str]:
        return [str(g) for g in range(self.groups)]

    def build_part(self, step_id: str, for_part: str, resume_state: Positions | None) -> _ShardGroupPartition:
        group = int(for_part)
        flow = self.settings.flow
        shards = [s for s in range(self.keys.shards) if s % self.groups == group]
        reader = LogReader(
            redis.Redis.from_url(self.url),
            self.keys,
            shards,
            resume_state,
            allowed_lateness_s=flow.allowed_lateness_s,
            reorder_s=flow.reorder_s,
            wall_clock=self.settings.clock.bounded,
            archive=ArchiveWriter(archive_dir(self.settings), self.settings.redis.retention_days * 86400),
        )
        return _ShardGroupPartition(reader, flow.poll_linger_ms / 1000)
