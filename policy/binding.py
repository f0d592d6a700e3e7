"""Which facts of an event must bind the very next decision. The API applies these ops in
the same atomic step that appends the event to the log (connectors/store/ingest.lua).

A promise, payment, opt-out or dispute revokes whatever reservation is live (`release` with
a reason): a dialer holding that lease is refused when it asks to route the call."""

from __future__ import annotations

from typing import Any

import orjson

from features.outcomes import classify, is_optout_reply, reply_intent
from features.records import Event


def ops_for(event: Event) -> list[list[Any]]:
    t = event.type
    ops: list[list[Any]]
    if t == "optout" or is_optout_reply(event):
        ops = [["optout", event.channel or "*", event.ts], ["release", "", "optout"]]
        if t == "reply" and event.channel:  # a STOP reply is still a direct contact (CO)
            ops.append(["direct", event.ts, event.channel])
        return ops
    if t == "promise":
        doc = orjson.dumps({"amount": event.amount, "due_date": event.due_date, "ts": event.ts})
        return [["promise", doc.decode(), event.ts], ["release", "", "promise"]]
    if t == "payment":
        return [["pay", event.amount], ["release", "", "payment"]]
    if t == "dispute":
        return [["dispute", event.ts], ["release", "", "dispute"]]
    ops = []
    intent = reply_intent(event)
    if intent is not None:  # journeys may follow what the debtor said (hardship: an agent)
        ops.append(["intent", event.ts, intent])
    outcome = classify(event)
    if outcome.right_party:  # a telephone conversation with the debtor (US: 7 quiet days)
        ops.append(["conversation", event.ts])
    if (outcome.right_party or t == "reply") and event.channel:  # a direct contact (CO)
        ops.append(["direct", event.ts, event.channel])
    if event.decision_id and outcome.terminal:
        ops.append(["release", event.decision_id])
    return ops
