"""Event time in the dataflow: per-shard watermarks that no single record can drag forward.

A shard's *clock* is the latest event time of the second most advanced account it has seen
(of its only account, while it has seen one): one account's future-dated record moves its own
account's time (its own windows may close), never the shard's. A drained shard (its log read
to the end) is idle, not behind: in wall mode its clock follows the server's clock. In data
mode (replays, simulators) a shard's clock moves only with its own records: a drained shard
may still be sent records older than other shards' (a replay posting in chunks), and closing
its windows on another shard's time would depend on when it was read.

From the clock:
- attribution timers close windows up to `clock - allowed_lateness` (the *timer watermark*):
  an outcome up to that late still lands in its window;
- the learner may learn, in event-time order, every lesson up to the shard's *frontier*:
  `clock - reorder`, and never past what the timers have closed (plus the same allowance),
  so a lesson can only arrive after the frontier passed it when its record came later than
  the allowance (it is then learned at once, and counted late).

Pure: no I/O, no clock of its own (the caller passes the server's time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

NEVER = float("-inf")
Top = tuple[tuple[str, float], ...]  # the two most advanced accounts: (account, latest ts), newest first


def observe(top: Top, account: str, ts: float) -> Top:
    """`top` after `account` was seen at `ts`."""
    entries = {a: t for a, t in top}
    if ts <= entries.get(account, NEVER):
        return top
    entries[account] = ts
    best = sorted(entries.items(), key=lambda e: (-e[1], e[0]))[:2]
    return tuple(best)


def robust(top: Top) -> float:
    """The event time of the second most advanced account; with a single account, its own
    (its records can only close its own windows then)."""
    if not top:
        return NEVER
    return top[1][1] if len(top) > 1 else top[0][1]


@dataclass(frozen=True, slots=True)
class ShardTime:
    """One shard's event time, as the reader snapshots it."""

    top: Top = ()
    clock: float = NEVER  # monotone: max of its robust time and its idle floors so far
    timers_at: float = NEVER  # attribution timers read up to this score ...
    timers_offset: int = 0  # ... and this many members of that very score
    timers_done: float = NEVER  # every timer due by this time has been read

    def seen(self, account: str, ts: float) -> ShardTime:
        top = observe(self.top, account, ts)
        if top is self.top:
            return self
        return replace(self, top=top, clock=max(self.clock, robust(top)))

    def idle(self, floor: float) -> ShardTime:
        """A drained shard: its clock may move up to `floor` with no record of its own."""
        return self if floor <= self.clock else replace(self, clock=floor)

    def timer_watermark(self, allowed_lateness: float) -> float:
        return self.clock - allowed_lateness

    def frontier(self, allowed_lateness: float, reorder: float) -> float:
        """How far in event time every lesson of this shard has been emitted."""
        return min(self.clock - reorder, self.timers_done + allowed_lateness - reorder)

    def timers_read(self, scores: list[float], complete_through: float | None) -> ShardTime:
        """After reading due timers with these scores (in order) from the position; when the
        read took every timer due by `complete_through`, everything up to it is done. A read
        cut short still completes every score below its last: a backlog of due timers moves
        the frontier as it is read, not only once it is through."""
        at, offset = self.timers_at, self.timers_offset
        for score in scores:
            if score == at:
                offset += 1
            else:
                at, offset = score, 1
        if complete_through is not None:
            done = max(self.timers_done, complete_through)
        elif scores:  # reads go by score: every timer scored below the last one read is read
            done = max(self.timers_done, math.nextafter(scores[-1], -math.inf))
        else:
            done = self.timers_done
        return replace(self, timers_at=at, timers_offset=offset, timers_done=done)


def learn_at_example(deadline: float, allowed_lateness: float, reorder: float) -> float:
    """The event time by which a window closing at `deadline` has surely been emitted."""
    return deadline + allowed_lateness - reorder
