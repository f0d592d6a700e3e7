"""The outputs: features, campaign queues and published models written to Redis."""

from __future__ import annotations

import time

import redis
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from connectors import keys as K
from connectors.store.log import FeatureWrite, FeatureWriter, QueueWriter, publish_model, write_frontier
from engine.calls.campaigns import Campaign, decode_campaigns, in_campaign, record_priority
from engine.flow.queues import QueueMark, Rescore
from engine.metrics import Metrics
from engine.settings import Settings
from features import account as features
from models.contact import INITIAL_VERSION, Scorer, initial_scorer, loads_data, scorer_from_data
from models.learner import Frontier, Output, Publication


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
