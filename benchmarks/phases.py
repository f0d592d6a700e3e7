"""One repetition of the benchmark, phase by phase, on a running stack. Each measurement is
wrapped by `Bench.noted`, which records the other load on the machine meanwhile and the CPU
the processes under test spent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import measure, memory, procs, stacks, workload
from benchmarks.endpoints import Endpoint

REFERENCES = {"bare": "bare", "skeleton": "scoring"}  # reference app -> its process in the Stack


@dataclass
class Plan:
    mode: str
    reps: int
    rates: list[float]
    open_duration_s: float = 8.0
    warmup_s: float = 1.0
    sat_duration_s: float = 10.0
    accounts: int = 10_000
    pass_days: int = workload.PASS_DAYS
    sat_max_rps: float = 5000.0  # decide bodies handed to wrk per run: enough not to repeat
    flow_events_per_s: float = 5000.0
    flow_batch: int = 100
    flow_duration_s: float = 15.0
    ingest_batch: int = 500
    ingest_connections: int = 4
    ingest_duration_s: float = 8.0
    seed_events: int = 20_000
    bounded_s: float = 6.0  # per kind of maximal batch (benchmarks/bounded.py)
    steady_days: int = 30  # days of activity before the steady-state repetition (0: none)
    # accounts aged (of the suite's and of the dialer campaign's): the dataflow absorbs ~3,000
    # records a second here, so 30 days of all 20,000 took longer than the rest of the suite
    steady_accounts: int = 2000
    footprint_stages: tuple[int, ...] = (100_000, 1_000_000)  # accounts loaded for Redis bytes per account
    dialer_sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)  # dialer/next against portfolio size
    dialer_segment_s: float = 6.0
    pin: str = "split"
    sched: str = "fair"
    pinning: dict[str, Any] = field(default_factory=dict)


@dataclass
class Bench:
    plan: Plan
    stack: procs.Stack
    engine: stacks.Engine
    ports: dict[str, int]  # reference app -> port
    redis_port: int
    endpoints: dict[str, tuple[Endpoint, Any]]  # name -> (endpoint, its body source)
    events: workload.EventCursor
    stateless: Path  # decide bodies for the reference apps
    log: Callable[[str], None]

    @property
    def load_cores(self) -> list[int] | None:
        return self.plan.pinning["load"]

    def noted(self, fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
        usage = procs.Usage(self.stack)
        r = fn(*args)
        r["usage"] = usage.stop()
        r["cpu_s"] = r["usage"]["cpu_s"]
        r["foreign_cores"] = r["usage"]["cores"]["other"]
        r["memory"] = memory.snapshot(self.stack.named_pids())
        return r

    def _target(self, app: str, count: int) -> tuple[int, str, Path, dict[str, str], dict[str, str], str]:
        """Port, path, bodies, answer substrings to count (answers holding each, every
        occurrence of each) and the process that serves `app` (an endpoint of the engine or a
        reference app)."""
        if app in self.endpoints:
            e, bodies = self.endpoints[app]
            return self.engine.port, e.path, bodies.take(count), e.mix, e.occurrences, "api"
        return self.ports[app], "/decide", self.stateless, {}, {}, REFERENCES[app]

    def redis(self) -> dict[str, Any]:
        self.log("redis-benchmark")
        return self.noted(measure.redis_limits, self.redis_port, "skel:" + workload.account_id(1),
                          self.load_cores)

    def open_loop(self, app: str, rate: float) -> dict[str, Any]:
        p = self.plan
        # the dataflow's backlog from the run before (a dialer lease is a logged record too)
        # is not left to weigh on this one
        stacks.wait_flow_idle(self.engine, 300)
        port, path, bodies, mix, every, process = self._target(
            app, int(rate * (p.open_duration_s + p.warmup_s)) + 1)
        r = self.noted(measure.open_loop, port, path, bodies, rate, p.open_duration_s, p.warmup_s, mix,
                       self.load_cores, every)
        r["cpu_ms_per_request"] = 1000 * r["cpu_s"][process] / max(r["sent"], 1)
        r["bad"] = (r["completed"] - r["ok"] + r["errors"]["socket"] + r["errors"]["parse"]
                    + r["errors"]["unfinished"])
        lat = r["latency_ms"]
        self.log(f"{app} @ {rate:g}/s: p50 {lat['p50']:.3f} p99 {lat['p99']:.3f} p99.9 {lat['p999']:.3f} "
                 f"max {lat['max']:.1f} ms, achieved {r['achieved_rate']:.0f}/s, mix {r['mix']}, "
                 f"{r['bad']} errors, other load {r['foreign_cores']} cores")
        return r

    def saturation(self, app: str) -> dict[str, Any]:
        p = self.plan
        stacks.wait_flow_idle(self.engine, 300)
        port, path, bodies, mix, every, process = self._target(app, int(p.sat_max_rps * p.sat_duration_s))
        r = self.noted(measure.saturation, port, path, bodies, p.sat_duration_s, mix, self.load_cores, every)
        r["cpu_ms_per_request"] = 1000 * r["cpu_s"][process] / max(r["requests"], 1)
        self.log(f"{app} saturation: {r['rps']:.0f} req/s, p50 {r['latency_ms']['p50']:.2f} p99 "
                 f"{r['latency_ms']['p99']:.2f} ms, {r['cpu_ms_per_request']:.3f} ms CPU/request, "
                 f"other load {r['foreign_cores']} cores")
        return r

    def flow_lag(self) -> dict[str, Any]:
        p = self.plan
        stacks.wait_flow_idle(self.engine)
        r = self.noted(measure.flow_lag, self.engine, self.events, p.flow_events_per_s, p.flow_batch,
                       p.flow_duration_s, self.load_cores)
        r["cpu_us_per_event"] = {k: 1e6 * r["cpu_s"][k] / max(r["accepted"], 1) for k in ("api", "dataflow")}
        self.log(f"flow lag @ {p.flow_events_per_s:g} events/s: p50 {r['lag_p50_ms']} "
                 f"p99 {r['lag_p99_ms']} ms, observed {r['observed']:.0f}/{r['accepted']}, "
                 f"every event applied {r['caught_up_s']} s after the load")
        return r

    def ingest(self) -> dict[str, Any]:
        p = self.plan
        stacks.wait_flow_idle(self.engine)
        r = self.noted(measure.ingest, self.engine, self.events, p.ingest_batch, p.ingest_duration_s,
                       p.warmup_s, p.ingest_connections, self.load_cores)
        answered = r["post"]["sent"] - r["post"]["errors"]["unfinished"]  # warm-up included, as in the CPU
        r["cpu_us_per_event"] = {"api": 1e6 * r["cpu_s"]["api"] / max(answered * p.ingest_batch, 1)}
        self.log(f"ingest: {r['events_per_s']:.0f} events/s, "
                 f"batch p99 {r['post']['latency_ms']['p99']:.1f} ms")
        backlog_s = stacks.wait_flow_idle(self.engine, 300)
        self.log(f"dataflow applied the backlog {backlog_s:.1f} s after the run")
        return r

    def repetition(self) -> dict[str, Any]:
        """Interleaved, so drift on the machine hits every app alike."""
        p = self.plan
        rep: dict[str, Any] = {"redis": self.redis(), "open": {}, "saturation": {}}
        stacks.wait_flow_idle(self.engine)
        quick = p.mode == "quick"
        own = {name: e.rates_for(p.rates, quick) for name, (e, _) in self.endpoints.items()
               if e.rates_for(p.rates, quick) != p.rates}
        target_rates = {e.target_rate for name, (e, _) in self.endpoints.items() if name not in own}
        for rate in p.rates:
            references = ["bare", "skeleton"] if rate in target_rates else ["skeleton"]
            for app in references + [name for name in self.endpoints if name not in own]:
                rep["open"][f"{app}@{rate:g}"] = self.open_loop(app, rate)
        for app, rates in own.items():  # endpoints with rates of their own, no reference beside
            for rate in rates:
                rep["open"][f"{app}@{rate:g}"] = self.open_loop(app, rate)
        for app in ["bare", "skeleton", *self.endpoints]:
            rep["saturation"][app] = self.saturation(app)
        rep["flow_lag"] = self.flow_lag()
        rep["ingest"] = self.ingest()
        return rep
