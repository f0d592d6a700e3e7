"""The dataflow, as a sentence of named steps:

    log (one partition per shard) → key by account → update features and attribution
      → write features ─┐
      → examples → learn (one learner) → publish models

Bytewax lives only here; the steps call pure functions from `features/` and `models/`, and
Redis I/O from `connectors/redis_log.py`.
"""

from __future__ import annotations

import gc
import pickle
import time
from dataclasses import dataclass
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
    QueueWriter,
    publish_model,
    published_model,
)
from engine.campaigns import Campaign, decode_campaigns, in_campaign, queue_items
from engine.metrics import Metrics
from engine.settings import Settings
from features import account as features
from features.records import AccountRecord, CancelRecord, DecisionRecord, Event
from models import attribution, carriers
from models.attribution import Example
from models.contact import ContactModels, initial_scorer
from policy.base import DIGITAL_CHANNELS

IDLE_BACKOFF_S = (0.002, 0.02)  # poll idle shards from every 2 ms, backing off to 20 ms


# --- input: the shards' log streams --------------------------------------------------------


Positions = dict[int, tuple[str, float]]  # shard -> (last log id, event-time watermark)


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


class _ShardGroupPartition(StatefulSourcePartition[LogItem, Positions]):
    """Reads at once again while the log is behind; once a read has drained it, lets the
    next records gather for `linger_s` (Kafka's fetch.max.wait, in effect): a trickle of
    records otherwise costs a read and a feature write, two Redis round trips, for every one
    or two of them; at 1,000 decisions/s that was a third of a core next to Redis."""

    def __init__(self, reader: LogReader, linger_s: float) -> None:
        self.reader = reader
        self.linger_s = linger_s
        self.idle = IDLE_BACKOFF_S[0]
        self.awake: datetime | None = None

    def next_batch(self) -> list[LogItem]:
        freeze_survivors()
        items = self.reader.read()
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
        return self.reader.positions()

    def close(self) -> None:
        self.reader.r.close()


class LogSource(FixedPartitionedSource[LogItem, Positions]):
    """One partition per group of shards, each group read with one XREAD per poll (a stream
    per partition would pay a round trip for every few events). On Redis Cluster use as many
    groups as shards: one XREAD may not span slots."""

    def __init__(self, url: str, keys: K.Keys, groups: int, linger_s: float = 0.0) -> None:
        self.url = url
        self.keys = keys
        self.groups = max(1, min(groups, keys.shards))
        self.linger_s = linger_s

    def list_parts(self) -> list[str]:
        return [str(g) for g in range(self.groups)]

    def build_part(self, step_id: str, for_part: str, resume_state: Positions | None) -> _ShardGroupPartition:
        group = int(for_part)
        shards = [s for s in range(self.keys.shards) if s % self.groups == group]
        reader = LogReader(redis.Redis.from_url(self.url), self.keys, shards, resume_state)
        return _ShardGroupPartition(reader, self.linger_s)


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


Lesson = Example | carriers.Observation


