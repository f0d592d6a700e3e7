"""The learner: one keyed state holding the models, learning in event-time order.

Its snapshot is the models and the counters; the lessons it holds for the frontier live in
`connectors.held.HeldLessons`, whose flush count the snapshot keeps (see there)."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

from bytewax.operators import StatefulBatchLogic

from connectors.held import HeldLessons
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
        held = self.learner.pending
        flushes = held.flush() if isinstance(held, HeldLessons) else 0
        # the local recovery store; Redis only ever gets data
        return pickle.dumps((flushes, dataclasses.replace(self.learner, pending=None)))


def restore(snapshot: bytes | None, held_path: Path | None, fresh: OrderedLearner) -> OrderedLearner:
    """The learner of a snapshot (or `fresh`), its held lessons in the store at `held_path`."""
    if snapshot is None:
        fresh.pending = HeldLessons(held_path, 0)
        return fresh
    state = pickle.loads(snapshot)
    if isinstance(state, OrderedLearner):  # written before the held store: lessons inside
        old: list = state.pending  # type: ignore[assignment]  # a heap of (at, key, lesson)
        state.pending = HeldLessons(held_path, 0)
        for _at, _key, lesson in old:
            state.pending.push(lesson)
        return state
    flushes, learner = state
    learner.pending = HeldLessons(held_path, flushes)
    return learner
