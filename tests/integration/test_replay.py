"""Replayable learning: the dataflow's models are a function of the data. A run whose dataflow
is SIGKILLed mid-stream and resumed from its recovery store (on by default) learns exactly the
models of a run never interrupted, each example once, and counts the same results report; a
store of another Redis is refused;
published versions stay readable (GET /v1/models/{version}); a replay moves event time with
POST /v1/clock (data mode only)."""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import redis

from connectors import keys as K
from connectors.store import RedisStore
from engine.api.app import build_app
from engine.flow.main import REFUSED, StoreMismatch, prepare_store
from engine.metrics import Metrics
from engine.settings import Settings
from tests.conftest import ROOT, FlowProcess, LiveServer, account, cadencia_argv, wait_until

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
ACCOUNTS = [f"R-{i:02d}" for i in range(24)]


@contextlib.contextmanager
def serving(settings: Settings, url: str) -> Iterator[httpx.Client]:
    store = RedisStore.from_url(url, settings.redis.shards)
    server = LiveServer(build_app(settings, store, Metrics()))
    with server, httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def caught_up(api: httpx.Client, timeout_s: float = 30.0) -> dict:
    return wait_until(lambda: (r := api.get("/readyz").json()).get("caught_up") and r, timeout_s)


def play_day(api: httpx.Client, day: int) -> None:
    """One day: a decision per account, outcomes for some, then the day is over."""
    now = START + timedelta(days=day)
    answers = api.post(
        "/v1/decide",
        json=[{"account_id": a, "now": now.isoformat(), "channels": ["sms", "whatsapp"]} for a in ACCOUNTS],
    ).json()
    events = []
    for i, d in enumerate(answers):
        if d["action"] != "contact":
            continue
        sent = datetime.fromisoformat(d["send_at"])
        base = {"account_id": d["account_id"], "decision_id": d["decision_id"], "channel": d["channel"]}
        events.append(
            {
                **base,
                "event_id": f"{d['decision_id']}-s",
                "ts": sent.isoformat(),
                "type": "message",
                "status": "delivered",
            }
        )
        if (i + day) % 3 == 0:
            reply = (sent + timedelta(minutes=20)).isoformat()
            events.append(
                {**base, "event_id": f"{d['decision_id']}-r", "ts": reply, "type": "reply", "text": "ok"}
            )
    for i in range(0, len(events), 7):  # several posts, so a kill can land between them
        assert api.post("/v1/events", json=events[i : i + 7]).status_code == 202
    assert api.post("/v1/clock", json={"now": (now + timedelta(days=1)).isoformat()}).status_code == 202


def final_model(url: str) -> tuple[str, bytes, int]:
    client = redis.Redis.from_url(url)
    try:
        version = client.get(K.MODEL_VERSION).decode()
        meta = client.hgetall(K.model(version))
        return version, meta[b"data"], int(meta[b"examples_learned"])
    finally:
        client.close()


REPORT = "/v1/reports/results?from=2026-03-01&to=2026-03-10&by=day,channel,template,segment,carrier,campaign"


def run(settings: Settings, config_path: Path, url: str, kill_after: set[int]) -> tuple:
    state = Path(tempfile.mkdtemp(prefix="cadencia-replay-"))
    flow = FlowProcess(config_path, url, state_dir=state).start()
    try:
        with serving(settings, url) as api:
            assert api.put("/v1/accounts", json=[account(a) for a in ACCOUNTS]).status_code == 200
            for day in range(4):
                play_day(api, day)
                if day in kill_after:
                    time.sleep(0.7)  # past a snapshot (epoch 0.5 s), with work after it
                    flow.kill()  # SIGKILL: nothing flushed
                    flow = FlowProcess(config_path, url, state_dir=state).start()
                caught_up(api)
            ready = caught_up(api)
            version, data, learned = final_model(url)
            assert ready["examples_learned"] == learned > 0
            report = api.get(REPORT).json()
            assert report["totals"]["contacts"] > 0
            return version, data, learned, report
    finally:
        flow.stop()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_killed_dataflow_learns_what_an_uninterrupted_one_learns(settings, config_path, redis_server):
    clean_url, killed_url = redis_server.url[:-1] + "1", redis_server.url[:-1] + "2"
    for url in (clean_url, killed_url):
        redis.Redis.from_url(url).flushdb()
    clean = run(settings, config_path, clean_url, kill_after=set())
    killed = run(settings, config_path, killed_url, kill_after={0, 2})
    assert killed[2] == clean[2]  # every example learned once: none lost, none again
    assert killed[:3] == clean[:3]  # the same version, byte for byte the same weights
    assert killed[3] == clean[3]  # the results report counts every event once, to the unit


def test_published_versions_stay_readable(api, flow):
    assert api.get("/v1/models/m-999999").status_code == 404
    api.put("/v1/accounts", json=[account(a) for a in ACCOUNTS])
    play_day(api, 0)
    ready = caught_up(api)
    version = ready["model_version"]
    assert version.startswith("m-") and ready["examples_learned"] > 0
    doc = api.get(f"/v1/models/{version}").json()
    assert doc["version"] == version and doc["serving"] is True
    assert doc["examples_learned"] == ready["examples_learned"]
    assert doc["as_of"] <= ready["learned_through"]
    assert doc["model"]["updates"] >= doc["examples_learned"]


def test_the_clock_moves_event_time_without_records(api, flow):
    api.put("/v1/accounts", json=[account(a) for a in ACCOUNTS])
    play_day(api, 0)
    first = caught_up(api)
    later = START + timedelta(days=5)
    assert api.post("/v1/clock", json={"now": later.isoformat()}).status_code == 202
    wait_until(lambda: api.get("/readyz").json()["read_through"] == later.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert caught_up(api)["learned_through"] > first["learned_through"]
    bad = api.post("/v1/clock", json={"now": "yesterday"})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"].endswith("now")


def test_a_recovery_store_of_another_redis_is_refused(redis_url, tmp_path, config_path):
    client = redis.Redis.from_url(redis_url)
    prepare_store(tmp_path / "store", client)
    prepare_store(tmp_path / "store", client)  # the same pair again: a resume
    client.flushall()  # Redis lost its data (or this is another Redis)
    with pytest.raises(StoreMismatch, match="follows another Redis"):
        prepare_store(tmp_path / "store", client)
    client.set(K.FLOW_INSTANCE, b"x")
    client.hset(K.FLOW_OFFSETS, "0", "1-0")
    with pytest.raises(StoreMismatch, match="recovery store is not at"):
        prepare_store(tmp_path / "elsewhere", client)  # Redis has a flow's work, the store is gone
    client.close()
    # `cadencia run` stops instead of restarting a dataflow that refused
    proc = subprocess.run(
        cadencia_argv(config_path, redis_url, tmp_path / "data"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == REFUSED, proc.stdout + proc.stderr
    assert "recovery store is not at" in proc.stdout + proc.stderr
