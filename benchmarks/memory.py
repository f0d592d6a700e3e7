"""Memory of the processes under test, from /proc: the peak resident set the kernel kept
(VmHWM) and the resident set now (VmRSS), summed over a process and its descendants (uvicorn
with several workers, or a dataflow that forks, counts whole)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any


def _status_kb(pid: int) -> dict[str, int]:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmHWM", "VmRSS"):
                    out[key] = int(rest.split()[0])
    except (OSError, ValueError):
        pass
    return out


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process on the machine."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                out[int(entry)] = int(f.read().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return out


def tree(pid: int, parents: Mapping[int, int] | None = None) -> list[int]:
    """`pid` and every descendant still alive."""
    parents = _parents() if parents is None else parents
    found, frontier = [pid], [pid]
    while frontier:
        children = [c for c, p in parents.items() if p in frontier]
        found += children
        frontier = children
    return found


def process(pid: int, parents: Mapping[int, int] | None = None) -> dict[str, Any]:
    """Peak and current resident memory of `pid` with its descendants, in MB. `hwm_mb` sums
    each process's own peak, an upper bound of the tree's peak when there are several."""
    stats = [_status_kb(p) for p in tree(pid, parents)]
    stats = [s for s in stats if s]
    return {"processes": len(stats),
            "hwm_mb": round(sum(s.get("VmHWM", 0) for s in stats) / 1024, 1),
            "rss_mb": round(sum(s.get("VmRSS", 0) for s in stats) / 1024, 1)}


def snapshot(named_pids: Mapping[str, int]) -> dict[str, dict[str, Any]]:
    parents = _parents()
    return {name: process(pid, parents) for name, pid in named_pids.items()}


def redis_info(client: Any) -> dict[str, Any]:
    """INFO memory's figures that matter here, and the number of keys."""
    info = client.info("memory")
    keep = ("used_memory", "used_memory_dataset", "used_memory_rss", "used_memory_peak",
            "mem_fragmentation_ratio", "allocator_frag_ratio")
    return {k: info[k] for k in keep if k in info} | {"keys": client.dbsize()}
