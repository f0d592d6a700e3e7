"""Start the apps under test on a `procs.Stack` and load their data: the engine (API and
dataflow sharing one PROMETHEUS_MULTIPROC_DIR, as `cadencia run` does) and the two
reference apps of benchmarks/skeleton.py."""

from __future__ import annotations

import itertools
import random
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import redis

from benchmarks import workload
from benchmarks.procs import ROOT, Child, Stack, base_env, http_get, http_send
from benchmarks.skeleton import KEY_PREFIX, feature_hash


@dataclass
class Engine:
    port: int
    flow: Child
    redis_url: str


def start_engine(st: Stack, redis_url: str, api_cores: Sequence[int] | None,
                 flow_cores: Sequence[int] | None, src: Path = ROOT, prefix: str = "") -> Engine:
    """API and dataflow, named `api` and `dataflow` in the stack (after `prefix`)."""
    env = base_env(src)
    env.pop("CADENCIA_CONFIG", None)  # the embedded demo.toml
    env["CADENCIA_FLOW_STATE_DIR"] = str(st.tmp / f"{prefix}flow-state")  # recovery on, as by default
    env["CADENCIA_ARCHIVE_DIR"] = str(st.tmp / f"{prefix}archive")
    env["CADENCIA_REDIS_URL"] = redis_url
    prom = st.tmp / f"{prefix}prometheus"
    prom.mkdir()
    env["PROMETHEUS_MULTIPROC_DIR"] = str(prom)
    app, flow_module = entry_points(src)
    port = st.start_uvicorn(f"{prefix}api", app, env, api_cores, factory=True, cwd=src)
    flow = st.start(f"{prefix}dataflow", [sys.executable, "-m", flow_module], env, flow_cores, cwd=src)
    return Engine(port, flow, redis_url)


def entry_points(src: Path) -> tuple[str, str]:
    """The API factory and the dataflow module of the engine at `src`: an engine from before
    engine/ was split into rooms (`--engine-ref` of an older commit) names them differently."""
    if (src / "engine" / "api" / "asgi.py").exists():
        return "engine.api.asgi:create_app", "engine.flow.main"
    return "engine.asgi:create_app", "engine.flowmain"


def start_reference_apps(st: Stack, redis_url: str, cores: Sequence[int] | None) -> tuple[int, int]:
    env = {**base_env(), "SKELETON_REDIS_URL": redis_url}
    bare = st.start_uvicorn("bare", "benchmarks.skeleton:bare", env, cores)
    scoring = st.start_uvicorn("scoring", "benchmarks.skeleton:scoring", env, cores)
    return bare, scoring


def send_all(port: int, method: str, path: str, bodies: Iterator[bytes], ok: int,
             content_type: str = "application/json", connections: int = 4) -> list[bytes]:
    """Send every body on `connections` connections at once, each waiting for its answer (the
    bodies are made as they are needed); returns the answers in no particular order."""
    lock = threading.Lock()
    answers: list[bytes] = []
    failures: list[str] = []

    def worker() -> None:
        while not failures:
            with lock:
                body = next(bodies, None)
            if body is None:
                return
            status, answer = http_send(port, method, path, body, content_type)
            if status != ok:
                failures.append(f"{method} {path} answered {status}: {answer[:300]!r}")
            answers.append(answer)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise RuntimeError(failures[0])
    return answers


def put_accounts(port: int, docs: Iterator[dict[str, Any]], count: int, batch: int = 1000,
                 connections: int = 4) -> float:
    """PUT /v1/accounts: the next `count` docs in batches; returns accounts per second."""
    bodies = (orjson.dumps(list(itertools.islice(docs, min(batch, count - i))))
              for i in range(0, count, batch))
    started = time.perf_counter()
    send_all(port, "PUT", "/v1/accounts", bodies, 200, connections=connections)
    return count / (time.perf_counter() - started)


def load_accounts(port: int, n: int, batch: int = 1000) -> float:
    return put_accounts(port, workload.account_docs(n), n, batch)


