"""The read-only views the console reads: campaigns, rules, carriers, models, the session."""

from __future__ import annotations

import pytest

from tests.conftest import BASE_CONFIG, account, wait_until

EXTRA = """
[policy.caps]
contacts_per_week = 3
[policy.caps.CO]
contacts_per_day = 1
[policy.windows.MX]
start_hour = 9
end_hour = 19.5
days = [1, 2, 3, 4, 5]
[[journeys]]
id = "hardship"
after_intent = "hardship"
channels = ["email"]
[auth.tokens]
"v-admin" = "admin"
"v-reader" = "reader"
"v-dialer" = "dialer"
"""
ADMIN, READER = {"authorization": "Bearer v-admin"}, {"authorization": "Bearer v-reader"}


@pytest.fixture
def config_text():
    return BASE_CONFIG + EXTRA


def test_rules_in_force(api):
    rules = api.get("/v1/rules", headers=READER).json()
    assert rules["windows"]["MX"] == {
        "mon": "09:00-19:30", "tue": "09:00-19:30", "wed": "09:00-19:30", "thu": "09:00-19:30",
        "fri": "09:00-19:30", "sat": None, "sun": None,
    }  # fmt: skip
    assert rules["windows"]["CO"]["sat"] == "08:00-15:00"  # the law's, not overridden
    assert "CO" in rules["holiday_ban"]
    assert (
        rules["caps"]["contacts_per_week"] == 3 and rules["caps"]["by_country"]["CO"]["contacts_per_day"] == 1
    )
    assert [j["id"] for j in rules["journeys"]] == ["hardship"]
    assert rules["journeys"][0]["channels"] == ["email"]


def test_session_campaigns_carriers_and_models(api, flow):
    assert api.get("/v1/session", headers=READER).json() == {"auth": True, "role": "reader"}
    assert api.get("/v1/session", headers={"authorization": "Bearer v-dialer"}).json()["role"] == "dialer"
    assert api.get("/v1/session").status_code == 401
    assert api.get("/v1/rules", headers={"authorization": "Bearer v-dialer"}).status_code == 403
    assert api.put("/v1/accounts", json=account(), headers=ADMIN).status_code == 200
    assert api.put("/v1/campaigns/mx", json={"filter": {"country": "MX"}}, headers=ADMIN).status_code == 202
    listed = wait_until(
        lambda: (
            (c := api.get("/v1/campaigns", headers=READER).json()["campaigns"])
            and c[0]["enrolment"]["done"]
            and c
        )
    )
    assert listed[0]["campaign"] == "mx" and listed[0]["enrolment"]["placed"] == 1
    carriers = api.get("/v1/carriers", headers=READER).json()
    assert carriers["carriers"] == ["c1", "c2"] and carriers["model_version"] == "m-000000"
    event = {
        "event_id": "call-1", "ts": "2026-03-02T10:00:00-06:00", "type": "call", "status": "answered",
        "account_id": "A-1001", "channel": "voice", "contact_point_id": "m1", "carrier": "c1",
    }  # fmt: skip
    assert api.post("/v1/events", json=event, headers=ADMIN).status_code == 202
    later = {"now": "2026-03-03T10:00:00-06:00"}
    assert api.post("/v1/clock", json=later, headers=ADMIN).status_code == 202
    models = wait_until(lambda: (m := api.get("/v1/models", headers=READER).json())["models"] and m)
    newest = models["models"][0]
    assert newest["version"] != "m-000000" and newest["observations_learned"] >= 1
    wait_until(lambda: api.get("/v1/carriers", headers=READER).json()["model_version"] == newest["version"])
    cells = api.get("/v1/carriers", headers=READER).json()["cells"]
    assert {"carrier": "c1", "network": "telcel"} in [
        {k: c[k] for k in ("carrier", "network")} for c in cells
    ]
