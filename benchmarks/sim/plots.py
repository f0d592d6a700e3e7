"""The report's PNGs (matplotlib, Agg). Imported only by the command line, never by tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from benchmarks.sim.report import ORDER


def net_by_day(doc: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name in ORDER:
        p = doc["policies"].get(name)
        if p:
            days = [d["day"] for d in p["per_day"]]
            ax.plot(days, [d["net"] for d in p["per_day"]], marker="o", ms=3, label=name)
    o = doc["setup"]["outage"]
    ax.axvspan(
        o["start_h"] / 24 + 1, o["end_h"] / 24 + 1, color="red", alpha=0.08, label=f"{o['carrier']} down"
    )
    ax.set_xlabel("day")
    ax.set_ylabel(f"net recovery ({doc['setup']['currency']})")
    ax.set_title("Net recovery by day (collected minus contact and carrier cost)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def carrier_share(doc: dict[str, Any], path: Path, bucket_h: int = 6) -> None:
    names = [n for n in ORDER if n in doc["policies"] and doc["policies"][n]["carrier_hours"]]
    fig, axes = plt.subplots(len(names), 1, figsize=(8, 1.9 * len(names) + 0.6), sharex=True, squeeze=False)
    hours = 24 * doc["setup"]["days"]
    o = doc["setup"]["outage"]
    for ax, name in zip(axes[:, 0], names, strict=True):
        counts: dict[str, list[int]] = {c: [0] * (hours // bucket_h + 1) for c in ("c1", "c2", "c3")}
        for key, n in doc["policies"][name]["carrier_hours"].items():
            h, carrier = key.split("|")
            counts[carrier][int(h) // bucket_h] += n
        totals = [sum(v[i] for v in counts.values()) or 1 for i in range(hours // bucket_h + 1)]
        x = [i * bucket_h / 24 for i in range(len(totals))]
        ax.stackplot(
            x,
            *[[v / t for v, t in zip(counts[c], totals, strict=True)] for c in counts],
            labels=list(counts),
            step="post",
        )
        ax.axvspan(o["start_h"] / 24, o["end_h"] / 24, color="red", alpha=0.15)
        ax.set_ylabel(name)
        ax.set_ylim(0, 1)
    axes[0, 0].legend(loc="upper right", ncol=3, fontsize=8)
    axes[0, 0].set_title(f"Share of calls per carrier ({bucket_h} h buckets); red: {o['carrier']} down")
    axes[-1, 0].set_xlabel("day of the run")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def latency(samples: list[list[float]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.hist([1000 * s for s, _n in samples], bins=50)
    ax.set_xlabel("client-side latency of one POST /v1/decide batch (ms)")
    ax.set_ylabel("requests")
    ax.set_title("cadencia decide latency (batches of up to 100 accounts)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
