"""One measurement each: decide at a constant offered rate, saturation with wrk, the Redis
round trip, events ingest at saturation, and the dataflow's lag at a constant event rate."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks import prom, tools, workload
from benchmarks.procs import http_get
from benchmarks.stacks import Engine

NDJSON = "application/x-ndjson"
LAG = "cadencia_flow_lag_seconds"


def open_loop(port: int, path: str, bodies: Path, rate: float, duration_s: float, warmup_s: float,
              mix: Mapping[str, str], cores: Sequence[int] | None,
              occurrences: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`mix`: substring of an answer -> name; how many answers held each is reported.
    `occurrences`: the same, every occurrence counted; both under "mix"."""
    occurrences = occurrences or {}
    r = tools.openloop(port, path, bodies, rate, duration_s, warmup_s=warmup_s, connections=64,
                       needles=list(mix), every=list(occurrences), cores=cores)
    r["mix"] = {mix[k]: v for k, v in r.pop("matches").items()}
    r["mix"] |= {occurrences[k]: v for k, v in r.pop("occurrences", {}).items()}
    return r


def saturation(port: int, path: str, bodies: Path, duration_s: float, mix: Mapping[str, str],
               cores: Sequence[int] | None, occurrences: Mapping[str, str] | None = None) -> dict[str, Any]:
    r = tools.wrk(port, path, bodies, mix, threads=1, connections=32, duration_s=duration_s,
                  occurrences=occurrences, cores=cores)
    r["matches"] |= r.pop("occurrences", {})
    return r


def redis_limits(port: int, hgetall_key: str, cores: Sequence[int] | None) -> dict[str, Any]:
    return {
        "get": tools.redis_benchmark(port, ("get",), 50_000, cores),
        "hgetall": tools.redis_benchmark(port, ("hgetall", hgetall_key), 50_000, cores),
        "set_pipelined16": tools.redis_benchmark_pipelined(port, cores),
    }


def _lag_buckets(port: int) -> dict[float, float]:
    status, body = http_get(port, "/metrics")
    if status != 200:
        raise RuntimeError(f"GET /metrics answered {status}")
    return prom.buckets(body.decode(), LAG)


def flow_lag(engine: Engine, events: workload.EventCursor, events_per_s: float, batch: int,
             duration_s: float, cores: Sequence[int] | None, catch_up_s: float = 60.0) -> dict[str, Any]:
    """Offer `events_per_s` in batches at a constant rate with the dataflow running, then
    wait until it has observed every accepted event; the lag quantiles come from the
    difference of the histogram across the run, so earlier phases do not count."""
    n_batches = math.ceil(events_per_s / batch * duration_s)
    bodies = events.take(n_batches, batch)
    before = _lag_buckets(engine.port)
    r = tools.openloop(engine.port, "/v1/events", bodies, events_per_s / batch, duration_s, warmup_s=0.0,
                       connections=8, max_requests=n_batches, content_type=NDJSON, ndjson_batches=True,
                       needles=('"duplicates":0',), cores=cores)
    ended = time.monotonic()
    _all_accepted(r, "flow lag")
    accepted = r["ok"] * batch
    d: dict[float, float] = {}
    while time.monotonic() - ended < catch_up_s:
        d = prom.delta(_lag_buckets(engine.port), before)
        if prom.count(d) >= accepted:
            break
        time.sleep(0.2)
    caught_up = time.monotonic() - ended
    p50, p99 = prom.quantile(0.50, d), prom.quantile(0.99, d)
    return {
        "offered_events_per_s": events_per_s, "batch": batch,
        "achieved_events_per_s": r["achieved_rate"] * batch,
        "accepted": accepted, "observed": prom.count(d), "caught_up_s": round(caught_up, 3),
        "lag_p50_ms": None if p50 is None else p50 * 1000, "lag_p99_ms": None if p99 is None else p99 * 1000,
        "lag_buckets": {str(k): v for k, v in d.items()},
        "post": r,
    }


def ingest(engine: Engine, events: workload.EventCursor, batch: int, duration_s: float,
           warmup_s: float, connections: int, cores: Sequence[int] | None,
           ceiling_events_per_s: float = 40_000) -> dict[str, Any]:
    """Closed loop: `connections` gateways POST batches back to back; every event is new."""
    n_batches = math.ceil(ceiling_events_per_s * (duration_s + warmup_s) / batch)
    bodies = events.take(n_batches, batch)
    r = tools.openloop(engine.port, "/v1/events", bodies, 0, duration_s, warmup_s=warmup_s,
                       connections=connections, max_requests=n_batches, content_type=NDJSON,
                       ndjson_batches=True, needles=('"duplicates":0',), cores=cores)
    _all_accepted(r, "ingest")
    return {"batch": batch, "connections": connections, "events_per_s": r["achieved_rate"] * batch,
            "batches_without_duplicates": r["matches"]['"duplicates":0'], "post": r,
            "bodies_exhausted": r["sent"] >= n_batches}


def _all_accepted(r: Mapping[str, Any], stage: str) -> None:
    """Every batch answered 202: a refused one (stale events, say) must fail the stage, not
    pass for a fast one."""
    if r["ok"] < r["completed"]:
        raise RuntimeError(f"{stage}: {r['completed'] - r['ok']} of {r['completed']} event batches refused")


def _bucket_mid_us(lo: int) -> float:
    """The middle of openloop's histogram bucket starting at `lo` µs: exact below 128 µs,
    then 64 buckets per octave (as `bucket_mid` in loadgen/openloop.c)."""
    if lo < 128:
        return float(lo)
    width = 1 << (lo.bit_length() - 1 - 6)
    return lo + (width - 1) / 2


def merged_latency(runs: Sequence[Mapping[str, Any]], key: str = "latency_ms") -> dict[str, Any]:
    """p50/p90/p99/p99.9/max of several open-loop runs' histograms added up (as openloop
    computes them: the middle of the bucket holding the rank, never above the max)."""
    counts: dict[int, int] = {}
    for r in runs:
        for lo, n in r[key]["histogram_us"]:
            counts[lo] = counts.get(lo, 0) + n
    total = sum(counts.values())
    max_ms = max((r[key]["max"] for r in runs), default=0.0)
    out: dict[str, Any] = {"n": total, "max": max_ms}
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)):
        rank, seen, value = max(1, math.ceil(q * total)), 0, None
        for lo in sorted(counts):
            seen += counts[lo]
            if seen >= rank:
                value = min(_bucket_mid_us(lo) / 1000, max_ms)
                break
        out[name] = value
    return out
