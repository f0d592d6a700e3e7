"""The module names recovery stores written before engine/ had rooms refer to.

Bytewax pickles the flow's state into the recovery store; a pickle names each class by its
module. The per-account and queue states lived in `engine.dataflow`, the log's records in
`connectors.redis_log`: a store written then still resumes, as those names resolve here."""

from __future__ import annotations

import sys
import types

from connectors.store import log
from engine.flow.accounts import AccountState
from engine.flow.queues import QueueState


def install() -> None:
    """Make the old module names importable (by the unpickler), pointing at the new homes."""
    if "engine.dataflow" not in sys.modules:
        old = types.ModuleType("engine.dataflow", "renamed: engine.flow (see engine/flow/compat.py)")
        old.AccountState = AccountState  # type: ignore[attr-defined]
        old.QueueState = QueueState  # type: ignore[attr-defined]
        sys.modules["engine.dataflow"] = old
    sys.modules.setdefault("connectors.redis_log", log)
