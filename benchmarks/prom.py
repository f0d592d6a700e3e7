"""Prometheus histograms read from /metrics text: bucket counts, differences between two
scrapes, and quantiles interpolated inside the bucket as `histogram_quantile` does."""

from __future__ import annotations

import math
import re

_BUCKET = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)_bucket\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)')
_LE = re.compile(r'le="(?P<le>[^"]+)"')


def buckets(text: str, name: str, label: str | None = None) -> dict[float, float]:
    """Cumulative counts by upper bound, summed over every label set of the series (or those
    holding `label`, such as 'kind="decide"')."""
    out: dict[float, float] = {}
    for line in text.splitlines():
        m = _BUCKET.match(line)
        if not m or m["name"] != name or (label is not None and label not in m["labels"]):
            continue
        le = _LE.search(m["labels"])
        if le is None:
            continue
        bound = math.inf if le["le"] == "+Inf" else float(le["le"])
        out[bound] = out.get(bound, 0.0) + float(m["value"])
    return out


def delta(after: dict[float, float], before: dict[float, float]) -> dict[float, float]:
    return {le: after[le] - before.get(le, 0.0) for le in after}


def count(cumulative: dict[float, float]) -> float:
    return cumulative.get(math.inf, 0.0)


def quantile(q: float, cumulative: dict[float, float]) -> float | None:
    """Like PromQL histogram_quantile: linear inside the bucket that holds rank q*count; the
    first bucket starts at 0; a rank in the +Inf bucket answers the highest finite bound
    (so it reads "at least"). None when the histogram is empty."""
    bounds = sorted(cumulative)
    total = count(cumulative)
    if total <= 0 or not bounds:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for le in bounds:
        c = cumulative[le]
        if c >= rank:
            if math.isinf(le):
                return lower
            if c == below:
                return le
            return lower + (le - lower) * (rank - below) / (c - below)
        lower, below = le, c
    return lower
