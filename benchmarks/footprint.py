"""Redis bytes per account, on a redis-server and an engine of its own so nothing else is
counted. Accounts go in through the engine's write path (PUT /v1/accounts in batches), in
stages (100,000 then 1,000,000 in the full run); after each stage, once the dataflow has
applied what the loads logged, INFO memory and MEMORY USAGE of a sample of each key type.
Then the first `active` accounts get a day's activity each (one decision and three events,
a promise from one in ten, `workload.activity_events`) and the same is measured again: the
increment per active account, and the event-log streams, which grow per event rather than per account.

With the largest stage loaded, dialer/next against campaign size: one call campaign per
`dialer_sizes` (10,000, 100,000 and 1,000,000 in the full run: the earliest days past due
holding about that many accounts, the whole portfolio for the largest), each enrolment timed,
then POST /v1/dialer/next at a modest constant rate, open loop, in segments (each at a `now` of
its own, after a warm-up that absorbs the leases of the segment before coming back), the sizes
taking turns so that the machine's slow spells and accounts leased round after round weigh on
each alike. This runs right after the load, before the day's activity, so every campaign holds
the same kind of accounts. The campaigns are deleted afterwards (DELETE /v1/campaigns)
and the memory their leases left behind is kept out of the bytes per account."""

from __future__ import annotations

import itertools
import random
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import redis

from benchmarks import measure, memory, stacks, tools, workload
from benchmarks.procs import Stack, http_send, process_cpu_s
from connectors.keys import Keys
from engine.settings import DEFAULT_CONFIG
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
    # dialer/next latency against the portfolio's size (issue 4): a campaign over every
    # account loaded at each of these sizes (loaded in the same stages as above)
    dialer_sizes: Sequence[int] = (10_000, 100_000, 1_000_000)
    # requests/s offered, open loop: well below saturation (~40/s with 10 leads a request), so
    # the figure is the service, not a queue
    dialer_rate: float = 25.0
    dialer_count: int = 10  # leads asked for per request
    dialer_segments: int = 3
    dialer_segment_s: float = 6.0  # measured, after dialer_warmup_s; rate x (both) x count leads
    dialer_warmup_s: float = 0.5
    load_cores: Sequence[int] | None = field(default=None, repr=False)


def dialer_campaign(size: int) -> str:
    return f"fp-dialer-{size}"

