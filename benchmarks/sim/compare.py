"""Every policy on the same world and seed, one after the other; their results in one document.

cadencia runs as `cadencia run --config benchmarks/sim/sim.toml --no-demo` with a private
redis-server of its own (or `redis_url`). Vowpal Wabbit is imported only when `vw` is asked for,
so the tests run without it.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.sim.catalog import CONFIG, Catalog
from benchmarks.sim.driver import Result, Setup, run
from benchmarks.sim.engine_proc import ROOT, cadencia_run
from benchmarks.sim.policies.adaptive import Adaptive
from benchmarks.sim.policies.base import agent_calls_per_day
from benchmarks.sim.policies.oracle import Oracle
from benchmarks.sim.policies.random_choice import RandomChoice
from benchmarks.sim.policies.static import Static
from benchmarks.sim.report import quantile

POLICIES = ("static", "static_lcr", "random", "adaptive", "oracle", "vw", "cadencia")


def run_policy(
    name: str,
    setup: Setup,
    catalog: Catalog,
    volume: Callable[[int], int],
    log: Any = None,
    redis_url: str | None = None,
) -> Result:
    if name == "static":
        return run(name, lambda a, w: Static(a, catalog), setup, catalog, log)
    if name == "static_lcr":
        return run(name, lambda a, w: Static(a, catalog, lcr=True), setup, catalog, log)
    if name == "random":
        return run(name, lambda a, w: RandomChoice(a, catalog, volume, setup.seed), setup, catalog, log)
    if name == "adaptive":
        return run(name, lambda a, w: Adaptive(a, catalog, setup.seed), setup, catalog, log)
    if name == "oracle":
        return run(name, lambda a, w: Oracle(a, catalog, w), setup, catalog, log)
    if name == "vw":
        from benchmarks.sim.policies.vw import VW

        return run(name, lambda a, w: VW(a, catalog, setup.seed), setup, catalog, log)
    if name == "cadencia":
        from benchmarks.sim.policies.cadencia import Cadencia

        # CADENCIA_SIM_CONFIG: the engine's config for an A/B of a setting (the world stays)
        with cadencia_run(Path(os.environ.get("CADENCIA_SIM_CONFIG", CONFIG)), redis_url) as url:
            calls = agent_calls_per_day(setup.accounts)
            return run(
                name,
                lambda a, w: Cadencia(url, calls_per_day=calls, step_minutes=setup.step_minutes),
                setup,
                catalog,
                log,
            )
    raise ValueError(f"unknown policy {name!r}; use {', '.join(POLICIES)}")


def compare(
    setup: Setup, names: list[str], log: Any = None, redis_url: str | None = None, identity: bool = False
) -> dict[str, Any]:
    """Every policy on one world. `identity`: cadencia plays the world a second time, on a fresh
    engine, and the two runs' days are compared (the engine's learning follows the data alone)."""
    catalog = Catalog()
    began = time.monotonic()
    if "random" in names and "static" not in names:
        names = ["static", *names]  # random sends at the static schedule's volume
    results: dict[str, Result] = {}
    volumes: list[int] = []
    for name in names:
        r = run_policy(
            name,
            setup,
            catalog,
            lambda day, v=volumes: v[day] if day < len(v) else setup.accounts,  # type: ignore[misc]
            log,
            redis_url,
        )
        results[name] = r
        if name == "static":
            volumes[:] = [d.contacts for d in r.tally.days]
        if log:
            log(f"{name}: {r.elapsed_s:.0f} s")
    again = (
        run_policy("cadencia", setup, catalog, lambda day: setup.accounts, log, redis_url)
        if identity
        else None
    )
    doc = document(setup, catalog, results, time.monotonic() - began)
    if again is not None:
        doc["identity"] = same_days(results["cadencia"], again)
    return doc


def same_days(first: Result, second: Result) -> dict[str, Any]:
    """Two runs of one world, day by day: identical unless timing reached a decision."""
    days = [(asdict(a), asdict(b)) for a, b in zip(first.tally.days, second.tally.days, strict=True)]
    differing = [i + 1 for i, (a, b) in enumerate(days) if a != b]
    return {
        "identical": not differing,
        "days_differing": differing,
        "net": [
            round(first.tally.summary(1, first.portfolio)["net"], 2),
            round(second.tally.summary(1, second.portfolio)["net"], 2),
        ],
        "contacts": [sum(d.contacts for d in first.tally.days), sum(d.contacts for d in second.tally.days)],
    }


def document(setup: Setup, catalog: Catalog, results: dict[str, Result], elapsed_s: float) -> dict[str, Any]:
    outage = setup.outage
    policies = {}
    for name, r in results.items():
        p = r.tally.summary(setup.accounts, r.portfolio)
        p["violations"] = dict(r.auditor.violations)
        p["violations_by_day"] = {d + 1: dict(c) for d, c in sorted(r.auditor.violations_by_day.items())}
        p["violation_examples"] = r.auditor.examples[:5]
        p["audit_notes"] = dict(r.auditor.notes)
        p["carrier_hours"] = {f"{h}|{c}": n for (h, c), n in sorted(r.tally.carrier_hours.items())}
        p["elapsed_s"] = round(r.elapsed_s, 1)
        policies[name] = p
    doc: dict[str, Any] = {
        "setup": {
            "accounts": setup.accounts,
            "days": setup.days,
            "seed": setup.seed,
            "step_minutes": setup.step_minutes,
            "variant": setup.variant,
            "response_scale": setup.response_scale,
            "mix": setup.mix,
            "start": setup.start.isoformat(),
            "currency": catalog.raw["money"]["currency"],
            "portfolio": round(next(iter(results.values())).portfolio, 2) if results else 0.0,
            "outage": {
                "carrier": outage.carrier,
                "start": outage.start.isoformat(),
                "end": outage.end.isoformat(),
                "kind": outage.kind,
                "start_h": int((outage.start - setup.start).total_seconds() // 3600),
                "end_h": int((outage.end - setup.start).total_seconds() // 3600),
            },
            "engine": engine_commit(),
            "elapsed_s": round(elapsed_s, 1),
        },
        "policies": policies,
    }
    cad = results.get("cadencia")
    if cad is not None:
        lat = cad.extra["latencies"]
        secs = [s for s, _n in lat]
        doc["cadencia_latency"] = {
            "requests": len(lat),
            "batch": max((n for _s, n in lat), default=0),
            "p50_s": quantile(secs, 0.5),
            "p99_s": quantile(secs, 0.99),
            "max_s": max(secs, default=0.0),
            "per_decision_s": sum(secs) / max(1, sum(n for _s, n in lat)),
            "answers": cad.extra["answers"],
            "confirms": cad.extra["confirms"],
            "revoked_at_confirm": cad.extra.get("revoked_at_confirm", {}),
            "samples": lat,
        }
    return doc


def engine_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "-C",
                str(ROOT),
                "status",
                "--porcelain",
                "--",
                "engine",
                "policy",
                "models",
                "features",
                "connectors",
            ],
            capture_output=True,
            text=True,
        ).stdout
        return f"commit {out}" + (" with uncommitted changes" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
