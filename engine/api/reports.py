"""GET /v1/reports/results: its query, checked, and the CSV form of its rows."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, timedelta

from engine.errors import Invalid
from models.results import DIMENSIONS, MEASURES

MAX_DAYS = 400  # [flow] results_retention_days' default: a year and a month
PARAMS = ("from", "to", "by", "format")
DEFAULT_BY = ("day", "channel")


@dataclass(frozen=True)
class ResultsQuery:
    start: date
    end: date  # inclusive
    by: tuple[str, ...]
    csv: bool

    @property
    def days(self) -> list[str]:
        return [(self.start + timedelta(days=i)).isoformat() for i in range((self.end - self.start).days + 1)]


def parse(params: dict[str, str], accept: str = "") -> ResultsQuery:
    """The query of `params` (a 422 naming each bad parameter, nothing read)."""
    problems: list[dict[str, object]] = []

    def bad(field: str, message: str) -> None:
        problems.append({"index": 0, "field": field, "message": message})

    for name in params:
        if name not in PARAMS:
            bad(name, f"unknown parameter; the report takes {', '.join(PARAMS)}")
    days: dict[str, date] = {}
    for name in ("from", "to"):
        raw = params.get(name)
        if raw is None:
            bad(name, "required: a date, YYYY-MM-DD (the debtors' local dates)")
            continue
        try:
            days[name] = date.fromisoformat(raw)
        except ValueError:
            bad(name, f"{raw!r} is not a date (YYYY-MM-DD)")
    if len(days) == 2:
        span = (days["to"] - days["from"]).days + 1
        if span < 1:
            bad("to", "must not be before from")
        elif span > MAX_DAYS:
            bad("to", f"at most {MAX_DAYS} days from from")
    named = [b.strip() for b in params.get("by", ",".join(DEFAULT_BY)).split(",") if b.strip()]
    by = tuple(dict.fromkeys(named))  # a dimension named twice groups once
    if any(b not in DIMENSIONS for b in by):
        bad("by", f"a comma-separated list of dimensions among {', '.join(DIMENSIONS)}")
    fmt = params.get("format", "csv" if "text/csv" in accept else "json")
    if fmt not in ("json", "csv"):
        bad("format", "json or csv")
    if problems:
        raise Invalid("the results report's query is not valid", problems)
    return ResultsQuery(days["from"], days["to"], by, fmt == "csv")


def to_csv(rows: list[dict[str, object]], by: tuple[str, ...]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[*by, *MEASURES, "net"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
