"""`python -m benchmarks.run [--quick]`: the speed benchmark of the issue.

Starts a private redis-server, the two reference apps of benchmarks/skeleton.py and the
engine (API + dataflow), then per repetition, interleaved so drift hits every app alike:
the Redis round trip; each endpoint of benchmarks/endpoints.py at constant offered rates
(open loop) beside the skeleton (and the bare app at the target rate); saturation with wrk
for bare, skeleton and each endpoint; the dataflow's lag at a constant event rate; events
ingest at saturation. Then the processes' peak memory, and Redis bytes per account and
dialer/next latency against portfolio size on a redis-server and engine of their own
(benchmarks/footprint.py). Writes
benchmarks/results/speed.md and speed.json (speed-quick.* with --quick). Every process is
stopped on the way out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks import bounded, footprint, memory, procs, report, slowlog, stacks, steady, tools, workload
from benchmarks.endpoints import ENDPOINTS
from benchmarks.phases import Bench, Plan

RESULTS = Path(__file__).resolve().parent / "results"

# Where each process runs on the two cores. "split" keeps the API (or the reference app
# under test) alone on core 1 and everything else on core 0.
LAYOUTS: dict[str, dict[str, list[int] | None]] = {
    "split": {"app": [1], "redis": [0], "load": [0], "flow": [0], "runner": [0]},
    "app+redis": {"app": [1], "redis": [1], "load": [0], "flow": [0], "runner": [0]},
    "none": {"app": None, "redis": None, "load": None, "flow": None, "runner": None},
}
# Who runs at a real-time priority (SCHED_FIFO 10). `rt`: redis-server, and the load generators
# whose clocks are the measurement; fair scheduling delays both by milliseconds behind other
# work on their core (same-run A/B in README). Needs root or CAP_SYS_NICE.
SCHEDULES: dict[str, dict[str, int]] = {"fair": {}, "rt": {"redis": 10, "load": 10}}


def placement(layout: dict[str, list[int] | None], schedule: dict[str, int]) -> dict[str, procs.Placement]:
    return {role: procs.Placement(cores or (), schedule.get(role)) for role, cores in layout.items()}


def plan_for(args: argparse.Namespace) -> Plan:
    if args.quick:
        p = Plan(mode="quick", reps=1, rates=[1000.0], open_duration_s=3.0, warmup_s=0.5, sat_duration_s=3.0,
                 flow_duration_s=5.0, ingest_duration_s=3.0, seed_events=5_000, footprint_stages=(20_000,),
                 bounded_s=3.0, steady_days=0,
                 dialer_sizes=(10_000, 20_000), dialer_segment_s=4.0)
    else:
        p = Plan(mode="full", reps=args.reps, rates=[200.0, 500.0, 1000.0, 2000.0])
    if args.steady_days is not None:
        p.steady_days = args.steady_days
    if args.footprint is not None:
        p.footprint_stages = tuple(int(n) for n in args.footprint.split(",") if n)
    if args.dialer_sizes is not None:
        p.dialer_sizes = tuple(int(n) for n in args.dialer_sizes.split(",") if n)
    p.pin, p.sched = args.pin, args.sched
    p.pinning = placement(LAYOUTS[args.pin], SCHEDULES[args.sched])
    return p


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def engine_freezes_gc(src: Path) -> str:
    root = src / "engine"
    hits = [f.name for f in sorted(root.glob("*.py")) if "gc.freeze()" in f.read_text()]
    return f"yes ({', '.join(hits)})" if hits else "no"


def loadgen_check(port: int, bodies: Path, duration_s: float, cores: list[int] | None) -> dict[str, Any]:
    """The open-loop generator in closed loop against wrk, same app, same connections."""
    return {"openloop_closed": tools.openloop(port, "/decide", bodies, 0, duration_s, warmup_s=0.5,
                                              connections=32, cores=cores),
            "wrk": tools.wrk(port, "/decide", bodies, connections=32, duration_s=duration_s, cores=cores)}


def run(p: Plan, engine_ref: str | None = None) -> dict[str, Any]:
    started = time.monotonic()

    def log(msg: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {msg}", flush=True)

    if p.pinning["runner"]:
        os.sched_setaffinity(0, set(p.pinning["runner"]))
    tools.build_openloop()
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}",
        "config": asdict(p) | {"pinning": ", ".join(f"{k} → {v!r}" for k, v in p.pinning.items())},
        "loadavg_before": loadavg(),
        "reps": [],
    }
    with procs.stack() as st:
        try:
            pin = p.pinning
            src, results["engine_source"] = procs.engine_source(engine_ref, st.tmp / "engine-src")
            results["engine_gc_freeze"] = engine_freezes_gc(src)
            log(f"engine: {results['engine_source']}")
            srv = st.start_redis(pin["redis"])
            log(f"redis-server on port {srv.port}")
            slowlog.start(srv.url)
            bare, scoring = stacks.start_reference_apps(st, srv.url, pin["app"])
            engine = stacks.start_engine(st, srv.url, pin["app"], pin["flow"], src)
            log(f"bare app :{bare}, scoring skeleton :{scoring}, engine API :{engine.port}")
            stacks.seed_features(srv.url, p.accounts)
            rate = stacks.load_accounts(engine.port, p.accounts)
            log(f"loaded {p.accounts} accounts ({rate:.0f}/s)")
            events = workload.EventCursor(p.accounts, st.tmp)
            stacks.post_events(engine.port, events, p.seed_events)
            log(f"seeded {p.seed_events} events; dataflow idle after {stacks.wait_flow_idle(engine):.1f} s")
            endpoints = {}
            results["setup"] = {}
            for e in ENDPOINTS:
                if e.setup:
                    results["setup"][e.name] = e.setup(engine, p.accounts)
                    log(f"{e.name} set up: {results['setup'][e.name]}")
                endpoints[e.name] = (e, e.bodies(p.accounts, st.tmp))
            results["endpoints"] = {e.name: e.describe() | {"rates": e.rates_for(p.rates, p.mode == "quick")}
                                    for e, _ in endpoints.values()}
            stateless = workload.stateless_decide_bodies(p.accounts, st.tmp / "stateless.txt")
            results["loadgen_check"] = loadgen_check(bare, stateless, 3.0 if p.mode == "quick" else 5.0,
                                                     pin["load"])
            c = results["loadgen_check"]
            log(f"loadgen check on bare: openloop {c['openloop_closed']['achieved_rate']:.0f}/s, "
                f"wrk {c['wrk']['rps']:.0f}/s")
            bench = Bench(p, st, engine, {"bare": bare, "skeleton": scoring}, srv.port, endpoints, events,
                          stateless, log)
            for i in range(p.reps):
                log(f"--- repetition {i + 1}/{p.reps}")
                results["reps"].append(bench.repetition())
            results["passes"] = {name: getattr(b, "passes", None) for name, (_, b) in endpoints.items()}
            if p.steady_days:
                n = min(p.steady_accounts, p.accounts)
                start = steady.first_free_day([b for _, b in endpoints.values()])
                dialer_n = n if "dialer_next" in endpoints else 0
                aging = steady.age(engine, n, dialer_n, p.steady_days, start, log)
                # decide and route walk the aged accounts only; dialer/next asks the campaign
                # (its aged accounts among the rest), every cursor past the aged days
                aged_dir = st.tmp / "steady"
                aged_dir.mkdir()
                bench.endpoints = {
                    name: (e, b if name == "dialer_next" else e.bodies(n, aged_dir))
                    for name, (e, b) in endpoints.items()
                }
                aged_end = start + timedelta(days=p.steady_days)
                steady.advance([b for _, b in bench.endpoints.values()], aged_end)
                # events from here on are dated after the aged days: older ones are refused
                # (the dedup window), and the stages after this one post events too
                events.t0 = max(events.t0, aged_end.timestamp())
                log(f"--- steady state after {p.steady_days} days of {n} accounts: {aging}")
                results["steady"] = {"aging": aging, "rep": bench.repetition()}
                bench.endpoints = endpoints
            results["bounded"] = bounded.run(engine.port, p.accounts, events, p.bounded_s, log)
            results["slowlog"] = slowlog.read(srv.url)
            log(f"SLOWLOG: {results['slowlog']['over']} commands over {slowlog.LIMIT_MS} ms")
            results["memory"] = memory.snapshot(st.named_pids())
            peaks = (f"{name} {m['hwm_mb']:.0f} MB" for name, m in results["memory"].items())
            log("peak memory (VmHWM): " + ", ".join(peaks))
            if p.footprint_stages or p.dialer_sizes:
                fp = footprint.FootprintPlan(stages=p.footprint_stages, dialer_sizes=p.dialer_sizes,
                                             dialer_segment_s=p.dialer_segment_s, load_cores=pin["load"])
                results["footprint"] = footprint.run(st, fp, pin, src, log)
        except Exception as exc:
            st.keep_logs(RESULTS / "logs")
            print(f"failed; process logs kept in {RESULTS / 'logs'}", file=sys.stderr)
            # what was measured before the failure is kept (a late stage failing cost two
            # 25-minute runs their every figure)
            results["failed"] = f"{type(exc).__name__}: {exc}"
            RESULTS.mkdir(parents=True, exist_ok=True)
            (RESULTS / "speed-partial.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
            print(f"the stages measured before it: {RESULTS / 'speed-partial.json'}", file=sys.stderr)
            raise
    results["loadavg_after"] = loadavg()
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    return results


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short runs, one repetition (a smoke check)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions in the full run (default 3)")
    ap.add_argument("--pin", choices=sorted(LAYOUTS), default="split", help="process placement on the cores")
    ap.add_argument("--sched", choices=sorted(SCHEDULES), default="fair",
                    help="rt: redis-server and the load generators at SCHED_FIFO (needs root)")
    ap.add_argument("--engine-ref", metavar="REF",
                    help="benchmark the engine at this commit (git archive into a temp dir) instead of "
                         "the work tree, e.g. HEAD while the work tree is being edited")
    ap.add_argument("--footprint", metavar="N,N", help="accounts loaded for Redis bytes per account, in "
                    "stages (default 100000,1000000; 20000 with --quick; empty to skip)")
    ap.add_argument("--dialer-sizes", metavar="N,N", help="campaign sizes dialer/next latency is measured "
                    "at, with the footprint's largest stage loaded (default 10000,100000,1000000; "
                    "10000,20000 with --quick; empty to skip)")
    ap.add_argument("--steady-days", type=int, metavar="N", help="days of activity on the portfolio "
                    "before the steady-state repetition (default 30; 0 with --quick; 0 to skip)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="where speed.md and speed.json go")
    args = ap.parse_args(argv)
    if SCHEDULES[args.sched] and not procs.can_run_realtime():
        ap.error(f"--sched {args.sched} needs root or CAP_SYS_NICE (chrt --fifo failed)")
    if (os.cpu_count() or 0) < 2 and args.pin != "none":
        args.pin = "none"
    results = run(plan_for(args), args.engine_ref)
    md = report.markdown(results)
    args.out.mkdir(parents=True, exist_ok=True)
    name = "speed-quick" if args.quick else "speed"
    (args.out / f"{name}.md").write_text(md)
    (args.out / f"{name}.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    print()
    print(md)
    print(f"written to {args.out / (name + '.md')} and {name}.json ({results['elapsed_s']} s)")


if __name__ == "__main__":
    main()
