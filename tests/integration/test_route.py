"""POST /v1/route through HTTP against real Redis and the real dataflow: the learned order,
rate limits shared through Redis, breakers that open on SIP 5xx and close on a good probe,
and leases revoked by a promise (409)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.conftest import BASE_CONFIG, account, wait_until

NOW = "2026-03-02T10:00:00-06:00"
ADDRESS = "+5213312345678"

ROUTE_CONFIG = (
    BASE_CONFIG.replace('id = "c2"\n', 'id = "c2"\ncps = 2\n')
    + """
[routing]
networks = ["telcel", "movistar", "telmex"]
breaker_failures = 3
probe_interval_s = 60
probe_share = 1.0
"""
)


@pytest.fixture
def config_text() -> str:
    return ROUTE_CONFIG


def route(api, **body):
    body.setdefault("address", ADDRESS)
    body.setdefault("now", NOW)
    return api.post("/v1/route", json=body)


def call(api, n: int, carrier: str, sip: int, status: str = "failed", at: str = NOW):
    events = [
        {
            "event_id": f"call-{carrier}-{sip}-{n}-{i}",
            "ts": at,
            "type": "call",
            "account_id": "A-1001",
            "channel": "voice",
            "contact_point_id": "m1",
            "carrier": carrier,
            "status": status,
            "sip_code": sip,
        }
        for i in range(n)
    ]
    r = api.post("/v1/events", json=events)
    assert r.status_code == 202, r.text


def test_route_answers_a_configured_carrier_and_the_others_in_order(api):
    r = route(api, network="telcel")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["carrier"] in ("c1", "c2")
    assert sorted([body["carrier"], *body["alternates"]]) == ["c1", "c2"]
    assert body["decision_id"].startswith("r-") and "explore=thompson" in body["reasons"]


def test_rate_limits_hold_across_requests_in_one_second(api):
    # c2 takes at most 2 attempts a second (in event time): the rest overflow to c1
    taken = [route(api, address=f"+52155000000{i}", network="telcel").json()["carrier"] for i in range(12)]
    assert taken.count("c2") <= 2
    later = [
        route(api, address=f"+52155000001{i}", network="telcel", now="2026-03-02T10:00:01-06:00").json()
        for i in range(12)
    ]
    assert sum(1 for b in later if b["carrier"] == "c2") <= 2


def test_bad_route_requests_are_refused_and_named(api):
    r = api.post("/v1/route", json={"network": "telcel", "channel": "fax"})
    assert r.status_code == 422
    assert {d["field"] for d in r.json()["error"]["details"]} >= {"address"} or "channel" in r.text
    r = api.post("/v1/route", json=[{"address": ADDRESS}, {"address": ADDRESS}])
    assert r.status_code == 422


def test_a_run_of_5xx_opens_the_breaker_and_a_good_probe_closes_it(api, flow):
    api.put("/v1/accounts", json=account())
    call(api, 3, "c1", 503)
    wait_until(
        lambda: 'cadencia_carrier_breaker_open{carrier="c1",network="telcel"} 1.0' in api.get("/metrics").text
    )
    first = route(api, network="telcel").json()
    assert first["carrier"] == "c1" and "probe=c1" in first["reasons"]  # the interval's one probe
    for i in range(20):
        at = f"2026-03-02T10:00:{10 + i:02d}-06:00"  # one second each: under c2's rate limit
        body = route(api, address=f"+52155000002{i}", network="telcel", now=at).json()
        assert body["carrier"] == "c2"
        assert "c1" not in body["alternates"] and "breaker_open=c1" in body["reasons"]
    # a run of failures with no success anywhere in between is the carrier's, not the network's
    assert (
        "breaker_open=c1" in route(api, network="movistar", now="2026-03-02T10:00:40-06:00").json()["reasons"]
    )
    call(api, 1, "c1", 200, status="answered", at="2026-03-02T10:02:00-06:00")
    wait_until(
        lambda: 'cadencia_carrier_breaker_open{carrier="c1",network="telcel"} 0.0' in api.get("/metrics").text
    )
    seen = {
        route(api, address=f"+52155000003{i}", network="telcel", now="2026-03-02T10:03:00-06:00").json()[
            "carrier"
        ]
        for i in range(30)
    }
    assert "c1" in seen


def test_a_network_outside_the_configured_ones_is_refused_and_changes_nothing(api):
    r = route(api, network="made-up")
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "network"
    point = {"id": "m1", "type": "mobile", "address": ADDRESS, "network": "x"}
    doc = account("A-NET", contact_points=[point])
    r = api.put("/v1/accounts", json=doc)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "contact_points.network"
    assert api.get("/v1/accounts/A-NET").status_code == 404
    assert 'cadencia_requests_rejected_total{code="validation_failed"' in api.get("/metrics").text


def test_a_promise_revokes_the_lease_and_route_refuses_it(api):
    api.put("/v1/accounts", json=account())
    d = api.post("/v1/decide", json={"account_id": "A-1001", "now": NOW, "channels": ["voice"]}).json()
    assert d["action"] == "contact"
    ok = route(api, decision_id=d["decision_id"], address=d["address"])
    assert ok.status_code == 200 and ok.json()["decision_id"] == d["decision_id"]
    promise = {
        "event_id": "p-1",
        "ts": NOW,
        "type": "promise",
        "account_id": "A-1001",
        "amount": 500,
        "due_date": "2026-03-05",
    }
    assert api.post("/v1/events", json=promise).status_code == 202
    r = route(api, decision_id=d["decision_id"], address=d["address"])
    assert r.status_code == 409
    error = r.json()["error"]
    assert error["code"] == "lease_revoked"
    assert error["details"] == [{"field": "decision_id", "message": "promise"}]
    assert api.get("/v1/accounts/A-1001").json()["state"]["lock"] is None


def test_a_cancelled_or_expired_lease_is_refused(api):
    api.put("/v1/accounts", json=account())
    d = api.post("/v1/decide", json={"account_id": "A-1001", "now": NOW, "channels": ["voice"]}).json()
    after = (datetime.fromisoformat(d["expires_at"]) + timedelta(minutes=1)).isoformat()
    late = route(api, decision_id=d["decision_id"], address=d["address"], now=after)
    assert late.status_code == 409 and late.json()["error"]["details"][0]["message"] == "expired"
    assert api.post(f"/v1/decisions/{d['decision_id']}/cancel").status_code == 200
    r = route(api, decision_id=d["decision_id"], address=d["address"])
    assert r.status_code == 409 and r.json()["error"]["details"][0]["message"] == "cancelled"
    assert route(api, decision_id="d-001-000000000000").status_code == 404
