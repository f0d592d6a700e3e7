"""A contact a policy decided: what the world acts on at `send_at`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass
class Contact:
    account_id: str
    channel: str
    point_id: str
    send_at: datetime  # aware
    template: str | None = None
    carrier: str | None = None
    decision_id: str | None = None
    note: Any = None  # the policy's own bookkeeping (the VW example it learns from)
    reminder: bool = False  # the promise reminder the rules allow
    address: str | None = None  # the number or address, for a policy that routes at send time
