r"""The Redis key scheme, version 1. Every key cadencia writes is built here.

Accounts are spread over `shards` hash-tag buckets: `shard = crc32(account_id) % shards`.
Every key of an account, and the event-log stream and timer set of its bucket, carry the
bucket's hash tag `{sNNN}`, so each Lua script touches one Cluster slot and can append to
the log in the same atomic step that changes the account. The bucket count is part of the
scheme: changing it on a populated Redis needs a migration (a new scheme version).

| key | type | written by | expiry |
| --- | --- | --- | --- |
| `cad:v1:{sNNN}:a:<account_id>` | hash: `doc` (account JSON), `ver`, `lock`, `oo:<channel>`, `ptp`, `ptp_ts`, `paid`, `paid_at`, `disp`, `feat` (features JSON), `feat_n`, `feat_at` | API scripts, dataflow (`feat*`) | none: the account is the portfolio |
| `cad:v1:{sNNN}:a:<account_id>:c` | zset of reserved contacts, member `decision_id\|channel\|cp`, score = send time | reserve/cancel scripts | trimmed to `contact_window_days` on every reserve |
| `cad:v1:{sNNN}:a:<account_id>:e` | set of applied event ids (idempotency, "counted once, ever") | ingest script | none, by contract |
| `cad:v1:{sNNN}:a:<account_id>:t` | stream: the account's timeline | scripts | `retention_days`, refreshed on write; MAXLEN trimmed |
| `cad:v1:{sNNN}:d:<decision_id>` | hash: the reservation (account, channel, member, state) | reserve/cancel/ingest | `retention_days` |
| `cad:v1:{sNNN}:log` | stream: the event log the dataflow reads, one field `r` (JSON) | scripts | MAXLEN ~ `log_maxlen` |
| `cad:v1:{sNNN}:timers` | zset `decision_id\|account_id` by attribution deadline (event time) | reserve; the dataflow source pops | popped |
| `cad:v1:model:version` / `cad:v1:model:blob` | string: published model version and its pickle | dataflow | none |
| `cad:v1:flow:offsets` | hash shard -> last log id the dataflow applied | dataflow | none |
| `cad:v1:deadletter` | stream of unmatched vendor callbacks | webhooks | MAXLEN ~ 100k |
"""

from __future__ import annotations

import zlib

PREFIX = "cad:v1"
MODEL_VERSION = f"{PREFIX}:model:version"
MODEL_BLOB = f"{PREFIX}:model:blob"
FLOW_OFFSETS = f"{PREFIX}:flow:offsets"
DEADLETTER = f"{PREFIX}:deadletter"


def shard_of(account_id: str, shards: int) -> int:
    return zlib.crc32(account_id.encode()) % shards


def tag(shard: int) -> str:
    return f"{{s{shard:03d}}}"


class Keys:
    """Builds keys for a given bucket count."""

    def __init__(self, shards: int) -> None:
        if not 1 <= shards <= 999:
            raise ValueError(f"shards must be 1..999, got {shards}")
        self.shards = shards

    def shard(self, account_id: str) -> int:
        return shard_of(account_id, self.shards)

    def account(self, account_id: str) -> str:
        return f"{PREFIX}:{tag(self.shard(account_id))}:a:{account_id}"

    def contacts(self, account_id: str) -> str:
        return self.account(account_id) + ":c"

    def seen(self, account_id: str) -> str:
        return self.account(account_id) + ":e"

    def timeline(self, account_id: str) -> str:
        return self.account(account_id) + ":t"

    def decision(self, decision_id: str) -> str:
        return f"{PREFIX}:{tag(decision_shard(decision_id))}:d:{decision_id}"

    def log(self, shard: int) -> str:
        return f"{PREFIX}:{tag(shard)}:log"

    def timers(self, shard: int) -> str:
        return f"{PREFIX}:{tag(shard)}:timers"


def decision_shard(decision_id: str) -> int:
    """Decision ids are `d-NNN-xxxxxxxxxxxx`: the account's bucket travels in the id, so a
    cancel or an outcome that names only the decision finds its slot without a lookup."""
    try:
        prefix, shard, _rest = decision_id.split("-", 2)
        if prefix != "d" or len(shard) != 3:
            raise ValueError
        return int(shard)
    except ValueError:
        raise ValueError(f"not a cadencia decision id: {decision_id!r}") from None
