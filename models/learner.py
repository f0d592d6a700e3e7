"""Learning in event-time order, so that a run's models depend on its data and nothing else.

Lessons (the examples of closed attribution windows, the carriers' outcomes) reach the learner
in whatever order the dataflow's workers and polls happen to deliver them. Online learning is
order-dependent, so the learner holds each lesson until the *frontier* (the event time up to
which every shard has delivered its lessons: models/eventtime.py, carried by `Progress`
markers) passes it, then learns everything behind the frontier sorted by (event time, content).
The same data gives the same sequence of updates whatever the timing: replays, simulations
and a resume after a crash learn exactly the same models.

Publishing follows the same clock: a model is published when the frontier crosses a multiple
of `interval_s` of event time with something learned since the last one, and at once after a
lesson that opens or closes a carrier's breaker. Versions count publications (`m-000042`), so
they are data too. A lesson that arrives behind the frontier (its record came later than the
lateness allowed) is learned at once and counted in `late`.

Pure: no I/O; the caller publishes and keeps the snapshot. The lessons held for the frontier
are a `Pending` set: a heap here; the dataflow keeps them in a store of their own
(connectors/held.py), so that a recovery snapshot does not copy every held lesson each epoch.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from features.pickling import fast_pickling
from models.attribution import Example
from models.carriers import Observation
from models.contact import INITIAL_VERSION, ContactModels, dumps_data
from models.eventtime import NEVER


@dataclass(frozen=True, slots=True)
class Lesson:
    at: float  # the event time it belongs to: learned once the frontier reaches it
    key: tuple[Any, ...]  # orders lessons of one instant by their content, never by arrival
    item: Example | Observation

    @classmethod
    def of_example(cls, e: Example, at: float) -> Lesson:
        return cls(at, ("x", e.account_id, e.closes_at, e.head, e.channel, e.hour, e.decision_id), e)

    @classmethod
    def of_observation(cls, o: Observation) -> Lesson:
        return cls(o.ts, ("o", o.event_id, o.carrier, o.network, o.band), o)


@dataclass(frozen=True, slots=True)
class Publication:
    version: str
    as_of: float  # the model holds every lesson before this event time (and none after)
    examples_learned: int
    observations_learned: int
    reason: str  # "interval", "breaker" or "end"
    data: bytes  # models.contact.dumps_data(ContactModels.to_data())
    late: int = 0  # lessons learned out of event-time order so far (they came after the frontier)


class Pending(Protocol):
    """The lessons waiting for the frontier."""

    def push(self, lesson: Lesson) -> None: ...

    def pop_until(self, at: float) -> list[Lesson]:
        """Every lesson held up to `at`, removed, in (event time, key) order."""
        ...

    def __len__(self) -> int: ...


class HeapPending:
    def __init__(self) -> None:
        self.heap: list[tuple[float, tuple[Any, ...], Lesson]] = []

    def push(self, lesson: Lesson) -> None:
        heapq.heappush(self.heap, (lesson.at, lesson.key, lesson))

    def pop_until(self, at: float) -> list[Lesson]:
        out = []
        while self.heap and self.heap[0][0] <= at:
            out.append(heapq.heappop(self.heap)[2])
        return out

    def __len__(self) -> int:
        return len(self.heap)


def in_order(lessons: Iterable[Lesson]) -> list[Lesson]:
    return sorted(lessons, key=lambda lesson: (lesson.at, lesson.key))


@dataclass(frozen=True, slots=True)
class Frontier:
    """Every lesson up to `at` is learned; `version` is the model current at `at`."""

    at: float
    version: str


Output = Publication | Frontier


@dataclass
class OrderedLearner:
    models: ContactModels
    shards: tuple[int, ...]
    interval_s: float = 300.0
    frontiers: dict[int, float] = field(default_factory=dict)
    frontier: float = NEVER
    pending: Pending = field(default_factory=HeapPending)
    version: str = INITIAL_VERSION
    publications: int = 0
    examples_learned: int = 0
    observations_learned: int = 0
    late: int = 0
    dirty: bool = False
    last_at: float = NEVER  # event time of the last lesson learned
    learned_heads: dict[str, int] = field(default_factory=dict)  # learned per head (carriers: outcomes)

    def add(self, lesson: Lesson) -> list[Output]:
        if lesson.at <= self.frontier:  # behind the frontier: too late to learn in order
            self.late += 1
            return self._learn(lesson)
        self.pending.push(lesson)
        return []

    def progress(self, frontiers: dict[int, float]) -> list[Output]:
        """Shards' frontiers moved: learn everything the new frontier passed, in order."""
        # the latest word of each shard (a shard that had no record reports +inf until its
        # first one); the learner's own frontier never moves back
        self.frontiers.update(frontiers)
        known = [self.frontiers.get(s, NEVER) for s in self.shards]
        finite = [at for at in known if at != math.inf]
        if not finite:  # no shard has had a record yet: nothing to learn, no time to tell
            return []
        target = min(finite)
        if target <= self.frontier:
            return []
        return self._advance(target)

    def end(self) -> list[Output]:
        """No more data will come (a finite input): learn and publish everything."""
        out = self._advance(math.inf)
        if self.dirty:
            out.append(self._publish(self.last_at, "end"))
        return out

    def _advance(self, target: float) -> list[Output]:
        out: list[Output] = []
        for lesson in self.pending.pop_until(target):
            out += self._boundary(lesson.at)
            out += self._learn(lesson)
        out += self._boundary(target)
        self.frontier = target
        if math.isfinite(target):
            out.append(Frontier(target, self.version))
        return out

    def _boundary(self, until: float) -> list[Output]:
        """Publish at the first multiple of the interval after the last lesson, when the
        clock has reached it and something was learned since the last publication."""
        if not self.dirty or not math.isfinite(until):
            return []
        boundary = (math.floor(self.last_at / self.interval_s) + 1) * self.interval_s
        if boundary > until:
            return []
        return [self._publish(boundary, "interval")]

    def _learn(self, lesson: Lesson) -> list[Output]:
        item = lesson.item
        self.last_at = max(self.last_at, lesson.at)
        self.dirty = True
        if isinstance(item, Observation):
            self.observations_learned += 1
            self.learned_heads["carriers"] = self.observations_learned
            if self.models.learn_carrier(item):  # a breaker opened or closed: serve it now
                return [self._publish(lesson.at, "breaker")]
            return []
        self.models.learn(item)
        self.examples_learned += 1
        self.learned_heads[item.head] = self.learned_heads.get(item.head, 0) + 1
        if item.head == "response" and item.template:
            self.learned_heads["templates"] = self.learned_heads.get("templates", 0) + 1
        return []

    def _publish(self, as_of: float, reason: str) -> Publication:
        self.publications += 1
        self.version = f"m-{self.publications:06d}"
        self.dirty = False
        return Publication(
            self.version,
            as_of,
            self.examples_learned,
            self.observations_learned,
            reason,
            dumps_data(self.models.to_data()),
            self.late,
        )


def shards_of(count: int) -> tuple[int, ...]:
    return tuple(range(count))


def all_progress(shards: Iterable[int], at: float) -> dict[int, float]:
    return dict.fromkeys(shards, at)


fast_pickling(Lesson, Publication, Frontier)
