"""python -m benchmarks.sim [--accounts N --days D --seed S --policies ... --out DIR]"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from benchmarks.sim.compare import POLICIES, compare
from benchmarks.sim.driver import Setup
from benchmarks.sim.report import markdown

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.sim", description=__doc__)
    ap.add_argument("--accounts", type=int, default=3000)
    ap.add_argument("--days", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--policies", default=",".join(POLICIES))
    ap.add_argument("--out", type=Path, default=HERE.parent / "results")
    ap.add_argument("--redis-url", default=None, help="for cadencia (default: a private redis-server)")
    ap.add_argument(
        "--identity", action="store_true", help="play cadencia twice; report whether the runs agree"
    )
    args = ap.parse_args(argv)
    names = [p.strip() for p in args.policies.split(",") if p.strip()]
    unknown = set(names) - set(POLICIES)
    if unknown:
        ap.error(f"unknown policies: {', '.join(sorted(unknown))}")

    def log(msg: str) -> None:
        print(msg, flush=True)

    doc = compare(Setup(args.accounts, args.days, args.seed), names, log, args.redis_url, args.identity)
    from benchmarks.sim import findings, plots

    doc["findings"] = findings.notes(doc)
    args.out.mkdir(parents=True, exist_ok=True)
    plots.net_by_day(doc, args.out / "net_by_day.png")
    plots.carrier_share(doc, args.out / "carrier_share.png")
    if "cadencia_latency" in doc:
        plots.latency(doc["cadencia_latency"]["samples"], args.out / "decide_latency.png")
    (args.out / "quality.json").write_bytes(
        orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    )
    (args.out / "quality.md").write_text(markdown(doc))
    print(markdown(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
