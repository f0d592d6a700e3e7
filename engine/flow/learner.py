"""The learner: one keyed state holding the models, learning in event-time order."""

from __future__ import annotations

import pickle

from bytewax.operators import StatefulBatchLogic

from connectors.store.log import Progress
from engine.metrics import Metrics
from models.learner import Lesson, OrderedLearner, Output


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
