"""The API's Redis: one round trip to read, one script to reserve, one to ingest.

Every key comes from `connectors.keys`; every multi-key write is a Lua script on one
hash-tag slot, next to the part of the store that runs it. Commands go through
`connectors.resp` (a multiplexed connection); Redis failures surface as `StoreUnavailable`.
`RedisStore` is the parts together, as redis-py builds its client from command mixins.
"""

from __future__ import annotations

from connectors.store.accounts import ADDRESS_HOLDERS, AccountRow, AccountsStore
from connectors.store.base import (
    CONTACT_KEEP_S,
    CONTACT_WINDOW_S,
    OutcomeUnknown,
    StoreUnavailable,
    log_json,
    partly_applied,
)
from connectors.store.campaigns import CampaignsStore
from connectors.store.decisions import DecisionsStore, Reservation
from connectors.store.events import DEADLETTER_MAXLEN, SCRIPT_EVENTS, EventsStore, Ingest
from connectors.store.experiments import ExperimentsStore
from connectors.store.models import ModelsStore


class RedisStore(AccountsStore, DecisionsStore, CampaignsStore, EventsStore, ModelsStore, ExperimentsStore):
    """The API's store: accounts, decisions, campaigns, events, models and experiments on one
    connection."""


__all__ = [
    "ADDRESS_HOLDERS",
    "CONTACT_KEEP_S",
    "CONTACT_WINDOW_S",
    "DEADLETTER_MAXLEN",
    "SCRIPT_EVENTS",
    "AccountRow",
    "Ingest",
    "OutcomeUnknown",
    "RedisStore",
    "Reservation",
    "StoreUnavailable",
    "log_json",
    "partly_applied",
]
