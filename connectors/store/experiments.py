"""Champion/challenger experiments: their definitions and a version the API processes poll."""

from __future__ import annotations

from connectors import keys as K
from connectors.store.base import StoreBase

TABLE = (K.EXPERIMENTS, K.EXPERIMENTS_VERSION)


class ExperimentsStore(StoreBase):
    async def put_experiment(self, experiment: str, definition: bytes) -> None:
        await self._put_definition(TABLE, experiment, definition)

    async def delete_experiment(self, experiment: str) -> bool:
        return await self._delete_definition(TABLE, experiment)

    async def experiments(self) -> tuple[int, dict[str, bytes]]:
        return await self._definitions(TABLE)

    async def experiments_version(self) -> int:
        return await self._definitions_version(TABLE)
