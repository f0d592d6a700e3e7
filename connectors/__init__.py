"""Everything that talks to the outside: Redis, the event log, vendor formats."""
