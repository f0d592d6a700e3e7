r"""The Redis key scheme, version 1: every key cadencia writes is built here.

The scheme (types, writers, expiry) is documented beside this file in `KEYS.md`.
"""

from __future__ import annotations

import zlib

PREFIX = "cad:v1"
MODEL_TAG = "{m}"  # every model key shares one slot: publishing is one script
MODEL_VERSION = f"{PREFIX}:{MODEL_TAG}:model:current"  # the version API processes serve
MODEL_INDEX = f"{PREFIX}:{MODEL_TAG}:model:index"  # zset: version by publication time (UNIX s)
MODEL_FRONTIER = f"{PREFIX}:{MODEL_TAG}:model:frontier"  # "event time|version": learned up to
FLOW_OFFSETS = f"{PREFIX}:flow:offsets"
QUEUES_FRONTIER = f"{PREFIX}:flow:queued"  # hash shard -> event time its campaign changes are placed by
FLOW_INSTANCE = f"{PREFIX}:flow:instance"  # the id stamped on the dataflow's recovery store
FLOW_FRONTIER = f"{PREFIX}:flow:frontier"  # hash shard -> event time every lesson of it has been read by
DEADLETTER = f"{PREFIX}:deadletter"
CAMPAIGNS = f"{PREFIX}:campaigns"  # hash: campaign id -> definition JSON
CAMPAIGNS_VERSION = f"{PREFIX}:campaigns:version"
EXPERIMENTS = f"{PREFIX}:experiments"  # hash: experiment id -> definition JSON
EXPERIMENTS_VERSION = f"{PREFIX}:experiments:version"
# an account's other keys: its hash's key with one of these suffixes
CONTACTS, SEEN, TIMELINE = ":c", ":e", ":t"
SEEN_WINDOW = ":ez"  # zset: event ids applied, by event time, kept for the dedup window
ROUTE_TAG = "{rt}"  # carrier rate counters and probe slots: one slot, read by every route


def results(day: str) -> str:
    """One day's results report (hash): cell (JSON of its dimensions) -> totals (JSON)."""
    return f"{PREFIX}:results:{day}"


def model(version: str) -> str:
    """One published model: its data and how it came to be (hash)."""
    return f"{PREFIX}:{MODEL_TAG}:model:v:{version}"


def carrier_second(carrier: str, second: int) -> str:
    return f"{PREFIX}:{ROUTE_TAG}:cps:{carrier}:{second}"


def probe_slot(carrier: str, network: str, interval: int) -> str:
    return f"{PREFIX}:{ROUTE_TAG}:probe:{carrier}:{network}:{interval}"


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
        self._account_prefix = [f"{PREFIX}:{tag(s)}:a:" for s in range(shards)]

    def shard(self, account_id: str) -> int:
        return shard_of(account_id, self.shards)

    def account(self, account_id: str) -> str:
        return self._account_prefix[zlib.crc32(account_id.encode()) % self.shards] + account_id

    def contacts(self, account_id: str) -> str:
        return self.account(account_id) + CONTACTS

    def seen(self, account_id: str) -> str:
        return self.account(account_id) + SEEN

    def timeline(self, account_id: str) -> str:
        return self.account(account_id) + TIMELINE

    def decision(self, decision_id: str) -> str:
        return f"{PREFIX}:{tag(decision_shard(decision_id))}:d:{decision_id}"

    def address_index(self, address: str) -> str:
        """The hash that maps `address` (normalised: connectors/addresses.py) to its accounts;
        one per bucket, the bucket chosen by the address itself."""
        return f"{PREFIX}:{tag(shard_of(address, self.shards))}:addr"

    def account_index(self, shard: int) -> str:
        return f"{PREFIX}:{tag(shard)}:accounts"

    def queue(self, campaign: str, shard: int) -> tuple[str, str, str]:
        """A campaign's lead queue in one shard: (ready zset, held zset, priority hash)."""
        base = f"{PREFIX}:{tag(shard)}:q:{campaign}"
        return base + ":ready", base + ":held", base + ":prio"

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
