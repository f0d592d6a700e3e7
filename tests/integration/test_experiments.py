"""Champion/challenger: a stable split into arms that decide with their own parameters, results
per arm, promotion, the end of an experiment."""

from __future__ import annotations

import msgspec

from engine.decisions.experiments import Experiment, arm_of
from tests.conftest import account, wait_until

IDS = [f"X-{i:02d}" for i in range(40)]
NOW = "2026-03-02T08:00:00-06:00"
# the challenger values a contact at nothing: every one of its accounts waits (no_positive_value)
EXPERIMENT = {
    "arms": [
        {"id": "champion", "share": 0.5},
        {"id": "nothing", "share": 0.5, "params": {"payment_share": 0.0, "response_value": 0.0}},
    ],
    "description": "does a contact's value matter",
    "started": "2026-03-01",
}


def decide(api, now=NOW):
    return api.post("/v1/decide", json=[{"account_id": a, "now": now} for a in IDS]).json()


def test_arms_split_decide_report_and_promote(api, flow):
    assert api.put("/v1/accounts", json=[account(a) for a in IDS]).status_code == 200
    assert all("arm" not in d for d in decide(api, "2026-02-20T08:00:00-06:00"))  # none in force
    r = api.put("/v1/experiments/value", json=EXPERIMENT)
    assert r.status_code == 201, r.text
    assert api.put("/v1/experiments/value", json=EXPERIMENT).json()["unchanged"] is True
    other = api.put("/v1/experiments/other", json=EXPERIMENT)
    assert other.status_code == 409 and "value" in other.json()["error"]["message"]

    answers = decide(api)
    experiment = msgspec.convert(EXPERIMENT, type=Experiment)
    for d in answers:  # the arm is the account's stable hash bucket's
        assert d["arm"] == f"value/{arm_of('value', experiment, d['account_id']).id}"
    arms = {d["arm"] for d in answers}
    assert arms == {"value/champion", "value/nothing"}
    for d in answers:
        if d["arm"] == "value/nothing":
            assert d["action"] == "wait" and "no_positive_value" in d["reasons"], d
    champion = [d for d in answers if d["arm"] == "value/champion"]
    assert any(d["action"] == "contact" for d in champion)

    contacts = sum(d["action"] == "contact" for d in answers)
    events = [
        {"event_id": f"p-{d['decision_id']}", "ts": d["send_at"], "type": "promise", "amount": 50.0,
         "due_date": "2026-03-09", "account_id": d["account_id"], "decision_id": d["decision_id"]}
        for d in champion[:4] if d["action"] == "contact"
    ]  # fmt: skip
    assert api.post("/v1/events", json=events).status_code == 202

    def report():
        body = api.get("/v1/experiments/value").json()
        return body if body["results"][0]["promises"] == len(events) else None

    body = wait_until(report)
    by_arm = {a["arm"]: a for a in body["results"]}
    assert by_arm["champion"]["contacts"] == contacts and by_arm["champion"]["engaged"] == len(events)
    assert by_arm["nothing"]["contacts"] == 0 and by_arm["nothing"]["promise_rate"] is None
    low, high = by_arm["champion"]["promise_rate_ci95"]
    assert 0 < low <= by_arm["champion"]["promise_rate"] <= high < 1

    again = {d["account_id"]: d["arm"] for d in decide(api, "2026-03-03T08:00:00-06:00")}
    assert again == {d["account_id"]: d["arm"] for d in answers}  # the same split every time

    bad = api.post("/v1/experiments/value/promote", json={"arm": "neither"})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "arm"
    assert api.post("/v1/experiments/value/promote", json={"arm": "champion"}).status_code == 200
    promoted = decide(api, "2026-03-05T08:00:00-06:00")
    assert {d["arm"] for d in promoted} == {"value/champion"}
    assert api.post("/v1/experiments/value/promote", json={"arm": "nothing"}).status_code == 409

    assert api.delete("/v1/experiments/value").status_code == 200
    assert all("arm" not in d for d in decide(api, "2026-03-07T08:00:00-06:00"))
    assert api.get("/v1/experiments/value").status_code == 404


def test_a_bad_experiment_is_refused_and_nothing_stored(api):
    for body, field in [
        ({**EXPERIMENT, "arms": [{"id": "a", "share": 0.5}, {"id": "b", "share": 0.4}]}, "arms"),
        ({**EXPERIMENT, "arms": [{"id": "a", "share": 0.5}, {"id": "a", "share": 0.5}]}, "arms"),
        ({**EXPERIMENT, "arms": [{"id": "a", "share": 1.0}]}, "arms"),
        ({**EXPERIMENT, "arms": [{"id": "a", "share": 0.5, "params": {"journeys": ["nope"]}},
                                 {"id": "b", "share": 0.5}]}, "arms[0].params.journeys"),
        ({**EXPERIMENT, "arms": [{"id": "a", "share": 0.5, "params": {"optout_loss": -1}},
                                 {"id": "b", "share": 0.5}]}, "arms[0].params.optout_loss"),
        ({**EXPERIMENT, "promoted": "a"}, "promoted"),
    ]:  # fmt: skip
        r = api.put("/v1/experiments/bad", json=body)
        assert r.status_code == 422, (body, r.text)
        assert any(field in d["field"] for d in r.json()["error"]["details"]), (field, r.json())
    assert api.get("/v1/experiments").json() == {"experiments": []}


def test_an_arm_pinned_to_a_published_model_keeps_deciding_with_it(api, flow):
    assert api.put("/v1/accounts", json=[account(a) for a in IDS]).status_code == 200

    def publish(day: int) -> str:
        """An outcome, then the clock a day on: the learner publishes a new version."""
        event = {
            "event_id": f"call-{day}", "ts": f"2026-03-{day:02d}T10:00:00-06:00", "type": "call",
            "status": "answered", "account_id": IDS[0], "channel": "voice", "carrier": "c1",
        }  # fmt: skip
        before = api.get("/readyz").json()["model_version"]
        assert api.post("/v1/events", json=event).status_code == 202
        assert api.post("/v1/clock", json={"now": f"2026-03-{day + 1:02d}T10:00:00-06:00"}).status_code == 202
        return wait_until(lambda: (v := api.get("/readyz").json()["model_version"]) != before and v)

    frozen = publish(2)
    unknown = {
        "arms": [
            {"id": "live", "share": 0.5},
            {"id": "frozen", "share": 0.5, "params": {"model": "m-999999"}},
        ]
    }
    r = api.put("/v1/experiments/models", json=unknown)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "arms[1].params.model"
    body = {
        "arms": [{"id": "live", "share": 0.5}, {"id": "frozen", "share": 0.5, "params": {"model": frozen}}]
    }
    assert api.put("/v1/experiments/models", json=body).status_code == 201
    live = publish(4)
    assert live != frozen
    answers = decide(api, "2026-03-06T08:00:00-06:00")
    by_arm = {}
    for d in answers:
        if d["action"] == "contact":
            by_arm.setdefault(d["arm"], set()).add(d["model_version"])
    assert by_arm == {"models/live": {live}, "models/frozen": {frozen}}
