"""The load tools, each run bounded in time and against 127.0.0.1 only: the open-loop
generator (benchmarks/loadgen/openloop.c, compiled here), wrk with a Lua script that cycles
request bodies, and redis-benchmark."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.procs import placed

HERE = Path(__file__).resolve().parent
BUILD = HERE / "build"
OPENLOOP_SRC = HERE / "loadgen" / "openloop.c"
WRK_LUA = HERE / "loadgen" / "cycle.lua"
RS = 30  # ASCII record separator: ends each NDJSON batch in a bodies file


def build_openloop() -> Path:
    BUILD.mkdir(exist_ok=True)
    binary = BUILD / "openloop"
    if not binary.exists() or binary.stat().st_mtime < OPENLOOP_SRC.stat().st_mtime:
        subprocess.run(["gcc", "-O2", "-Wall", "-Wextra", "-o", str(binary), str(OPENLOOP_SRC), "-lm"],
                       check=True)
    return binary


def openloop(port: int, path: str, bodies: Path, rate: float, duration_s: float, *,
             connections: int = 64, warmup_s: float = 1.0, drain_s: float = 3.0,
             max_requests: int = 0, content_type: str = "application/json", ndjson_batches: bool = False,
             needles: Sequence[str] = (), every: Sequence[str] = (),
             cores: Sequence[int] | None = None) -> dict[str, Any]:
    """One run of the open-loop generator (`rate` 0: closed loop). Returns its JSON: answers
    holding each of `needles` under "matches", occurrences of each of `every` under
    "occurrences"."""
    argv = [str(build_openloop()), "-p", str(port), "-u", path, "-b", str(bodies), "-r", str(rate),
            "-d", str(duration_s), "-w", str(warmup_s), "-D", str(drain_s), "-c", str(connections),
            "-T", content_type]
    if max_requests:
        argv += ["-n", str(max_requests)]
    if ndjson_batches:
        argv += ["-s", str(RS)]
    for needle in needles:
        argv += ["-k", needle]
    for needle in every:
        argv += ["-K", needle]
    timeout = warmup_s + duration_s + drain_s + 30
    out = subprocess.run(placed(argv, cores), check=True, capture_output=True, text=True, timeout=timeout)
    return json.loads(out.stdout)


def wrk(port: int, path: str, bodies: Path, mix: Mapping[str, str] | None = None, *, threads: int = 1,
        connections: int = 32, duration_s: float = 10.0, occurrences: Mapping[str, str] | None = None,
        cores: Sequence[int] | None = None) -> dict[str, Any]:
    """wrk closed loop, POSTing the bodies of `bodies` (one per line) in turn; `mix` maps a
    substring of an answer to a name, and the answers holding each are counted ("matches");
    every occurrence of each substring of `occurrences` is counted ("occurrences")."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed")
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{int(duration_s)}s", "--latency",
            "-s", str(WRK_LUA), f"http://127.0.0.1:{port}{path}", "--", str(bodies)]
    for needle, name in (mix or {}).items():
        argv += [name, needle]
    for needle, name in (occurrences or {}).items():
        argv += ["#" + name, needle]
    out = subprocess.run(placed(argv, cores), check=True, capture_output=True, text=True,
                         timeout=duration_s + 30)
    for line in out.stdout.splitlines():
        if line.startswith("JSON "):
            return json.loads(line[5:])
    raise RuntimeError(f"wrk printed no JSON:\n{out.stdout}\n{out.stderr}")


def redis_benchmark(port: int, command: Sequence[str] = ("get",), requests: int = 50_000,
                    cores: Sequence[int] | None = None) -> dict[str, Any]:
    """One connection, one command at a time: the loopback round trip. Latencies in ms."""
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-n", str(requests), "-c", "1", "--csv"]
    argv += ["-t", command[0]] if len(command) == 1 else list(command)
    out = subprocess.run(placed(argv, cores), check=True, capture_output=True, text=True, timeout=120)
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    if not rows:
        raise RuntimeError(f"redis-benchmark printed no CSV:\n{out.stdout}\n{out.stderr}")
    row = rows[-1]
    return {"command": " ".join(command), "rps": float(row["rps"]),
            "p50_ms": float(row["p50_latency_ms"]), "p99_ms": float(row["p99_latency_ms"]),
            "max_ms": float(row["max_latency_ms"])}


def redis_benchmark_pipelined(port: int, cores: Sequence[int] | None = None, requests: int = 200_000,
                              depth: int = 16) -> dict[str, Any]:
    """SET pipelined `depth` deep on one connection: what one client connection can write."""
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-n", str(requests), "-c", "1",
            "-P", str(depth), "-t", "set", "--csv"]
    out = subprocess.run(placed(argv, cores), check=True, capture_output=True, text=True, timeout=120)
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    return {"command": f"set -P {depth}", "rps": float(rows[-1]["rps"])}
