"""A steady-state portfolio for the speed suite (issue 15): the suite's accounts, and the
dialer campaign's, after `days` simulated days of activity through the HTTP contract.

Each simulated day every account is decided once (batches of 1,000, at 10:00 local), and what
a collection day brings is posted back: the message delivered, read by half, a reply from one
in ten, a promise from one in ten readers (due three days later) and a payment from half of
those, an opt-out from one in 200 (of the channel), an answered or unanswered call on a voice
decision; dialer accounts get their call outcomes. Accounts so come to hold weeks of contacts,
waits, promises, payments and opt-outs, and the model has learned from all of it. Then the
request cursors move past the aged days (`advance`) and the suite measures again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import orjson

from benchmarks import stacks, workload

BATCH = 1000


def _day_events(acct: str, n: int, day: int, decision: dict[str, Any], at: datetime) -> list[dict[str, Any]]:
    """One account's outcomes of one day's decision (deterministic in account and day)."""
    if decision.get("action") != "contact":
        return []
    h = (n * 7919 + day * 104729) % 1000
    channel = decision["channel"]
    base = {"account_id": acct, "decision_id": decision["decision_id"], "channel": channel,
            "contact_point_id": decision["contact_point_id"]}
    ts = [(at + timedelta(minutes=m)).isoformat() for m in (1, 20, 40, 60, 90)]
    tag = f"st-{acct}-{day}"
    if channel in ("voice", "ivr"):
        status = "answered" if h % 3 == 0 else "no_answer"
        out = [base | {"event_id": f"{tag}-c", "ts": ts[0], "type": "call", "status": status}]
    else:
        out = [base | {"event_id": f"{tag}-d", "ts": ts[0], "type": "message", "status": "delivered"}]
        if h % 2 == 0:
            out.append(base | {"event_id": f"{tag}-r", "ts": ts[1], "type": "message", "status": "read"})
    if h % 10 == 0:
        out.append(base | {"event_id": f"{tag}-t", "ts": ts[2], "type": "reply", "text": "pago el viernes"})
    if h % 20 == 0:
        due = (at + timedelta(days=3)).date().isoformat()
        out.append({"event_id": f"{tag}-p", "ts": ts[3], "type": "promise", "account_id": acct,
                    "amount": 300.0, "due_date": due})
    if h % 40 == 0:
        out.append({"event_id": f"{tag}-$", "ts": ts[4], "type": "payment", "account_id": acct,
                    "amount": 300.0})
    if h % 200 == 7:
        out.append({"event_id": f"{tag}-o", "ts": ts[4], "type": "optout", "account_id": acct,
                    "channel": channel})
    return out


def _decide_day(port: int, ids: list[str], at: datetime, channels: list[str] | None) -> list[dict[str, Any]]:
    def bodies() -> Iterator[bytes]:
        for start in range(0, len(ids), BATCH):
            reqs = [{"account_id": a, "now": at.isoformat(), **({"channels": channels} if channels else {})}
                    for a in ids[start : start + BATCH]]
            yield orjson.dumps(reqs)

    answers = stacks.send_all(port, "POST", "/v1/decide", bodies(), 200)
    return [a for body in answers for a in orjson.loads(body)]


def age(engine: stacks.Engine, accounts: int, dialer_accounts: int, days: int, start: datetime,
        log: Callable[[str], None]) -> dict[str, Any]:
    """`days` days of activity from `start` on the suite's accounts and the dialer's."""
    started = time.monotonic()
    portfolios = (
        ([workload.account_id(i) for i in range(accounts)], None),
        ([workload.dialer_account_id(i) for i in range(dialer_accounts)], ["voice"]),
    )
    counts = {"decisions": 0, "contacts": 0, "events": 0}
    for day in range(days):
        at = start + timedelta(days=day)
        events: list[dict[str, Any]] = []
        for ids, channels in portfolios:
            if not ids:
                continue
            decided = _decide_day(engine.port, ids, at, channels)
            counts["decisions"] += len(decided)
            for a in decided:
                if a.get("action") == "contact":
                    counts["contacts"] += 1
                    n = int("".join(c for c in a["account_id"] if c.isdigit()) or 0)
                    events += _day_events(a["account_id"], n, day, a, at)
        counts["events"] += len(events)
        batches = (orjson.dumps(events[i : i + BATCH]) for i in range(0, len(events), BATCH))
        stacks.send_all(engine.port, "POST", "/v1/events", batches, 202)
        if day % 10 == 9 or day == days - 1:
            log(f"steady state: {day + 1}/{days} days aged, {counts}")
    flow_s = stacks.wait_flow_idle(engine, timeout_s=900.0)
    return {"days": days, "accounts": accounts, "dialer_accounts": dialer_accounts, **counts,
            "elapsed_s": round(time.monotonic() - started, 1), "flow_idle_after_s": round(flow_s, 1)}


def first_free_day(cursors: list[Any]) -> datetime:
    """The first day after every `now` the cursors have handed out (10:00 local)."""
    passes = max(math.ceil(c.k / max(1, c.per_pass)) for c in cursors)
    return workload.BASE_NOW + timedelta(days=workload.PASS_DAYS * (passes + 1))


def advance(cursors: list[Any], past: datetime) -> None:
    """Move every cursor to the first pass whose `now` is after `past` (and a lock's length)."""
    pass_no = math.ceil((past - workload.BASE_NOW) / timedelta(days=workload.PASS_DAYS)) + 1
    for c in cursors:
        c.k = max(c.k, pass_no * c.per_pass)
