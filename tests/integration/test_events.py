"""POST /v1/events: one, many, NDJSON; idempotency; whole-batch rejection; metrics."""

from __future__ import annotations

import httpx
import orjson
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from connectors.keys import Keys
from connectors.store import RedisStore
from connectors.store.events import seen_member
from engine.api.app import build_app
from engine.metrics import Metrics
from tests.conftest import LiveServer, account

TS = "2026-03-02T09:00:00-06:00"


def ev(event_id: str, **fields):
    base = {
        "event_id": event_id,
        "ts": TS,
        "type": "message",
        "status": "delivered",
        "account_id": "A-1001",
        "channel": "sms",
    }
    base.update(fields)
    return base


def metric(api, name: str, **labels) -> float:
    """One sample of /metrics, found by its name and labels (any order)."""
    for family in text_string_to_metric_families(api.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    raise AssertionError(f"{name}{labels} not in /metrics")


def log_length(redis_url: str, settings) -> int:
    client = redis.Redis.from_url(redis_url)
    keys = Keys(settings.redis.shards)
    n = sum(client.xlen(keys.log(s)) for s in range(settings.redis.shards))
    client.close()
    return n


def test_one_many_and_ndjson(api):
    api.put("/v1/accounts", json=account())
    assert api.post("/v1/events", json=ev("e1")).json() == {"accepted": 1, "duplicates": 0}
    r = api.post("/v1/events", json=[ev("e2"), ev("e3", type="reply", text="pago el viernes")])
    assert r.status_code == 202 and r.json() == {"accepted": 2, "duplicates": 0}
    body = b"\n".join(orjson.dumps(ev(f"n{i}")) for i in range(4)) + b"\n"
    r = api.post("/v1/events", content=body, headers={"content-type": "application/x-ndjson"})
    assert r.json() == {"accepted": 4, "duplicates": 0}
    assert metric(api, "cadencia_events_total", type="message", source="api") == 6.0


def test_an_event_is_counted_once_ever(api, redis_url, settings):
    api.put("/v1/accounts", json=account())
    before = log_length(redis_url, settings)
    assert api.post("/v1/events", json=ev("dup")).json() == {"accepted": 1, "duplicates": 0}
    assert api.post("/v1/events", json=[ev("dup"), ev("dup")]).json() == {"accepted": 0, "duplicates": 2}
    assert log_length(redis_url, settings) == before + 1


def test_a_batch_longer_than_a_slice_is_applied_whole_and_once(api, redis_url, settings):
    from engine.gateways.ingest import SLICE_EVENTS

    api.put("/v1/accounts", json=[account("A-1001"), account("A-2002")])
    n = SLICE_EVENTS * 2 + 7  # three slices, and scripts of one account's shard cut in pieces
    events = [ev(f"long-{i}", account_id=("A-1001", "A-2002")[i % 2]) for i in range(n)]
    before = log_length(redis_url, settings)
    assert api.post("/v1/events", json=events).json() == {"accepted": n, "duplicates": 0}
    assert api.post("/v1/events", json=events).json() == {"accepted": 0, "duplicates": n}
    assert log_length(redis_url, settings) == before + n


def test_a_payment_applied_twice_counts_once(api):
    api.put("/v1/accounts", json=account())
    pay = ev("pay-1", type="payment", amount=100.0)
    api.post("/v1/events", json=pay)
    api.post("/v1/events", json=pay)
    assert api.get("/v1/accounts/A-1001").json()["state"]["paid_total"] == 100.0


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"type": "bogus"}, "type"),
        ({"status": "vanished"}, "status"),
        ({"ts": "2026-03-02T09:00:00"}, "ts"),
        ({"ts": "yesterday"}, "ts"),
        ({"type": "payment", "status": None}, "amount"),
        ({"type": "promise", "amount": 10}, "due_date"),
        ({"type": "call", "status": "answered", "party": "the cat"}, "party"),
        ({"type": "call", "status": "failed", "sip_code": 99}, "sip_code"),
        ({"channel": "pigeon"}, "channel"),
        ({"event_id": ""}, "event_id"),
    ],
)
def test_a_batch_with_one_bad_event_is_rejected_whole(api, redis_url, settings, bad, field):
    api.put("/v1/accounts", json=account())
    before = log_length(redis_url, settings)
    rejected = metric(api, "cadencia_events_rejected_total", reason="invalid")
    item = {**ev("bad"), **bad}
    item = {k: v for k, v in item.items() if v is not None}
    r = api.post("/v1/events", json=[ev("good"), item])
    assert r.status_code == 422
    details = r.json()["error"]["details"]
    assert len(details) == 1 and details[0]["index"] == 1 and details[0]["field"] == field
    assert log_length(redis_url, settings) == before  # nothing applied
    assert metric(api, "cadencia_events_rejected_total", reason="invalid") == rejected + 2
    assert api.post("/v1/events", json=ev("good")).json()["accepted"] == 1  # "good" was not seen


