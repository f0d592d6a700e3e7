"""API processes follow the models the dataflow publishes: a cheap version poll, and a load
only when the version changes (never per request)."""

from __future__ import annotations

import asyncio
import logging
import pickle
from collections.abc import Callable

from connectors.redis_store import RedisStore, StoreUnavailable
from models.contact import Scorer, initial_scorer

log = logging.getLogger("cadencia.models")


class ModelHolder:
    def __init__(self) -> None:
        self.scorer: Scorer = initial_scorer()
        self.loaded = False  # a first look at Redis succeeded

    async def refresh(self, store: RedisStore) -> bool:
        """Load the published model if its version differs; True when it changed."""
        version = await store.model_version()
        self.loaded = True
        if version is None or version.decode() == self.scorer.version:
            return False
        version, blob = await store.model_blob()
        if version is None or blob is None:
            return False
        models = pickle.loads(blob)  # published by our own dataflow into our own Redis
        self.scorer = models.scorer(version.decode())
        log.info("model %s loaded", self.scorer.version)
        return True

    async def follow(
        self, store: RedisStore, on_change: Callable[[], None] | None = None, interval_s: float = 0.25
    ) -> None:
        while True:
            try:
                if await self.refresh(store) and on_change is not None:
                    on_change()
            except StoreUnavailable:
                pass  # /readyz reports Redis; keep serving the model we have
            except Exception:  # a bad blob must not kill the poller
                log.exception("could not load the published model")
            await asyncio.sleep(interval_s)
