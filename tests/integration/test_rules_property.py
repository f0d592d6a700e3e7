"""Random sequences of decisions and events, through HTTP and real Redis: no contact answer ever
breaks a rule. The rules are recomputed here from what the test sent, independently of the
engine's policy code."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.account import zone
from tests.conftest import account

TZ = "America/Mexico_City"  # MX: 07:00-22:00 every day
START = datetime(2026, 3, 2, 6, 0, tzinfo=zone(TZ))
BALANCE = 100_000.0  # small payments should not end the sequence by paying it off

CHANNEL_CHOICES = [None, ["sms"], ["voice"], ["email", "whatsapp"], ["whatsapp"]]
decide = st.tuples(
    st.just("decide"), st.tuples(st.sampled_from(CHANNEL_CHOICES), st.sampled_from(["failed", "read", None]))
)
step = st.one_of(  # decisions often, rules that end all contact (dispute, full payment) rarely
    decide,
    decide,
    decide,
    st.tuples(st.just("optout"), st.sampled_from(["sms", "voice", "email", "whatsapp"])),
    st.tuples(st.just("promise"), st.integers(1, 4)),
    st.tuples(st.just("payment"), st.sampled_from([100.0, 300.0])),
    st.tuples(st.just("outcome"), st.sampled_from(["failed", "read", "delivered"])),
    st.tuples(st.just("final"), st.sampled_from(["optout_all", "dispute", "paid_in_full"])),
)


CONTACTS: list[str] = []  # every contact answered, across examples: the test must see many


def post(api, event):
    r = api.post("/v1/events", json=event)
    assert r.status_code == 202, r.text


@settings(
    max_examples=200,  # fixed examples (derandomize): enough that removing any rule is caught
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(st.tuples(step, st.integers(10, 400)), min_size=5, max_size=40))
def test_no_sequence_produces_a_forbidden_contact(api, redis_url, steps):
    redis.Redis.from_url(redis_url).flushall()
    api.put("/v1/accounts", json=account(balance=BALANCE))
    now = START
    optouts: set[str] = set()
    promise_until: datetime | None = None
    promise_due: date | None = None
    reminded = False  # the one digital reminder a pending promise allows, the day before or on the due date
    promised, paid_since_promise, paid = 0.0, 0.0, 0.0
    disputed = False
    live: list[tuple[str, datetime]] = []  # (decision, expires) reserved and not yet answered
    for n, ((kind, arg), minutes) in enumerate(steps):
        now += timedelta(minutes=minutes)
        ts = now.isoformat()
        base = {"event_id": f"e{n}", "ts": ts, "account_id": "A-1001"}
        if kind == "decide":
            channels, outcome = arg
            body = {"account_id": "A-1001", "now": ts, "horizon_hours": 6}
            if channels:
                body["channels"] = channels
            d = api.post("/v1/decide", json=body).json()
            if d["action"] != "contact":
                continue
            send = datetime.fromisoformat(d["send_at"])
            assert send >= now and send.astimezone(zone(TZ)).hour in range(7, 22), d
            assert d["channel"] not in optouts and "*" not in optouts, (d, optouts)
            assert not disputed and paid < BALANCE, d
            pending = promise_until is not None and now < promise_until and paid_since_promise < promised
            if pending:
                send_day = send.astimezone(zone(TZ)).date()
                assert promise_due is not None and not reminded, ("a second contact under a promise", d)
                assert d["channel"] in ("sms", "whatsapp", "email"), ("a promise reminder must be digital", d)
                assert send_day in (promise_due - timedelta(days=1), promise_due), d
                reminded = True
            assert all(expires <= now for _, expires in live), ("two live reservations", d, live)
            if channels:
                assert d["channel"] in channels
            CONTACTS.append(d["channel"])
            if outcome is None:
                live.append((d["decision_id"], datetime.fromisoformat(d["expires_at"])))
            else:
                post(
                    api,
                    {
                        **base,
                        "event_id": f"o{n}",
                        "type": "message",
                        "status": outcome,
                        "decision_id": d["decision_id"],
                        "channel": d["channel"],
                    },
                )
        elif kind == "optout":
            post(api, {**base, "type": "optout", **({"channel": arg} if arg else {})})
            optouts.add(arg or "*")
            live.clear()
        elif kind == "promise":
            due = (now + timedelta(days=arg)).date()
            api.post(
                "/v1/events", json={**base, "type": "promise", "amount": 300.0, "due_date": due.isoformat()}
            )
            promise_until = datetime(due.year, due.month, due.day, tzinfo=zone(TZ)) + timedelta(days=1)
            promised, paid_since_promise = 300.0, 0.0
            promise_due, reminded = due, False
            live.clear()
        elif kind == "payment":
            post(api, {**base, "type": "payment", "amount": arg})
            paid += arg
            paid_since_promise += arg
            live.clear()
        elif kind == "final" and arg == "optout_all":
            post(api, {**base, "type": "optout"})
            optouts.add("*")
            live.clear()
        elif kind == "final" and arg == "paid_in_full":
            post(api, {**base, "type": "payment", "amount": BALANCE})
            paid += BALANCE
            paid_since_promise += BALANCE
            live.clear()
        elif kind == "final":
            post(api, {**base, "type": "dispute"})
            disputed = True
            live.clear()
        elif kind == "outcome" and live:
            decision, _expires = live[-1]
            status = arg
            api.post(
                "/v1/events", json={**base, "type": "message", "status": status, "decision_id": decision}
            )
            if status in ("failed", "read"):
                live.pop()


def test_the_sequences_above_reached_many_contacts():
    """Guards the property test's power: it is only as good as the contacts it provokes."""
    assert len(CONTACTS) >= 50, len(CONTACTS)
