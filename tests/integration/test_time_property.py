"""Arbitrary `now`s, in any order, from two API processes on one Redis (clock = "data"): no
frequency cap ever holds more contacts than it allows, and no two live reservations of an
account overlap. Every answer is checked against a re-count kept here from what the test was
answered, independently of the engine's rules."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.store import RedisStore
from engine.api.app import build_app
from engine.metrics import Metrics
from features.account import zone
from tests.conftest import BASE_CONFIG, LiveServer, account, wait_until

TZ = "America/Mexico_City"
START = datetime(2026, 3, 2, 0, 0, tzinfo=zone(TZ))
PER_DAY, PER_WEEK = 1, 3
WEEK = timedelta(days=7)
DEDUP_WINDOW = timedelta(days=14)  # [redis] dedup_days' default: older outcomes are refused


@pytest.fixture(params=["caps", "lock only"])
def config_text(request) -> str:
    """With caps, and without: caps alone keep most overlapping reservations apart (they fall
    on one day), so the lock is tested on its own too."""
    if request.param == "lock only":
        return BASE_CONFIG
    caps = f"\n[policy.caps]\ncontacts_per_day = {PER_DAY}\ncontacts_per_week = {PER_WEEK}\n"
    return BASE_CONFIG + caps


@pytest.fixture
def two_apis(settings, redis_url) -> Iterator[list[httpx.Client]]:
    """Two API processes' worth of state (each its own app, connection and model holder)."""
    servers = [
        LiveServer(build_app(settings, RedisStore.from_url(redis_url, settings.redis.shards), Metrics()))
        for _ in range(2)
    ]
    with servers[0], servers[1]:
        clients = [httpx.Client(base_url=s.url, timeout=10) for s in servers]
        try:
            yield clients
        finally:
            for c in clients:
                c.close()


@dataclass
class Reservation:
    decision_id: str
    send_at: datetime
    start: datetime  # the request's now: the lock holds from here
    expires: datetime
    released: bool = False
    cancelled: bool = False


# any hour of twelve days, in any order, and now and then one weeks ahead of them all
hours = st.one_of(st.integers(0, 12 * 24), st.integers(0, 12 * 24), st.integers(20 * 24, 40 * 24))
step = st.one_of(
    st.tuples(st.just("decide"), hours, st.sampled_from([1, 6, 24, 72, 168])),
    st.tuples(st.just("decide"), hours, st.sampled_from([1, 24])),
    st.tuples(st.just("dial"), hours, st.just(0)),
    # just after an earlier reservation's start: requests inside a lock, in any order
    st.tuples(st.just("near"), st.integers(0, 50), st.integers(1, 150)),
    st.tuples(st.just("outcome"), hours, st.integers(0, 50)),
    st.tuples(st.just("outcome"), hours, st.just(-1)),  # the newest reservation's outcome
    st.tuples(st.just("outcome"), hours, st.just(-1)),
    st.tuples(st.just("cancel"), hours, st.integers(0, 50)),
)
SEEN = Counter()  # answers across examples: the test is only as strong as the contacts it provokes


def _check(granted: list[Reservation], caps: bool) -> None:
    counted = sorted(r.send_at for r in granted if not r.cancelled) if caps else []
    per_day = Counter(t.astimezone(zone(TZ)).date() for t in counted)
    assert max(per_day.values(), default=0) <= PER_DAY, ("cap_day broken", per_day)
    for end in counted:  # every rolling week ending at a contact
        inside = [t for t in counted if end - WEEK < t <= end]
        assert len(inside) <= PER_WEEK, ("cap_week broken", inside)
    live = sorted((r for r in granted if not r.released and not r.cancelled), key=lambda r: r.start)
    for a, b in itertools.pairwise(live):
        assert a.expires <= b.start, ("two live reservations overlap", a, b)


@settings(
    max_examples=120,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(step, min_size=4, max_size=40))
