"""Campaigns and POST /v1/dialer/next through HTTP against real Redis (and the real dataflow
where priorities must follow outcomes): enrolment, exclusive leases under concurrent
dialers, rules that hold leads back until they lift, caps, priorities that react."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import msgspec
import pytest
import redis

import engine.api.app as engine_app
from connectors import keys as K
from connectors.store import RedisStore
from engine.calls import campaigns
from models.contact import initial_scorer
from tests.conftest import BASE_CONFIG, account, wait_until

NOW = "2026-03-02T10:00:00-06:00"  # Monday morning in Mexico City
CAMPAIGN = {
    "channel": "voice",
    "filter": {"portfolio": "cards", "days_past_due_min": 1, "days_past_due_max": 90},
}


@pytest.fixture
def config_text() -> str:
    return BASE_CONFIG + "\n[policy.caps]\ncontacts_per_day = 1\n"


def portfolio(n: int, **overrides):
    return [
        account(f"A-{i:03d}", balance=1000.0 + 100 * i, **overrides)
        | {
            "contact_points": [
                {
                    "id": "m1",
                    "type": "mobile",
                    "address": f"+5215500000{i:03d}",
                    "network": "telcel",
                    "channels": ["voice", "sms"],
                }
            ]
        }
        for i in range(n)
    ]


def start_campaign(api, n_expected: int, campaign=CAMPAIGN, cid="cards-early"):
    r = api.put(f"/v1/campaigns/{cid}", json=campaign)
    assert r.status_code == 202, r.text
    wait_until(lambda: (api.get(f"/v1/campaigns/{cid}").json()["enrolment"] or {}).get("done"))
    body = api.get(f"/v1/campaigns/{cid}").json()
    assert body["ready"] == n_expected, body
    return body


def next_leads(api, count=5, now=NOW, cid="cards-early"):
    r = api.post("/v1/dialer/next", json={"campaign": cid, "count": count, "now": now})
    assert r.status_code == 200, r.text
    return r.json()["leads"]


def test_enrolment_places_the_matching_accounts_only(api):
    api.put(
        "/v1/accounts",
        json=[*portfolio(6), account("LATE", days_past_due=200), account("AUTO", portfolio="auto")],
    )
    body = start_campaign(api, 6)
    assert body["channel"] == "voice" and body["held"] == 0
    assert body["enrolment"]["accounts"] == 8 and body["enrolment"]["placed"] == 6


def test_a_changed_campaign_lets_go_of_the_accounts_it_no_longer_covers(api, settings, redis_url):
    api.put("/v1/accounts", json=[*portfolio(4), account("A-900", days_past_due=60)])
    start_campaign(api, 5)
    narrower = {**CAMPAIGN, "filter": {**CAMPAIGN["filter"], "days_past_due_max": 45}}
    body = start_campaign(api, 4, campaign=narrower)
    assert body["enrolment"]["placed"] == 4
    client = redis.Redis.from_url(redis_url)
    keys = K.Keys(settings.redis.shards)
    ready, held, prio = keys.queue("cards-early", K.shard_of("A-900", keys.shards))
    assert client.zscore(ready, "A-900") is None and client.zscore(held, "A-900") is None
    assert not client.hexists(prio, "A-900")
    assert "A-900" not in {lead["account_id"] for lead in next_leads(api, count=10)}


def test_an_unchanged_campaign_put_again_does_not_enrol_again(api, monkeypatch):
    api.put("/v1/accounts", json=portfolio(4))
    start_campaign(api, 4)
    walks = []
    real = campaigns.enrol

    def counting(*args, **kwargs):  # counted when the walk is created, not when it first runs
        walks.append(args[3])
        return real(*args, **kwargs)

    monkeypatch.setattr("engine.api.app.enrol", counting)
    again = api.put("/v1/campaigns/cards-early", json=CAMPAIGN)
    assert again.status_code == 200 and again.json()["unchanged"] is True and walks == []
    changed = api.put(
        "/v1/campaigns/cards-early",
        json={**CAMPAIGN, "filter": {**CAMPAIGN["filter"], "days_past_due_max": 45}},
    )
    assert changed.status_code == 202 and walks == ["cards-early"]


def test_enrolment_lets_requests_through_while_it_scores(api, settings, redis_url, monkeypatch):
    """Scoring a whole scan step at once held every request of the process back (~25 ms for
    500 matching accounts): between two turns of the event loop it scores at most a slice,
    and it rests after each slice as long as the slice took."""
    accounts = portfolio(1200)  # ~75 accounts a shard: each shard's scan step is one slice too many
    for start in range(0, len(accounts), 600):
        assert api.put("/v1/accounts", json=accounts[start : start + 600]).status_code == 200
    start_campaign(api, 1200)
    since_turn, worst, scoring_s = [0], [0], [0.0]
    scored = campaigns.queue_items

    def counting(*args):
        began = time.perf_counter()
        items = scored(*args)
        scoring_s[0] += time.perf_counter() - began
        since_turn[0] += len(args[1])
        worst[0] = max(worst[0], since_turn[0])
        return items

    monkeypatch.setattr(campaigns, "queue_items", counting)

    async def enrol_again() -> campaigns.Enrolment:
        store = RedisStore.from_url(redis_url, settings.redis.shards)
        definition = await store.campaign_definition("cards-early")
        campaign = msgspec.json.decode(definition, type=campaigns.Campaign)

        async def other_requests() -> None:
            while True:
                since_turn[0] = 0
                await asyncio.sleep(0)

        others = asyncio.create_task(other_requests())
        state = campaigns.Enrolment("cards-early", 0.0)
        began = time.perf_counter()
        await campaigns.enrol(store, settings, initial_scorer(), "cards-early", campaign, state)
        walk_s[0] = time.perf_counter() - began
        others.cancel()
        await store.close()
        return state

    walk_s = [0.0]
    state = asyncio.run(enrol_again())
    assert state.done and state.placed == 1200, state
    assert 0 < worst[0] <= campaigns.ENROL_SLICE
    assert walk_s[0] >= 2 * scoring_s[0] * 0.95  # a rest as long as each slice (timer slack)


def test_leads_are_reserved_best_first_and_never_handed_out_twice(api):
    api.put("/v1/accounts", json=portfolio(12))
    start_campaign(api, 12)
    first = next_leads(api, count=5)
    assert len(first) == 5
    assert [lead["score"] for lead in first] == sorted((lead["score"] for lead in first), reverse=True)
    lead = first[0]
    assert set(lead) >= {
        "decision_id",
        "account_id",
        "contact_point_id",
        "address",
        "carrier",
        "score",
        "reasons",
    }
    assert lead["carrier"] in ("c1", "c2") and lead["address"].startswith("+52155")
    # the lease is the account's contact lock: nobody else gets this account now
    again = api.post("/v1/decide", json={"account_id": lead["account_id"], "now": NOW}).json()
    assert again["action"] == "wait" and "contact_locked" in again["reasons"]
    rest = next_leads(api, count=20)
    assert len(rest) == 7
    assert not {x["account_id"] for x in first} & {x["account_id"] for x in rest}
    assert next_leads(api, count=5) == []


def test_concurrent_dialers_never_share_an_account(api):
    api.put("/v1/accounts", json=portfolio(40))
    start_campaign(api, 40)
    with ThreadPoolExecutor(8) as pool:
        batches = list(pool.map(lambda _i: next_leads(api, count=4), range(16)))
    ids = [lead["account_id"] for batch in batches for lead in batch]
    assert len(ids) == len(set(ids))  # no account handed out twice
    # A request that loses a race for a candidate answers with fewer leads and puts back what
    # it claimed but did not lease: whatever the burst left is still there for the next ask.
    ids += [lead["account_id"] for lead in next_leads(api, count=40)]
    assert len(ids) == len(set(ids)) == 40


def test_rules_hold_leads_back_until_they_lift(api):
    api.put("/v1/accounts", json=portfolio(3))
    start_campaign(api, 3)
    promise = {
        "event_id": "p-1",
        "ts": NOW,
        "type": "promise",
        "account_id": "A-001",
        "amount": 100,
        "due_date": "2026-03-04",
    }
    assert api.post("/v1/events", json=promise).status_code == 202
    late = next_leads(api, count=5, now="2026-03-02T22:30:00-06:00")  # after MX's 22:00
    assert late == []
    body = api.get("/v1/campaigns/cards-early").json()
    assert body["held"] == 3 and body["ready"] == 0  # held, not scanned again every call
    morning = next_leads(api, count=5, now="2026-03-03T09:00:00-06:00")
    assert sorted(x["account_id"] for x in morning) == ["A-000", "A-002"]  # A-001 promised
    after_due = next_leads(api, count=5, now="2026-03-05T09:00:00-06:00")
    # the promise's due date has passed, and the morning's leases lapsed unused
    assert sorted(x["account_id"] for x in after_due) == ["A-000", "A-001", "A-002"]


def test_caps_hold_a_worked_account_until_the_next_day(api):
    api.put("/v1/accounts", json=portfolio(1))
    start_campaign(api, 1)
    (lead,) = next_leads(api)
    outcome = {
        "event_id": "c-1",
        "ts": "2026-03-02T10:01:00-06:00",
        "type": "call",
        "account_id": "A-000",
        "decision_id": lead["decision_id"],
        "channel": "voice",
        "contact_point_id": "m1",
        "carrier": lead["carrier"],
        "status": "no_answer",
    }
    assert api.post("/v1/events", json=outcome).status_code == 202
    assert next_leads(api, now="2026-03-02T10:30:00-06:00") == []  # one contact a day
    assert [x["account_id"] for x in next_leads(api, now="2026-03-03T09:00:00-06:00")] == ["A-000"]


def test_priorities_follow_outcomes(api, flow, redis_url):
    email = {"id": "e1", "type": "email", "address": "a@example.com", "channels": ["email"]}
    docs = portfolio(2)
    for doc in docs:
        doc["contact_points"].append(email)
    api.put("/v1/accounts", json=docs)
    start_campaign(api, 2)
    r = redis.Redis.from_url(redis_url)
    _ready, _held, prio_key = K.Keys(16).queue("cards-early", K.shard_of("A-000", 16))

    def prio() -> float | None:
        value = r.hget(prio_key, "A-000")
        return None if value is None else float(value)

    before = wait_until(prio)
    failed = {
        "event_id": "m-1",
        "ts": NOW,
        "type": "message",
        "account_id": "A-000",
        "channel": "email",
        "contact_point_id": "e1",
        "status": "undelivered",
    }
    assert api.post("/v1/events", json=failed).status_code == 202
    # a failed digital contact: the call centre follows at once
    wait_until(lambda: (prio() or 0) > before * 1.5)
    # an account that leaves the campaign's filter leaves its queue
    api.put("/v1/accounts", json=account("A-000", days_past_due=120))
    wait_until(lambda: prio() is None)
    r.close()


def test_campaign_and_dialer_input_errors(api):
    r = api.put("/v1/campaigns/cards-early", json={"channel": "sms"})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "channel"
    r = api.put("/v1/campaigns/cards-early", json={"filter": {"dpd_min": 3}})
    assert r.status_code == 422
    assert api.put("/v1/campaigns/bad:id", json=CAMPAIGN).status_code in (404, 422)
    r = api.post("/v1/dialer/next", json={"campaign": "nope", "count": 1, "now": NOW})
    assert r.status_code == 404
    r = api.post("/v1/dialer/next", json={"campaign": "cards-early", "count": 0})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "count"
    assert api.get("/v1/campaigns/nope").status_code == 404


def test_accounts_not_worth_a_call_are_never_handed_out(api):
    # 5 pesos owed: no call is worth its cost, so the queue never offers the account
    api.put("/v1/accounts", json=[*portfolio(2), account("TINY", balance=5.0)])
    start_campaign(api, 3)
    leads = next_leads(api, count=5)
    assert sorted(x["account_id"] for x in leads) == ["A-000", "A-001"]
    assert next_leads(api, count=5) == []
    assert api.get("/v1/campaigns/cards-early").json()["ready"] == 1  # still queued, not re-read


def test_a_deleted_campaign_is_gone_with_its_queues(api, settings, redis_url, monkeypatch):
    monkeypatch.setattr(engine_app, "CAMPAIGN_SETTLE_S", 0.2)
    api.put("/v1/accounts", json=portfolio(4))
    start_campaign(api, 4)
    (lead,) = next_leads(api, count=1)
    r = api.delete("/v1/campaigns/cards-early")
    assert r.status_code == 200 and r.json() == {"campaign": "cards-early", "deleted": True}
    assert api.get("/v1/campaigns/cards-early").status_code == 404
    r = api.post("/v1/dialer/next", json={"campaign": "cards-early", "count": 1, "now": NOW})
    assert r.status_code == 404
    assert api.delete("/v1/campaigns/cards-early").status_code == 404
    client = redis.Redis.from_url(redis_url)
    keys = K.Keys(settings.redis.shards)
    queues = [key for shard in range(keys.shards) for key in keys.queue("cards-early", shard)]
    assert client.exists(*queues) == 0
    # a late re-score from a process that had not yet seen the deletion is dropped too
    ready, _held, _prio = keys.queue("cards-early", K.shard_of("A-001", keys.shards))
    client.zadd(ready, {"A-001": 5.0})
    wait_until(lambda: client.exists(*queues) == 0, timeout_s=5)
    # the lead leased before the deletion still takes its outcome
    outcome = {
        "event_id": "c-del",
        "ts": "2026-03-02T10:01:00-06:00",
        "type": "call",
        "account_id": lead["account_id"],
        "decision_id": lead["decision_id"],
        "channel": "voice",
        "contact_point_id": "m1",
        "status": "answered",
        "party": "right_party",
    }
    assert api.post("/v1/events", json=outcome).status_code == 202
