"""The dataflow, as a sentence of named steps:

    log (one partition per group of shards) → key by account → update features and attribution
      → write features
      → lessons ─┬→ learn in event-time order → publish models
      progress ──┘                             └→ campaign queues (by shard): re-score each
                                                  account once the learning frontier passes
                                                  its record, with the model current then

Bytewax lives only here; the steps call pure functions from `features/` and `models/`, and
Redis I/O from `connectors/store/log.py`. Recovery is always on (engine/flow/main.py): state and
the log positions are snapshotted together every epoch, so after a crash the flow resumes
exactly. Everything that depends on a model follows event time and the data (the learner's
frontier), never the wall clock, so a replay of the same log learns and scores the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow

from connectors import keys as K
from connectors.store.log import LogItem, Progress
from engine.flow.accounts import account_step
from engine.flow.learner import Learner, restore
from engine.flow.queues import CampaignQueues, _broadcast, _for_queues
from engine.flow.results import DayResults, ResultsSink
from engine.flow.sinks import FeatureSink, ModelSink, QueueSink
from engine.flow.source import LogSource
from engine.metrics import Metrics
from engine.settings import Settings
from models.contact import ContactModels
from models.learner import OrderedLearner


def build_flow(
    settings: Settings,
    url: str,
    metrics: Metrics | None = None,
    *,
    source: Any = None,
    feature_sink: Any = None,
    model_sink: Any = None,
    queue_sink: Any = None,
    held_path: Path | None = None,
    results_sink: Any = None,
) -> Dataflow:
    """The dataflow on Redis at `url`; tests swap the source and sinks for Bytewax's
    `TestingSource` / `TestingSink` and keep every step in between. `held_path` is the
    learner's store of held lessons (beside the recovery store; None: in memory)."""
    metrics = metrics or Metrics(serving=False)
    keys = K.Keys(settings.redis.shards)
    shards = tuple(range(keys.shards))

    flow_s = settings.flow

    def new_learner(snapshot: bytes | None) -> Learner:
        fresh = OrderedLearner(ContactModels(routing=settings.routing), shards, flow_s.publish_interval_s)
        learner = restore(snapshot, held_path, fresh)
        learner.models.router.config = settings.routing  # the file may have changed since
        return Learner(learner, metrics)

    flow = Dataflow("cadencia")
    read = op.input("log", flow, source or LogSource(url, keys, settings))
    records = op.filter("records", read, lambda x: isinstance(x, LogItem))
    progress = op.filter("progress", read, lambda x: isinstance(x, Progress))
    by_account = op.key_on("by_account", records, lambda item: item.record.account_id)
    updated = op.key_rm("unkey", op.stateful_map("account", by_account, account_step(settings)))
    writes = op.map("feature_writes", updated, lambda u: u[0])
    op.output("features", writes, feature_sink or FeatureSink(url, keys, metrics))

    report = op.key_on("by_day", op.flat_map("report", updated, lambda u: u[2]), lambda c: c[0][0])
    totals = op.key_rm("unkey_days", op.stateful_batch("results", report, DayResults))
    retention = int(settings.flow.results_retention_days * 86400)
    op.output("results_out", totals, results_sink or ResultsSink(url, retention))

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