def account_step(half_life_s: float, routing: carriers.RouterConfig):
    def step(state: AccountState | None, item: LogItem):
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
        lessons: list[Lesson] = list(examples)
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
            )
            if o is not None:
                lessons.append(o)
        changed = feats if feats is not state.features else None
        write = FeatureWrite(
            item.record.account_id,
            item.shard,
            item.entry_id,
            item.accepted_at,
            isinstance(item.record, Event),
            changed,
            failed_at is not None,
            account,
            upload,
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


class Learner(StatefulBatchLogic[Lesson, bytes, bytes]):
    """Learns every example; publishes the models at most every `interval_s` of system time
    when they changed (publishing is operations, not data: system time is right here), and at
    once when a carrier's breaker opens or closes (API processes must stop routing to it)."""

    def __init__(self, models: ContactModels, interval_s: float, metrics: Metrics) -> None:
        self.models = models
        self.interval_s = interval_s
        self.metrics = metrics
        self.dirty = False
        self.last_publish = 0.0

    def on_batch(self, values: list[Lesson]) -> tuple[list[bytes], bool]:
        urgent = False
        for lesson in values:
            if isinstance(lesson, carriers.Observation):
                urgent = self.models.learn_carrier(lesson) or urgent
                self.metrics.model_updates.labels("carriers").inc()
                continue
            self.models.learn(lesson)
            self.metrics.model_updates.labels(lesson.head).inc()
            if lesson.head == "response" and lesson.template:
                self.metrics.model_updates.labels("templates").inc()
        self.dirty = self.dirty or bool(values)
        if urgent:
            return self._publish()
        return [], StatefulBatchLogic.RETAIN

    def notify_at(self) -> datetime | None:
        if not self.dirty:
            return None
        return datetime.fromtimestamp(self.last_publish + self.interval_s, UTC)

    def _publish(self) -> tuple[list[bytes], bool]:
        if not self.dirty:
            return [], StatefulBatchLogic.RETAIN
        self.dirty = False
        self.last_publish = time.time()
        return [pickle.dumps(self.models)], StatefulBatchLogic.RETAIN

    def on_notify(self) -> tuple[list[bytes], bool]:
        return self._publish()

    def on_eof(self) -> tuple[list[bytes], bool]:
        return self._publish()

    def snapshot(self) -> bytes:
        return pickle.dumps(self.models)


# --- outputs --------------------------------------------------------------------------------


class _FeaturePartition(StatelessSinkPartition[FeatureWrite]):
    def __init__(self, writer: FeatureWriter, queues: Queues, metrics: Metrics) -> None:
        self.writer = writer
        self.queues = queues
        self.metrics = metrics

    def write_batch(self, items: list[FeatureWrite]) -> None:
        accepted = self.writer.write(items)
        self.queues.update(items)
        now = time.time()
        for t in accepted:
            self.metrics.flow_lag.observe(max(0.0, now - t))


class Queues:
    """Keeps the call campaigns' priorities current: after the features of a batch are
    written, each changed account is re-scored in every campaign with the newest published
    model. An account that something happened to (an event) is made ready again: whatever
    held it back is re-checked when it next reaches the top."""

    REFRESH_S = 0.5  # how often to look for new campaigns and a new model (system time)

    def __init__(self, writer: QueueWriter, settings: Settings) -> None:
        self.writer = writer
        self.settings = settings
        self.campaigns: dict[str, Campaign] = {}
        self.campaigns_version = -1
        self.scorer = initial_scorer()
        self.checked = 0.0

    def refresh(self) -> None:
        if time.monotonic() - self.checked < self.REFRESH_S:
            return
        self.checked = time.monotonic()
        self.campaigns_version, raw = self.writer.campaigns(self.campaigns_version)
        if raw is not None:
            self.campaigns = decode_campaigns(raw)
        version = self.writer.r.get(K.MODEL_VERSION)
        if version is not None and version.decode() != self.scorer.version:
            blob = published_model(self.writer.r)
            if blob is not None:
                self.scorer = pickle.loads(blob).scorer(version.decode())

    def update(self, items: list[FeatureWrite]) -> None:
        """Members of a campaign (by the upload's facts, no read needed) are re-scored; an
        upload that takes an account out of a campaign removes it; other accounts cost nothing."""
        self.refresh()
        if not self.campaigns:
            return
        latest: dict[str, FeatureWrite] = {}
        flags: dict[str, tuple[bool, bool, bool]] = {}  # ready, boost, uploaded
        for w in items:
            ready, _boost, uploaded = flags.get(w.account_id, (False, False, False))
            flags[w.account_id] = (ready or w.is_event, w.boost, uploaded or w.upload)
            latest[w.account_id] = w
        members: list[str] = []
        removals: list[tuple[str, str, float | None, bool]] = []
        for account_id, w in latest.items():
            inside = [
                cid
                for cid, c in self.campaigns.items()
                if c.active and w.account and in_campaign(c, w.account)
            ]
            if inside:
                members.append(account_id)
            if flags[account_id][2]:
                removals += [(cid, account_id, None, False) for cid in self.campaigns if cid not in inside]
        rows = [
            (a, doc, feat, *flags[a][:2])
            for a, (doc, feat) in zip(members, self.writer.rows(members), strict=True)
        ]
        placed = [
            i for i in queue_items(self.campaigns, rows, self.scorer, self.settings) if i[2] is not None
        ]
        if placed or removals:
            self.writer.enqueue(placed + removals)

    def close(self) -> None:
        self.writer.r.close()


class FeatureSink(DynamicSink[FeatureWrite]):
    def __init__(self, url: str, keys: K.Keys, settings: Settings, metrics: Metrics) -> None:
        self.url, self.keys, self.settings, self.metrics = url, keys, settings, metrics

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _FeaturePartition:
        client = redis.Redis.from_url(self.url)
        queues = Queues(QueueWriter(client, self.keys), self.settings)
        return _FeaturePartition(FeatureWriter(client, self.keys), queues, self.metrics)


class _ModelPartition(StatelessSinkPartition[bytes]):
    def __init__(self, client: redis.Redis) -> None:
        self.r = client

    def write_batch(self, items: list[bytes]) -> None:
        if items:
            publish_model(self.r, items[-1])

    def close(self) -> None:
        self.r.close()


class ModelSink(DynamicSink[bytes]):
    def __init__(self, url: str) -> None:
        self.url = url

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _ModelPartition:
        return _ModelPartition(redis.Redis.from_url(self.url))


# --- the flow -------------------------------------------------------------------------------


def build_flow(
    settings: Settings,
    url: str,
    metrics: Metrics | None = None,
    *,
    source: Any = None,
    feature_sink: Any = None,
    model_sink: Any = None,
) -> Dataflow:
    """The dataflow on Redis at `url`; tests swap the source and sinks for Bytewax's
    `TestingSource` / `TestingSink` and keep every step in between."""
    metrics = metrics or Metrics()
    keys = K.Keys(settings.redis.shards)
    half_life_s = settings.flow.half_life_days * 86400

    def new_learner(snapshot: bytes | None) -> Learner:
        if snapshot is None and model_sink is None:  # no recovery state: continue from Redis
            with redis.Redis.from_url(url) as client:
                snapshot = published_model(client)
        models = pickle.loads(snapshot) if snapshot else ContactModels(routing=settings.routing)
        models.router.config = settings.routing  # the file may have changed since the snapshot
        return Learner(models, settings.flow.publish_interval_s, metrics)

    flow = Dataflow("cadencia")
    linger_s = settings.flow.poll_linger_ms / 1000
    log = op.input("log", flow, source or LogSource(url, keys, settings.flow.source_partitions, linger_s))
    by_account = op.key_on("by_account", log, lambda item: item.record.account_id)
    step = account_step(half_life_s, settings.routing)
    updated = op.key_rm("unkey", op.stateful_map("account", by_account, step))
    writes = op.map("feature_writes", updated, lambda u: u[0])
    op.output("features", writes, feature_sink or FeatureSink(url, keys, settings, metrics))
    examples = op.flat_map("examples", updated, lambda u: u[1])
    one_learner = op.key_on("one_learner", examples, lambda _example: "models")
    published = op.key_rm("unkey_models", op.stateful_batch("learn", one_learner, new_learner))
    op.output("models", published, model_sink or ModelSink(url))
    return flow
