"""The dataflow, as a sentence of named steps:

    log (one partition per group of shards) → key by account → update features and attribution
      → write features
      → lessons ─┬→ learn in event-time order → publish models
      progress ──┘                             └→ campaign queues (by shard): re-score each
                                                  account once the learning frontier passes
                                                  its record, with the model current then

Bytewax lives only here; the steps call pure functions from `features/` and `models/`, and
Redis I/O from `connectors/redis_log.py`. Recovery is always on (engine/flow/main.py): state and
the log positions are snapshotted together every epoch, so after a crash the flow resumes
exactly. Everything that depends on a model follows event time and the data (the learner's
frontier), never the wall clock, so a replay of the same log learns and scores the same.
"""

from __future__ import annotations

import gc
import heapq
import pickle
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import bytewax.operators as op
import redis
from bytewax.dataflow import Dataflow
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.operators import StatefulBatchLogic
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from connectors import keys as K
from connectors.redis_log import (
    FeatureWrite,
    FeatureWriter,
    LogItem,
    LogReader,
    Positions,
    Progress,
    QueueWriter,
    publish_model,
    write_frontier,
)
from engine.calls.campaigns import Campaign, decode_campaigns, in_campaign, record_priority
from engine.metrics import Metrics
from engine.settings import Settings
from features import account as features
from features.pickling import fast_pickling
from features.records import AccountRecord, CancelRecord, ClockRecord, DecisionRecord, Event
from models import attribution, carriers
from models.attribution import Example
from models.contact import (
    INITIAL_VERSION,
    ContactModels,
    Scorer,
    initial_scorer,
    loads_data,
    scorer_from_data,
)
from models.eventtime import NEVER, learn_at_example
from models.learner import Frontier, Lesson, OrderedLearner, Output, Publication
from policy.base import DIGITAL_CHANNELS

IDLE_BACKOFF_S = (0.002, 0.02)  # poll idle shards from every 2 ms, backing off to 20 ms
# Timers already read are dropped once this many snapshots have passed them (a resume starts
# from the newest snapshot written; the margin covers one being written when a crash comes).
TIMER_SNAPSHOTS_KEPT = 4


# --- input: the shards' log streams --------------------------------------------------------


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
        )
        return _ShardGroupPartition(reader, flow.poll_linger_ms / 1000)


# --- per account: features and attribution --------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountState:
    features: features.AccountFeatures
    attribution: attribution.Attribution
    networks: dict[str, str]  # contact point -> destination network, for carrier learning
    digital_failed_at: float | None = None  # a digital contact failed; no call since
    account: AccountRecord | None = None  # the latest upload

    def __deepcopy__(self, memo: dict[int, Any]) -> AccountState:
        return self  # immutable all the way down: Bytewax's snapshot copy is not needed


def account_step(settings: Settings):
    half_life_s = settings.flow.half_life_days * 86400
    routing = settings.routing
    lateness, reorder = settings.flow.allowed_lateness_s, settings.flow.reorder_s

    def step(state: AccountState | None, item: LogItem):
        if isinstance(item.record, ClockRecord):  # no account's: only its log position counts
            return None, (FeatureWrite("", item.shard, item.entry_id, item.accepted_at, False, None), [])
        if state is None:
            state = AccountState(features.AccountFeatures(), attribution.Attribution(), {})
        record = item.record
        feats = features.update(state.features, record, half_life_s)
        for lease in attribution.lapsing(state.attribution, record):  # never dialled: no attempt
            feats = features.update(feats, unused(lease), half_life_s)
        attr, examples = attribution.step(state.attribution, record)
        upload = isinstance(record, AccountRecord)
        account = record if upload else state.account
        networks = record.networks if upload else state.networks
        failed_at = digital_failure(state.digital_failed_at, record, examples)
        lessons = [Lesson.of_example(e, learn_at_example(e.closes_at, lateness, reorder)) for e in examples]
        if isinstance(record, Event) and record.carrier is not None:
            o = carriers.observation(
                record.channel,
                record.status,
                record.carrier,
                networks.get(record.contact_point_id or ""),
                features.local_hour(record.ts, feats.timezone),
                record.ts,
                record.sip_code,
                routing,
                record.error_code,
                record.event_id,
            )
            if o is not None:
                lessons.append(Lesson.of_observation(o))
        write = FeatureWrite(
            record.account_id,
            item.shard,
            item.entry_id,
            item.accepted_at,
            isinstance(record, Event),
            feats if feats is not state.features else None,
            failed_at is not None,
            account,
            upload,
            getattr(record, "ts", None),
            feats,
        )
        return AccountState(feats, attr, networks, failed_at, account), (write, lessons)

    return step


