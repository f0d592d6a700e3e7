"""`python -m benchmarks.profile [decide|events|flow]`: where the engine spends its CPU.

Starts the engine like benchmarks.run does, drives one path closed loop (decide: 8
connections; events: batches of 500 on 4 connections, with the dataflow profiled for
`flow`) and samples the busy process with py-spy (`pip install py-spy` into the venv).
Prints the top functions by own and by inclusive samples; the raw stacks stay in
benchmarks/results/profile-<what>.txt (flamegraph.pl input).
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks import procs, stacks, tools, workload
from benchmarks.run import LAYOUTS, RESULTS


def summarize(raw: Path, top: int = 30) -> str:
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        count = int(n)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            incl[frame] += count
    if not total:
        return "no samples"
    out = [f"{total} samples", "", "own time:"]
    out += [f"{100 * c / total:5.1f}%  {f}" for f, c in own.most_common(top)]
    out += ["", "inclusive (cadencia code and the libraries under it):"]
    skip = ("<module>", "run (", "Runner.run", "_run_code", "click/", "uvicorn/main", "runpy", "asyncio_run",
            "Server.run", "uvicorn/_compat", "bytewax/run", "cli_main", "main (")
    shown = [(f, c) for f, c in incl.most_common() if not any(s in f for s in skip)]
    out += [f"{100 * c / total:5.1f}%  {f}" for f, c in shown[:top]]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("decide", "events", "flow"), nargs="?", default="decide")
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--rate", type=float, default=0.0,
                    help="offered decide requests/s or events/s, open loop (default 0: closed loop)")
    ap.add_argument("--pin", choices=sorted(LAYOUTS), default="split")
    ap.add_argument("--engine-ref", metavar="REF", help="profile the engine at this commit")
    args = ap.parse_args(argv)
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        sys.exit("py-spy is not installed: .venv/bin/pip install py-spy")
    pin = LAYOUTS[args.pin]
    RESULTS.mkdir(parents=True, exist_ok=True)
    raw = RESULTS / f"profile-{args.what}.txt"
    with procs.stack() as st:
        src, described = procs.engine_source(args.engine_ref, st.tmp / "engine-src")
        print(f"engine: {described}")
        srv = st.start_redis(pin["redis"])
        engine = stacks.start_engine(st, srv.url, pin["app"], pin["flow"], src)
        n = 10_000
        stacks.load_accounts(engine.port, n)
        events = workload.EventCursor(n, st.tmp)
        stacks.post_events(engine.port, events, 20_000)
        stacks.wait_flow_idle(engine)
        target = engine.flow.pid if args.what == "flow" else st.children[0].pid
        if args.what == "decide":
            bodies = workload.DecideCursor(n, st.tmp).take(int(3000 * (args.seconds + 2)))
            load = dict(path="/v1/decide", bodies=bodies, rate=args.rate, duration_s=args.seconds + 1,
                        connections=8 if args.rate == 0 else 64)
        else:
            batches = int(60 * (args.seconds + 2))
            load = dict(path="/v1/events", bodies=events.take(batches, 500), rate=args.rate / 500,
                        duration_s=args.seconds + 1, connections=4, max_requests=batches,
                        content_type="application/x-ndjson", ndjson_batches=True)
        argv = [spy, "record", "-p", str(target), "-d", str(int(args.seconds)), "-r", "250", "-f", "raw",
                "-o", str(raw), "--nonblocking"]
        sampler = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            r = tools.openloop(engine.port, warmup_s=0.5, cores=pin["load"], **load)  # type: ignore[arg-type]
            sampler.wait(args.seconds + 30)
        finally:
            if sampler.poll() is None:
                sampler.kill()
                sampler.wait()
    loop = "closed loop" if args.rate == 0 else f"offered {args.rate:g}/s"
    print(f"{args.what}: {r['achieved_rate']:.0f} req/s {loop}, p50 {r['latency_ms']['p50']:.2f} ms")
    print(summarize(raw))


if __name__ == "__main__":
    main()
