"""What each log record adds to the results report: contacts, deliveries, engagement, promises,
payments, opt-outs and cost, by day × channel × template × segment × carrier × campaign × experiment arm.

Pure: `contributions` reads an account's attribution state before and after a record (the
same join the models learn from, `models.attribution`), so an outcome is credited to the
contact it answers. The dataflow sums the contributions per day (`engine/flow/results.py`)
and writes the totals; `GET /v1/reports/results` reads them, never the accounts.

- A day is the debtor's local date: of the send for a contact, of the event for an outcome.
- A contact counts when it is decided (a dialer's lead: when its first outcome is reported; a
  lead no call was reported for is no contact), and comes off again when it is cancelled.
- An outcome with no open decision to answer (a payment weeks later, a call the dialer placed
  on its own) counts in a cell of its own channel and carrier, template and campaign "-", and
  the experiment arm of the account's latest decision.
- Amounts are in the base currency ([money]); cost is the contact's price as the engine
  reckoned it when deciding.
"""

from __future__ import annotations

from datetime import datetime

from features.account import zone
from features.outcomes import classify, is_optout_reply
from features.records import AccountRecord, CancelRecord, DecisionRecord, Event, Record
from models.attribution import Attribution, Open, answered, reached

DIMENSIONS = ("day", "channel", "template", "segment", "carrier", "campaign", "arm")
COUNTS = ("contacts", "deliveries", "engaged", "promises", "payments", "optouts")
AMOUNTS = ("cost", "promised", "paid")
MEASURES = COUNTS + AMOUNTS
NONE = "-"

Cell = tuple[str, str, str, str, str, str, str]  # one value per DIMENSIONS
Contribution = tuple[Cell, str, float]  # a cell, one of MEASURES, what to add


def local_date(ts: float, timezone: str) -> str:
    return datetime.fromtimestamp(ts, zone(timezone)).date().isoformat()


def _decision_cell(d: DecisionRecord, day: str, segment: str) -> Cell:
    return (day, d.channel, d.template or NONE, segment, d.carrier or NONE, d.campaign or NONE, d.arm or NONE)


def contributions(
    before: Attribution,
    after: Attribution,
    record: Record,
    account: AccountRecord | None,
    timezone: str,
    arm: str | None = None,
) -> list[Contribution]:
    """`arm`: the account's experiment arm (its latest decision's), for outcomes that answer
    no contact."""
    segment = (account.segment if account else None) or NONE
    if isinstance(record, DecisionRecord):
        if record.lease:
            return []  # counted once the dialer reports the call
        return _contact(record, segment, timezone, 1)
    if isinstance(record, CancelRecord):
        o = before.open.get(record.decision_id)
        if o is None or (o.decision.lease and not o.reported):
            return []
        return _contact(o.decision, segment, timezone, -1)
    if not isinstance(record, Event):
        return []
    target = answered(before, record)
    now = after.open.get(target.decision.decision_id) if target else None
    day = local_date(record.ts, timezone)
    out: list[Contribution] = []
    if target is not None:
        cell = _decision_cell(target.decision, day, segment)
        if target.decision.lease and not target.reported:
            out += _contact(target.decision, segment, timezone, 1)
        delivered_now = now is not None and now.delivered and not target.delivered
        engaged_now = _engaged(target, now)
    else:
        cell = (day, record.channel or NONE, NONE, segment, record.carrier or NONE, NONE, arm or NONE)
        delivered_now = reached(record)
        engaged_now = classify(record).response
    if delivered_now:
        out.append((cell, "deliveries", 1.0))
    if engaged_now:
        out.append((cell, "engaged", 1.0))
    rate = account.rate if account else 1.0
    if record.type == "promise":
        out += [(cell, "promises", 1.0), (cell, "promised", (record.amount or 0.0) * rate)]
    elif record.type == "payment":
        out += [(cell, "payments", 1.0), (cell, "paid", (record.amount or 0.0) * rate)]
    elif record.type in ("optout", "dispute") or is_optout_reply(record):
        out.append((cell, "optouts", 1.0))
    return out


def _contact(d: DecisionRecord, segment: str, timezone: str, sign: int) -> list[Contribution]:
    cell = _decision_cell(d, local_date(d.send_at, timezone), segment)
    return [(cell, "contacts", float(sign)), (cell, "cost", sign * d.cost)]


def _engaged(before: Open, now: Open | None) -> bool:
    """The contact got its first response: counted once per contact, whatever follows."""
    return now is not None and now.responded and not before.responded


Cells = dict[tuple[str, ...], list[float]]  # a day's cells: the other dimensions -> MEASURES


def report(days: dict[str, Cells], by: tuple[str, ...]) -> tuple[list[dict[str, object]], dict[str, float]]:
    """The rows of `days` grouped by the dimensions `by` (in that order), and the totals.
    Each row: its dimensions, every measure, and net (paid − cost)."""
    at = [DIMENSIONS.index(b) for b in by]
    grouped: Cells = {}
    for day, cells in days.items():
        for dims, totals in cells.items():
            full = (day, *dims)
            key = tuple(full[i] for i in at)
            into = grouped.setdefault(key, [0.0] * len(MEASURES))
            for i, v in enumerate(totals):
                into[i] += v
    rows = [{**dict(zip(by, key, strict=True)), **_measures(grouped[key])} for key in sorted(grouped)]
    whole = [sum(t[i] for t in grouped.values()) for i in range(len(MEASURES))]
    return rows, _measures(whole)


def _measures(totals: list[float]) -> dict[str, float]:
    out: dict[str, float] = {m: round(totals[i]) for i, m in enumerate(COUNTS)}
    out.update({m: round(totals[len(COUNTS) + i], 4) for i, m in enumerate(AMOUNTS)})
    out["net"] = round(out["paid"] - out["cost"], 4)
    return out