def test_unknown_account_rejects_the_batch(api, redis_url, settings):
    api.put("/v1/accounts", json=account())
    before = log_length(redis_url, settings)
    r = api.post("/v1/events", json=[ev("k1"), ev("k2", account_id="ghost")])
    assert r.status_code == 422
    assert r.json()["error"]["details"] == [
        {"index": 1, "field": "account_id", "message": "unknown account 'ghost'"}
    ]
    assert log_length(redis_url, settings) == before
    assert metric(api, "cadencia_events_rejected_total", reason="unknown_account") == 2.0


def test_malformed_bodies(api):
    r = api.post("/v1/events", content=b'{"event_id": ', headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    r = api.post(
        "/v1/events", content=b'{"a":1}\nnot json\n', headers={"content-type": "application/x-ndjson"}
    )
    assert r.status_code == 400 and "line 2" in r.json()["error"]["message"]
    r = api.post("/v1/events", json=[])
    assert r.status_code == 422
    r = api.post("/v1/events", json=[1, "two"])
    assert r.status_code == 422 and [d["field"] for d in r.json()["error"]["details"]] == ["$", "$"]
    assert metric(api, "cadencia_events_rejected_total", reason="invalid_json") == 2.0


def test_timeline_keeps_decisions_and_events_oldest_first(api):
    api.put("/v1/accounts", json=account())
    d = api.post("/v1/decide", json={"account_id": "A-1001", "now": TS}).json()
    api.post(
        "/v1/events",
        json=[
            ev("t2", ts="2026-03-02T11:00:00-06:00", decision_id=d["decision_id"], channel=d["channel"]),
            ev("t1", ts="2026-03-02T10:00:00-06:00"),
        ],
    )
    entries = api.get("/v1/accounts/A-1001/timeline").json()["entries"]
    assert [e["kind"] for e in entries] == ["decision", "event", "event"]
    assert [e.get("event_id") for e in entries[1:]] == ["t1", "t2"]
    assert entries[0]["decision_id"] == d["decision_id"]


def test_unknown_accounts_stay_unknown_once_others_are_known(api):
    api.put("/v1/accounts", json=account())
    assert api.post("/v1/events", json=ev("warm")).json()["accepted"] == 1  # A-1001 now known
    assert api.post("/v1/events", json=ev("cold", account_id="ghost")).status_code == 422
    assert api.get("/v1/accounts/ghost/timeline").status_code == 404


def test_more_items_than_max_batch_items_is_413_and_applies_nothing(api, redis_url, settings):
    """Work per request is bounded ([server] max_batch_items, 1,000 by default): beyond it
    the whole request is refused before any of it is looked at."""
    api.put("/v1/accounts", json=account())
    limit = settings.server.max_batch_items
    events = [ev(f"many-{i}") for i in range(limit + 1)]
    before = log_length(redis_url, settings)
    r = api.post("/v1/events", json=events)
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_many_items"
    assert str(limit) in r.json()["error"]["message"]
    assert log_length(redis_url, settings) == before
    assert metric(api, "cadencia_events_rejected_total", reason="too_many_items") == 1.0
    ndjson = b"\n".join(orjson.dumps(e) for e in events)
    r = api.post("/v1/events", content=ndjson, headers={"content-type": "application/x-ndjson"})
    assert r.status_code == 413
    decide = [{"account_id": "A-1001", "now": "2026-03-02T09:00:00-06:00"}] * (limit + 1)
    r = api.post("/v1/decide", json=decide)
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_many_items"
    assert api.put("/v1/accounts", json=[account(f"X-{i}") for i in range(limit + 1)]).status_code == 413
    assert api.get("/v1/accounts/X-0").status_code == 404
    assert api.post("/v1/events", json=events[:limit]).status_code == 202  # at the limit: fine


def test_an_event_naming_an_unconfigured_carrier_is_refused(api, redis_url, settings):
    """Carrier ids become router cells and metric labels: only the configured ones count."""
    api.put("/v1/accounts", json=account())
    before = log_length(redis_url, settings)
    r = api.post("/v1/events", json=[ev("c-ok", carrier="c1"), ev("c-typo", carrier="c1 ")])
    assert r.status_code == 422
    assert r.json()["error"]["details"] == [
        {"index": 1, "field": "carrier", "message": "not a [[carriers]] id (c1, c2)"}
    ]
    assert log_length(redis_url, settings) == before


def test_event_ids_are_remembered_for_the_dedup_window_and_older_events_refused(redis_url, settings):
    """Idempotency costs bounded memory: an id is kept for [redis] dedup_days of event time
    (data mode: after the account's newest event), and an event older than that is refused,
    since its id may be forgotten: every event is still applied once, ever."""
    store = RedisStore.from_url(redis_url, settings.redis.shards, dedup_days=35)
    server = LiveServer(build_app(settings, store, Metrics()))
    with server, httpx.Client(base_url=server.url, timeout=10) as api:
        api.put("/v1/accounts", json=account())
        first = ev("w-1", ts="2026-03-02T09:00:00-06:00")
        assert api.post("/v1/events", json=first).json()["accepted"] == 1
        assert api.post("/v1/events", json=first).json()["duplicates"] == 1
        later = ev("w-2", ts="2026-04-20T09:00:00-06:00")  # 49 days on: w-1 leaves the 35-day window
        assert api.post("/v1/events", json=later).json()["accepted"] == 1
        client = redis.Redis.from_url(redis_url)
        seen = Keys(settings.redis.shards).account("A-1001") + ":ez"
        assert client.zrange(seen, 0, -1) == [seen_member("w-2")]  # bounded: the old id is gone
        client.close()
        before = log_length(redis_url, settings)
        r = api.post("/v1/events", json=[ev("w-3", ts="2026-04-20T10:00:00-06:00"), first])
        assert r.status_code == 422 and r.json()["error"]["details"][0]["index"] == 1
        assert r.json()["error"]["details"][0]["field"] == "ts"
        assert log_length(redis_url, settings) == before  # nothing of the batch applied
        assert metric(api, "cadencia_events_rejected_total", reason="stale") == 2.0


def test_ids_kept_whole_by_an_earlier_version_still_count_as_duplicates(api, redis_url, settings):
    api.put("/v1/accounts", json=account())
    client = redis.Redis.from_url(redis_url)
    seen = Keys(settings.redis.shards).account("A-1001") + ":ez"
    client.zadd(seen, {"whole-1": 1772463600})  # 2026-03-02: ids were kept as they came
    client.close()
    assert api.post("/v1/events", json=ev("whole-1")).json() == {"accepted": 0, "duplicates": 1}
    assert api.post("/v1/events", json=ev("whole-2")).json() == {"accepted": 1, "duplicates": 0}


def test_ids_applied_before_the_dedup_window_existed_still_count_as_duplicates(api, redis_url, settings):
    api.put("/v1/accounts", json=account())
    client = redis.Redis.from_url(redis_url)
    client.sadd(Keys(settings.redis.shards).account("A-1001") + ":e", "old-1")  # an earlier version's set
    client.close()
    assert api.post("/v1/events", json=ev("old-1")).json() == {"accepted": 0, "duplicates": 1}