def unused(lease: DecisionRecord) -> CancelRecord:
    return CancelRecord(lease.decision_id, lease.account_id, lease.ts, lease.channel, lease.contact_point_id)


def digital_failure(failed_at: float | None, record: Any, examples: list[Example]) -> float | None:
    """When the account's last digital contact failed (undelivered, no response by the end
    of its window, a response that brought no promise), until a call follows it."""
    if isinstance(record, DecisionRecord) and record.channel in ("voice", "ivr"):
        return None
    if isinstance(record, Event) and record.type == "message" and record.status in ("failed", "undelivered"):
        return record.ts
    for e in examples:
        if not e.y and e.channel in DIGITAL_CHANNELS:
            return record.ts
    return failed_at


# --- the learner: one keyed state holding the models ---------------------------------------


class Learner(StatefulBatchLogic[Lesson | Progress, Output, bytes]):
    """The Bytewax shim around `models.learner.OrderedLearner`."""

    def __init__(self, learner: OrderedLearner, metrics: Metrics) -> None:
        self.learner = learner
        self.metrics = metrics
        self._counted = dict(learner.learned_heads)

    def on_batch(self, values: list[Lesson | Progress]) -> tuple[list[Output], bool]:
        out: list[Output] = []
        for v in values:
            out += self.learner.progress(v.frontiers) if isinstance(v, Progress) else self.learner.add(v)
        self._count()
        return out, StatefulBatchLogic.RETAIN

    def on_eof(self) -> tuple[list[Output], bool]:
        out = self.learner.end()
        self._count()
        return out, StatefulBatchLogic.RETAIN

    def _count(self) -> None:
        for head, n in self.learner.learned_heads.items():
            if n > self._counted.get(head, 0):
                self.metrics.model_updates.labels(head).inc(n - self._counted.get(head, 0))
                self._counted[head] = n

    def snapshot(self) -> bytes:
        return pickle.dumps(self.learner)  # the local recovery store; Redis only ever gets data


# --- the campaign queues: re-scored as the learning frontier passes -----------------------


@dataclass(frozen=True, slots=True)
class Rescore:
    """An account to place again in its campaigns with the model current at its record."""

    write: FeatureWrite
    ready: bool  # something happened to it: bring it back if held
    upload: bool  # it was uploaded: campaign membership may have changed
    version: str


@dataclass(frozen=True, slots=True)
class QueueMark:
    """Every change of this shard up to `at` (event time) has been re-scored."""

    shard: int
    at: float


@dataclass
class QueueState:
    shard: int | None = None  # known from the first change it holds
    frontier: float = NEVER
    versions: list[tuple[float, str]] = field(default_factory=list)  # (as_of, version), oldest first
    # a heap of (event time, arrival number, change): released in time order as the frontier
    # passes, each in O(log n) (a scan of every pending change per batch cost the dataflow
    # more than the rest of an event's work at 5,000 events/s)
    pending: list[tuple[float, int, FeatureWrite]] = field(default_factory=list)
    arrivals: int = 0


VERSIONS_KEPT = 256


class CampaignQueues(StatefulBatchLogic[FeatureWrite | Output, Rescore | QueueMark, QueueState]):
    """One shard's accounts wait here until the learner has learned everything up to their
    record's event time; each is then re-scored with the model that was current at that time.
    Which model scores which change is a function of the data, not of timing: a replay places
    every account with the same priorities."""

    def __init__(self, state: QueueState | None) -> None:
        self.state = state or QueueState()

    def on_batch(self, values: list[FeatureWrite | Output]) -> tuple[list[Rescore | QueueMark], bool]:
        s = self.state
        moved = False
        shard: int | None = None
        for v in values:
            if isinstance(v, Publication):
                s.versions.append((v.as_of, v.version))
                del s.versions[:-VERSIONS_KEPT]
            elif isinstance(v, Frontier):
                moved = moved or v.at > s.frontier
                s.frontier = max(s.frontier, v.at)
            else:
                shard = v.shard
                s.arrivals += 1
                heapq.heappush(s.pending, (_queue_time(v), s.arrivals, v))
        due = []
        while s.pending and s.pending[0][0] <= s.frontier:
            due.append(heapq.heappop(s.pending))
        out: list[Rescore | QueueMark] = list(self._release(due)) if due else []
        if shard is not None:
            s.shard = shard
        if moved and s.shard is not None:  # after every change of epochs before: see /readyz
            out.append(QueueMark(s.shard, s.frontier))
        return out, StatefulBatchLogic.RETAIN

    def _release(self, due: list[tuple[float, int, FeatureWrite]]) -> list[Rescore]:
        """Per account, its newest state (the last to arrive) with what any of its changes said."""
        latest: dict[str, tuple[int, float, FeatureWrite]] = {}
        flags: dict[str, tuple[bool, bool]] = {}
        for t, n, w in due:
            ready, upload = flags.get(w.account_id, (False, False))
            flags[w.account_id] = (ready or w.is_event, upload or w.upload)
            if w.account_id not in latest or n > latest[w.account_id][0]:
                latest[w.account_id] = (n, t, w)
        return [Rescore(w, *flags[a], self._version_at(t)) for a, (_n, t, w) in sorted(latest.items())]

    def _version_at(self, t: float) -> str:
        version = INITIAL_VERSION
        for as_of, v in self.state.versions:
            if as_of > t:
                break
            version = v
        return version

    def snapshot(self) -> QueueState:
        s = self.state
        return QueueState(s.shard, s.frontier, list(s.versions), list(s.pending), s.arrivals)


