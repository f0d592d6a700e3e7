"""/metrics, /healthz, /readyz, /openapi.json, and what happens when Redis goes away."""

from __future__ import annotations

import re
import shutil
import subprocess

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from connectors.store import RedisStore
from engine.api.app import build_app
from engine.metrics import Metrics
from engine.process.redis_server import RedisServer
from tests.conftest import LiveServer, account, wait_until

CONTRACT_SERIES = [
    "cadencia_decision_duration_seconds",
    "cadencia_events_total",
    "cadencia_events_rejected_total",
    "cadencia_flow_lag_seconds",
    "cadencia_model_updates_total",
    "cadencia_policy_blocks_total",
    "cadencia_carrier_selections_total",
]


def test_metrics_expose_the_contract_series(api):
    api.put("/v1/accounts", json=account())
    api.post(
        "/v1/decide", json={"account_id": "A-1001", "now": "2026-03-02T09:00:00-06:00", "channels": ["sms"]}
    )
    text = api.get("/metrics").text
    for series in CONTRACT_SERIES:
        assert f"# TYPE {series.removesuffix('_total')}" in text, series
    assert 'cadencia_decision_duration_seconds_bucket{action="contact",endpoint="decide",le="0.0001"}' in text
    assert 'le="0.003"' in text  # the decide SLO is a bucket boundary
    assert re.search(
        r'cadencia_decision_duration_seconds_count\{action="contact",endpoint="decide"\} 1\.0', text
    )
    assert 'cadencia_carrier_selections_total{carrier="c1"}' in text
    assert not re.search(r"A-1001|\+52133", text)  # no account id or phone number in any label


def test_every_declared_metric_has_a_series_and_promtool_accepts_them(api, metrics):
    """No family declared and never set: after one decision and one event each has a sample,
    and the exposition passes `promtool check metrics` (Prometheus' own linter)."""
    api.put("/v1/accounts", json=account())
    api.post(
        "/v1/decide", json={"account_id": "A-1001", "now": "2026-03-02T09:00:00-06:00", "channels": ["sms"]}
    )
    event = {
        "event_id": "m-1",
        "ts": "2026-03-02T09:05:00-06:00",
        "type": "message",
        "status": "delivered",
        "account_id": "A-1001",
        "channel": "sms",
    }
    assert api.post("/v1/events", json=event).status_code == 202
    text = api.get("/metrics").text
    declared = {f.name for f in metrics.registry.collect()}
    exposed = {f.name for f in text_string_to_metric_families(text) if f.samples}
    assert declared and declared <= exposed, declared - exposed
    assert 'cadencia_carrier_answer_ratio{carrier="c1",network="all"}' in text
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus; CI installs it)")
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_healthz_and_openapi(api):
    assert api.get("/healthz").status_code == 200
    doc = api.get("/openapi.json").json()
    for path in (
        "/v1/accounts",
        "/v1/accounts/{account_id}",
        "/v1/accounts/{account_id}/timeline",
        "/v1/decide",
        "/v1/decisions/{decision_id}/cancel",
        "/v1/events",
        "/v1/dialer/next",
        "/v1/route",
        "/v1/campaigns/{campaign}",
        "/metrics",
        "/healthz",
        "/readyz",
    ):
        assert path in doc["paths"], path
    event = doc["components"]["schemas"]["Event"]
    assert {"$ref": "#/components/schemas/PaymentEvent"} in event["anyOf"]


def test_readyz_follows_the_dataflow(api, flow):
    api.put("/v1/accounts", json=account())
    wait_until(lambda: api.get("/readyz").status_code == 200)
    body = api.get("/readyz").json()
    assert body["redis"] and body["models"] and body["flow"]


def test_redis_down_means_503_and_not_ready(settings):
    server = RedisServer().start()
    store = RedisStore.from_url(server.url, settings.redis.shards)
    app = build_app(settings, store, Metrics())
    with LiveServer(app) as live, httpx.Client(base_url=live.url, timeout=10) as client:
        assert client.put("/v1/accounts", json=account()).status_code == 200
        server.stop()
        r = client.post("/v1/decide", json={"account_id": "A-1001"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable"
        r = client.post("/v1/events", json={"event_id": "x", "type": "optout", "account_id": "A-1001"})
        assert r.status_code == 503
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200
        text = client.get("/metrics").text
        assert 'cadencia_events_rejected_total{reason="unavailable"} 1.0' in text


def test_scripts_flushed_from_redis_are_loaded_again(api, redis_url):
    import redis

    api.put("/v1/accounts", json=account())
    client = redis.Redis.from_url(redis_url)
    client.script_flush()
    client.close()
    r = api.post("/v1/decide", json={"account_id": "A-1001", "now": "2026-03-02T09:00:00-06:00"})
    assert r.status_code == 200 and r.json()["action"] == "contact"
