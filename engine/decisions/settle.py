"""Reservations whose write timed out: nobody was told of them, so they are taken back.

A reserve script that Redis ran after the API stopped waiting leaves a lock (and a contact
counted against the caps) that no caller knows. The API answers `503 outcome_unknown` and
hands those reservations here; each is cancelled as soon as Redis answers again (cancel is
idempotent: one never made answers "unknown decision"). A request with a `request_id` is
not taken back: its retry finds the decision and uses it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from connectors.store import RedisStore, Reservation, StoreUnavailable

log = logging.getLogger("cadencia.settle")
RETRY_S = (0.2, 30.0)  # first wait between attempts, and the most it backs off to


class Settler:
    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self.tasks: set[asyncio.Task[None]] = set()
        self.taken_back = 0  # reservations cancelled here (some may never have been made)

    def take_back(self, reservations: Sequence[Reservation]) -> None:
        if not reservations:
            return
        task = asyncio.create_task(self._cancel(list(reservations)))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _cancel(self, pending: list[Reservation]) -> None:
        wait = RETRY_S[0]
        while pending:
            r = pending[0]
            try:
                await self.store.cancel(r.account_id, r.decision_id, r.cancel_record())
            except StoreUnavailable as exc:
                log.warning("cannot take back %d reservations yet: %s", len(pending), exc)
                await asyncio.sleep(wait)
                wait = min(wait * 2, RETRY_S[1])
                continue
            pending.pop(0)
            self.taken_back += 1
