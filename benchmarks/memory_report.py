"""The memory sections of the report: the processes' peak and resident memory over the run,
and Redis bytes per account (benchmarks/footprint.py)."""

from __future__ import annotations

from typing import Any

MB = 1024 * 1024


def processes_table(results: dict[str, Any]) -> str:
    end = results.get("memory") or {}
    seen: dict[str, list[float]] = {}
    for rep in results["reps"]:
        runs = [*rep["open"].values(), *rep["saturation"].values(), rep["flow_lag"], rep["ingest"]]
        for run in runs:
            for name, m in run.get("memory", {}).items():
                seen.setdefault(name, []).append(m["rss_mb"])
    lines = ["| process | peak resident (VmHWM), MB | resident at the end (VmRSS), MB | "
             "resident after each measurement, MB (min–max) |", "|---|---|---|---|"]
    for name, m in end.items():
        rss = seen.get(name, [])
        spread = f"{min(rss):.0f}–{max(rss):.0f}" if rss else "—"
        lines.append(f"| {name} | {m['hwm_mb']:.0f} | {m['rss_mb']:.0f} | {spread} |")
    return "\n".join(lines)


def _stage_row(label: str, st: dict[str, Any], load: dict[str, Any] | None) -> str:
    redis, log, procs = st["redis"], st["log"], st["processes"]
    rate = f"{load['accounts_per_s']:,.0f}" if load else "—"
    took = f"{load['elapsed_s']:.0f} ({load['flow_idle_after_s']:.0f})" if load else "—"
    return (f"| {label} | {rate} | {took} | {redis['used_memory'] / MB:,.0f} | "
            f"{st['bytes_per_account']:,.0f} | {st['keys_per_account']:.1f} | "
            f"{log['entries']:,} / {log['bytes'] / MB:,.0f} | {procs['api']['rss_mb']:.0f} | "
            f"{procs['dataflow']['rss_mb']:.0f} |")


def footprint_section(fp: dict[str, Any]) -> str:
    stages, loads, active, act = fp["stages"], fp["loads"], fp["active"], fp["activity"]
    plan = fp["plan"]
    lines = [
        "| accounts in Redis | upserted/s | load time, s (of which the dataflow after the last PUT) | "
        "used_memory, MB | bytes per account | keys per account | event log: entries / MB | "
        "API RSS, MB | dataflow RSS, MB |",
        "|---|---|---|---|---|---|---|---|---|"]
    for st, load in zip(stages, loads, strict=True):
        lines.append(_stage_row(f"{st['accounts']:,} accounts", st, load))
    lines.append(_stage_row(f"{active['accounts']:,}, of which {active['active_accounts']:,} with a day's "
                            "activity", active, None))
    last = stages[-1]
    log_delta = (active["log"]["bytes"] - last["log"]["bytes"]) / act["accounts"]
    lines += [
        "",
        f"A day's activity is one decision (`POST /v1/decide` in batches of {plan['decide_batch']}: "
        f"{act['decisions_per_s']:,.0f} decisions/s, {act['contacts']:,} contacts reserved) per account, "
        f"then {act['events']:,} events in all (delivered, read, an unanswered call, and a promise from one "
        f"account in ten; NDJSON batches of {plan['event_batch']}: {act['events_per_s']:,.0f} events/s); "
        f"it took {act['elapsed_s']:.0f} s with the dataflow idle {act['flow_idle_after_s']:.0f} s after. "
        f"It added **{fp['bytes_per_active_account']:,.0f} bytes per active account**, of which "
        f"{log_delta:,.0f} in the event-log streams (trimmed at `log_maxlen` per shard, not per account).",
        "",
        f"MEMORY USAGE (SAMPLES 0), mean over {plan['sample']} sampled accounts, bytes:",
        "",
        f"| key | {last['accounts']:,} accounts, no activity | after a day's activity |",
        "|---|---|---|",
    ]
    for kind, before in last["key_sizes"].items():
        after = active["key_sizes"][kind]

        def show(k: dict[str, Any]) -> str:
            return f"{k['mean_bytes']:,.0f} (max {k['max_bytes']:,}; {k['present']}/{k['sampled']} exist)"
        lines.append(f"| {kind} | {show(before) if before['present'] else '—'} | "
                     f"{show(after) if after['present'] else '—'} |")
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> str:
    parts = [
        "## Memory",
        "",
        "Resident memory from /proc (a process with its children, summed); the peak is the "
        "kernel's high-water mark over the process's life, so it covers every measurement above.",
        "",
        processes_table(results),
        "",
    ]
    fp = results.get("footprint")
    if fp:
        parts += [
            "## Redis bytes per account",
            "",
            "A redis-server and an engine of their own; accounts (2–3 contact points, attributes) upserted "
            f"through `PUT /v1/accounts` in batches of {fp['plan']['batch']} on {fp['plan']['connections']} "
            "connections; figures read once the dataflow has applied what the loads logged. Bytes per "
            "account = (INFO memory `used_memory` − its value before the first load) / accounts, so "
            "they include each account's share of the event log and of Redis's own overhead. "
            f"Measured in {fp['elapsed_s']:.0f} s.",
            "",
            footprint_section(fp),
            "",
        ]
    return "\n".join(parts)
