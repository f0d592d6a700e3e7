"""Redis bytes per account, on a redis-server and an engine of its own so nothing else is
counted. Accounts go in through the engine's write path (PUT /v1/accounts in batches), in
stages (100,000 then 1,000,000 in the full run); after each stage, once the dataflow has
applied what the loads logged, INFO memory and MEMORY USAGE of a sample of each key type.
Then the first `active` accounts get a day's activity each (one decision and three events,
`workload.activity_events`) and the same is measured again: the increment per active
account, and the event-log streams, which grow per event rather than per account."""

from __future__ import annotations

import itertools
import random
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import redis

from benchmarks import memory, stacks, workload
from benchmarks.procs import Stack
from connectors.keys import Keys
from engine.asgi import DEFAULT_CONFIG
from engine.settings import load as load_settings

NDJSON = "application/x-ndjson"


@dataclass
class FootprintPlan:
    stages: Sequence[int] = (100_000, 1_000_000)
    batch: int = 1000  # accounts per PUT (a batch of 1000 is ~0.6 MB)
    connections: int = 4
    decide_batch: int = 500
    event_batch: int = 1000
    sample: int = 300  # accounts whose keys get MEMORY USAGE
    # Accounts given a day's activity. The increment per active account does not depend on how
    # many are active (8,025 bytes with 20,000 of 20,000, 8,045 with 100,000 of 1,000,000), and
    # 30,000 keep the full run's footprint under 4 minutes (100,000 took 96 s of it).
    active: int = 30_000


