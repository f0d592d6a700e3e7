"""The markdown of a run: one row per figure, the median over repetitions with the range
[min–max] beside it, the reference measured in the same run, their ratio, the target."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from benchmarks import memory_report

Rep = dict[str, Any]
Path = tuple[str, ...]


def values(reps: Sequence[Rep], path: Path) -> list[float]:
    """The number at `path` in each repetition that has one."""
    out = []
    for rep in reps:
        v: Any = rep
        for key in path:
            v = v.get(key) if isinstance(v, dict) else None
        if isinstance(v, int | float):
            out.append(float(v))
    return out


def med(reps: Sequence[Rep], *path: str) -> float | None:
    vals = values(reps, path)
    return statistics.median(vals) if vals else None


def fmt(v: float | None, digits: int = 2) -> str:
    if v is None:
        return "—"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.{digits}f}"


def cell(reps: Sequence[Rep], *path: str, digits: int = 2) -> str:
    """Median [min–max] over the repetitions."""
    vals = values(reps, path)
    if not vals:
        return "—"
    m = fmt(statistics.median(vals), digits)
    return m if len(vals) == 1 else f"{m} [{fmt(min(vals), digits)}–{fmt(max(vals), digits)}]"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "—"
    x = a / b
    return f"{x:,.0f}×" if x >= 100 else f"{x:.2f}×"


def verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("yes" if ok else "**no**")


def _per_core(us_per_unit: float | None) -> float | None:
    return None if not us_per_unit else 1e6 / us_per_unit


def _tail(reps: Sequence[Rep], *path: str) -> str:
    """p99.9 / max of an open-loop or wrk run, medians over the repetitions."""
    return f"{cell(reps, *path, 'p999')} / {cell(reps, *path, 'max', digits=1)}"


def _target_text(e: dict[str, Any]) -> str:
    parts = [f"{q} ≤ {e[f'target_{q}_ms']:g} ms" for q in ("p50", "p99")
             if e.get(f"target_{q}_ms") is not None]
    return ", ".join(parts) if parts else "report only"


def _target_met(e: dict[str, Any], e50: float | None, e99: float | None) -> bool | None:
    checks = [(v, e.get(f"target_{q}_ms")) for q, v in (("p50", e50), ("p99", e99))]
    checks = [(v, t) for v, t in checks if t is not None]
    if not checks or any(v is None for v, _t in checks):
        return None
    return all(v <= t for v, t in checks)


def _open_row(reps: Sequence[Rep], name: str, e: dict[str, Any], rate: float) -> list[str]:
    k, s, b = f"{name}@{rate:g}", f"skeleton@{rate:g}", f"bare@{rate:g}"
    e50, e99 = med(reps, "open", k, "latency_ms", "p50"), med(reps, "open", k, "latency_ms", "p99")
    s50, s99 = med(reps, "open", s, "latency_ms", "p50"), med(reps, "open", s, "latency_ms", "p99")
    limit = (f"skeleton p50 {cell(reps, 'open', s, 'latency_ms', 'p50')} / "
             f"p99 {cell(reps, 'open', s, 'latency_ms', 'p99')} ms")
    ok = None
    target = "—"
    if rate == e["target_rate"]:
        limit += (f"; bare p50 {cell(reps, 'open', b, 'latency_ms', 'p50')} / "
                  f"p99 {cell(reps, 'open', b, 'latency_ms', 'p99')} ms; redis GET round trip "
                  f"p50 {cell(reps, 'redis', 'get', 'p50_ms', digits=3)} / "
                  f"p99 {cell(reps, 'redis', 'get', 'p99_ms', digits=3)} ms")
        target = _target_text(e)
        ok = _target_met(e, e50, e99)
    achieved = cell(reps, "open", k, "achieved_rate", digits=0)
    errors = values(reps, ("open", k, "bad"))
    bad = f", {sum(errors):.0f} errors or unfinished" if errors and sum(errors) else ""
    return [f"{name} latency @ {rate:g} req/s offered, open loop (ms; achieved {achieved} req/s{bad})",
            cell(reps, "open", k, "latency_ms", "p50"), cell(reps, "open", k, "latency_ms", "p99"),
            _tail(reps, "open", k, "latency_ms"), limit,
            f"p50 {ratio(e50, s50)}, p99 {ratio(e99, s99)} of skeleton", target, verdict(ok)]


def _saturation_row(reps: Sequence[Rep], name: str, e: dict[str, Any]) -> list[str]:
    e_sat, s_sat, b_sat = (med(reps, "saturation", app, "rps") for app in (name, "skeleton", "bare"))
    e_cpu, s_cpu = (med(reps, "saturation", app, "cpu_ms_per_request") for app in (name, "skeleton"))
    floor = e["min_saturation_vs_skeleton"]
    met = None if floor is None or e_sat is None or s_sat is None else e_sat >= floor * s_sat
    non2xx = values(reps, ("saturation", name, "non2xx"))
    bad = f", {sum(non2xx):.0f} non-2xx" if non2xx and sum(non2xx) else ""
    return [
        f"{name} saturation, wrk -t1 -c32 (req/s; latency p99 ms{bad})",
        cell(reps, "saturation", name, "rps", digits=0),
        cell(reps, "saturation", name, "latency_ms", "p99"),
        _tail(reps, "saturation", name, "latency_ms"),
        f"skeleton {cell(reps, 'saturation', 'skeleton', 'rps', digits=0)} req/s; "
        f"bare {cell(reps, 'saturation', 'bare', 'rps', digits=0)} req/s; CPU per request: {name} "
        f"{cell(reps, 'saturation', name, 'cpu_ms_per_request', digits=3)} ms, skeleton "
        f"{cell(reps, 'saturation', 'skeleton', 'cpu_ms_per_request', digits=3)} ms",
        f"{ratio(e_sat, s_sat)} of skeleton, {ratio(e_sat, b_sat)} of bare; "
        f"CPU {ratio(e_cpu, s_cpu)} of skeleton",
        "report only" if floor is None else f"≥ {floor:g}× skeleton",
        verdict(met)]


def table(results: dict[str, Any]) -> str:
    reps: list[Rep] = results["reps"]
    cfg = results["config"]
    rows = []
    for name, e in results["endpoints"].items():
        rows += [_open_row(reps, name, e, rate) for rate in e.get("rates") or cfg["rates"]]
        rows.append(_saturation_row(reps, name, e))

    ev, redis_w = med(reps, "ingest", "events_per_s"), med(reps, "redis", "set_pipelined16", "rps")
    rows.append([
        f"events ingest, NDJSON batches of {cfg['ingest_batch']}, closed loop, "
        f"{cfg['ingest_connections']} connections (events/s; batch latency p99 ms)",
        cell(reps, "ingest", "events_per_s", digits=0),
        cell(reps, "ingest", "post", "latency_ms", "p99", digits=1),
        _tail(reps, "ingest", "post", "latency_ms"),
        "redis SET pipelined 16 on one connection: "
        f"{cell(reps, 'redis', 'set_pipelined16', 'rps', digits=0)} ops/s; API CPU "
        f"{cell(reps, 'ingest', 'cpu_us_per_event', 'api', digits=1)} µs/event, so at most "
        f"{fmt(_per_core(med(reps, 'ingest', 'cpu_us_per_event', 'api')), 0)} events/s per core",
        f"{ratio(ev, redis_w)} of redis writes", "≥ 20,000 events/s",
        verdict(None if ev is None else ev >= 20_000)])

    lag99 = med(reps, "flow_lag", "lag_p99_ms")
    rows.append([
        f"flow lag @ {cfg['flow_events_per_s']:g} events/s offered in batches of {cfg['flow_batch']} "
        "(ms, cadencia_flow_lag_seconds)",
        cell(reps, "flow_lag", "lag_p50_ms", digits=1), cell(reps, "flow_lag", "lag_p99_ms", digits=1), "—",
        f"achieved {cell(reps, 'flow_lag', 'achieved_events_per_s', digits=0)} events/s; every event "
        f"applied {cell(reps, 'flow_lag', 'caught_up_s')} s after the load ended; dataflow CPU "
        f"{cell(reps, 'flow_lag', 'cpu_us_per_event', 'dataflow', digits=1)} µs/event, so at most "
        f"{fmt(_per_core(med(reps, 'flow_lag', 'cpu_us_per_event', 'dataflow')), 0)} events/s per core",
        "—", "p99 ≤ 250 ms", verdict(None if lag99 is None else lag99 <= 250)])

    head = ["figure", "median", "p99", "p99.9 / max", "limit in same run", "ratio", "target", "met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def limits_table(results: dict[str, Any]) -> str:
    reps: list[Rep] = results["reps"]
    lines = ["| reference | p50 ms | p99 ms | req/s | other load (cores) |", "|---|---|---|---|---|"]

    def line(name: str, p50: Path, p99: Path, rate: Path, where: Path, digits: int = 2) -> None:
        lines.append(f"| {name} | {cell(reps, *p50, digits=digits)} | {cell(reps, *p99, digits=digits)} | "
                     f"{cell(reps, *rate, digits=1)} | {cell(reps, *where, 'foreign_cores')} |")

    for name in ("get", "hgetall"):
        r = ("redis", name)
        line(f"redis-benchmark -c 1 {reps[0]['redis'][name]['command']}", (*r, "p50_ms"), (*r, "p99_ms"),
             (*r, "rps"), ("redis",), digits=3)
    for key in sorted(reps[0]["open"], key=lambda k: (k.split("@")[0], float(k.split("@")[1]))):
        o = ("open", key)
        line(f"{key} req/s, open loop", (*o, "latency_ms", "p50"), (*o, "latency_ms", "p99"),
             (*o, "achieved_rate"), o)
    for app in ("bare", "skeleton", *results["endpoints"]):
        s = ("saturation", app)
        line(f"{app} saturation (wrk -c32)", (*s, "latency_ms", "p50"), (*s, "latency_ms", "p99"),
             (*s, "rps"), s)
    for name, key in (("events ingest, per batch", "ingest"), ("flow-lag run, per batch", "flow_lag")):
        line(name, (key, "post", "latency_ms", "p50"), (key, "post", "latency_ms", "p99"),
             (key, "post", "achieved_rate"), (key,), digits=1)
    return "\n".join(lines)


def cpu_table(results: dict[str, Any]) -> str:
    reps: list[Rep] = results["reps"]
    lines = ["| process, work | CPU | ratio to skeleton |", "|---|---|---|"]
    skel = med(reps, "saturation", "skeleton", "cpu_ms_per_request")
    for app in ("bare", "skeleton", *results["endpoints"]):
        path = ("saturation", app, "cpu_ms_per_request")
        lines.append(f"| {app}, ms per request at saturation | {cell(reps, *path, digits=3)} | "
                     f"{ratio(med(reps, *path), skel)} |")
    for name, e in results["endpoints"].items():
        rate = (e.get("rates") or results["config"]["rates"])[0]
        path = ("open", f"{name}@{rate:g}", "cpu_ms_per_request")
        lines.append(f"| {name}, ms per request @ {rate:g} req/s | {cell(reps, *path, digits=3)} | "
                     f"{ratio(med(reps, *path), skel)} |")
    cfg = results["config"]
    lines.append(f"| API, µs per event ingested in batches of {cfg['ingest_batch']} | "
                 f"{cell(reps, 'ingest', 'cpu_us_per_event', 'api', digits=1)} | — |")
    for name in ("api", "dataflow"):
        lines.append(f"| {'API' if name == 'api' else 'dataflow'}, µs per event in the flow-lag run "
                     f"(batches of {cfg['flow_batch']}) | "
                     f"{cell(reps, 'flow_lag', 'cpu_us_per_event', name, digits=1)} | — |")
    return "\n".join(lines)


def usage_table(results: dict[str, Any]) -> str:
    reps: list[Rep] = results["reps"]
    cols = ["api", "dataflow", "redis", "scoring", "bare", "load", "other"]
    lines = ["| measurement | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    runs: list[tuple[str, Path]] = []
    for name, e in results["endpoints"].items():
        rate = f"{e['target_rate']:g}"
        runs += [(f"{name} @ {rate} req/s", ("open", f"{name}@{rate}")),
                 (f"skeleton @ {rate} req/s", ("open", f"skeleton@{rate}")),
                 (f"{name} saturation", ("saturation", name))]
    runs += [("skeleton saturation", ("saturation", "skeleton")),
             ("bare saturation", ("saturation", "bare")), ("events ingest", ("ingest",)),
             ("flow lag run", ("flow_lag",))]
    for name, path in runs:
        lines.append(f"| {name} | " + " | ".join(cell(reps, *path, "usage", "cores", c) for c in cols) + " |")
    return "\n".join(lines)


def mix_table(results: dict[str, Any], name: str) -> str:
    """Answers holding each substring of the endpoint's mix, every occurrence of each of its
    `occurrences` (e.g. leads), and the errors, per run, summed over repetitions."""
    reps: list[Rep] = results["reps"]
    e = results["endpoints"][name]
    cols = [*e["mix"], *e.get("occurrences", [])]
    lines = [f"| {name} run (sums over repetitions) | answers | " + " | ".join(cols)
             + " | errors or unfinished |", "|---|---|" + "---|" * (len(cols) + 1)]
    keys = sorted((k for k in reps[0]["open"] if k.startswith(f"{name}@")),
                  key=lambda k: float(k.split("@")[1]))
    for key in keys:
        runs = [r["open"][key] for r in reps]
        tot = [sum(run["mix"].get(m, 0) for run in runs) for m in cols]
        bad = sum(run["bad"] for run in runs)
        lines.append(f"| {key} | {sum(run['ok'] for run in runs)} | " + " | ".join(str(t) for t in tot)
                     + f" | {bad} |")
    sat = [r["saturation"][name] for r in reps]
    tot = [sum(s["matches"].get(m, 0) for s in sat) for m in cols]
    lines.append(f"| {name} saturation (wrk) | {sum(s['requests'] - s['non2xx'] for s in sat)} | "
                 + " | ".join(str(t) for t in tot) + f" | {sum(s['non2xx'] for s in sat)} |")
    return "\n".join(lines)


def dialer_scaling(fp: dict[str, Any]) -> str:
    """dialer/next against the portfolio's size (footprint.py), side by side."""
    runs = fp.get("dialer") or []
    if not runs:
        return ""
    plan = fp["plan"]
    cols = [f"campaign of {d['accounts']:,}" for d in runs]
    first, last = runs[0], runs[-1]

    def row(label: str, get: Any, digits: int = 3, ratio_too: bool = True) -> str:
        vals = [get(d) for d in runs]
        r = ratio(vals[-1], vals[0]) if ratio_too and len(vals) > 1 else "—"
        return f"| {label} | " + " | ".join(fmt(v, digits) for v in vals) + f" | {r} |"

    lines = [
        f"POST /v1/dialer/next {{count: {plan['dialer_count']}}} at {plan['dialer_rate']:g} req/s offered, "
        f"open loop, 64 connections, on the footprint's redis-server and engine with "
        f"{runs[-1].get('loaded', last['accounts']):,} accounts loaded and one campaign per size (the "
        f"earliest days past due holding about that many accounts; the largest, all of them): "
        f"{plan['dialer_segments']} segments of {plan['dialer_segment_s']:g} s per campaign, measured after "
        f"{plan['dialer_warmup_s']:g} s warm-up, each at a `now` of its own, the campaigns taking turns; "
        "percentiles of each campaign's segments' histograms added up.",
        "",
        "| figure | " + " | ".join(cols) + f" | {last['accounts']:,} / {first['accounts']:,} |",
        "|---|" + "---|" * (len(cols) + 1),
        row("latency p50, ms", lambda d: d["latency_ms"]["p50"]),
        row("latency p90, ms", lambda d: d["latency_ms"]["p90"]),
        row("latency p99, ms", lambda d: d["latency_ms"]["p99"]),
        row("latency p99.9, ms", lambda d: d["latency_ms"]["p999"]),
        row("latency max, ms", lambda d: d["latency_ms"]["max"], digits=1),
        "| p50 of each segment, in turn, ms | "
        + " | ".join(" / ".join(fmt(v, 1) for v in d.get("segments_p50_ms", [])) for d in runs) + " | — |",
        row("achieved req/s", lambda d: d["achieved_rate"], digits=0, ratio_too=False),
        row("API CPU per request, ms", lambda d: d["api_cpu_ms_per_request"]),
        row("leads per answer", lambda d: d["leads"] / max(d["answers"], 1), digits=2, ratio_too=False),
        row("empty answers", lambda d: d["empty"], digits=0, ratio_too=False),
        row("errors or unfinished", lambda d: d["errors"], digits=0, ratio_too=False),
        row("campaign enrolment, s", lambda d: d["enrolment"]["enrolment_s"], digits=1),
        row("enrolment, accounts walked/s", lambda d: d["enrolment"]["accounts_per_s"], digits=0),
        row("accounts in the campaign", lambda d: d["enrolment"]["ready"], digits=0),
    ]
    return "\n".join(lines)


