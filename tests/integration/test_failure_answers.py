"""Honest failure answers: a write Redis ran after the API stopped waiting is answered
`503 outcome_unknown`, a retry is safe, and no orphan lock stays behind. Redis is made slow
for real with `CLIENT PAUSE ... WRITE` (reads go through, writes wait, then run)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import redis

from connectors import keys as K
from connectors.store import RedisStore
from engine.api.app import build_app
from engine.metrics import Metrics
from tests.conftest import LiveServer, account, wait_until

NOW = "2026-03-02T10:00:00-06:00"
TIMEOUT_S = 0.3


@pytest.fixture
def slow_api(settings, redis_url) -> Iterator[httpx.Client]:
    store = RedisStore.from_url(redis_url, settings.redis.shards, timeout_s=TIMEOUT_S)
    with LiveServer(build_app(settings, store, Metrics())) as server, httpx.Client(
        base_url=server.url, timeout=10
    ) as client:
        yield client


@pytest.fixture
def admin(redis_url) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.execute_command("CLIENT", "UNPAUSE")
    client.close()


def _decision_keys(r: redis.Redis) -> list[bytes]:
    return list(r.scan_iter(f"{K.PREFIX}:*:d:*"))


def _lock(api: httpx.Client) -> dict | None:
    return api.get("/v1/accounts/A-1001").json()["state"]["lock"]


def test_a_request_id_repeat_answers_the_same_decision(api):
    api.put("/v1/accounts", json=account())
    body = {"account_id": "A-1001", "now": NOW, "channels": ["sms"], "request_id": "plan-42"}
    first = api.post("/v1/decide", json=body).json()
    again = api.post("/v1/decide", json=body).json()
    assert first["action"] == "contact" and again == first
    other = api.post("/v1/decide", json={**body, "request_id": "plan-43"}).json()
    assert other["action"] == "wait" and "contact_locked" in other["reasons"]
    assert api.get("/v1/accounts/A-1001").json()["state"]["reserved_contacts_8d"] == 1


def test_a_timed_out_reservation_is_answered_unknown_and_taken_back(slow_api, admin):
    slow_api.put("/v1/accounts", json=account())
    admin.execute_command("CLIENT", "PAUSE", 1500, "WRITE")
    r = slow_api.post("/v1/decide", json={"account_id": "A-1001", "now": NOW, "channels": ["sms"]})
    assert r.status_code == 503 and r.json()["error"]["code"] == "outcome_unknown", r.text
    # the paused script runs once the pause ends, and the engine cancels what it made
    (key,) = wait_until(lambda: _decision_keys(admin), timeout_s=10)
    wait_until(lambda: admin.hget(key, "state") == b"cancelled", timeout_s=10)
    assert _lock(slow_api) is None
    assert slow_api.get("/v1/accounts/A-1001").json()["state"]["reserved_contacts_8d"] == 0


def test_a_retry_with_the_request_id_finds_the_timed_out_decision(slow_api, admin):
    slow_api.put("/v1/accounts", json=account())
    body = {"account_id": "A-1001", "now": NOW, "channels": ["sms"], "request_id": "r-1"}
    admin.execute_command("CLIENT", "PAUSE", 1000, "WRITE")
    r = slow_api.post("/v1/decide", json=body)
    assert r.status_code == 503 and r.json()["error"]["code"] == "outcome_unknown"
    wait_until(lambda: _decision_keys(admin), timeout_s=10)
    retry = slow_api.post("/v1/decide", json=body).json()
    assert retry["action"] == "contact"
    assert _lock(slow_api)["decision_id"] == retry["decision_id"]
    assert slow_api.get("/v1/accounts/A-1001").json()["state"]["reserved_contacts_8d"] == 1


def test_an_event_batch_that_timed_out_is_applied_once_on_retry(slow_api, admin):
    slow_api.put("/v1/accounts", json=account())
    event = {"event_id": "p-1", "ts": NOW, "type": "payment", "account_id": "A-1001", "amount": 50.0}
    admin.execute_command("CLIENT", "PAUSE", 1000, "WRITE")
    r = slow_api.post("/v1/events", json=[event])
    assert r.status_code == 503 and r.json()["error"]["code"] == "outcome_unknown"
    time.sleep(1.2)
    again = slow_api.post("/v1/events", json=[event])
    assert again.status_code == 202 and again.json() == {"accepted": 0, "duplicates": 1}
    assert slow_api.get("/v1/accounts/A-1001").json()["state"]["paid_total"] == 50.0


def test_no_connection_is_plain_unavailable(settings):
    """Nothing sent, nothing applied: the ordinary 503."""
    from engine.process.redis_server import free_port

    store = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0", settings.redis.shards)
    with LiveServer(build_app(settings, store, Metrics(), follow_models=False)) as server:
        r = httpx.post(f"{server.url}/v1/decide", json={"account_id": "A-1001", "now": NOW})
    assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable"


def test_redis_stopping_writes_mid_batch_takes_back_every_slice_it_reserved(settings, slow_api, admin):
    """A batch of many slices; Redis stops running writes once the first slice's reservations
    are in. The batch answers `outcome_unknown` (some slices applied, one maybe), and once
    Redis runs writes again every reservation the batch made is taken back: no lock, nothing
    counted against a cap, and the same batch decided again contacts every account."""
    n = settings.server.slice_items * 60
    ids = [f"M-{i:03d}" for i in range(n)]
    assert slow_api.put("/v1/accounts", json=[account(a) for a in ids]).status_code == 200
    loaded = admin.dbsize()
    paused = threading.Event()

    def pause_after_first_slice() -> None:
        deadline = time.monotonic() + 10
        while admin.dbsize() == loaded and time.monotonic() < deadline:
            time.sleep(0.0005)
        admin.execute_command("CLIENT", "PAUSE", 1500, "WRITE")
        paused.set()

    watcher = threading.Thread(target=pause_after_first_slice, daemon=True)
    watcher.start()
    reqs = [{"account_id": a, "now": NOW, "channels": ["sms"]} for a in ids]
    r = slow_api.post("/v1/decide", json=reqs)
    watcher.join()
    assert paused.is_set()
    assert r.status_code == 503 and r.json()["error"]["code"] == "outcome_unknown", r.text
    applied = int(r.json()["error"]["message"].split("(after ")[1].split(" of ")[0])
    assert 0 < applied < n  # it stopped partway: earlier slices had reserved

    def every_decision_cancelled() -> bool:
        states = [admin.hget(k, "state") for k in _decision_keys(admin)]
        return len(states) >= applied and all(s == b"cancelled" for s in states)

    wait_until(every_decision_cancelled, timeout_s=20)
    for a in (ids[0], ids[applied - 1], ids[applied]):
        state = slow_api.get(f"/v1/accounts/{a}").json()["state"]
        assert state["lock"] is None and state["reserved_contacts_8d"] == 0, a
    again = slow_api.post("/v1/decide", json=reqs)
    assert again.status_code == 200
    assert all(d["action"] == "contact" for d in again.json())
