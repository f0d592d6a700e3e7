"""POST /v1/decide and cancel: the answer's shape, reservation, base rules, concurrency."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import httpx

from tests.conftest import account
from tests.integration.test_events import metric

NOW = "2026-03-02T09:00:00-06:00"  # a Monday morning in Mexico City
PROMISE = {
    "event_id": "p-1",
    "ts": NOW,
    "type": "promise",
    "account_id": "A-1001",
    "amount": 500,
    "due_date": "2026-03-05",
}


def decide(api, **body):
    body.setdefault("account_id", "A-1001")
    body.setdefault("now", NOW)
    r = api.post("/v1/decide", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def post_events(api, *events):
    r = api.post("/v1/events", json=list(events))
    assert r.status_code == 202, r.text
    return r.json()


def test_contact_answer_has_the_contract_shape(api):
    api.put("/v1/accounts", json=account())
    d = decide(api, channels=["sms", "whatsapp", "email", "ivr"], horizon_hours=24)
    assert d["action"] == "contact"
    assert set(d) >= {
        "decision_id",
        "account_id",
        "action",
        "channel",
        "contact_point_id",
        "address",
        "carrier",
        "template",
        "send_at",
        "expires_at",
        "score",
        "model_version",
        "reasons",
    }
    assert d["channel"] in ("sms", "whatsapp", "email", "ivr")
    send_at = datetime.fromisoformat(d["send_at"])
    assert send_at.utcoffset().total_seconds() == -6 * 3600  # in the debtor's local time
    assert 7 <= send_at.hour < 22
    assert datetime.fromisoformat(d["expires_at"]) > send_at
    assert (d["carrier"] is not None) == (d["channel"] in ("voice", "ivr", "sms"))
    if d["channel"] == "whatsapp":
        assert d["template"] in ("dpd31_60_soft", "dpd31_60_firm")
    assert any(r.startswith("best_hour=") for r in d["reasons"])
    assert d["model_version"] == "m-000000"


def test_a_contact_reserves_the_account_until_cancelled(api):
    api.put("/v1/accounts", json=account())
    first = decide(api)
    second = decide(api)
    assert second["action"] == "wait" and second["reasons"] == ["contact_locked"]
    assert second["next_eligible_at"] is not None
    assert datetime.fromisoformat(second["next_eligible_at"]) == datetime.fromisoformat(first["expires_at"])
    r = api.post(f"/v1/decisions/{first['decision_id']}/cancel")
    assert r.status_code == 200 and r.json()["cancelled"] is True
    assert decide(api)["action"] == "contact"
    again = api.post(f"/v1/decisions/{first['decision_id']}/cancel").json()
    assert again["already_cancelled"] is True


def test_the_lock_lapses_at_expires_at(api):
    api.put("/v1/accounts", json=account())
    first = decide(api)
    later = decide(api, now=first["expires_at"])
    assert later["action"] == "contact"


def test_cancel_unknown_decision_is_404(api):
    assert api.post("/v1/decisions/d-001-000000000000/cancel").status_code == 404
    assert api.post("/v1/decisions/not-a-decision/cancel").status_code == 404


def test_cancel_after_an_outcome_is_409(api):
    api.put("/v1/accounts", json=account())
    d = decide(api, channels=["sms"])
    post_events(
        api,
        {
            "event_id": "ev-1",
            "ts": NOW,
            "type": "message",
            "status": "delivered",
            "account_id": "A-1001",
            "decision_id": d["decision_id"],
            "channel": "sms",
        },
    )
    r = api.post(f"/v1/decisions/{d['decision_id']}/cancel")
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"


def test_a_terminal_outcome_releases_the_lock(api):
    api.put("/v1/accounts", json=account())
    d = decide(api, channels=["sms"])
    post_events(
        api,
        {
            "event_id": "ev-f",
            "ts": NOW,
            "type": "message",
            "status": "failed",
            "account_id": "A-1001",
            "decision_id": d["decision_id"],
            "channel": "sms",
        },
    )
    assert decide(api)["action"] == "contact"


def test_quiet_hours_wait_until_the_window_opens(api):
    api.put("/v1/accounts", json=account())
    d = decide(api, now="2026-03-02T22:30:00-06:00", horizon_hours=2)
    assert d["action"] == "wait" and d["reasons"] == ["quiet_hours"]
    assert datetime.fromisoformat(d["next_eligible_at"]) == datetime.fromisoformat(
        "2026-03-03T07:00:00-06:00"
    )
    d = decide(api, now="2026-03-02T22:30:00-06:00", horizon_hours=12)
    assert d["action"] == "contact"
    assert datetime.fromisoformat(d["send_at"]).hour >= 7


def test_channels_restrict_the_choice(api):
    api.put("/v1/accounts", json=account())
    for day, channel in enumerate(("email", "voice", "whatsapp"), start=3):
        # a 10-hour horizon keeps each day's contact (and its lock) within that day
        d = decide(api, channels=[channel], now=f"2026-03-0{day}T09:00:00-06:00", horizon_hours=10)
        assert d["action"] == "contact" and d["channel"] == channel
        if channel == "voice":
            assert d["contact_point_id"] in ("m1", "h1") and d["carrier"] in ("c1", "c2")


def test_optout_on_a_channel_is_final_for_it(api):
    api.put("/v1/accounts", json=account())
    post_events(
        api, {"event_id": "oo-1", "ts": NOW, "type": "optout", "account_id": "A-1001", "channel": "sms"}
    )
    d = decide(api, channels=["sms"])
    assert d["action"] == "wait" and d["reasons"] == ["optout_sms"] and d["next_eligible_at"] is None
    for day in range(3, 9):
        d = decide(api, now=f"2026-03-0{day}T09:00:00-06:00", horizon_hours=10)
        assert d["action"] == "contact" and d["channel"] != "sms"


def test_optout_without_channel_stops_everything(api):
    api.put("/v1/accounts", json=account())
    post_events(api, {"event_id": "oo-all", "ts": NOW, "type": "optout", "account_id": "A-1001"})
    d = decide(api)
    assert d["action"] == "wait" and "optout_all" in d["reasons"]


def test_a_promise_holds_contacts_until_its_due_date_ends(api):
    api.put("/v1/accounts", json=account())
    post_events(
        api,
        PROMISE,
    )
    d = decide(api)
    assert d["action"] == "wait" and d["reasons"] == ["promise_pending"]
    # the promise holds until its due date ends (midnight); MX's calling window opens at 07:00
    assert datetime.fromisoformat(d["next_eligible_at"]) == datetime.fromisoformat(
        "2026-03-06T07:00:00-06:00"
    )
    assert decide(api, now="2026-03-06T09:00:00-06:00")["action"] == "contact"


def test_paying_the_promise_lifts_it_and_paying_in_full_stops_contact(api):
    api.put("/v1/accounts", json=account())
    post_events(
        api,
        PROMISE,
        {
            "event_id": "pay-1",
            "ts": "2026-03-02T10:00:00-06:00",
            "type": "payment",
            "account_id": "A-1001",
            "amount": 500,
        },
    )
    assert decide(api, now="2026-03-02T11:00:00-06:00")["action"] == "contact"
    post_events(
        api,
        {
            "event_id": "pay-2",
            "ts": "2026-03-02T12:00:00-06:00",
            "type": "payment",
            "account_id": "A-1001",
            "amount": 1020.50,
        },
    )
    d = decide(api, now="2026-03-03T09:00:00-06:00")
    assert d["action"] == "wait" and "paid" in d["reasons"]


def test_a_dispute_stops_contact(api):
    api.put("/v1/accounts", json=account())
    post_events(
        api, {"event_id": "dsp", "ts": NOW, "type": "dispute", "account_id": "A-1001", "text": "no es mío"}
    )
    d = decide(api)
    assert d["action"] == "wait" and d["reasons"] == ["dispute"]


def test_batch_decide_answers_in_order(api):
    api.put("/v1/accounts", json=[account(f"A-{i}") for i in range(5)])
    answers = api.post("/v1/decide", json=[{"account_id": f"A-{i}", "now": NOW} for i in range(5)]).json()
    assert [a["account_id"] for a in answers] == [f"A-{i}" for i in range(5)]
    assert all(a["action"] == "contact" for a in answers)


def test_same_account_twice_in_a_batch_gets_one_contact(api):
    api.put("/v1/accounts", json=account())
    answers = api.post("/v1/decide", json=[{"account_id": "A-1001", "now": NOW}] * 3).json()
    assert sorted(a["action"] for a in answers) == ["contact", "wait", "wait"]


def test_batch_with_an_unknown_account_reserves_nothing(api):
    api.put("/v1/accounts", json=account())
    r = api.post(
        "/v1/decide", json=[{"account_id": "A-1001", "now": NOW}, {"account_id": "ghost", "now": NOW}]
    )
    assert r.status_code == 422
    assert r.json()["error"]["details"] == [
        {"index": 1, "field": "account_id", "message": "unknown account 'ghost'"}
    ]
    assert decide(api)["action"] == "contact"  # A-1001 was not reserved by the rejected batch


def test_a_batch_longer_than_a_slice_answers_like_one_batch(api, settings):
    n = settings.server.slice_items * 2 + 5  # decided in three slices
    api.put("/v1/accounts", json=[account(f"A-{i}") for i in range(n)])
    reqs = [{"account_id": f"A-{i}", "now": NOW} for i in range(n)]
    answers = api.post("/v1/decide", json=reqs + [{"account_id": "A-0", "now": NOW}] * n).json()
    assert [a["account_id"] for a in answers[:n]] == [f"A-{i}" for i in range(n)]
    assert all(a["action"] == "contact" for a in answers[:n])
    assert all(a["action"] == "wait" and "contact_locked" in a["reasons"] for a in answers[n:])


def test_a_long_batch_with_an_unknown_account_reserves_nothing(api, settings):
    n = settings.server.slice_items * 3
    api.put("/v1/accounts", json=[account(f"A-{i}") for i in range(n)])
    reqs = [{"account_id": f"A-{i}", "now": NOW} for i in range(n)]
    reqs[n - 2] = {"account_id": "ghost", "now": NOW}  # in the last slice
    r = api.post("/v1/decide", json=reqs)
    assert r.status_code == 422
    assert [d["index"] for d in r.json()["error"]["details"]] == [n - 2]
    assert decide(api, account_id="A-0")["action"] == "contact"  # the first slice was not reserved


def test_bad_decide_requests(api):
    api.put("/v1/accounts", json=account())
    cases = [
        ({"account_id": "A-1001", "now": "2026-03-02T09:00:00"}, 422, "now"),
        ({"account_id": "A-1001", "channels": ["fax"]}, 422, "channels[0]"),
        ({"account_id": "A-1001", "horizon_hours": 0}, 422, "horizon_hours"),
        ({"now": NOW}, 422, "account_id"),
    ]
    for body, status, field in cases:
        r = api.post("/v1/decide", json=body)
        assert r.status_code == status, body
        assert r.json()["error"]["details"][0]["field"] == field
    r = api.post("/v1/decide", json={"account_id": "ghost", "now": NOW})
    assert r.status_code == 404


def test_concurrent_deciders_get_one_reservation(api):
    api.put("/v1/accounts", json=account())

    def one(_):
        with httpx.Client(base_url=str(api.base_url), timeout=10) as c:
            return c.post("/v1/decide", json={"account_id": "A-1001", "now": NOW}).json()["action"]

    with ThreadPoolExecutor(16) as pool:
        actions = list(pool.map(one, range(32)))
    assert actions.count("contact") == 1 and actions.count("wait") == 31


def test_concurrent_requests_each_get_their_own_answer(api):
    """Single requests that arrive together are decided as one batch (engine.decisions.coalesce): an
    unknown account fails its own request only, and every request is counted in a batch."""
    api.put("/v1/accounts", json=[account(f"K-{i}") for i in range(0, 24, 2)])
    ids = [f"K-{i}" if i % 2 == 0 else f"ghost-{i}" for i in range(24)]

    def one(account_id):
        with httpx.Client(base_url=str(api.base_url), timeout=10) as c:
            return c.post("/v1/decide", json={"account_id": account_id, "now": NOW})

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(one, ids))
    for account_id, r in zip(ids, answers, strict=True):
        if account_id.startswith("K-"):
            assert r.status_code == 200 and r.json()["account_id"] == account_id, r.text
            assert r.json()["action"] == "contact"
        else:
            assert r.status_code == 404, r.text
            assert account_id in r.json()["error"]["message"]
    assert metric(api, "cadencia_decide_batch_size_sum") == len(ids)


def test_exploration_is_deterministic_under_replay(api):
    api.put("/v1/accounts", json=[account("R-1"), account("R-2")])
    a = decide(api, account_id="R-1")
    b = decide(api, account_id="R-2")
    # same inputs, same model, same `now`: the same choice (R-1 and R-2 differ only by id)
    api.post(f"/v1/decisions/{a['decision_id']}/cancel")
    again = decide(api, account_id="R-1")
    assert (again["channel"], again["send_at"], again["template"]) == (
        a["channel"],
        a["send_at"],
        a["template"],
    )
    assert b["account_id"] == "R-2"


def test_a_stop_reply_opts_out_of_that_channel(api):
    api.put("/v1/accounts", json=account())
    post_events(
        api,
        {
            "event_id": "stop",
            "ts": NOW,
            "type": "reply",
            "text": "STOP",
            "account_id": "A-1001",
            "channel": "sms",
        },
    )
    d = decide(api, channels=["sms"])
    assert d["action"] == "wait" and d["reasons"] == ["optout_sms"]


def test_each_decision_logs_the_propensity_of_its_action(api):
    """For off-policy evaluation: the answer and the logged decision carry how likely the
    exploration noise made this action, the same on a replay of the request."""
    api.put("/v1/accounts", json=account())
    d = decide(api, channels=["sms", "whatsapp", "email"], horizon_hours=24)
    assert d["action"] == "contact" and 0 < d["propensity"] <= 1
    logged = [e for e in api.get("/v1/accounts/A-1001/timeline").json()["entries"] if e["kind"] == "decision"]
    assert [round(e["propensity"], 4) for e in logged] == [d["propensity"]]


# --- confirm: a gateway asks just before it sends -------------------------------------------


def confirm(api, decision_id, now=NOW):
    return api.post(f"/v1/decisions/{decision_id}/confirm", json={"now": now})


def test_confirm_marks_a_standing_decision_sent_and_repeats_alike(api):
    api.put("/v1/accounts", json=account())
    d = decide(api, channels=["sms"])
    for _ in range(2):
        r = confirm(api, d["decision_id"])
        assert r.status_code == 200, r.text
        assert r.json() == {"decision_id": d["decision_id"], "confirmed": True}
    assert metric(api, "cadencia_confirms_total", result="sent") == 2.0


def test_confirm_after_a_promise_is_409_naming_it(api):
    api.put("/v1/accounts", json=account())
    d = decide(api, channels=["sms"])
    post_events(api, PROMISE)  # arrives between the morning plan and the send
    r = confirm(api, d["decision_id"])
    assert r.status_code == 409
    assert r.json()["error"]["details"][0]["message"] == "promise"
    assert metric(api, "cadencia_confirms_total", result="promise") == 1.0


def test_confirm_after_a_cancel_an_expiry_or_an_outcome_is_409(api):
    api.put("/v1/accounts", json=[account("A-1"), account("A-2"), account("A-3")])
    cancelled = decide(api, account_id="A-1", channels=["sms"])
    api.post(f"/v1/decisions/{cancelled['decision_id']}/cancel")
    assert confirm(api, cancelled["decision_id"]).json()["error"]["details"][0]["message"] == "cancelled"
    late = decide(api, account_id="A-2", channels=["sms"])
    r = confirm(api, late["decision_id"], now="2026-03-03T09:00:00-06:00")  # a day on: expired
    assert r.status_code == 409 and r.json()["error"]["details"][0]["message"] == "expired"
    used = decide(api, account_id="A-3", channels=["sms"])
    post_events(
        api,
        {"event_id": "out-1", "ts": NOW, "type": "message", "status": "undelivered", "account_id": "A-3",
         "decision_id": used["decision_id"], "channel": "sms"},
    )  # fmt: skip
    assert confirm(api, used["decision_id"]).json()["error"]["details"][0]["message"] == "released"


def test_confirm_after_a_direct_contact_on_another_channel_is_409(api):
    api.put("/v1/accounts", json=account())
    d = decide(api, channels=["sms"])
    post_events(
        api,
        {"event_id": "rp-1", "ts": "2026-03-02T09:30:00-06:00", "type": "call", "status": "answered",
         "party": "right_party", "account_id": "A-1001", "channel": "voice", "contact_point_id": "m1"},
    )  # fmt: skip
    r = confirm(api, d["decision_id"], now="2026-03-02T09:40:00-06:00")
    assert r.status_code == 409 and r.json()["error"]["details"][0]["message"] == "direct_contact"


def test_confirm_an_unknown_decision_is_404(api):
    assert confirm(api, "d-000-000000000000").status_code == 404
    assert api.post("/v1/decisions/nope/confirm").status_code == 404


def test_a_decisions_hash_lives_until_its_attribution_window_closes_and_a_grace(api, redis_url, settings):
    """Not `[redis] decision_days` flat: a plan for this morning is kept ~3 days here (24 h of
    attribution in the tests' config, 2 days of grace), not 10."""
    import redis as sync_redis

    from connectors.keys import Keys
    from connectors.store.decisions import DECISION_GRACE_S

    api.put("/v1/accounts", json=account())
    d = decide(api, channels=["sms"])
    client = sync_redis.Redis.from_url(redis_url)
    ttl = client.ttl(Keys(settings.redis.shards).decision(d["decision_id"]))
    client.close()
    send_at, now = datetime.fromisoformat(d["send_at"]), datetime.fromisoformat(NOW)
    window = settings.decisions.attribution_hours * 3600
    expected = (send_at - now).total_seconds() + window + DECISION_GRACE_S
    assert expected - 5 <= ttl <= expected + 1
    assert ttl < settings.redis.decision_days * 86400