def key_sizes(client: redis.Redis, keys: Keys, account_ids: Sequence[str],
              decision_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """MEMORY USAGE (every element counted: SAMPLES 0) of each key type of the sample."""
    kinds: dict[str, Callable[[str], str]] = {
        "account hash": keys.account, "contacts zset (:c)": keys.contacts,
        "event ids set (:e)": keys.seen, "timeline stream (:t)": keys.timeline}
    named = {kind: [build(a) for a in account_ids] for kind, build in kinds.items()}
    named["decision hash (d:)"] = [keys.decision(d) for d in decision_ids]
    out = {}
    for kind, names in named.items():
        pipe = client.pipeline(transaction=False)
        for name in names:
            pipe.memory_usage(name, samples=0)
        sizes = [s for s in pipe.execute() if s is not None]
        out[kind] = {"sampled": len(names), "present": len(sizes),
                     "mean_bytes": round(statistics.fmean(sizes), 1) if sizes else 0.0,
                     "max_bytes": max(sizes, default=0)}
    return out


def log_streams(client: redis.Redis, keys: Keys) -> dict[str, Any]:
    pipe = client.pipeline(transaction=False)
    for shard in range(keys.shards):
        pipe.memory_usage(keys.log(shard), samples=0)
        pipe.xlen(keys.log(shard))
    got = pipe.execute()
    return {"bytes": sum(b or 0 for b in got[0::2]), "entries": sum(got[1::2])}


def chunks(items: Iterator[bytes], size: int) -> Iterator[list[bytes]]:
    while chunk := list(itertools.islice(items, size)):
        yield chunk


class Footprint:
    def __init__(self, st: Stack, plan: FootprintPlan, pinning: dict[str, Any], src: Path,
                 log: Callable[[str], None]) -> None:
        self.st, self.plan, self.log = st, plan, log
        srv = st.start_redis(pinning["redis"])
        self.engine = stacks.start_engine(st, srv.url, pinning["app"], pinning["flow"], src, prefix="fp-")
        self.client = redis.Redis.from_url(srv.url)
        self.keys = Keys(load_settings(DEFAULT_CONFIG).redis.shards)
        self.docs: Iterator[dict[str, Any]] = workload.account_docs(max(plan.stages))
        self.loaded = 0
        self.decisions: dict[int, str] = {}  # sample account index -> its decision id

    def measure(self, accounts: int, active: int) -> dict[str, Any]:
        rng = random.Random(accounts)
        pool = range(active) if active else range(accounts)
        sample = sorted(rng.sample(pool, min(self.plan.sample, len(pool))))
        info = memory.redis_info(self.client)
        used = info["used_memory"] - self.baseline["used_memory"]
        return {"accounts": accounts, "active_accounts": active, "redis": info,
                "bytes_per_account": round(used / accounts, 1),
                "keys_per_account": round((info["keys"] - self.baseline["keys"]) / accounts, 2),
                "log": log_streams(self.client, self.keys),
                "key_sizes": key_sizes(self.client, self.keys, [workload.account_id(i) for i in sample],
                                       [self.decisions[i] for i in sample if i in self.decisions]),
                "processes": memory.snapshot({"api": self.st.named_pids()["fp-api"],
                                              "dataflow": self.engine.flow.pid})}

    def load_to(self, n: int) -> dict[str, Any]:
        count = n - self.loaded
        started = time.monotonic()
        rate = stacks.put_accounts(self.engine.port, self.docs, count, self.plan.batch, self.plan.connections)
        flow_s = stacks.wait_flow_idle(self.engine, 600)
        self.loaded = n
        self.log(f"footprint: {count} accounts upserted at {rate:.0f}/s; dataflow idle {flow_s:.1f} s later")
        return {"upserted": count, "accounts_per_s": round(rate, 1), "flow_idle_after_s": round(flow_s, 1),
                "elapsed_s": round(time.monotonic() - started, 1)}

    def activity(self, n: int) -> dict[str, Any]:
        """One decision and three events for each of accounts 0..n-1."""
        started = time.monotonic()
        batches = (orjson.dumps([{"account_id": workload.account_id(i), "now": workload.BASE_NOW.isoformat()}
                                 for i in range(j, min(j + self.plan.decide_batch, n))])
                   for j in range(0, n, self.plan.decide_batch))
        answers = stacks.send_all(self.engine.port, "POST", "/v1/decide", batches, 200,
                                  connections=self.plan.connections)
        decided: dict[int, dict[str, Any]] = {}
        for answer in answers:
            for d in orjson.loads(answer):
                decided[int(d["account_id"].split("-")[1])] = d
        decide_s = time.monotonic() - started
        self.decisions = {i: d["decision_id"] for i, d in decided.items() if d.get("action") == "contact"}
        events = itertools.chain.from_iterable(workload.activity_events(i, decided.get(i)) for i in range(n))
        bodies = (b"\n".join(chunk) + b"\n" for chunk in chunks(events, self.plan.event_batch))
        t_events = time.monotonic()
        stacks.send_all(self.engine.port, "POST", "/v1/events", bodies, 202, NDJSON, self.plan.connections)
        events_s = time.monotonic() - t_events
        flow_s = stacks.wait_flow_idle(self.engine, 600)
        self.log(f"footprint: {n} decisions at {n / decide_s:.0f}/s, {3 * n} events at "
                 f"{3 * n / events_s:.0f}/s; dataflow idle {flow_s:.1f} s later")
        return {"accounts": n, "decisions_per_s": round(n / decide_s, 1),
                "contacts": len(self.decisions), "events": 3 * n,
                "events_per_s": round(3 * n / events_s, 1), "flow_idle_after_s": round(flow_s, 1),
                "elapsed_s": round(time.monotonic() - started, 1)}

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        stacks.wait_flow_idle(self.engine)
        self.baseline = memory.redis_info(self.client)
        out: dict[str, Any] = {"plan": vars(self.plan) | {"stages": list(self.plan.stages)},
                               "baseline": self.baseline, "loads": [], "stages": []}
        for n in self.plan.stages:
            out["loads"].append(self.load_to(n))
            out["stages"].append(self.measure(n, 0))
            self.log(f"footprint @ {n} accounts: {out['stages'][-1]['bytes_per_account']:.0f} bytes/account")
        active = min(self.plan.active, self.plan.stages[0])
        out["activity"] = self.activity(active)
        out["active"] = self.measure(self.loaded, active)
        before, after = out["stages"][-1]["redis"], out["active"]["redis"]
        out["bytes_per_active_account"] = round((after["used_memory"] - before["used_memory"]) / active, 1)
        self.log(f"footprint: +{out['bytes_per_active_account']:.0f} bytes per active account")
        out["elapsed_s"] = round(time.monotonic() - started, 1)
        self.client.close()
        return out


def run(st: Stack, plan: FootprintPlan, pinning: dict[str, Any], src: Path,
        log: Callable[[str], None]) -> dict[str, Any]:
    return Footprint(st, plan, pinning, src, log).run()
