"""`python -m engine.flow.main`: the dataflow process (`cadencia run` starts and supervises it).

Recovery is always on: Bytewax snapshots every account's state, the learner and the log
positions together each epoch into a store under the data directory (`[server] data_dir`,
`flow/`; `[flow] state_dir` or `--flow-state-dir` moves it), so a crash or a restart resumes
exactly where the last snapshot was: no event applied twice, no example learned twice.

The store follows one Redis: it is stamped with an id kept in Redis too, and the flow refuses
to start on a store and a Redis that do not belong together (a flushed or replaced Redis, a
store copied from elsewhere), rather than skip or repeat the log.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import sys
from datetime import timedelta
from pathlib import Path

import redis
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.run import cli_main

from connectors import keys as K
from engine.flow import compat
from engine.flow.dataflow import build_flow
from engine.settings import Settings, settings_from_env

# the exit code when starting would be wrong (a recovery store of another Redis): restarting
# cannot help, so `cadencia run` stops with it
REFUSED = 3

compat.install()  # before any snapshot is read
log = logging.getLogger("cadencia.flow")
STAMP = "cadencia-redis-id"
PARTS = 1  # recovery partitions: one per worker process (one here)
HELD = "held-lessons.db"  # the learner's held lessons (connectors/held.py), beside Bytewax's store


class StoreMismatch(RuntimeError):
    pass


def _exit_quietly(_signum: int, _frame: object) -> None:
    # Bytewax turns a signal into a panic with a long trace. Stopping between snapshots is
    # what recovery is for, and every Redis write of the flow is idempotent: just leave.
    os._exit(0)


def state_dir(settings: Settings) -> Path:
    explicit = os.environ.get("CADENCIA_FLOW_STATE_DIR") or settings.flow.state_dir
    return Path(explicit) if explicit else Path(settings.server.data_dir) / "flow"


def prepare_store(path: Path, client: redis.Redis) -> None:
    """Create the recovery store, or check that it belongs to this Redis."""
    stamp = path / STAMP
    in_redis = client.get(K.FLOW_INSTANCE)
    if stamp.exists():
        mine = stamp.read_bytes().strip()
        if in_redis != mine:
            raise StoreMismatch(
                f"the dataflow's recovery store {path} follows another Redis (or this one was "
                "flushed): resuming would skip or repeat its log. Move the store away to start "
                "the dataflow over from the log, or point it at the Redis it belongs to"
            )
        return
    if in_redis is not None and client.exists(K.FLOW_OFFSETS):
        raise StoreMismatch(
            f"Redis holds the work of a dataflow but its recovery store is not at {path}: "
            "restore the store (or set [flow] state_dir to where it is); starting over would "
            "learn every example again"
        )
    path.mkdir(parents=True, exist_ok=True)
    if not any(p.suffix == ".sqlite3" for p in path.iterdir()):
        init_db_dir(path, PARTS)
    ident = secrets.token_hex(16).encode()
    client.set(K.FLOW_INSTANCE, ident)
    stamp.write_bytes(ident)


def main() -> None:
    signal.signal(signal.SIGTERM, _exit_quietly)
    signal.signal(signal.SIGINT, _exit_quietly)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s dataflow %(levelname)s %(message)s")
    settings, url = settings_from_env()
    path = state_dir(settings)
    with redis.Redis.from_url(url) as client:
        try:
            prepare_store(path, client)
        except StoreMismatch as exc:
            log.error("%s", exc)
            sys.exit(REFUSED)
    cli_main(
        build_flow(settings, url, held_path=path / HELD),
        workers_per_process=1,
        epoch_interval=timedelta(seconds=settings.flow.epoch_interval_s),
        recovery_config=RecoveryConfig(str(path)),
    )


if __name__ == "__main__":
    main()
