"""The fault suite: `python -m benchmarks.faults` (`make faults`).

One deterministic world (the demo's portfolio and outcomes, engine/process/demo.py) is played twice
through the HTTP contract against real processes: once untouched, once while the dataflow is
SIGKILLed 20 times with events streaming, the API 5 times in the middle of a request, and
redis-server restarted once gracefully (AOF on, as `cadencia run` keeps it). The client does
what the contract tells a client to do: it retries a 503 or a lost connection, with the same
`request_id` for decisions and the same `event_id` for events.

The faulty run must end where the clean one ends: every account's `events_applied`, every
decision, `examples_learned`, and the published model byte for byte. The figures are printed
and written to benchmarks/results/faults.json.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import redis

from benchmarks.procs import ROOT, UVICORN_FLAGS, Child, base_env, wait_http
from connectors import keys as K
from engine.process.demo import account_doc, make_portfolio, outcomes
from engine.process.redis_server import RedisServer, free_port

RESULTS = ROOT / "benchmarks" / "results" / "faults.json"
START = datetime(2026, 3, 2, 8, 0, tzinfo=ZoneInfo("America/Mexico_City"))
EVENTS_PER_POST = 40
CONFIG = (ROOT / "engine" / "demo.toml").read_text()  # clock = "data": the world's time


class Engine:
    """redis-server (persisted), the API and the dataflow, each restartable on its own."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        config = tmp / "cadencia.toml"
        config.write_text(CONFIG)
        self.redis = RedisServer(data_dir=str(tmp / "redis"), persist=True).start()
        self.env = base_env()
        self.env |= {
            "CADENCIA_CONFIG": str(config),
            "CADENCIA_REDIS_URL": self.redis.url,
            "CADENCIA_FLOW_STATE_DIR": str(tmp / "flow"),
            "CADENCIA_ARCHIVE_DIR": str(tmp / "archive"),
        }
        (tmp / "logs").mkdir()
        self.port = free_port()
        self.api = self._start_api()
        self.flow = self._start_flow()
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def _start_api(self) -> Child:
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "engine.api.asgi:create_app",
            "--factory",
            "--port",
            str(self.port),
            *UVICORN_FLAGS,
        ]
        child = Child("api", argv, self.env, self.tmp / "logs")
        wait_http(child, self.port)
        return child

    def _start_flow(self) -> Child:
        return Child("dataflow", [sys.executable, "-m", "engine.flow.main"], self.env, self.tmp / "logs")

    def supervise(self) -> None:
        """What `cadencia run`'s supervisor does: a dataflow that died is started again."""
        with self.lock:
            if not self.flow.alive():
                self.counts["dataflow_exits"] += 1
                self.flow = self._start_flow()

    def kill_flow(self) -> None:
        with self.lock:
            self.flow.proc.send_signal(signal.SIGKILL)
            self.flow.proc.wait()
            self.counts["dataflow_sigkills"] += 1
            self.flow = self._start_flow()

    def kill_api(self, after_s: float) -> None:
        """SIGKILL the API `after_s` from now (a request in flight), then start it again."""

        def run() -> None:
            time.sleep(after_s)
            self.api.proc.send_signal(signal.SIGKILL)
            self.api.proc.wait()
            self.counts["api_sigkills"] += 1
            self.api = self._start_api()

        threading.Thread(target=run, daemon=True).start()

    def restart_redis(self, after_s: float) -> None:
        """A graceful restart (SIGTERM: redis-server fsyncs its AOF), in the middle of traffic."""

        def run() -> None:
            time.sleep(after_s)
            port, data = self.redis.port, str(self.redis.dir)
            self.redis.stop()
            self.redis = RedisServer(port=port, data_dir=data, persist=True).start()
            self.counts["redis_restarts"] += 1

        threading.Thread(target=run, daemon=True).start()

    def stop(self) -> None:
        self.flow.stop()
        self.api.stop()
        self.redis.stop()


