"""Champion/challenger in the simulator: cadencia runs one experiment through its API, and its
per-arm report is set against what the simulated world knows (each arm's accounts, what they
paid and what their contacts cost), so the arm the engine's report favours can be checked
against the arm that really netted more.

    python -m benchmarks.sim.experiment                       # 1,500 accounts, 14 days, seed 7
    python -m benchmarks.sim.experiment --challenger '{"optout_loss": 0}'

Writes benchmarks/results/experiment-<name>.md and .json.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path
from typing import Any

import msgspec
import orjson

from benchmarks.sim.catalog import CONFIG, Catalog
from benchmarks.sim.driver import Setup, run
from benchmarks.sim.engine_proc import Http, cadencia_run
from benchmarks.sim.policies.base import agent_calls_per_day
from benchmarks.sim.policies.cadencia import Cadencia
from engine.decisions.experiments import Experiment, arm_of

HERE = Path(__file__).resolve().parent
EXPERIMENT = "sim"


def truth(experiment: Experiment, nets: dict[str, float], accounts: list[str]) -> dict[str, dict[str, Any]]:
    """Per arm, from the world: its accounts, their net (payments − contact costs) and the
    mean net per account with a 95% interval (normal approximation)."""
    by_arm: dict[str, list[float]] = {a.id: [] for a in experiment.arms}
    for account_id in accounts:
        by_arm[arm_of(EXPERIMENT, experiment, account_id).id].append(nets.get(account_id, 0.0))
    out = {}
    for arm, values in by_arm.items():
        mean = statistics.fmean(values) if values else 0.0
        half = 1.96 * statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
        out[arm] = {
            "accounts": len(values),
            "net": round(sum(values), 2),
            "net_per_account": round(mean, 3),
            "net_per_account_ci95": [round(mean - half, 3), round(mean + half, 3)],
        }
    return out


def markdown(setup: Setup, name: str, doc: dict[str, Any]) -> str:
    engine, world = doc["engine"], doc["world"]
    lines = [
        f"# Champion/challenger in the simulator: {name}",
        "",
        f"{setup.accounts:,} accounts × {setup.days} days, seed {setup.seed}, world `{setup.variant}`; "
        "accounts split 50/50 by the engine's stable hash. The engine's columns are its own "
        "report (`GET /v1/experiments/sim`: the results aggregates, outcomes credited to the "
        "contact they answer or, answering none, to the account's arm); the world's are what the "
        "simulated debtors paid less what their contacts cost, per account of each arm.",
        "",
        "| arm | params | engine: contacts | promise rate (95% CI) | paid | cost | net | "
        "world: accounts | net | net per account (95% CI) |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for arm in doc["arms"]:
        e = next(r for r in engine["results"] if r["arm"] == arm["id"])
        w = world[arm["id"]]
        ci = e["promise_rate_ci95"] or [0, 0]
        low, high = w["net_per_account_ci95"]
        lines.append(
            f"| {arm['id']} | `{orjson.dumps(arm['params']).decode()}` | {e['contacts']:,} | "
            f"{(e['promise_rate'] or 0):.3f} ({ci[0]:.3f}–{ci[1]:.3f}) | {e['paid']:,.0f} | "
            f"{e['cost']:,.0f} | {e['net']:,.0f} | {w['accounts']:,} | {w['net']:,.0f} | "
            f"{w['net_per_account']:.2f} ({low:.2f}–{high:.2f}) |"
        )
    lines += [
        "",
        f"The engine's report favours **{doc['engine_winner']}**; the world's net favours "
        f"**{doc['world_winner']}**: {'the same arm' if doc['agree'] else 'they disagree'}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--accounts", type=int, default=1500)
    p.add_argument("--days", type=int, default=14)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--challenger", default='{"payment_share": 0.1}', help="the challenger arm's params (JSON)"
    )
    p.add_argument("--name", default=None, help="the report's name (default: from the params)")
    args = p.parse_args(argv)
    params = orjson.loads(args.challenger)
    name = args.name or "-".join(f"{k}-{v}" for k, v in params.items())
    setup = Setup(args.accounts, args.days, args.seed)
    catalog = Catalog()
    arms = [
        {"id": "champion", "share": 0.5, "params": {}},
        {"id": "challenger", "share": 0.5, "params": params},
    ]
    body = {"arms": arms, "description": f"simulated: {name}", "started": setup.start.date().isoformat()}
    experiment = msgspec.convert(body, type=Experiment)
    with cadencia_run(CONFIG) as url:
        http = Http(url)
        http.call("PUT", f"/v1/experiments/{EXPERIMENT}", body)
        http.close()
        calls = agent_calls_per_day(setup.accounts)
        result = run(
            "cadencia",
            lambda a, w: Cadencia(url, calls_per_day=calls, step_minutes=setup.step_minutes),
            setup,
            catalog,
            lambda line: print(line, file=sys.stderr),
        )
        http = Http(url)  # a new connection: the server closes idle ones
        engine = http.call("GET", f"/v1/experiments/{EXPERIMENT}")
        http.close()
    accounts = sorted(result.tally.currency)  # every debtor of the world
    world = truth(experiment, dict(result.tally.net_by_account), accounts)
    by_engine = {
        r["arm"]: r["net"] / next(a["share"] for a in arms if a["id"] == r["arm"]) for r in engine["results"]
    }
    engine_winner = max(by_engine, key=lambda k: by_engine[k])
    world_winner = max(world, key=lambda k: world[k]["net_per_account"])
    doc = {
        "setup": {
            "accounts": setup.accounts,
            "days": setup.days,
            "seed": setup.seed,
            "variant": setup.variant,
        },
        "arms": arms,
        "engine": engine,
        "world": world,
        "engine_winner": engine_winner,
        "world_winner": world_winner,
        "agree": engine_winner == world_winner,
    }
    out = HERE.parent / "results"
    (out / f"experiment-{name}.json").write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    (out / f"experiment-{name}.md").write_text(markdown(setup, name, doc))
    print(markdown(setup, name, doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
