"""The campaign queues: re-scored as the learning frontier passes."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from bytewax.operators import StatefulBatchLogic

from connectors.store.log import FeatureWrite
from models.contact import INITIAL_VERSION
from models.eventtime import NEVER
from models.learner import Frontier, Output, Publication


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