def put_campaign(port: int, campaign: str, body: dict[str, Any]) -> None:
    status, answer = http_send(port, "PUT", f"/v1/campaigns/{campaign}", orjson.dumps(body))
    if status != 202:
        raise RuntimeError(f"PUT /v1/campaigns/{campaign} answered {status}: {answer[:300]!r}")


def wait_enrolment(port: int, campaign: str, timeout_s: float = 600.0) -> dict[str, Any]:
    """Poll GET /v1/campaigns/{campaign} until its enrolment is done; returns the seconds it
    took (from now: call right after the PUT), the accounts walked, and the queue sizes."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        status, answer = http_get(port, f"/v1/campaigns/{campaign}")
        if status != 200:
            raise RuntimeError(f"GET /v1/campaigns/{campaign} answered {status}: {answer[:300]!r}")
        doc = orjson.loads(answer)
        enrolment = doc.get("enrolment") or {}
        if enrolment.get("error"):
            raise RuntimeError(f"campaign {campaign}: enrolment failed: {enrolment['error']}")
        if enrolment.get("done"):
            elapsed = time.monotonic() - started
            return {"enrolment_s": round(elapsed, 2), "accounts": enrolment["accounts"],
                    "accounts_per_s": round(enrolment["accounts"] / max(elapsed, 1e-3), 1),
                    "ready": doc["ready"], "held": doc["held"]}
        time.sleep(0.1)
    raise RuntimeError(f"campaign {campaign}: enrolment not done in {timeout_s}s")


def setup_dialer(engine: Engine, n: int) -> dict[str, Any]:
    """The main run's dialer campaign: `n` accounts of its own (workload.dialer_docs), applied
    by the dataflow, then the campaign over them, enrolled."""
    rate = put_accounts(engine.port, workload.dialer_docs(n), n)
    flow_s = wait_flow_idle(engine)
    campaign = {"channel": "voice", "filter": workload.DIALER_FILTER}
    put_campaign(engine.port, workload.DIALER_CAMPAIGN, campaign)
    enrolled = wait_enrolment(engine.port, workload.DIALER_CAMPAIGN)
    if enrolled["ready"] < n:
        raise RuntimeError(f"campaign {workload.DIALER_CAMPAIGN}: {enrolled['ready']} of {n} accounts ready")
    return {"accounts_loaded_per_s": round(rate, 1), "flow_idle_after_s": round(flow_s, 1), **enrolled}


def post_events(port: int, events: workload.EventCursor, count: int, batch: int = 1000) -> int:
    accepted = 0
    for _ in range(0, count, batch):
        status, body = http_send(port, "POST", "/v1/events", events.batch(batch), "application/x-ndjson")
        if status != 202:
            raise RuntimeError(f"POST /v1/events answered {status}: {body[:300]!r}")
        accepted += orjson.loads(body)["accepted"]
    return accepted


def wait_flow_idle(engine: Engine, timeout_s: float = 120.0) -> float:
    """Wait until the dataflow has applied every logged record (readyz's flow_lag_s is 0).
    Returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if not engine.flow.alive():
            raise RuntimeError(f"the dataflow exited:\n{engine.flow.tail()}")
        _status, body = http_get(engine.port, "/readyz")
        doc = orjson.loads(body)
        if doc.get("flow_lag_s", 1.0) == 0.0:
            return time.monotonic() - started
        time.sleep(0.25)
    raise RuntimeError(f"the dataflow did not catch up in {timeout_s}s")


def seed_features(redis_url: str, n: int, seed: int = 3) -> None:
    """The reference scoring app's ~30 features per account, one hash each."""
    rng = random.Random(seed)
    client = redis.Redis.from_url(redis_url)
    try:
        pipe = client.pipeline(transaction=False)
        for i in range(n):
            pipe.hset(KEY_PREFIX + workload.account_id(i), mapping=feature_hash(rng))
            if i % 1000 == 999:
                pipe.execute()
        pipe.execute()
    finally:
        client.close()
