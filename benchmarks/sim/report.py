"""The quality report: `quality.json` (every figure) and `quality.md` (the tables). Pure: it
formats what the runs measured."""

from __future__ import annotations

from typing import Any

ORDER = ("static", "static_lcr", "random", "oracle", "vw", "cadencia")


def _money(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or not b else f"{a / b:.3f}"


def quantile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def carrier_share(hours: dict[str, int], start_h: int, end_h: int) -> dict[str, float]:
    """Share of calls per carrier among calls placed in [start_h, end_h) hours of the run."""
    counts: dict[str, int] = {}
    for key, n in hours.items():
        hour, carrier = key.split("|")
        if start_h <= int(hour) < end_h:
            counts[carrier] = counts.get(carrier, 0) + n
    total = sum(counts.values())
    return {c: n / total for c, n in sorted(counts.items())} if total else {}


def markdown(doc: dict[str, Any]) -> str:
    s = doc["setup"]
    pol = {p: doc["policies"][p] for p in ORDER if p in doc["policies"]}
    lines = [
        "# Collection-world simulator: quality of the decisions",
        "",
        f"{s['accounts']:,} accounts in MX, CO, US, CL, PE over {s['days']} simulated days from {s['start']} "
        f"({s.get('step_minutes', 60)}-minute steps), seed {s['seed']}; every policy on the same world. "
        f"Money in {s['currency']} "
        f"(rates from `benchmarks/sim/sim.toml`). Portfolio {_money(s['portfolio'])}. "
        f"Carrier {s['outage']['carrier']} "
        f"fails (SIP 503) from {s['outage']['start']} to {s['outage']['end']}. Engine: {s['engine']}. "
        f"Whole comparison: {s['elapsed_s']:.0f} s on this machine.",
        "",
        "| policy | collected | of which after a contact | recovery | contact cost | carrier cost | net "
        "| contacts / account | calls | ASR | RPC / call | engaged / contact | promises | opt-outs "
        "| violations |",
        "| --- " + "| ---: " * 14 + "|",
    ]
    for name, p in pol.items():
        lines.append(
            f"| {name} | {_money(p['collected'])} | {_money(p['collected_after_contact'])} "
            f"| {_pct(p['recovery_rate'])} | {_money(p['channel_cost'])} | {_money(p['carrier_cost'])} "
            f"| **{_money(p['net'])}** | {p['contacts_per_account']:.2f} | {p['calls']:,} | {_pct(p['asr'])} "
            f"| {_pct(p['right_party_rate'])} | {_pct(p['engagement_rate'])} | {p['promises']:,} "
            f"| {p['optouts']:,} | {sum(p['violations'].values())} |"
        )
    ident = doc.get("identity")
    if ident:
        differing = ident["days_differing"]
        verdict = f"different on days {differing}" if differing else "identical, day by day"
        lines += [
            "",
            f"Replay: cadencia played this world twice on fresh engines: {verdict} "
            f"(net {_money(ident['net'][0])} and {_money(ident['net'][1])}, "
            f"contacts {ident['contacts'][0]:,} and {ident['contacts'][1]:,}).",
        ]
    c = pol.get("cadencia")
    if c:
        lines += [
            "",
            "Ratios of cadencia's net (and of the money collected after contacts, which leaves out "
            "what self-curing debtors paid on their own):",
            "",
            "| | / static | / random | / oracle | / vw |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for key, label in (("net", "net"), ("collected_after_contact", "collected after a contact")):
            lines.append(
                f"| {label} | "
                + " | ".join(
                    _ratio(c[key], pol[o][key]) if o in pol else "-"
                    for o in ("static", "random", "oracle", "vw")
                )
                + " |"
            )
    lines += ["", "## Rule violations (independent auditor, `benchmarks/sim/audit.py`)", ""]
    rules = sorted({r for p in pol.values() for r in p["violations"]})
    if rules:
        lines += ["| policy | " + " | ".join(rules) + " |", "| --- |" + " ---: |" * len(rules)]
        for name, p in pol.items():
            lines.append(f"| {name} | " + " | ".join(str(p["violations"].get(r, 0)) for r in rules) + " |")
        for name, p in pol.items():
            for note, n in p.get("audit_notes", {}).items():
                lines.append(f"\n{name}: {n} of them: {note}.")
    else:
        lines.append("None, for every policy.")
    lines += ["", "## Net by day", "", "| day | " + " | ".join(pol) + " |", "| ---: |" + " ---: |" * len(pol)]
    for i in range(s["days"]):
        lines.append(
            f"| {i + 1} | " + " | ".join(_money(p["per_day"][i]["net"]) for p in pol.values()) + " |"
        )
    o = s["outage"]
    lines += [
        "",
        f"## Carrier traffic (calls) before, during and after {o['carrier']}'s outage",
        "",
        "| policy | before | during | after |",
        "| --- | --- | --- | --- |",
    ]
    for name, p in pol.items():
        spans = ((0, o["start_h"]), (o["start_h"], o["end_h"]), (o["end_h"], 24 * s["days"]))
        cells = []
        for a, b in spans:
            share = carrier_share(p["carrier_hours"], a, b)
            cells.append(" ".join(f"{k} {100 * v:.0f}%" for k, v in share.items()) or "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Carrier routing against the hidden truth",
        "",
        "ASR vs best: the hidden answer rate of the carriers each policy chose, over the best "
        "carrier's at the same network and local hour (a carrier in its outage completes nothing), "
        f"for the same calls: 1.000 is always the best. Outage share: the calls still sent to "
        f"{o['carrier']} from 10 simulated minutes into its outage to its end.",
        "",
        "| policy | calls | ASR vs best | outage share after 10 min |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, p in pol.items():
        lines.append(
            f"| {name} | {p['calls']:,} | {_ratio(p.get('asr_vs_best'), 1.0)} "
            f"| {_pct(p.get('outage_share_after_10min'))} |"
        )
    lat = doc.get("cadencia_latency")
    if lat:
        lines += [
            "",
            "## cadencia's decide latency (client side, this machine)",
            "",
            f"{lat['requests']} `POST /v1/decide` requests of up to {lat['batch']} accounts each: "
            f"p50 {1000 * lat['p50_s']:.1f} ms, p99 {1000 * lat['p99_s']:.1f} ms, "
            f"max {1000 * lat['max_s']:.1f} ms "
            f"a request; {1000 * lat['per_decision_s']:.2f} ms a decision on average.",
            "",
            "Answers: "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(lat["answers"].items(), key=lambda kv: -kv[1])),
        ]
    lines += ["", "Plots: `net_by_day.png`, `carrier_share.png`, `decide_latency.png`.", ""]
    if doc.get("findings"):
        lines += (
            ["## Where cadencia loses, and engine findings", ""] + [f"- {f}" for f in doc["findings"]] + [""]
        )
    return "\n".join(lines)
