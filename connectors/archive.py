"""The timeline archive: every decision and event of every account, on disk instead of Redis.

The dataflow writes it as it reads the shards' logs (connectors/store/log.py), one SQLite
file per shard and one writer for each: the entry's log id, its account, its record (the
decision's without its model inputs). Each write also moves the shard's *frontier*, the last
log id archived, in the same transaction, so a reader sees every entry up to the frontier
or none of them. A timeline is the account's archived entries followed by the log's entries
past the frontier (connectors/store/accounts.py), so Redis keeps no per-account history and
an entry is never shown twice or missed, however far behind the dataflow is.

SQLite (the standard library's) because an account's entries are one range of a primary
key, WAL lets the API's readers go on while the dataflow writes, and a file per shard needs
no server. The API and the dataflow must see the same directory (one host, as `cadencia
run` places them, or a volume they share).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# the kinds of log record a timeline shows: events, decisions, cancels, waits
TIMELINE_KINDS = frozenset({"e", "d", "c", "w"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    account TEXT NOT NULL,
    ms INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    record BLOB NOT NULL,
    PRIMARY KEY (account, ms, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_by_time ON entries (ms);
CREATE TABLE IF NOT EXISTS frontier (
    one INTEGER PRIMARY KEY CHECK (one = 0),
    ms INTEGER NOT NULL,
    seq INTEGER NOT NULL
);
"""

Row = tuple[str, str, bytes]  # account id, log entry id, record JSON


def entry_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def shard_file(directory: Path, shard: int) -> Path:
    return directory / f"timeline-{shard:03d}.sqlite3"


@dataclass
class _Waiting:
    rows: list[Row]
    last_id: str  # the newest entry read
    since: float  # when the first of them was read (monotonic)


class ArchiveWriter:
    """The dataflow's side: appends a shard's entries and moves its frontier, one transaction
    per call. Appending an entry again (a replay after a crash) changes nothing, and the
    frontier never moves back. Entries accepted more than `retention_s` before the newest
    are deleted once an hour of log time."""

    PRUNE_EVERY_MS = 3_600_000
    FLUSH_S = 0.25  # a shard's entries are written at most this long after they were read
    FLUSH_ROWS = 4096  # or once this many wait
    CACHE_KIB = 16384  # page cache per shard's file

    def __init__(self, directory: str | Path, retention_s: float) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.retention_ms = int(retention_s * 1000)
        self._db: dict[int, sqlite3.Connection] = {}
        self._pruned_at: dict[int, int] = {}
        self._waiting: dict[int, _Waiting] = {}  # per shard, what was read and not written yet

    def _conn(self, shard: int) -> sqlite3.Connection:
        db = self._db.get(shard)
        if db is None:
            db = sqlite3.connect(shard_file(self.directory, shard), isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            # a commit survives a crash of the process; a power cut may lose the last ones,
            # which the writer's start finds behind the log and archives again (backfill)
            db.execute("PRAGMA synchronous=NORMAL")
            # entries are clustered by account, so appends land all over the file: with the
            # default 2 MB page cache most of them read a page first (py-spy: pread64 was 9% of
            # the dataflow's time at 5,000 events/s)
            db.execute(f"PRAGMA cache_size=-{self.CACHE_KIB}")
            db.executescript(_SCHEMA)
            self._db[shard] = db
        return db

    def frontier(self, shard: int) -> str | None:
        if not shard_file(self.directory, shard).exists():
            return None
        row = self._conn(shard).execute("SELECT ms, seq FROM frontier").fetchone()
        return None if row is None else f"{row[0]}-{row[1]}"

    def append(self, shard: int, rows: Sequence[Row], last_id: str) -> None:
        """Archive `rows`, the shard's entries up to `last_id`. They are written together with
        the others of the last `FLUSH_S` (a transaction a shard, not one a read: at 5,000
        events a second, one commit per shard per read cost the dataflow 15% of its time);
        until then the log's tail past the frontier shows them, and a crash leaves them to
        the next start's backfill."""
        w = self._waiting.get(shard)
        if w is None:
            w = self._waiting[shard] = _Waiting([], last_id, time.monotonic())
        w.rows.extend(rows)
        w.last_id = max(w.last_id, last_id, key=entry_key)
        if len(w.rows) >= self.FLUSH_ROWS or time.monotonic() - w.since >= self.FLUSH_S:
            self._write(shard)

    def flush(self) -> None:
        for shard in list(self._waiting):
            self._write(shard)

    def tick(self) -> None:
        """Write what has waited `FLUSH_S` (the reader calls it on every poll, idle or not)."""
        now = time.monotonic()
        for shard in [s for s, w in self._waiting.items() if now - w.since >= self.FLUSH_S]:
            self._write(shard)

    def _write(self, shard: int) -> None:
        w = self._waiting.pop(shard)
        rows, last_id = w.rows, w.last_id
        db = self._conn(shard)
        ms, seq = entry_key(last_id)
        db.execute("BEGIN")
        try:
            db.executemany(
                "INSERT OR IGNORE INTO entries VALUES (?, ?, ?, ?)",
                [(account, *entry_key(entry_id), record) for account, entry_id, record in rows],
            )
            db.execute(
                "INSERT INTO frontier VALUES (0, ?, ?) ON CONFLICT (one) DO UPDATE SET "
                "ms = excluded.ms, seq = excluded.seq WHERE (excluded.ms, excluded.seq) > (ms, seq)",
                (ms, seq),
            )
            if ms - self._pruned_at.get(shard, 0) >= self.PRUNE_EVERY_MS:
                db.execute("DELETE FROM entries WHERE ms < ?", (ms - self.retention_ms,))
                self._pruned_at[shard] = ms
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.flush()
        for db in self._db.values():
            db.close()
        self._db.clear()


def read_account(directory: str | Path, shard: int, account_id: str) -> tuple[list[bytes], str | None]:
    """An account's archived records, oldest first, and the shard's frontier, from one
    snapshot of the file (blocking: the API calls it in a thread). No file yet: ([], None)."""
    path = shard_file(Path(directory), shard)
    if not path.exists():
        return [], None
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    try:
        db.execute("BEGIN")
        records = [
            bytes(r)
            for (r,) in db.execute(
                "SELECT record FROM entries WHERE account = ? ORDER BY ms, seq", (account_id,)
            )
        ]
        row = db.execute("SELECT ms, seq FROM frontier").fetchone()
        db.execute("COMMIT")
    finally:
        db.close()
    return records, None if row is None else f"{row[0]}-{row[1]}"


def archived_total(directory: str | Path, shards: Iterable[int]) -> int:
    """How many entries the archive holds (tests and benchmarks)."""
    total = 0
    for shard in shards:
        path = shard_file(Path(directory), shard)
        if path.exists():
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                total += db.execute("SELECT count(*) FROM entries").fetchone()[0]
    return total
