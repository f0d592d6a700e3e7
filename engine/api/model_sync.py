"""API processes follow the models the dataflow publishes: a cheap version poll, and a load
only when the version changes (never per request)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from connectors.store import RedisStore, StoreUnavailable
from models.carriers import RouterConfig
from models.contact import Scorer, initial_scorer, loads_data, scorer_from_data

log = logging.getLogger("cadencia.models")


class ModelHolder:
    def __init__(self, routing: RouterConfig | None = None) -> None:
        self.scorer: Scorer = initial_scorer()
        self.routing = routing or RouterConfig()
        self.loaded = False  # a first look at Redis succeeded
        self.examples_learned = 0  # of the model served
        self.published_at = 0.0  # wall-clock time the served version was published (0: none yet)
        self.wake = asyncio.Event()  # set: look now (readiness saw a newer version published)

    async def refresh(self, store: RedisStore) -> bool:
        """Load the published model if its version differs; True when it changed."""
        version = await store.model_version()
        self.loaded = True
        if version is None or version.decode() == self.scorer.version:
            return False
        meta = await store.model(version.decode())
        if b"data" not in meta:
            return False
        # plain data (models/contact.py), never code: whoever can write to Redis cannot run any here
        self.scorer = scorer_from_data(loads_data(meta[b"data"]), version.decode(), self.routing)
        self.examples_learned = int(meta.get(b"examples_learned", b"0"))
        self.published_at = float(meta.get(b"published_at", b"0"))
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
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), interval_s)
