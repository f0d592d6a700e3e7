"""Country rules and caps through the decision path, on real Redis."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.conftest import BASE_CONFIG, account

US = {"country": "US", "timezone": "America/New_York", "currency": "USD"}
CO = {"country": "CO", "timezone": "America/Bogota", "currency": "COP", "balance": 2_000_000}


def decide(api, **body):
    body.setdefault("account_id", "A-1001")
    r = api.post("/v1/decide", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def test_us_seven_calls_in_seven_days_then_wait(api):
    api.put("/v1/accounts", json=account(**US))
    for day in range(2, 9):  # one call a day, 2 to 8 March
        d = decide(api, channels=["voice"], now=f"2026-03-{day:02d}T09:00:00-05:00", horizon_hours=2)
        assert d["action"] == "contact", d
    d = decide(api, channels=["voice"], now="2026-03-08T15:00:00-04:00", horizon_hours=4)
    assert d["action"] == "wait" and d["reasons"] == ["us_calls_7_in_7"]
    # the rule lifts at midnight; the US calling window opens at 08:00
    assert datetime.fromisoformat(d["next_eligible_at"]) == datetime.fromisoformat(
        "2026-03-09T08:00:00-04:00"
    )
    assert (
        decide(api, channels=["email"], now="2026-03-08T15:00:00-04:00", horizon_hours=4)["action"]
        == "contact"
    )


def test_us_no_call_for_seven_days_after_a_conversation(api):
    api.put("/v1/accounts", json=account(**US))
    api.post(
        "/v1/events",
        json={
            "event_id": "c1",
            "ts": "2026-03-02T10:00:00-05:00",
            "type": "call",
            "status": "answered",
            "party": "right_party",
            "account_id": "A-1001",
            "channel": "voice",
        },
    )
    d = decide(api, channels=["voice"], now="2026-03-05T09:00:00-05:00", horizon_hours=8)
    assert d["action"] == "wait" and d["reasons"] == ["us_after_conversation"]
    assert datetime.fromisoformat(d["next_eligible_at"]) == datetime.fromisoformat(
        "2026-03-09T08:00:00-04:00"
    )
    assert (
        decide(api, channels=["voice"], now="2026-03-09T09:00:00-04:00", horizon_hours=8)["action"]
        == "contact"
    )


def test_co_never_on_a_public_holiday(api):
    api.put("/v1/accounts", json=account(**CO))
    d = decide(api, now="2026-03-23T09:00:00-05:00", horizon_hours=12)  # San José (observed)
    assert d["action"] == "wait" and d["reasons"] == ["quiet_hours"]
    assert datetime.fromisoformat(d["next_eligible_at"]) == datetime.fromisoformat(
        "2026-03-24T07:00:00-05:00"
    )


def test_co_one_contact_a_day(api):
    api.put("/v1/accounts", json=account(**CO))
    first = decide(api, now="2026-03-03T08:00:00-05:00", horizon_hours=2)
    assert first["action"] == "contact"
    d = decide(api, now=first["expires_at"], horizon_hours=4)
    assert d["action"] == "wait" and d["reasons"] == ["co_one_a_day"]
    assert datetime.fromisoformat(d["next_eligible_at"]) == datetime.fromisoformat(
        "2026-03-04T07:00:00-05:00"
    )


class TestOperationCaps:
    @pytest.fixture
    def config_text(self):
        return BASE_CONFIG + "\n[policy.caps]\nattempts_per_number_per_day = 1\n"

    def test_a_number_is_not_worn_out(self, api):
        api.put("/v1/accounts", json=account())
        first = decide(api, channels=["voice"], now="2026-03-02T09:00:00-06:00", horizon_hours=2)
        again = decide(api, channels=["voice"], now=first["expires_at"], horizon_hours=3)
        assert again["action"] == "contact" and again["contact_point_id"] != first["contact_point_id"]
        third = decide(api, channels=["voice"], now=again["expires_at"], horizon_hours=2)
        assert third["action"] == "wait" and third["reasons"] == ["cap_number_day"]


def test_one_promise_reminder_on_a_digital_channel_near_the_due_date(api):
    api.put("/v1/accounts", json=account())
    api.post(
        "/v1/events",
        json={
            "event_id": "p",
            "ts": "2026-03-02T10:00:00-06:00",
            "type": "promise",
            "amount": 500,
            "due_date": "2026-03-05",
            "account_id": "A-1001",
        },
    )
    early = decide(api, now="2026-03-02T12:00:00-06:00", horizon_hours=8)
    assert early["action"] == "wait" and early["reasons"] == ["promise_pending"]
    assert decide(api, channels=["voice"], now="2026-03-04T09:00:00-06:00")["reasons"] == ["promise_pending"]
    reminder = decide(api, now="2026-03-04T09:00:00-06:00", horizon_hours=8)
    assert reminder["action"] == "contact" and reminder["channel"] in ("sms", "whatsapp", "email")
    assert "promise_reminder" in reminder["reasons"]
    assert reminder["send_at"].startswith("2026-03-04")
    api.post(
        "/v1/events",
        json={
            "event_id": "r",
            "ts": reminder["send_at"],
            "type": "message",
            "status": "read",
            "account_id": "A-1001",
            "decision_id": reminder["decision_id"],
        },
    )
    again = decide(api, now="2026-03-05T09:00:00-06:00", horizon_hours=8)  # one reminder, not two
    assert again["action"] == "wait" and again["reasons"] == ["promise_pending"]


def test_mexico_contacts_only_the_debtors_own_contact_points(api):
    reference = {
        "id": "r1",
        "type": "mobile",
        "address": "+5213300000001",
        "owner": "third_party",
        "channels": ["voice", "sms", "whatsapp"],
    }
    doc = account("MX-1", contact_points=[reference])
    assert (
        api.put(
            "/v1/accounts",
            json=[
                doc,
                account("US-1", country="US", timezone="America/New_York", contact_points=[reference]),
            ],
        ).status_code
        == 200
    )
    mx = api.post("/v1/decide", json={"account_id": "MX-1", "now": "2026-03-02T10:00:00-06:00"}).json()
    assert mx["action"] == "wait" and mx["reasons"] == ["no_channel"]
    us = api.post("/v1/decide", json={"account_id": "US-1", "now": "2026-03-02T10:00:00-05:00"}).json()
    assert us["action"] == "contact" and us["contact_point_id"] == "r1"


def test_a_balance_uploaded_after_a_partial_payment_is_what_is_owed(api):
    api.put("/v1/accounts", json=account("P-1", balance=1000.0))
    payment = {
        "event_id": "pay-1",
        "type": "payment",
        "account_id": "P-1",
        "amount": 600,
        "ts": "2026-03-16T12:00:00-06:00",
    }
    assert api.post("/v1/events", json=payment).status_code == 202
    api.put("/v1/accounts", json=account("P-1", balance=400.0))
    d = api.post("/v1/decide", json={"account_id": "P-1", "now": "2026-03-17T09:00:00-06:00"}).json()
    assert "paid" not in d["reasons"]
    rest = {**payment, "event_id": "pay-2", "amount": 400}
    assert api.post("/v1/events", json=rest).status_code == 202
    d = api.post("/v1/decide", json={"account_id": "P-1", "now": "2026-03-18T09:00:00-06:00"}).json()
    assert d["action"] == "wait" and "paid" in d["reasons"]