class Client:
    """The contract's client: a 503 or a lost connection is retried, unchanged."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.retries: Counter[str] = Counter()

    def call(
        self, method: str, path: str, body: Any = None, ndjson: bool = False, timeout_s: float = 120.0
    ) -> Any:
        if ndjson:
            data, ctype = b"\n".join(orjson.dumps(x) for x in body), "application/x-ndjson"
        else:
            data, ctype = (None if body is None else orjson.dumps(body)), "application/json"
        deadline = time.monotonic() + timeout_s
        while True:
            self.engine.supervise()
            conn = http.client.HTTPConnection("127.0.0.1", self.engine.port, timeout=30)
            try:
                conn.request(method, path, body=data, headers={"Content-Type": ctype})
                resp = conn.getresponse()
                payload = resp.read()
                if resp.status < 400 or (path == "/readyz" and resp.status == 503):
                    return orjson.loads(payload) if payload else None
                if resp.status != 503:
                    raise RuntimeError(f"{method} {path}: {resp.status} {payload[:300]!r}")
                self.retries[orjson.loads(payload)["error"]["code"]] += 1
            except (OSError, http.client.HTTPException):
                self.retries["connection"] += 1
            finally:
                conn.close()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{method} {path} did not succeed within {timeout_s} s")
            time.sleep(0.05)

    def caught_up(self, timeout_s: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ready = self.call("GET", "/readyz")
            if ready.get("caught_up"):
                return ready
            time.sleep(0.02)
        raise TimeoutError(f"the dataflow did not catch up within {timeout_s} s: {ready}")


def plan_faults(posts: int, days: int, flow_kills: int, api_kills: int) -> dict[int, str]:
    """Which event post each fault comes before, spread over the run (deterministic)."""
    rng = random.Random(11)
    slots = rng.sample(range(1, posts), flow_kills + api_kills + 1)
    kinds = ["dataflow"] * flow_kills + ["api"] * api_kills + ["redis"]
    return dict(zip(slots, kinds, strict=True))


def play(accounts: int, days: int, seed: int, faults: dict[int, str] | None) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="cadencia-faults-"))
    engine = Engine(tmp)
    client = Client(engine)
    began = time.monotonic()
    try:
        rng = random.Random(seed)
        debtors = make_portfolio(accounts, rng)
        by_id = {d.account_id: d for d in debtors}
        client.call("PUT", "/v1/accounts", [account_doc(d, rng) for d in debtors])
        seq: Counter[str] = Counter()
        future: list[dict[str, Any]] = []
        answers_digest = hashlib.sha256()
        posts = 0
        for day in range(days):
            morning = START + timedelta(days=day)
            client.caught_up()
            if faults and faults.get(posts) == "api":  # the decide batch itself is cut off
                engine.kill_api(after_s=0.01)
            answers = client.call(
                "POST",
                "/v1/decide",
                [
                    {
                        "account_id": d.account_id,
                        "now": morning.isoformat(),
                        "horizon_hours": 14,
                        "request_id": f"day-{day}",
                    }
                    for d in debtors
                ],
            )
            answers_digest.update(orjson.dumps(answers, option=orjson.OPT_SORT_KEYS))
            day_rng = random.Random(f"{seed}-{day}")
            contacts = [a for a in answers if a["action"] == "contact"]
            events = [e for a in contacts for e in outcomes(by_id[a["account_id"]], a, day_rng, seq)]
            horizon = morning + timedelta(days=1)
            due = sorted(future + events, key=lambda e: e["ts"])
            today = [e for e in due if datetime.fromisoformat(e["ts"]) < horizon]
            future = [e for e in due if datetime.fromisoformat(e["ts"]) >= horizon]
            for i in range(0, len(today), EVENTS_PER_POST):
                posts += 1
                kind = faults.get(posts) if faults else None
                if kind == "dataflow":
                    engine.kill_flow()
                elif kind == "api":
                    engine.kill_api(after_s=0.002)
                elif kind == "redis":
                    engine.restart_redis(after_s=0.002)
                client.call("POST", "/v1/events", today[i : i + EVENTS_PER_POST], ndjson=True)
            client.call("POST", "/v1/clock", {"now": horizon.isoformat()})
        ready = client.caught_up()
        applied = {
            d.account_id: client.call("GET", f"/v1/accounts/{d.account_id}")["state"]["events_applied"]
            for d in debtors
        }
        r = redis.Redis.from_url(engine.redis.url)
        version = r.get(K.MODEL_VERSION).decode()
        model = r.hgetall(K.model(version))
        r.close()
        return {
            "elapsed_s": round(time.monotonic() - began, 1),
            "event_posts": posts,
            "events_applied": applied,
            "examples_learned": ready["examples_learned"],
            "model_version": version,
            "model_sha256": hashlib.sha256(model[b"data"]).hexdigest(),
            "decisions_sha256": answers_digest.hexdigest(),
            "faults": dict(engine.counts),
            "retries": dict(client.retries),
        }
    finally:
        engine.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=400)
    ap.add_argument("--days", type=int, default=6)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--flow-kills", type=int, default=20)
    ap.add_argument("--api-kills", type=int, default=5)
    args = ap.parse_args()
    clean = play(args.accounts, args.days, args.seed, None)
    faults = plan_faults(clean["event_posts"], args.days, args.flow_kills, args.api_kills)
    faulty = play(args.accounts, args.days, args.seed, faults)
    same_applied = sum(faulty["events_applied"][a] == n for a, n in clean["events_applied"].items())
    doc = {
        "world": {"accounts": args.accounts, "days": args.days, "seed": args.seed},
        "clean": {k: v for k, v in clean.items() if k != "events_applied"},
        "faulty": {k: v for k, v in faulty.items() if k != "events_applied"},
        "events_applied_total": {
            "clean": sum(clean["events_applied"].values()),
            "faulty": sum(faulty["events_applied"].values()),
        },
        "accounts_identical": same_applied,
        "identical": {
            "events_applied": same_applied == args.accounts,
            "examples_learned": clean["examples_learned"] == faulty["examples_learned"],
            "model": (clean["model_version"], clean["model_sha256"])
            == (faulty["model_version"], faulty["model_sha256"]),
            "decisions": clean["decisions_sha256"] == faulty["decisions_sha256"],
        },
    }
    RESULTS.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    f = faulty["faults"]
    print(
        f"faults: {f.get('dataflow_sigkills', 0)} dataflow SIGKILLs, "
        f"{f.get('api_sigkills', 0)} API SIGKILLs, {f.get('redis_restarts', 0)} redis restart(s), "
        f"{f.get('dataflow_exits', 0)} dataflow exit(s) restarted; "
        f"client retries {sum(faulty['retries'].values())} {faulty['retries']}"
    )
    print(
        f"events applied: clean {doc['events_applied_total']['clean']}, faulty "
        f"{doc['events_applied_total']['faulty']}; accounts identical {same_applied}/{args.accounts}"
    )
    print(f"examples learned: clean {clean['examples_learned']}, faulty {faulty['examples_learned']}")
    print(
        f"model: clean {clean['model_version']} {clean['model_sha256'][:12]}, "
        f"faulty {faulty['model_version']} {faulty['model_sha256'][:12]}"
    )
    print(
        f"decisions identical: {doc['identical']['decisions']}; wall time clean {clean['elapsed_s']} s, "
        f"faulty {faulty['elapsed_s']} s"
    )
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    if not all(doc["identical"].values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
