"""`python -m engine.flowmain`: the dataflow process (`cadencia run` starts and supervises it)."""

from __future__ import annotations

import logging
import os
import signal
from datetime import timedelta
from pathlib import Path

from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.run import cli_main

from engine.asgi import settings_from_env
from engine.dataflow import build_flow


def _exit_quietly(_signum: int, _frame: object) -> None:
    # Bytewax turns a signal into a panic with a long trace. Stopping between snapshots is
    # what recovery is for, and every Redis write of the flow is idempotent: just leave.
    os._exit(0)


def main() -> None:
    signal.signal(signal.SIGTERM, _exit_quietly)
    signal.signal(signal.SIGINT, _exit_quietly)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s dataflow %(levelname)s %(message)s")
    settings, url = settings_from_env()
    recovery = None
    state_dir = os.environ.get("CADENCIA_FLOW_STATE_DIR") or settings.flow.state_dir
    if state_dir:
        path = Path(state_dir)
        if not path.exists() or not any(path.iterdir()):
            path.mkdir(parents=True, exist_ok=True)
            init_db_dir(path, 1)
        recovery = RecoveryConfig(str(path))
    flow = build_flow(settings, url)
    cli_main(
        flow,
        workers_per_process=1,
        epoch_interval=timedelta(seconds=settings.flow.epoch_interval_s),
        recovery_config=recovery,
    )


if __name__ == "__main__":
    main()
