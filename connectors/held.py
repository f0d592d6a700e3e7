"""The learner's held lessons, in a store of their own beside the dataflow's recovery store.

The learner holds every lesson until the event-time frontier passes it (models/learner.py):
with 300 s of allowed lateness that is every example of the last five minutes, ~600,000 at
2,000 a second. Kept in the learner's Bytewax state, each epoch's snapshot pickled all of
them again (3.2 MB and 43 ms at 10,000 held, 870 ms at 100,000: measured here), so the
dataflow's cost grew with its rate times the lateness. Here a lesson is written once when it
arrives and marked once when it is learned; a snapshot commits what changed in the epoch.

How it stays exact across a crash: every change is tagged with the number of the flush that
commits it (`flushes + 1`), and the learner's Bytewax snapshot records `flushes`. Resuming
from a snapshot that says n undoes every change tagged after n (lessons that arrived later
are deleted, lessons learned later are held again): the store is then what it was when that
snapshot was taken, and Bytewax replays the input from there. Learned lessons are deleted
only `KEPT` flushes later, so a resume from one of the last few snapshots finds them.

SQLite (the standard library's): a primary key to mark by, an index by event time to take
by, a transaction per epoch, and WAL so a commit is durable against a killed process.
"""

from __future__ import annotations

import pickle
import sqlite3
from pathlib import Path

from models.learner import Lesson, in_order

KEPT = 16  # flushes a learned lesson stays, for a resume from an older snapshot

_SCHEMA = """
CREATE TABLE IF NOT EXISTS held (
    seq INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    lesson BLOB NOT NULL,
    added INTEGER NOT NULL,
    taken INTEGER
);
CREATE INDEX IF NOT EXISTS held_waiting ON held (at) WHERE taken IS NULL;
CREATE INDEX IF NOT EXISTS held_taken ON held (taken) WHERE taken IS NOT NULL;
"""


class HeldLessons:
    """A `models.learner.Pending` on SQLite. `path=None` keeps it in memory (a dataflow run
    without recovery: tests, simulations)."""

    def __init__(self, path: Path | None, flushes: int = 0, kept: int = KEPT) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(":memory:" if path is None else str(path), isolation_level=None)
        self.db.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;" + _SCHEMA)
        self.flushes = flushes
        self.kept = kept
        self.arrived: list[tuple[float, bytes, int]] = []  # pushed, written at the next pop or flush
        self.db.execute("BEGIN")
        # back to what the store was at the snapshot that counted `flushes`
        self.db.execute("DELETE FROM held WHERE added > ?", (flushes,))
        self.db.execute("UPDATE held SET taken = NULL WHERE taken > ?", (flushes,))
        self.db.execute("COMMIT")
        self.count = self.db.execute("SELECT count(*) FROM held WHERE taken IS NULL").fetchone()[0]
        self.db.execute("BEGIN")

    def push(self, lesson: Lesson) -> None:
        self.arrived.append((lesson.at, pickle.dumps(lesson, pickle.HIGHEST_PROTOCOL), self.flushes + 1))
        self.count += 1

    def _write(self) -> None:
        if self.arrived:
            self.db.executemany("INSERT INTO held (at, lesson, added) VALUES (?, ?, ?)", self.arrived)
            self.arrived.clear()

    def pop_until(self, at: float) -> list[Lesson]:
        self._write()
        rows = self.db.execute(
            "SELECT seq, lesson FROM held WHERE taken IS NULL AND at <= ?", (at,)
        ).fetchall()
        if not rows:
            return []
        self.db.executemany(
            "UPDATE held SET taken = ? WHERE seq = ?", [(self.flushes + 1, seq) for seq, _ in rows]
        )
        self.count -= len(rows)
        return in_order(pickle.loads(blob) for _, blob in rows)

    def __len__(self) -> int:
        return self.count

    def flush(self) -> int:
        """Commit the epoch's changes; the number to keep in the snapshot."""
        self._write()
        self.db.execute("DELETE FROM held WHERE taken <= ?", (self.flushes + 1 - self.kept,))
        self.db.execute("COMMIT")
        self.flushes += 1
        self.db.execute("BEGIN")
        return self.flushes

    def close(self) -> None:
        self.db.execute("ROLLBACK")
        self.db.close()