def _queue_time(w: FeatureWrite) -> float:
    """The event time a change belongs to; an upload (no time of its own) takes the account's."""
    if w.ts is not None:
        return w.ts
    as_of = w.current.as_of if w.current is not None else None
    return NEVER if as_of is None else as_of


def _for_queues(w: FeatureWrite) -> bool:
    return w.account is not None


def _broadcast(shards: int):
    def each(o: Output) -> list[tuple[str, Output]]:
        return [(str(s), o) for s in range(shards)]

    return each


# --- outputs --------------------------------------------------------------------------------


class _FeaturePartition(StatelessSinkPartition[FeatureWrite]):
    def __init__(self, writer: FeatureWriter, metrics: Metrics) -> None:
        self.writer = writer
        self.metrics = metrics

    def write_batch(self, items: list[FeatureWrite]) -> None:
        accepted = self.writer.write(items)
        now = time.time()
        for t in accepted:
            self.metrics.flow_lag.observe(max(0.0, now - t))

    def close(self) -> None:
        self.writer.r.close()


class FeatureSink(DynamicSink[FeatureWrite]):
    def __init__(self, url: str, keys: K.Keys, metrics: Metrics) -> None:
        self.url, self.keys, self.metrics = url, keys, metrics

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _FeaturePartition:
        return _FeaturePartition(FeatureWriter(redis.Redis.from_url(self.url), self.keys), self.metrics)


class _QueuePartition(StatelessSinkPartition[Rescore | QueueMark]):
    """Places re-scored accounts in their campaigns (one round trip a batch). Campaign
    definitions are looked up every REFRESH_S (operations: system time is right here)."""

    REFRESH_S = 0.5
    MODEL_WAIT_S = 5.0  # a version the learner just published, not yet written by the model sink

    def __init__(self, writer: QueueWriter, settings: Settings) -> None:
        self.writer = writer
        self.settings = settings
        self.campaigns: dict[str, Campaign] = {}
        self.campaigns_version = -1
        self.checked = 0.0
        self.scorers: dict[str, Scorer] = {INITIAL_VERSION: initial_scorer()}

    def write_batch(self, items: list[Rescore | QueueMark]) -> None:
        self._place([i for i in items if isinstance(i, Rescore)])
        marks = {m.shard: m.at for m in items if isinstance(m, QueueMark)}
        if marks:
            self.writer.r.hset(K.QUEUES_FRONTIER, mapping={str(k): repr(v) for k, v in marks.items()})

    def _place(self, items: list[Rescore]) -> None:
        if time.monotonic() - self.checked >= self.REFRESH_S:
            self.checked = time.monotonic()
            self.campaigns_version, raw = self.writer.campaigns(self.campaigns_version)
            if raw is not None:
                self.campaigns = decode_campaigns(raw)
        if not self.campaigns:
            return
        out: list[tuple[str, str, float | None, bool]] = []
        for r in items:
            w = r.write
            assert w.account is not None and w.current is not None
            inside = [cid for cid, c in self.campaigns.items() if c.active and in_campaign(c, w.account)]
            if inside:
                scorer = self._scorer(r.version)
                served = features.serving(w.current)
                for cid in inside:
                    prio = record_priority(
                        self.campaigns[cid], w.account, served, scorer, self.settings, w.boost
                    )
                    if prio is not None:
                        out.append((cid, w.account_id, prio, r.ready))
            if r.upload:
                out += [(cid, w.account_id, None, False) for cid in self.campaigns if cid not in inside]
        if out:
            self.writer.enqueue(out)

    def _scorer(self, version: str) -> Scorer:
        scorer = self.scorers.get(version)
        if scorer is not None:
            return scorer
        deadline = time.monotonic() + self.MODEL_WAIT_S
        while (blob := self.writer.model_data(version)) is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"model {version} was published by the learner but is not in Redis")
            time.sleep(0.005)
        scorer = scorer_from_data(loads_data(blob), version, self.settings.routing)
        if len(self.scorers) > 16:
            self.scorers.clear()
            self.scorers[INITIAL_VERSION] = initial_scorer()
        self.scorers[version] = scorer
        return scorer

    def close(self) -> None:
        self.writer.r.close()