def test_no_order_of_nows_breaks_a_cap_or_the_lock(two_apis, redis_url, config_text, steps):
    caps = "[policy.caps]" in config_text
    redis.Redis.from_url(redis_url).flushall()
    api = two_apis[0]
    assert api.put("/v1/accounts", json=account(balance=50_000.0)).status_code == 200
    r = api.put("/v1/campaigns/calls", json={"channel": "voice"})
    assert r.status_code == 202
    wait_until(lambda: (api.get("/v1/campaigns/calls").json()["enrolment"] or {}).get("done"))
    granted: list[Reservation] = []
    newest_event = None  # the dedup window ends at the account's newest event (data mode)
    for n, (kind, hour, arg) in enumerate(steps):
        client = two_apis[n % 2]
        now = START + timedelta(hours=hour, minutes=7 * n)  # a fresh minute each step
        if kind == "near":
            if not granted:
                continue
            now = granted[hour % len(granted)].start + timedelta(minutes=arg)
            kind, arg = "decide", 24
        if kind in ("decide", "dial"):
            if kind == "decide":
                body = {"account_id": "A-1001", "now": now.isoformat(), "horizon_hours": arg}
                answer = client.post("/v1/decide", json=body).json()
                contacts = [answer] if answer["action"] == "contact" else []
                SEEN[answer["action"] if not contacts else "contact"] += 1
            else:
                got = client.post("/v1/dialer/next", json={"campaign": "calls", "now": now.isoformat()})
                assert got.status_code == 200, got.text
                contacts = got.json()["leads"]
                SEEN["lead" if contacts else "no_lead"] += 1
            for c in contacts:
                send = datetime.fromisoformat(c.get("send_at", now.isoformat()))
                granted.append(
                    Reservation(c["decision_id"], send, now, datetime.fromisoformat(c["expires_at"]))
                )
        elif kind == "outcome" and granted:
            target = granted[arg % len(granted)]
            event = {
                "event_id": f"o{n}",
                "ts": now.isoformat(),
                "type": "call",
                "status": "no_answer",
                "account_id": "A-1001",
                "decision_id": target.decision_id,
            }
            r = client.post("/v1/events", json=event)
            if newest_event is not None and now < newest_event - DEDUP_WINDOW:
                assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "ts", r.text
                continue
            assert r.status_code == 202, r.text
            newest_event = max(now, newest_event or now)
            target.released = True
        elif kind == "cancel" and granted:
            target = granted[arg % len(granted)]
            r = client.post(f"/v1/decisions/{target.decision_id}/cancel")
            if r.status_code == 200:
                target.cancelled = True
        _check(granted, caps)


def test_the_sequences_above_provoked_contacts_and_refusals():
    assert SEEN["contact"] + SEEN["lead"] >= 40, SEEN
    assert SEEN["wait"] >= 20, SEEN


@pytest.mark.parametrize("config_text", ["lock only"], indirect=True)
def test_a_reservation_superseded_without_an_outcome_still_holds_its_time(api):
    """L1 is reserved at 09:00 and never answered; a request from a later `now` (after L1
    expired) takes L2, whose outcome arrives. A request dated back inside L1 must wait."""
    assert api.put("/v1/accounts", json=account(balance=50_000.0)).status_code == 200
    at = START + timedelta(hours=9)

    def decide(now: datetime) -> dict:
        body = {"account_id": "A-1001", "now": now.isoformat(), "horizon_hours": 1, "channels": ["sms"]}
        return api.post("/v1/decide", json=body).json()

    first = decide(at)
    assert first["action"] == "contact", first
    later = datetime.fromisoformat(first["expires_at"]) + timedelta(hours=1)
    second = decide(later)
    assert second["action"] == "contact", second
    event = {"event_id": "o2", "ts": later.isoformat(), "type": "message", "status": "failed",
             "account_id": "A-1001", "decision_id": second["decision_id"]}
    assert api.post("/v1/events", json=event).status_code == 202
    inside = decide(at + timedelta(minutes=30))
    assert inside["action"] == "wait" and "contact_locked" in inside["reasons"], inside


def test_cancelling_the_newest_contact_does_not_hide_the_history_it_trimmed(api, config_text):
    """A contact three weeks later trims the first one from the account's history; cancelling
    the later one must not leave a request dated back to the first day free to contact again
    (found by the property above: the day's cap was broken)."""
    assert api.put("/v1/accounts", json=account(balance=50_000.0)).status_code == 200

    def decide(now: datetime) -> dict:
        body = {"account_id": "A-1001", "now": now.isoformat(), "horizon_hours": 1, "channels": ["sms"]}
        return api.post("/v1/decide", json=body).json()

    first = decide(START + timedelta(hours=9))
    assert first["action"] == "contact", first
    later = decide(START + timedelta(days=20, hours=9))
    assert later["action"] == "contact", later
    assert api.post(f"/v1/decisions/{later['decision_id']}/cancel").status_code == 200
    again = decide(datetime.fromisoformat(first["expires_at"]) + timedelta(minutes=5))
    assert again["action"] == "wait" and "clock_behind_history" in again["reasons"], again
