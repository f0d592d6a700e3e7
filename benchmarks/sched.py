"""`python -m benchmarks.sched [--reps N] [--rate R]`: what the scheduler does to decide's tail.

One engine, the scoring skeleton of benchmarks/skeleton.py and one redis-server, placed as
`benchmarks.run --pin split` places them (the API or the skeleton alone on core 1; Redis, the
dataflow and the load generator on core 0). Each repetition measures POST /v1/decide at a
constant offered rate, open loop, then the skeleton at the same rate (a canary: when the
machine has a slow spell, it shows there too), once with fair scheduling for everything and
once with redis-server and the load generator at SCHED_FIFO (`benchmarks.run --sched rt`),
alternating so drift on the shared machine hits both alike.
Writes benchmarks/results/sched.md. Needs root or CAP_SYS_NICE.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
from pathlib import Path
from typing import Any

from benchmarks import procs, stacks, workload
from benchmarks.endpoints import DECIDE
from benchmarks.phases import Bench, Plan
from benchmarks.run import LAYOUTS, RESULTS, SCHEDULES, placement


def set_redis(pid: int, fifo: int | None) -> None:
    if fifo:
        procs.place_running(pid, procs.Placement((), fifo))
    else:
        subprocess.run(["chrt", "--all-tasks", "--other", "--pid", "0", str(pid)], check=True)


def run(reps: int, rate: float, engine_ref: str | None) -> dict[str, Any]:
    p = Plan(mode="sched", reps=reps, rates=[rate], open_duration_s=8.0, warmup_s=0.5)
    layouts = {name: placement(LAYOUTS["split"], schedule) for name, schedule in SCHEDULES.items()}
    os.sched_setaffinity(0, set(LAYOUTS["split"]["runner"] or ()))
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in layouts}
    canary: dict[str, list[dict[str, Any]]] = {name: [] for name in layouts}
    with procs.stack() as st:
        src, source = procs.engine_source(engine_ref, st.tmp / "engine-src")
        srv = st.start_redis(LAYOUTS["split"]["redis"])
        engine = stacks.start_engine(st, srv.url, LAYOUTS["split"]["app"], LAYOUTS["split"]["flow"], src)
        _bare, scoring = stacks.start_reference_apps(st, srv.url, LAYOUTS["split"]["app"])
        stacks.seed_features(srv.url, p.accounts)
        stacks.load_accounts(engine.port, p.accounts)
        events = workload.EventCursor(p.accounts, st.tmp)
        stacks.post_events(engine.port, events, p.seed_events)
        stacks.wait_flow_idle(engine)
        endpoints = {"decide": (DECIDE, DECIDE.bodies(p.accounts, st.tmp))}
        stateless = workload.stateless_decide_bodies(p.accounts, st.tmp / "stateless.txt")
        bench = Bench(p, st, engine, {"skeleton": scoring}, srv.port, endpoints, events, stateless, print)
        assert srv.proc is not None
        for i in range(reps):
            for name, layout in layouts.items():
                print(f"--- repetition {i + 1}/{reps}, {name}", flush=True)
                bench.plan.pinning = layout
                set_redis(srv.proc.pid, layout["redis"].fifo)
                rows[name].append(bench.open_loop("decide", rate))
                canary[name].append(bench.open_loop("skeleton", rate))
        set_redis(srv.proc.pid, None)
    return {"source": source, "rate": rate, "reps": reps, "rows": rows, "canary": canary, "layouts": layouts}


def each_p99(runs: list[dict[str, Any]]) -> str:
    return " / ".join(f"{run['latency_ms']['p99']:.2f}" for run in runs)


def markdown(r: dict[str, Any]) -> str:
    def cell(runs: list[dict[str, Any]], key: str) -> str:
        xs = [run["latency_ms"][key] for run in runs]
        return f"{statistics.median(xs):.2f} [{min(xs):.2f}–{max(xs):.2f}]"

    out = [
        "# decide's tail under fair and real-time scheduling",
        "",
        f"POST /v1/decide at {r['rate']:g} req/s offered, open loop, 8 s after 0.5 s warm-up, "
        f"{r['reps']} alternating repetitions in one run; engine: {r['source']}. Median [min–max] "
        "over the repetitions.",
        "",
        "| scheduling | placement | p50 ms | p99 ms | p99.9 ms | API CPU ms/request "
        "| p99 of each repetition | skeleton p50 / p99 ms | skeleton p99 of each repetition |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, runs in r["rows"].items():
        layout = ", ".join(f"{k} → {v!r}" for k, v in r["layouts"][name].items())
        cpu = statistics.median(run["cpu_ms_per_request"] for run in runs)
        skeleton = r["canary"][name]
        out.append(f"| {name} | {layout} | {cell(runs, 'p50')} | {cell(runs, 'p99')} | "
                   f"{cell(runs, 'p999')} | {cpu:.3f} | {each_p99(runs)} | "
                   f"{cell(skeleton, 'p50')} / {cell(skeleton, 'p99')} | {each_p99(skeleton)} |")
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.sched", description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--engine-ref", metavar="REF", help="benchmark the engine at this commit")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if not procs.can_run_realtime():
        ap.error("needs root or CAP_SYS_NICE (chrt --fifo failed)")
    md = markdown(run(args.reps, args.rate, args.engine_ref))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sched.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
