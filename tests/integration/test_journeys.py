"""Journeys through HTTP and real Redis: a hardship reply sends the account to an agent with
a payment-plan template; a stopped segment gets no contact; a weekly cap holds."""

from __future__ import annotations

import pytest

from tests.conftest import BASE_CONFIG, account

NOW = "2026-03-02T10:00:00-06:00"

JOURNEYS = """
[[templates]]
id = "payment_plan_call"
channel = "voice"

[[journeys]]
id = "deceased"
attributes = { status = "deceased" }
stop = true

[[journeys]]
id = "hardship_to_agent"
after_intent = "hardship"
channels = ["voice"]
templates = ["payment_plan_call"]

[[journeys]]
id = "digital_once_a_week"
days_past_due_max = 60
channels = ["sms", "whatsapp", "email"]
contacts_per_week = 1
"""


@pytest.fixture
def config_text() -> str:
    return BASE_CONFIG + JOURNEYS


def decide(api, account_id="A-1001", now=NOW):
    r = api.post("/v1/decide", json={"account_id": account_id, "now": now})
    assert r.status_code == 200, r.text
    return r.json()


def test_a_hardship_reply_routes_to_an_agent_with_a_payment_plan(api):
    api.put("/v1/accounts", json=account())
    first = decide(api)
    assert (
        first["channel"] in ("sms", "whatsapp", "email") and "journey=digital_once_a_week" in first["reasons"]
    )
    reply = {
        "event_id": "r-1",
        "ts": NOW,
        "type": "reply",
        "account_id": "A-1001",
        "decision_id": first["decision_id"],
        "channel": first["channel"],
        "text": "me despidieron del trabajo, no puedo pagar ahora",
    }
    assert api.post("/v1/events", json=reply).status_code == 202
    after = decide(api, now="2026-03-02T11:00:00-06:00")
    assert after["action"] == "contact", after
    assert after["channel"] == "voice" and after["template"] == "payment_plan_call"
    assert "journey=hardship_to_agent" in after["reasons"]


def test_a_stopped_segment_is_never_contacted(api):
    api.put("/v1/accounts", json=account(attributes={"status": "deceased", "segment": "B"}))
    d = decide(api)
    assert d["action"] == "wait" and d["reasons"] == ["journey_stop:deceased"]


def test_the_journeys_weekly_cap_holds_until_a_contact_ages_out(api):
    api.put("/v1/accounts", json=account())
    first = decide(api)
    api.post(f"/v1/decisions/{first['decision_id']}/cancel")  # cancelled: it never happened
    second = decide(api)
    assert second["action"] == "contact"
    third = decide(api, now="2026-03-04T10:00:00-06:00")
    assert third["action"] == "wait" and "journey_week:digital_once_a_week" in third["reasons"]
    assert third["next_eligible_at"] is not None
