"""Champion/challenger experiments: their definitions and a version the API processes poll."""

from __future__ import annotations

from connectors import keys as K
from connectors.store.base import StoreBase, _pairs


class ExperimentsStore(StoreBase):
    async def put_experiment(self, experiment: str, definition: bytes) -> None:
        await self._run(
            [("HSET", K.EXPERIMENTS, experiment, definition), ("INCR", K.EXPERIMENTS_VERSION)], writes=True
        )

    async def delete_experiment(self, experiment: str) -> bool:
        removed, _version = await self._run(
            [("HDEL", K.EXPERIMENTS, experiment), ("INCR", K.EXPERIMENTS_VERSION)], writes=True
        )
        return bool(removed)

    async def experiments(self) -> tuple[int, dict[str, bytes]]:
        version, flat = await self._run([("GET", K.EXPERIMENTS_VERSION), ("HGETALL", K.EXPERIMENTS)])
        return int(version or 0), {k.decode(): v for k, v in _pairs(flat).items()}

    async def experiments_version(self) -> int:
        (version,) = await self._run([("GET", K.EXPERIMENTS_VERSION)])
        return int(version or 0)