DIALER_MIX = {'"leads":[]': "empty", '"decision_id"': "with_leads"}
DIALER_OCCURRENCES = {'"decision_id"': "leads"}


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
        # used_memory and keys the dialer runs left behind (their leases' decisions and
        # timelines), kept out of the per-account figures of the stages after them
        self.excluded = {"used_memory": 0, "keys": 0}
        self.dialer_left_behind: dict[str, int] = {}

    def measure(self, accounts: int, active: int) -> dict[str, Any]:
        rng = random.Random(accounts)
        pool = range(active) if active else range(accounts)
        sample = sorted(rng.sample(pool, min(self.plan.sample, len(pool))))
        info = memory.redis_info(self.client)
        used = info["used_memory"] - self.baseline["used_memory"] - self.excluded["used_memory"]
        keys = info["keys"] - self.baseline["keys"] - self.excluded["keys"]
        return {"accounts": accounts, "active_accounts": active, "redis": info,
                "bytes_per_account": round(used / accounts, 1),
                "keys_per_account": round(keys / accounts, 2),
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
        """One decision and three or four events for each of accounts 0..n-1."""
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
        events = [e for i in range(n) for e in workload.activity_events(i, decided.get(i))]
        bodies = (b"\n".join(chunk) + b"\n" for chunk in chunks(iter(events), self.plan.event_batch))
        t_events = time.monotonic()
        stacks.send_all(self.engine.port, "POST", "/v1/events", bodies, 202, NDJSON, self.plan.connections)
        events_s = time.monotonic() - t_events
        flow_s = stacks.wait_flow_idle(self.engine, 600)
        self.log(f"footprint: {n} decisions at {n / decide_s:.0f}/s, {len(events)} events at "
                 f"{len(events) / events_s:.0f}/s; dataflow idle {flow_s:.1f} s later")
        return {"accounts": n, "decisions_per_s": round(n / decide_s, 1),
                "contacts": len(self.decisions), "events": len(events),
                "events_per_s": round(len(events) / events_s, 1), "flow_idle_after_s": round(flow_s, 1),
                "elapsed_s": round(time.monotonic() - started, 1)}

    def dialer(self) -> list[dict[str, Any]]:
        """dialer/next against campaign size, with every account loaded: one campaign per
        `dialer_sizes` (the earliest days past due, about that many accounts; the whole
        portfolio for the largest), each enrolment timed; then segments at plan.dialer_rate,
        the sizes taking turns (rotated each round) so a slow spell of the machine or leads
        re-leased round after round weigh on every size alike. The campaigns are removed
        afterwards and what their leases left in Redis kept out of the per-account figures."""
        plan, port, loaded = self.plan, self.engine.port, self.loaded
        api_pid = self.st.named_pids()["fp-api"]
        stacks.wait_flow_idle(self.engine, 600)
        before = memory.redis_info(self.client)
        per_segment = int(plan.dialer_rate * (plan.dialer_segment_s + plan.dialer_warmup_s)) + 1
        sizes = sorted(plan.dialer_sizes)
        enrolments: dict[int, dict[str, Any]] = {}
        for size in sizes:
            flt = {} if size >= loaded else workload.early_dpd_filter(size / loaded)
            stacks.put_campaign(port, dialer_campaign(size), {"channel": "voice", "filter": flt})
            enrolments[size] = enrolled = stacks.wait_enrolment(port, dialer_campaign(size), 3600)
            enrolled["filter"] = flt
            self.log(f"footprint: campaign of ~{size} of {loaded} accounts ({flt or 'all'}): "
                     f"{enrolled['ready']} ready, enrolled in {enrolled['enrolment_s']:.1f} s")
            if per_segment * plan.dialer_count > enrolled["ready"]:
                raise RuntimeError(f"dialer campaign of {size}: {per_segment} requests of "
                                   f"{plan.dialer_count} leads would run its {enrolled['ready']} ready "
                                   "accounts dry")
        runs: dict[int, list[dict[str, Any]]] = {size: [] for size in sizes}
        day = 7
        for j in range(plan.dialer_segments):
            for size in sizes[j % len(sizes):] + sizes[: j % len(sizes)]:
                # a day of its own per segment, 10:00 in Mexico City: every lease of the segment
                # before has lapsed, and the day's activity (at BASE_NOW) is long past
                now = workload.BASE_NOW + timedelta(days=day)
                day += 1
                runs[size].append(self.dialer_segment(dialer_campaign(size), now, per_segment, api_pid))
        out = [self.dialer_summary(size, enrolments[size], runs[size]) for size in sizes]
        stacks.wait_flow_idle(self.engine, 600)
        for size in sizes:
            status, answer = http_send(port, "DELETE", f"/v1/campaigns/{dialer_campaign(size)}", b"")
            if status != 200:
                raise RuntimeError(f"DELETE /v1/campaigns/{dialer_campaign(size)}: {status} {answer[:200]!r}")
        after = memory.redis_info(self.client)
        left = {k: after[k] - before[k] for k in ("used_memory", "keys")}
        self.excluded = {k: self.excluded[k] + left[k] for k in left}
        self.dialer_left_behind = left
        return out

    def dialer_segment(self, campaign: str, now: Any, requests: int, api_pid: int) -> dict[str, Any]:
        plan = self.plan
        bodies = self.st.tmp / f"{campaign}-{now:%Y%m%d}.txt"
        body = workload.dialer_body(campaign, plan.dialer_count, now)
        bodies.write_bytes(b"\n".join([body] * requests) + b"\n")
        stacks.wait_flow_idle(self.engine, 600)
        cpu0 = process_cpu_s(api_pid)
        r = tools.openloop(self.engine.port, "/v1/dialer/next", bodies, plan.dialer_rate,
                           plan.dialer_segment_s, warmup_s=plan.dialer_warmup_s, connections=64,
                           max_requests=requests,
                           needles=list(DIALER_MIX), every=list(DIALER_OCCURRENCES), cores=plan.load_cores)
        r["api_cpu_s"] = round(process_cpu_s(api_pid) - cpu0, 3)  # warm-up included
        r["mix"] = {DIALER_MIX[k]: v for k, v in r.pop("matches").items()}
        r["mix"] |= {DIALER_OCCURRENCES[k]: v for k, v in r.pop("occurrences").items()}
        r["now"] = now.isoformat()
        return r

    def dialer_summary(self, size: int, enrolment: dict[str, Any],
                       runs: list[dict[str, Any]]) -> dict[str, Any]:
        plan = self.plan
        lat = measure.merged_latency(runs)
        answers = sum(r["ok"] for r in runs)
        errors = sum(r["completed"] - r["ok"] + r["errors"]["socket"] + r["errors"]["parse"]
                     + r["errors"]["unfinished"] for r in runs)
        statuses: dict[str, int] = {}
        for r in runs:
            for code, c in r["errors"]["status"].items():
                statuses[code] = statuses.get(code, 0) + c
        out = {"accounts": enrolment["ready"], "size": size, "loaded": self.loaded, "enrolment": enrolment,
               "rate": plan.dialer_rate, "count": plan.dialer_count,
               "latency_ms": lat, "service_ms": measure.merged_latency(runs, "service_ms"),
               "achieved_rate": round(statistics.fmean(r["achieved_rate"] for r in runs), 1),
               "answers": answers, "errors": errors, "error_statuses": statuses,
               "with_leads": sum(r["mix"]["with_leads"] for r in runs),
               "empty": sum(r["mix"]["empty"] for r in runs),
               "leads": sum(r["mix"]["leads"] for r in runs),
               "api_cpu_ms_per_request": round(1000 * sum(r["api_cpu_s"] for r in runs)
                                               / max(sum(r["sent"] for r in runs), 1), 3),
               "segments_p50_ms": [r["latency_ms"]["p50"] for r in runs],
               "runs": runs}
        self.log(f"footprint: dialer/next, campaign of {out['accounts']} with {self.loaded} loaded, "
                 f"{plan.dialer_rate:g}/s: p50 {lat['p50']:.3f} p99 {lat['p99']:.3f} p99.9 {lat['p999']:.3f} "
                 f"max {lat['max']:.1f} ms; {out['leads']} leads in {answers} answers "
                 f"({out['empty']} empty), {errors} errors {statuses or ''}")
        return out

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        stacks.wait_flow_idle(self.engine)
        self.baseline = memory.redis_info(self.client)
        # the largest campaign measured is the whole portfolio at its largest
        sizes = sorted(set(self.plan.stages) | {max(self.plan.dialer_sizes, default=0)} - {0})
        out: dict[str, Any] = {"plan": vars(self.plan) | {"stages": sizes,
                                                          "dialer_sizes": sorted(self.plan.dialer_sizes),
                                                          "load_cores": None},
                               "baseline": self.baseline, "loads": [], "stages": [], "dialer": []}
        for n in sizes:
            out["loads"].append(self.load_to(n))
            out["stages"].append(self.measure(n, 0))
            self.log(f"footprint @ {n} accounts: {out['stages'][-1]['bytes_per_account']:.0f} bytes/account")
        # right after the load, before any activity: every campaign holds the same kind of accounts
        if self.plan.dialer_sizes:
            out["dialer"] = self.dialer()
            out["dialer_left_behind"] = self.dialer_left_behind
        active = min(self.plan.active, self.loaded)
        out["activity"] = self.activity(active)
        out["active"] = self.measure(self.loaded, active)
        before, after = out["stages"][-1]["redis"], out["active"]["redis"]
        left_by_dialer = self.excluded["used_memory"]
        out["bytes_per_active_account"] = round(
            (after["used_memory"] - before["used_memory"] - left_by_dialer) / active, 1)
        self.log(f"footprint: +{out['bytes_per_active_account']:.0f} bytes per active account")
        out["dialer_excluded"] = dict(self.excluded)
        out["elapsed_s"] = round(time.monotonic() - started, 1)
        self.client.close()
        return out


def run(st: Stack, plan: FootprintPlan, pinning: dict[str, Any], src: Path,
        log: Callable[[str], None]) -> dict[str, Any]:
    return Footprint(st, plan, pinning, src, log).run()
