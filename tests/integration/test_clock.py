"""`[server] clock = "wall"`: request and event times are bounded by the server's clock, and
no client clock can take a reservation lock early."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import BASE_CONFIG, account, wait_until

SKEW_S = 300


def _wall_config() -> str:
    text = BASE_CONFIG.replace('clock = "data"', 'clock = "wall"')
    # a lead's lease that runs out a minute after it is handed out, so the test can reach past it
    return text.replace("[decisions]\n", "[decisions]\nlease_minutes = 1\n")


@pytest.fixture
def config_text() -> str:
    return _wall_config()


def _midday_zone() -> str:
    """A fixed-offset zone where it is about 13:00 now, inside every calling window."""
    utc_hour = datetime.now(UTC).hour
    offset = (13 - utc_hour + 12) % 24 - 12  # local = utc + offset, offset in -12..11
    return "Etc/GMT" + (f"{-offset:+d}" if offset else "")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def _account(api, account_id: str = "W-1") -> None:
    doc = account(account_id, country="GB", timezone=_midday_zone())
    assert api.put("/v1/accounts", json=doc).status_code == 200


def test_a_now_too_far_ahead_or_behind_is_refused_naming_the_field(api):
    _account(api)
    for shift in (SKEW_S + 60, -(SKEW_S + 60)):
        r = api.post("/v1/decide", json={"account_id": "W-1", "now": _iso(time.time() + shift)})
        assert r.status_code == 422, r.text
        detail = r.json()["error"]["details"][0]
        assert (detail["index"], detail["field"]) == (0, "now")
        assert "max_skew_s" in detail["message"]
    assert api.get("/v1/accounts/W-1").json()["state"]["lock"] is None


def test_a_batch_with_one_skewed_now_reserves_nothing(api):
    _account(api, "W-1")
    _account(api, "W-2")
    body = [
        {"account_id": "W-1", "now": _iso(time.time())},
        {"account_id": "W-2", "now": _iso(time.time() + 3600)},
    ]
    r = api.post("/v1/decide", json=body)
    assert r.status_code == 422
    assert [(d["index"], d["field"]) for d in r.json()["error"]["details"]] == [(1, "now")]
    assert api.get("/v1/accounts/W-1").json()["state"]["lock"] is None


def test_a_now_within_the_skew_is_decided(api):
    _account(api)
    r = api.post("/v1/decide", json={"account_id": "W-1", "now": _iso(time.time() + 60)})
    assert r.status_code == 200, r.text


def test_dialer_and_route_bound_now_too(api):
    _account(api)
    late = _iso(time.time() - 3600)
    assert api.put("/v1/campaigns/c", json={"channel": "voice"}).status_code == 202
    r = api.post("/v1/dialer/next", json={"campaign": "c", "now": late})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "now"
    r = api.post("/v1/route", json={"address": "+5213312345678", "now": late})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "now"


def test_events_ahead_of_the_clock_are_refused_and_the_past_is_accepted(api, metrics):
    _account(api)
    ahead = {"event_id": "e-ahead", "ts": _iso(time.time() + 3600), "type": "payment", "account_id": "W-1",
             "amount": 10.0}
    r = api.post("/v1/events", json=[ahead])
    assert r.status_code == 422
    assert r.json()["error"]["details"][0] == {
        "index": 0,
        "field": "ts",
        "message": r.json()["error"]["details"][0]["message"],
    }
    assert api.get("/v1/accounts/W-1").json()["state"]["paid_total"] == 0.0
    assert metrics.rejected.labels("clock_skew")._value.get() == 1
    past = {**ahead, "event_id": "e-past", "ts": _iso(time.time() - 10 * 86400)}  # within [redis] dedup_days
    assert api.post("/v1/events", json=[past]).status_code == 202
    assert api.get("/v1/accounts/W-1").json()["state"]["paid_total"] == 10.0


def test_a_client_clock_running_ahead_does_not_take_a_lock_early(api):
    """A dialer's lead holds the account for `lease_minutes` (1 here) of the server's clock.
    A client 120 s ahead (inside the allowed skew) would see the lease expired; the server
    judges the lock by its own clock, so the account stays locked."""
    _account(api)
    assert api.put("/v1/campaigns/c", json={"channel": "voice"}).status_code == 202
    wait_until(lambda: (api.get("/v1/campaigns/c").json()["enrolment"] or {}).get("done"))
    leads = api.post("/v1/dialer/next", json={"campaign": "c", "now": _iso(time.time())}).json()["leads"]
    assert len(leads) == 1, leads
    expires = datetime.fromisoformat(leads[0]["expires_at"]).timestamp()
    ahead = expires + 60 - time.time()
    assert 0 < ahead < SKEW_S  # the client's clock is within what the server accepts
    second = api.post("/v1/decide", json={"account_id": "W-1", "now": _iso(time.time() + ahead)}).json()
    assert second["action"] == "wait" and "contact_locked" in second["reasons"], second


def test_the_clock_mode_is_checked_at_load():
    from engine.settings import ConfigError, from_dict

    with pytest.raises(ConfigError, match="clock"):
        from_dict({"server": {"clock": "client"}})
    with pytest.raises(ConfigError, match="max_skew_s"):
        from_dict({"server": {"max_skew_s": -1}})
    assert from_dict({}).clock.mode == "wall"
    assert from_dict({"server": {"clock": "data"}}).clock.lock_time(1e12) == 1e12
    assert from_dict({}).clock.lock_time(1e12) < 1e12
    assert timedelta(seconds=from_dict({}).server.max_skew_s) == timedelta(minutes=5)
