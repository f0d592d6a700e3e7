"""Whose clock a request's time is, and how far it may stray from the server's.

`[server] clock = "wall"` (the default): a request's `now` more than `max_skew_s` from the
server's clock, or an event's `ts` more than that ahead of it, is refused (422 naming the
field); events from the past are normal. The time a reservation lock is judged by is never
later than the server's clock, so a client running ahead cannot take an account's lock early.

`clock = "data"`: time is the data's. Simulators, replays, backtests and test harnesses
set it; the operator vouches for the clock. The rules still hold whatever the `now` values
(history is trimmed by the account's own timeline, locks by their own expiries), but
nothing is checked against the wall.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

MODES = ("wall", "data")


@dataclass(frozen=True)
class Clock:
    mode: str = "wall"
    max_skew_s: float = 300.0
    wall: Callable[[], float] = time.time

    @property
    def bounded(self) -> bool:
        return self.mode == "wall"

    def check_now(self, value: datetime | None, index: int, field: str = "now") -> dict[str, Any] | None:
        """The contract's detail for a request time the server refuses, or None."""
        if value is None:
            return None
        if value.tzinfo is None:
            return {"index": index, "field": field, "message": "timestamp needs an offset or Z"}
        if not self.bounded:
            return None
        skew = value.timestamp() - self.wall()
        if abs(skew) > self.max_skew_s:
            side = "ahead of" if skew > 0 else "behind"
            return {
                "index": index,
                "field": field,
                "message": f"{abs(skew):.0f} s {side} the server's clock; the limit is "
                f'[server] max_skew_s = {self.max_skew_s:g} (clock = "wall")',
            }
        return None

    def check_ts(self, ts: float, index: int, now: float, field: str = "ts") -> dict[str, Any] | None:
        """An event time too far in the future (the past is always accepted)."""
        if self.bounded and ts - now > self.max_skew_s:
            return {
                "index": index,
                "field": field,
                "message": f"{ts - now:.0f} s ahead of the server's clock; the limit is "
                f'[server] max_skew_s = {self.max_skew_s:g} (clock = "wall")',
            }
        return None

    def lock_time(self, now: float) -> float:
        """The time a reservation lock is judged by: never later than the server's clock in
        wall mode (a client clock running ahead must not see a lock as expired early)."""
        return min(now, self.wall()) if self.bounded else now