def _dialer_setup(results: dict[str, Any]) -> str:
    d = (results.get("setup") or {}).get("dialer_next")
    if not d:
        return "- no dialer campaign"
    passes = (results.get("passes") or {}).get("dialer_next") or 0
    return (f"- dialer_next: a campaign over {d['ready']:,} accounts of its own (ids `D-…`, which decide "
            f"and the events never touch), enrolled in {d['enrolment_s']:.1f} s "
            f"({d['accounts_per_s']:,.0f} accounts/s); each request asks for 10 leads, and `now` moves "
            f"{results['config']['pass_days']} days after every half of the campaign's accounts asked "
            f"for, past every 15-minute lease ({passes:.0f} passes used)")


def _foreign(results: dict[str, Any]) -> str:
    vals = []
    for rep in results["reps"]:
        runs = [*rep["open"].values(), *rep["saturation"].values(),
                rep["flow_lag"], rep["ingest"], rep["redis"]]
        vals += [r["foreign_cores"] for r in runs if "foreign_cores" in r]
    return f"{statistics.median(vals):.2f} [{max(vals):.2f}]" if vals else "—"


def bounded_table(results: dict[str, Any]) -> str:
    """Maximal batches while /healthz is asked every 20 ms (benchmarks/bounded.py), and SLOWLOG."""
    b = results.get("bounded")
    if not b:
        return ""
    goals = b["goals"]
    lines = [
        f"Batches of {b['batch_items']:,} items sent back to back for {b['seconds_per_kind']:g} s per kind. "
        f"Goals: /healthz p99 < {goals['healthz_p99_ms']:g} ms; no step of work holding the API's event "
        f"loop more than ~{goals['loop_step_ms']:g} ms (`cadencia_event_loop_lag_seconds`, a timer every "
        "50 ms).",
        "",
        "| batch | batches | ms per batch (median, max) | items/s | /healthz p50 / p99 / max ms | "
        "slice CPU p99 ms (over 5 ms) | whole-body validation CPU p99 ms | loop lag p99 ms (over 5 ms) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind in ("decide", "events", "accounts"):
        k = b.get(kind)
        if not k:
            continue
        h, lag, sl, va = k["healthz_ms"], k["loop_lag"], k["slice_cpu"], k["validate_cpu"]
        lines.append(
            f"| {kind} | {k['batches']} | {k['batch_ms']['median']}, {k['batch_ms']['max']} | "
            f"{k['items_per_s']:,} | {h['p50']} / {h['p99']} / {h['max']} "
            f"{verdict(h['p99'] < goals['healthz_p99_ms'])} | "
            f"{sl['p99_ms']} ({sl['over_5ms']} of {sl['n']}) | "
            f"{va['p99_ms']} | {lag['p99_ms']} ({lag['over_5ms']} of {lag['n']}) |"
        )
    slow = results.get("slowlog")
    if slow:
        lines += [
            "",
            f"Redis SLOWLOG over the run up to here (every app's commands, the benchmark's seeding "
            f"included): {slow['over']} commands over {slow['limit_ms']:g} ms "
            f"{verdict(slow['over'] == 0)}"
            + (f"; by command {slow['by_command']}; slowest {slow['slowest'][:3]}" if slow["over"] else ""),
        ]
    return "\n".join(lines)


def steady_table(results: dict[str, Any]) -> str:
    """Each endpoint fresh (the repetitions' median) and on the aged portfolio, beside the
    skeleton measured in the same repetition (benchmarks/steady.py)."""
    st = results.get("steady")
    if not st:
        return ""
    fresh, aged = results["reps"], [st["rep"]]
    a = st["aging"]
    lines = [
        f"{a['accounts']:,} of the accounts and {a['dialer_accounts']:,} of the dialer campaign's after "
        f"{a['days']} simulated days of activity ({a['decisions']:,} decisions, {a['contacts']:,} contacts, "
        f"{a['events']:,} outcome events through the API; {a['elapsed_s']:g} s with the dataflow's catching "
        "up), measured again: decide and route on the aged accounts, dialer/next on the campaign (its "
        "aged accounts among the rest). p50 / p99 in ms; saturation in req/s.",
        "",
        "| endpoint | rate | fresh | steady | skeleton fresh | skeleton steady | steady / fresh p99 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, e in results["endpoints"].items():
        rate = e["target_rate"]
        key = f"{name}@{rate:g}"
        f50, f99 = med(fresh, "open", key, "latency_ms", "p50"), med(fresh, "open", key, "latency_ms", "p99")
        s50, s99 = med(aged, "open", key, "latency_ms", "p50"), med(aged, "open", key, "latency_ms", "p99")
        sk = f"skeleton@{rate:g}"
        k50f, k99f = med(fresh, "open", sk, "latency_ms", "p50"), med(fresh, "open", sk, "latency_ms", "p99")
        k50s, k99s = med(aged, "open", sk, "latency_ms", "p50"), med(aged, "open", sk, "latency_ms", "p99")
        has_sk = k50f is not None
        lines.append(
            f"| {name} | {rate:g}/s | {fmt(f50)} / {fmt(f99)} | {fmt(s50)} / {fmt(s99)} | "
            f"{fmt(k50f) + ' / ' + fmt(k99f) if has_sk else '—'} | "
            f"{fmt(k50s) + ' / ' + fmt(k99s) if has_sk else '—'} | {ratio(s99, f99)} |"
        )
    for name in ["skeleton", *results["endpoints"]]:
        f, s = med(fresh, "saturation", name, "rps"), med(aged, "saturation", name, "rps")
        lines.append(f"| {name} | saturation | {fmt(f)} | {fmt(s)} | | | {ratio(s, f)} (req/s) |")
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> str:
    cfg = results["config"]
    parts = [
        "# cadencia speed benchmark",
        "",
        f"Run {results['started']} on {results['machine']}; mode `{cfg['mode']}`, {cfg['reps']} "
        "repetition(s). Each figure is the median over repetitions with [min–max]; the p99 column "
        "is the median of the repetitions' p99. Open-loop latencies run from the intended send "
        "time (coordinated omission corrected); wrk's are closed loop.",
        "",
        table(results),
        "",
        *(["## dialer/next against portfolio size", "", dialer_scaling(results["footprint"]), ""]
          if (results.get("footprint") or {}).get("dialer") else []),
        *(["## Bounded work: the largest batches while others wait", "", bounded_table(results), ""]
          if results.get("bounded") else []),
        *(["## Steady state: the portfolio after weeks of activity", "", steady_table(results), ""]
          if results.get("steady") else []),
        "## References measured in the same run",
        "",
        limits_table(results),
        "",
        "## CPU per unit of work",
        "",
        "CPU seconds the process under test spent during the measurement (from /proc), divided by "
        "the requests or events it handled. Other load on the machine barely moves this figure, so "
        "it is the steadiest comparison on a shared machine.",
        "",
        cpu_table(results),
        "",
        "## Where the CPU went (cores busy, median over repetitions)",
        "",
        "`load` is the runner with the load generator it ran; `other` is everything else on the "
        "machine (2 cores in all).",
        "",
        usage_table(results),
        "",
        "## Answers",
        "",
        *(mix_table(results, name) + "\n" for name in results["endpoints"]),
        memory_report.markdown(results),
        "## Set-up",
        "",
        f"- engine: {results.get('engine_source')}",
        f"- placement (`--pin {cfg['pin']} --sched {cfg.get('sched', 'fair')}`): {cfg['pinning']}",
        f"- {cfg['accounts']:,} accounts (MX, America/Mexico_City, 2–3 contact points); decide bodies "
        f"walk the accounts in passes, `now` moving {cfg['pass_days']} days per pass "
        f"({(results.get('passes') or {}).get('decide') or 0:.1f} passes used); route bodies walk their "
        f"mobile numbers the same way, voice and sms alternately",
        _dialer_setup(results),
        f"- open loop: {cfg['open_duration_s']:g} s after {cfg['warmup_s']:g} s warm-up, 64 connections; "
        f"saturation: wrk -t1 -c32 -d{cfg['sat_duration_s']:g}s",
        f"- gc.freeze() after start-up: reference apps yes; engine {results.get('engine_gc_freeze')}",
        "- the dataflow runs during every engine measurement (as `cadencia run` does)",
        f"- other load: processes outside the benchmark used {_foreign(results)} cores per measurement "
        "(median [max]); the machine is shared, so figures taken under other load are noisy",
        f"- load average before the run {results.get('loadavg_before')}, "
        f"after {results.get('loadavg_after')}",
    ]
    check = results.get("loadgen_check")
    if check:
        o, w = check["openloop_closed"], check["wrk"]
        ol, wl = o["latency_ms"], w["latency_ms"]
        parts.append(
            f"- load generator check, bare app, closed loop, 32 connections: openloop "
            f"{o['achieved_rate']:,.0f} req/s, p50 {ol['p50']:.3f} / p99 {ol['p99']:.3f} ms; "
            f"wrk {w['rps']:,.0f} req/s, p50 {wl['p50']:.3f} / p99 {wl['p99']:.3f} ms")
    return "\n".join(parts) + "\n"
