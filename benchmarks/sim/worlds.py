"""Every policy in more than one world: seeds x variants that differ in what an engine must not
be tuned to (`python -m benchmarks.sim.worlds`; `--quick` for the subset `make bench` runs).

A variant changes one thing of the base world: the dialer's cadence (a step of the clock, when
leads are pulled and outcomes posted, of 1 or 60 minutes instead of 10), the outage's shape
(the failing carrier's calls ring out unanswered instead of failing with SIP 503), how often
debtors respond (every channel affinity halved or doubled), or the portfolio's countries.
The report shows every world and the ratios that issue 17 sets as goals, losses included.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from benchmarks.sim.compare import compare
from benchmarks.sim.driver import Setup

HERE = Path(__file__).resolve().parent
VARIANTS: dict[str, dict[str, Any]] = {
    "base": {},
    "dialer_1min": {"step_minutes": 1},
    "dialer_60min": {"step_minutes": 60},
    "outage_timeout": {"outage_kind": "timeout"},
    "responses_half": {"response_scale": 0.5},
    "responses_double": {"response_scale": 2.0},
    "us_heavy": {"mix": "us_heavy"},
}
QUICK = (("base", 7), ("outage_timeout", 8), ("responses_half", 9))
GOALS = {"net_vs_adaptive": 1.15, "net_vs_oracle": 0.7, "asr_vs_best": 0.95, "outage_share": 0.02}


def setups(variants: list[str], seeds: list[int], accounts: int, days: int) -> list[Setup]:
    base = Setup(accounts, days, 0)
    return [replace(base, seed=s, variant=v, **VARIANTS[v]) for v in variants for s in seeds]


def row(doc: dict[str, Any]) -> dict[str, Any]:
    """One world's figures: every policy's, and each policy's net against the strong baseline's
    and the oracle's."""
    s, pols = doc["setup"], doc["policies"]
    out: dict[str, Any] = {"variant": s["variant"], "seed": s["seed"], "policies": {}}
    for name, p in pols.items():
        out["policies"][name] = {
            "net": p["net"],
            "contacts": p["contacts"],
            "optouts": p["optouts"],
            "asr_vs_best": p["asr_vs_best"],
            "outage_share": p["outage_share_after_10min"],
            "violations": sum(p["violations"].values()),
            "net_vs_adaptive": p["net"] / pols["adaptive"]["net"] if "adaptive" in pols else None,
            "net_vs_oracle": p["net"] / pols["oracle"]["net"] if "oracle" in pols else None,
            "net_vs_static": p["net"] / pols["static"]["net"] if "static" in pols else None,
        }
    return out


def _f(v: float | None, digits: int = 2) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def markdown(rows: list[dict[str, Any]], accounts: int, days: int) -> str:
    names = list(rows[0]["policies"]) if rows else []
    lines = [
        f"# cadencia in several worlds ({accounts:,} accounts, {days} days each)",
        "",
        "net: money collected after contacts minus what the contacts cost, in MXN; × adaptive / "
        "× oracle: a policy's net over the strong baseline's and the oracle's in the same world; "
        "ASR/best: the hidden answer rate of the carriers chosen against the best carrier's for "
        "the same calls; outage: the share of calls sent to the failing carrier from 10 minutes "
        "into its outage. Goals for cadencia (issue 17): "
        + ", ".join(f"{k} {'≥' if k != 'outage_share' else '<'} {v}" for k, v in GOALS.items())
        + "; opt-outs ≤ the baseline's; 0 violations.",
        "",
        "| world | policy | net | × static | × adaptive | × oracle | contacts | opt-outs | ASR/best | "
        "outage | violations |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        for name in names:
            p = r["policies"].get(name)
            if p is None:
                continue
            lines.append(
                f"| {r['variant']} s{r['seed']} | {name} | {p['net']:,.0f} | {_f(p['net_vs_static'])} | "
                f"{_f(p['net_vs_adaptive'])} | {_f(p['net_vs_oracle'])} | {p['contacts']:,} | "
                f"{p['optouts']} | {_f(p['asr_vs_best'], 3)} | {_f(p['outage_share'], 3)} | "
                f"{p['violations']} |"
            )
    lines += ["", *goal_lines(rows)]
    return "\n".join(lines) + "\n"


def goal_lines(rows: list[dict[str, Any]]) -> list[str]:
    cad = [(r, r["policies"]["cadencia"]) for r in rows if "cadencia" in r["policies"]]
    if not cad:
        return []
    out = ["Goals met by cadencia, world by world:", ""]
    for r, p in cad:
        base = r["policies"].get("adaptive", {})
        checks = {
            "× adaptive ≥ 1.15": p["net_vs_adaptive"] is not None and p["net_vs_adaptive"] >= 1.15,
            "× oracle ≥ 0.7": p["net_vs_oracle"] is not None and p["net_vs_oracle"] >= 0.7,
            "opt-outs ≤ adaptive's": p["optouts"] <= base.get("optouts", 0),
            "ASR/best ≥ 0.95": (p["asr_vs_best"] or 0) >= 0.95,
            "outage < 2%": p["outage_share"] is not None and p["outage_share"] < 0.02,
            "0 violations": p["violations"] == 0,
        }
        met = [k for k, ok in checks.items() if ok]
        missed = [k for k, ok in checks.items() if not ok]
        out.append(
            f"- {r['variant']} s{r['seed']}: met {', '.join(met) or 'none'}; "
            f"missed {', '.join(missed) or 'none'}"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.sim.worlds", description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=1500)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--seeds", default="7,8,9")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--policies", default="static,adaptive,oracle,cadencia")
    ap.add_argument("--quick", action="store_true", help=f"the worlds {QUICK} only")
    ap.add_argument("--out", type=Path, default=HERE.parent / "results")
    args = ap.parse_args(argv)
    unknown = set(args.variants.split(",")) - set(VARIANTS)
    if unknown:
        ap.error(f"unknown variants: {', '.join(sorted(unknown))}; use {', '.join(VARIANTS)}")
    names = [p for p in args.policies.split(",") if p]
    if args.quick:
        worlds = [replace(Setup(args.accounts, args.days, s), variant=v, **VARIANTS[v]) for v, s in QUICK]
    else:
        worlds = setups(
            args.variants.split(","), [int(s) for s in args.seeds.split(",")], args.accounts, args.days
        )
    rows = []
    name = "worlds-quick" if args.quick else "worlds"
    args.out.mkdir(parents=True, exist_ok=True)
    for setup in worlds:
        print(f"--- {setup.variant}, seed {setup.seed}", flush=True)
        doc = compare(setup, names, lambda msg: None)
        rows.append(row(doc))
        (args.out / f"{name}.json").write_bytes(orjson.dumps(rows, option=orjson.OPT_INDENT_2))
        (args.out / f"{name}.md").write_text(markdown(rows, args.accounts, args.days))
        for pname, p in rows[-1]["policies"].items():
            print(
                f"  {pname:<9} net {p['net']:>12,.0f}  × adaptive {_f(p['net_vs_adaptive'])}  "
                f"contacts {p['contacts']:>6}  opt-outs {p['optouts']:>4}  "
                f"ASR/best {_f(p['asr_vs_best'], 3)}  "
                f"outage {_f(p['outage_share'], 3)}",
                flush=True,
            )
    print(markdown(rows, args.accounts, args.days))
    return 0


if __name__ == "__main__":
    sys.exit(main())
