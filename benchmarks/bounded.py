"""Long batches while others wait: the speed suite's bounded-work stage (issue 15).

The largest batch the API accepts (`[server] max_batch_items`, 1,000 items) of each kind,
decide, events and accounts, is sent back to back for a few seconds while a second client asks
`/healthz` every 20 ms on its own connection. Measured for each kind: the batches' times, the
`/healthz` latency (p50, p99, max; goal p99 < 50 ms), and the API event loop's lag from its own
histogram (`cadencia_event_loop_lag_seconds`, a timer every 50 ms: how long a step of work held
the loop; goal ~5 ms), read as the difference of two scrapes. A batch is worked in slices
(`[server] slice_items` decisions, 64 events, 64 accounts) with the loop free in between.
"""

from __future__ import annotations

import http.client
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson

from benchmarks import prom, workload
from benchmarks.procs import http_get, http_send

BATCH = 1000
HEALTH_EVERY_S = 0.02
GOALS = {"healthz_p99_ms": 50.0, "loop_step_ms": 5.0}


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


class HealthProbe:
    """Ask /healthz every HEALTH_EVERY_S on one kept-alive connection, in a thread."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.latencies: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while not self._stop.is_set():
            t = time.perf_counter()
            try:
                conn.request("GET", "/healthz")
                resp = conn.getresponse()
                resp.read()
                ok = resp.status == 200
            except OSError:
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            elapsed = time.perf_counter() - t
            if ok:
                self.latencies.append(elapsed)
            else:
                self.failures += 1
            self._stop.wait(max(0.0, HEALTH_EVERY_S - elapsed))
        conn.close()


def _scrape(port: int, kind: str) -> tuple[dict[float, float], dict[float, float], dict[float, float]]:
    """The loop-lag histogram, and the CPU of this kind's slices and of whole-body validation."""
    _status, raw = http_get(port, "/metrics")
    text = raw.decode()
    return (
        prom.buckets(text, "cadencia_event_loop_lag_seconds"),
        prom.buckets(text, "cadencia_batch_slice_cpu_seconds", f'kind="{kind}"'),
        prom.buckets(text, "cadencia_batch_slice_cpu_seconds", 'kind="validate"'),
    )


def _summary(h: dict[float, float]) -> dict[str, Any]:
    n = prom.count(h)
    within = max((c for le, c in h.items() if le <= GOALS["loop_step_ms"] / 1000), default=0.0)
    worst = min((le for le, c in h.items() if c >= n), default=float("inf")) if n else None
    return {
        "n": int(n),
        "over_5ms": int(n - within),
        "p99_ms": None if (q := prom.quantile(0.99, h)) is None else round(q * 1000, 2),
        "worst_bucket_ms": None if worst is None else round(worst * 1000, 1),
    }


def _kind(port: int, kind: str, seconds: float, send: Callable[[], tuple[int, bytes]],
          expect: int) -> dict[str, Any]:
    before = _scrape(port, kind)
    times: list[float] = []
    with HealthProbe(port) as probe:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            t = time.perf_counter()
            status, body = send()
            times.append(time.perf_counter() - t)
            if status != expect:
                raise RuntimeError(f"batch answered {status}: {body[:300]!r}")
    lag, slices, validate = (prom.delta(a, b) for a, b in zip(_scrape(port, kind), before, strict=True))
    health = [x * 1000 for x in probe.latencies]
    return {
        "batches": len(times),
        "batch_ms": {"median": round(statistics.median(times) * 1000, 1), "max": round(max(times) * 1000, 1)},
        "items_per_s": round(BATCH * len(times) / sum(times)),
        "healthz_ms": {
            "n": len(health),
            "p50": round(_pct(health, 0.5), 2),
            "p99": round(_pct(health, 0.99), 2),
            "max": round(max(health), 2) if health else None,
            "failures": probe.failures,
        },
        "loop_lag": _summary(lag),  # wall time: the loop held, or the process not scheduled
        "slice_cpu": _summary(slices),  # CPU of each slice: the loop held by the work itself
        "validate_cpu": _summary(validate),  # the whole body, decoded and checked at once
    }


def run(port: int, n_accounts: int, events: workload.EventCursor, seconds: float,
        log: Callable[[str], None]) -> dict[str, Any]:
    """Each kind for `seconds`; the engine holds `n_accounts` accounts (workload's ids)."""
    decide = workload.DecideCursor(n_accounts, events.dir)
    decide.k = 10 * n_accounts  # later passes than the suite's own decide load: fresh `now`s
    docs = workload.accounts(min(BATCH, n_accounts))

    def decide_batch() -> tuple[int, bytes]:
        body = b"[" + b",".join(decide.body(decide.k + i) for i in range(BATCH)) + b"]"
        decide.k += BATCH
        return http_send(port, "POST", "/v1/decide", body)

    def events_batch() -> tuple[int, bytes]:
        return http_send(port, "POST", "/v1/events", events.batch(BATCH), "application/x-ndjson")

    def accounts_batch() -> tuple[int, bytes]:
        return http_send(port, "PUT", "/v1/accounts", orjson.dumps(docs))

    out: dict[str, Any] = {"batch_items": BATCH, "seconds_per_kind": seconds, "goals": GOALS}
    for name, send, expect in (("decide", decide_batch, 200), ("events", events_batch, 202),
                               ("accounts", accounts_batch, 200)):
        out[name] = _kind(port, name, seconds, send, expect)
        k = out[name]
        log(f"bounded {name}: {k['batches']} batches of {BATCH}, median {k['batch_ms']['median']} ms; "
            f"/healthz p99 {k['healthz_ms']['p99']} ms; slices over 5 ms CPU "
            f"{k['slice_cpu']['over_5ms']}/{k['slice_cpu']['n']}, "
            f"validation p99 {k['validate_cpu']['p99_ms']} ms, "
            f"loop lag over 5 ms {k['loop_lag']['over_5ms']}/{k['loop_lag']['n']}")
    return out
