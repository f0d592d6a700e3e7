"""Published models, the dataflow's progress and the results it sums, as the API reads them."""

from __future__ import annotations

import orjson

from connectors import keys as K
from connectors.store.base import Command, StoreBase, _pairs
from models.results import DIMENSIONS

CELL_DIMENSIONS = len(DIMENSIONS) - 1  # a stored results cell's dimensions: all but its day


class ModelsStore(StoreBase):
    async def model_version(self) -> bytes | None:
        (version,) = await self._run([("GET", K.MODEL_VERSION)])
        return version

    async def model(self, version: str) -> dict[bytes, bytes]:
        """A published version's data and facts (connectors/KEYS.md); {} when not kept."""
        (flat,) = await self._run([("HGETALL", K.model(version))])
        return _pairs(flat)

    async def flow_progress(
        self,
    ) -> tuple[dict[int, tuple[float, str]], bytes | None, dict[int, float], list[str]]:
        """How far the readers have read each shard (event time, and the last log entry that
        covers: "" while timers due at its clock are still to be read), what the learner has
        learned up to (`at|version`), how far each shard's campaign changes are placed, and
        the last entry of each shard's log ("0-0": empty)."""
        k = self.keys
        read, learned, queued, *tails = await self._run(
            [("HGETALL", K.FLOW_FRONTIER), ("GET", K.MODEL_FRONTIER), ("HGETALL", K.QUEUES_FRONTIER)]
            + [("XREVRANGE", k.log(s), "+", "-", "COUNT", 1) for s in range(k.shards)]
        )
        marks = {}
        for shard, value in _pairs(read).items():
            at, last, settled = value.decode().split("|")
            marks[int(shard)] = (float(at), last if settled == "1" else "")
        placed = {int(s): float(v) for s, v in _pairs(queued).items()}
        return marks, learned, placed, [t[0][0].decode() if t else "0-0" for t in tails]

    async def flow_lag(self, now_ms: int) -> float:
        """Seconds since the oldest log entry the dataflow has not applied yet (0 if none)."""
        (flat,) = await self._run([("HGETALL", K.FLOW_OFFSETS)])
        offsets = _pairs(flat)
        commands: list[Command] = []
        for shard in range(self.keys.shards):
            last = offsets.get(str(shard).encode(), b"0-0").decode()
            commands.append(("XRANGE", self.keys.log(shard), f"({last}", "+", "COUNT", 1))
        lag = 0.0
        for rows in await self._run(commands):
            if rows:
                ms = int(rows[0][0].split(b"-")[0])
                lag = max(lag, (now_ms - ms) / 1000.0)
        return lag

    async def results(self, days: list[str]) -> dict[str, dict[tuple[str, ...], list[float]]]:
        """The results report's totals of each day (written by engine/flow/results.py)."""
        out: dict[str, dict[tuple[str, ...], list[float]]] = {}
        for day, flat in zip(days, await self._run([("HGETALL", K.results(d)) for d in days]), strict=True):
            if flat:
                cells: dict[tuple[str, ...], list[float]] = {}
                for f, v in _pairs(flat).items():
                    dims = tuple(orjson.loads(f))
                    dims += ("-",) * (CELL_DIMENSIONS - len(dims))  # written before a dimension was added
                    totals = orjson.loads(v)
                    into = cells.setdefault(dims, [0.0] * len(totals))
                    for i, x in enumerate(totals):
                        into[i] += x
                out[day] = cells
        return out

    async def model_index(self, limit: int) -> list[dict[str, str]]:
        """The newest `limit` published versions, newest first: each one's facts (not its data)."""
        (flat,) = await self._run([("ZREVRANGE", K.MODEL_INDEX, 0, limit - 1)])
        versions = [v.decode() for v in flat]
        fields = ("as_of", "published_at", "examples_learned", "observations_learned", "reason")
        rows = await self._run([("HMGET", K.model(v), *fields) for v in versions]) if versions else []
        return [
            {"version": v, **{f: x.decode() for f, x in zip(fields, row, strict=True) if x is not None}}
            for v, row in zip(versions, rows, strict=True)
            if row[1] is not None  # expired since the index was read
        ]
