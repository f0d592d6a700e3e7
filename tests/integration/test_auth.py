"""Bearer tokens and roles, as the contract lists them."""

from __future__ import annotations

import pytest

from tests.conftest import BASE_CONFIG, account

TOKENS = """
[auth.tokens]
"dial-token" = "dialer"
"gw-token" = "gateway"
"admin-token" = "admin"
"${CADENCIA_TEST_READER}" = "reader"
"""


@pytest.fixture
def config_text(monkeypatch):
    monkeypatch.setenv("CADENCIA_TEST_READER", "read-token")
    return BASE_CONFIG + TOKENS


def h(token):
    return {"authorization": f"Bearer {token}"}


def test_roles(api):
    assert api.put("/v1/accounts", json=account()).status_code == 401
    assert api.put("/v1/accounts", json=account(), headers=h("dial-token")).status_code == 403
    assert api.put("/v1/accounts", json=account(), headers=h("admin-token")).status_code == 200
    decide = {"account_id": "A-1001", "now": "2026-03-02T09:00:00-06:00"}
    assert api.post("/v1/decide", json=decide, headers=h("gw-token")).status_code == 403
    assert api.post("/v1/decide", json=decide, headers=h("dial-token")).status_code == 200
    event = {"event_id": "e", "type": "optout", "account_id": "A-1001", "ts": "2026-03-02T09:00:00Z"}
    assert api.post("/v1/events", json=event, headers=h("dial-token")).status_code == 403
    assert api.post("/v1/events", json=event, headers=h("gw-token")).status_code == 202
    assert api.get("/v1/accounts/A-1001", headers=h("read-token")).status_code == 200
    assert api.get("/v1/accounts/A-1001", headers=h("nope")).status_code == 401
    r = api.get("/v1/accounts/A-1001", headers={"authorization": "Basic abc"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    for path in ("/metrics", "/healthz", "/openapi.json"):
        assert api.get(path).status_code == 200


def test_unauthorized_events_are_counted(api):
    api.post("/v1/events", json={"event_id": "e", "type": "optout", "account_id": "A-1001"})
    assert 'cadencia_events_rejected_total{reason="unauthorized"} 1.0' in api.get("/metrics").text
