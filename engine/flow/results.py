"""The results report's totals: one keyed state per day summing `models.results`
contributions, and a sink writing the cells each batch changed.

The sink writes totals, never increments: a dataflow resumed from its last snapshot replays
the records after it and writes the same totals again, so the report counts each event once.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import orjson
import redis
from bytewax.operators import StatefulBatchLogic
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from connectors import keys as K
from models.results import MEASURES, Contribution

INDEX = {m: i for i, m in enumerate(MEASURES)}


@dataclass(frozen=True, slots=True)
class DayTotals:
    day: str
    cells: dict[bytes, list[float]]  # field (the cell's other dimensions, JSON) -> MEASURES


def cell_field(contribution: Contribution) -> bytes:
    return orjson.dumps(contribution[0][1:])


class DayResults(StatefulBatchLogic[Contribution, DayTotals, bytes]):
    """One day's cells (Bytewax builds the logic without its key: the day comes with the
    contributions, and in the snapshot)."""

    def __init__(self, snapshot: bytes | None) -> None:
        self.day, self.cells = pickle.loads(snapshot) if snapshot else ("", {})

    def on_batch(self, values: list[Contribution]) -> tuple[list[DayTotals], bool]:
        changed: dict[bytes, list[float]] = {}
        self.day = values[0][0][0] if values else self.day
        for c in values:
            f = cell_field(c)
            totals = self.cells.get(f)
            if totals is None:
                totals = self.cells[f] = [0.0] * len(MEASURES)
            totals[INDEX[c[1]]] += c[2]
            changed[f] = totals
        return [DayTotals(self.day, {f: list(t) for f, t in changed.items()})], StatefulBatchLogic.RETAIN

    def snapshot(self) -> bytes:
        return pickle.dumps((self.day, self.cells))


class _ResultsPartition(StatelessSinkPartition[DayTotals]):
    def __init__(self, client: redis.Redis, retention_s: int) -> None:
        self.r = client
        self.retention_s = retention_s

    def write_batch(self, items: list[DayTotals]) -> None:
        by_day: dict[str, dict[bytes, bytes]] = {}
        for t in items:
            fields = by_day.setdefault(t.day, {})
            for f, totals in t.cells.items():
                fields[f] = orjson.dumps([round(v, 6) for v in totals])
        pipe = self.r.pipeline(transaction=False)
        for day, fields in by_day.items():
            pipe.hset(K.results(day), mapping=fields)  # type: ignore[arg-type]
            pipe.expire(K.results(day), self.retention_s)
        pipe.execute()

    def close(self) -> None:
        self.r.close()


class ResultsSink(DynamicSink[DayTotals]):
    def __init__(self, url: str, retention_s: int) -> None:
        self.url = url
        self.retention_s = retention_s

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _ResultsPartition:
        return _ResultsPartition(redis.Redis.from_url(self.url), self.retention_s)