class QueueSink(DynamicSink[Rescore | QueueMark]):
    def __init__(self, url: str, keys: K.Keys, settings: Settings) -> None:
        self.url, self.keys, self.settings = url, keys, settings

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _QueuePartition:
        return _QueuePartition(QueueWriter(redis.Redis.from_url(self.url), self.keys), self.settings)


class _ModelPartition(StatelessSinkPartition[Output]):
    def __init__(self, client: redis.Redis, retention_s: float) -> None:
        self.r = client
        self.retention_s = retention_s

    def write_batch(self, items: list[Output]) -> None:
        for pub in (i for i in items if isinstance(i, Publication)):
            publish_model(self.r, pub, self.retention_s)
        frontiers = [i for i in items if isinstance(i, Frontier)]
        if frontiers:
            write_frontier(self.r, frontiers[-1])

    def close(self) -> None:
        self.r.close()


class ModelSink(DynamicSink[Output]):
    def __init__(self, url: str, retention_s: float) -> None:
        self.url = url
        self.retention_s = retention_s

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _ModelPartition:
        return _ModelPartition(redis.Redis.from_url(self.url), self.retention_s)


# --- the flow -------------------------------------------------------------------------------


def build_flow(
    settings: Settings,
    url: str,
    metrics: Metrics | None = None,
    *,
    source: Any = None,
    feature_sink: Any = None,
    model_sink: Any = None,
    queue_sink: Any = None,
) -> Dataflow:
    """The dataflow on Redis at `url`; tests swap the source and sinks for Bytewax's
    `TestingSource` / `TestingSink` and keep every step in between."""
    metrics = metrics or Metrics()
    keys = K.Keys(settings.redis.shards)
    shards = tuple(range(keys.shards))

    def new_learner(snapshot: bytes | None) -> Learner:
        if snapshot is not None:
            learner: OrderedLearner = pickle.loads(snapshot)
            learner.models.router.config = settings.routing  # the file may have changed since
        else:
            learner = OrderedLearner(
                ContactModels(routing=settings.routing), shards, settings.flow.publish_interval_s
            )
        return Learner(learner, metrics)

    flow = Dataflow("cadencia")
    read = op.input("log", flow, source or LogSource(url, keys, settings))
    records = op.filter("records", read, lambda x: isinstance(x, LogItem))
    progress = op.filter("progress", read, lambda x: isinstance(x, Progress))
    by_account = op.key_on("by_account", records, lambda item: item.record.account_id)
    updated = op.key_rm("unkey", op.stateful_map("account", by_account, account_step(settings)))
    writes = op.map("feature_writes", updated, lambda u: u[0])
    op.output("features", writes, feature_sink or FeatureSink(url, keys, metrics))

    lessons = op.flat_map("lessons", updated, lambda u: u[1])
    to_learn = op.key_on(
        "one_learner", op.merge("lessons_and_progress", lessons, progress), lambda _x: "models"
    )
    learned = op.key_rm("unkey_models", op.stateful_batch("learn", to_learn, new_learner))
    retention_s = settings.flow.model_retention_days * 86400
    op.output("models", learned, model_sink or ModelSink(url, retention_s))

    changes = op.key_on(
        "by_shard", op.filter("campaign_accounts", writes, _for_queues), lambda w: str(w.shard)
    )
    clock = op.flat_map("to_every_shard", learned, _broadcast(keys.shards))
    queued = op.stateful_batch(
        "campaign_queues", op.merge("changes_and_clock", changes, clock), CampaignQueues
    )
    op.output("queues", op.key_rm("unkey_queues", queued), queue_sink or QueueSink(url, keys, settings))
    return flow


fast_pickling(AccountState)
