"""What every part of the API's store shares: the connection, one round trip under one
deadline, the Lua scripts (each next to the part that runs it), the errors Redis failures
surface as, and the log's record format."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any, Self

import orjson

from connectors import keys as K
from connectors.resp import NoScript, NotConnected, RespClient, RespError
from features.records import KIND_OF, Record

if TYPE_CHECKING:
    from connectors.store.decisions import Reservation

# The frequency rules look at most 7 days either side of a candidate contact. Decisions read
# the contacts from 8 days before their `now` on; each account keeps its contacts up to 15
# days behind its own newest one, so a request whose `now` is no more than 8 days before the
# account's newest contact finds every contact its rules need (engine.decisions.decide refuses
# earlier).
CONTACT_WINDOW_S = 8 * 86400
CONTACT_KEEP_S = 15 * 86400


class StoreUnavailable(Exception):
    """Redis did not answer or refused a command; nothing of it was applied."""


class OutcomeUnknown(StoreUnavailable):
    """A write left for Redis and no answer came back (a timeout, a lost connection): it may
    or may not have been applied. Retrying is safe (events and cancels are idempotent, a
    decide with the same `request_id` answers the same decision).

    `unsettled`: reservations the write may have made that nobody can claim (no request_id),
    for the caller to take back once Redis answers again."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.unsettled: list[Reservation] = []  # connectors.store.decisions.Reservation


# each next to the part of the store that runs it (connectors/store/<name>.lua)
def partly_applied(exc: StoreUnavailable, what: str, unsettled: Sequence[Reservation] = ()) -> OutcomeUnknown:
    """A Redis failure after earlier round trips of the same request were applied (`what`):
    whatever it was, the request's outcome is unknown to its caller, so it says so (retrying is
    safe). The reservations nobody can claim go with it, the failure's own ones too."""
    out = OutcomeUnknown(f"{exc} ({what})")
    out.unsettled = [*unsettled, *getattr(exc, "unsettled", [])]
    return out


SCRIPTS = (
    "ingest",
    "reserve",
    "cancel",
    "confirm",
    "upsert",
    "take_route",
    "pull",
    "claim",
    "enqueue",
    "park",
    "address",
)


def _sha1(source: str) -> str:
    return hashlib.sha1(source.encode()).hexdigest()


def _script(name: str) -> str:
    return resources.files("connectors.store").joinpath(f"{name}.lua").read_text()


def log_json(record: Record, accepted: float | None = None) -> bytes:
    """The record as a flat JSON object with its kind `k` and acceptance time `acc`.

    orjson serialises the dataclass natively; the two envelope fields are spliced in front
    rather than building an intermediate dict (this runs for every event ingested)."""
    head = b'{"k":"%s","acc":%s,' % (
        KIND_OF[type(record)].encode(),
        orjson.dumps(time.time() if accepted is None else accepted),
    )
    return head + orjson.dumps(record)[1:]


Command = tuple[Any, ...]


def _pairs(flat: list[Any]) -> dict[bytes, Any]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


class StoreBase:
    def __init__(
        self,
        client: RespClient,
        shards: int,
        log_maxlen: int = 1_000_000,
        timeout_s: float = 2.0,
        dedup_days: float = 14.0,
        decision_days: float = 10.0,
    ) -> None:
        self.r = client
        self.keys = K.Keys(shards)
        self.log_maxlen = log_maxlen
        self.dedup_s = dedup_days * 86400
        self.decision_ttl = int(decision_days * 86400)
        self.timeout_s = timeout_s
        self._sources = {name: _script(name) for name in SCRIPTS}
        self._sha = {name: _sha1(src) for name, src in self._sources.items()}
        # Accounts known to exist. No endpoint deletes accounts, so an id once seen stays true;
        # a miss asks Redis. Bounded: cleared when full (a deletion endpoint must clear it too).
        self._known: set[str] = set()
        self.known_limit = 500_000

    @classmethod
    def from_url(cls, url: str, shards: int, **kw: Any) -> Self:
        return cls(RespClient(url), shards, **kw)

    async def close(self) -> None:
        await self.r.close()

    def _eval(self, name: str, keys: list[str], args: list[Any]) -> Command:
        return ("EVALSHA", self._sha[name], len(keys), *keys, *args)

    async def _run(self, commands: list[Command], writes: bool = False) -> list[Any]:
        """One round trip under one deadline. Scripts missing from Redis (a restart, SCRIPT
        FLUSH) are loaded and the commands sent again: safe, as NOSCRIPT means the script
        did not run (every other command of ours is a read or an idempotent write).

        `writes`: the commands change data, so a timeout or a connection lost once they were
        sent is `OutcomeUnknown`, not "nothing applied"."""
        for attempt in (1, 2):
            try:
                return await self.r.execute(commands, self.timeout_s)
            except NoScript:
                if attempt == 2:
                    raise StoreUnavailable("redis keeps forgetting cadencia's scripts") from None
                await self.r.execute([("SCRIPT", "LOAD", src) for src in self._sources.values()])
            except NotConnected as exc:
                raise StoreUnavailable(f"redis: {exc}") from exc
            except (TimeoutError, OSError) as exc:
                if writes:
                    raise OutcomeUnknown(
                        f"redis: {exc or type(exc).__name__} after the write was sent"
                    ) from exc
                raise StoreUnavailable(f"redis: {exc or type(exc).__name__}") from exc
            except RespError as exc:
                raise StoreUnavailable(f"redis: {exc}") from exc
        raise AssertionError("unreachable")

    # definitions (campaigns, experiments): a hash of id -> JSON and a counter bumped on every
    # change, which API processes poll before reading the hash again

    async def _put_definition(self, table: tuple[str, str], name: str, definition: bytes) -> None:
        await self._run([("HSET", table[0], name, definition), ("INCR", table[1])], writes=True)

    async def _delete_definition(self, table: tuple[str, str], name: str) -> bool:
        removed, _version = await self._run([("HDEL", table[0], name), ("INCR", table[1])], writes=True)
        return bool(removed)

    async def _definitions(self, table: tuple[str, str]) -> tuple[int, dict[str, bytes]]:
        version, flat = await self._run([("GET", table[1]), ("HGETALL", table[0])])
        return int(version or 0), {k.decode(): v for k, v in _pairs(flat).items()}

    async def _definitions_version(self, table: tuple[str, str]) -> int:
        (version,) = await self._run([("GET", table[1])])
        return int(version or 0)

    async def ping(self) -> bool:
        try:
            return (await self._run([("PING",)]))[0] == b"PONG"
        except StoreUnavailable:
            return False


def _flat(fields: dict[str, bytes | str]) -> list[bytes | str]:
    return [x for pair in fields.items() for x in pair]


def _same_shard(decision_id: str, shard: int) -> bool:
    try:
        return K.decision_shard(decision_id) == shard
    except ValueError:
        return False
