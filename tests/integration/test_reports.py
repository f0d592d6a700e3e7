"""GET /v1/reports/results against a recount of the decisions and events that went in."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import datetime, timedelta

import pytest

from tests.conftest import account, wait_until

MORNING = datetime.fromisoformat("2026-03-02T08:00:00-06:00")
REPORT = "/v1/reports/results?from=2026-03-01&to=2026-03-31"
ALL_BY = "day,channel,template,segment,carrier,campaign"


def caught_up(api) -> None:
    try:
        wait_until(lambda: api.get("/readyz").json().get("caught_up"), timeout_s=30)
    except AssertionError:
        raise AssertionError(api.get("/readyz").json()) from None


def test_the_report_is_a_recount_of_the_events(api, flow):
    ids = [f"Q-{i:02d}" for i in range(24)]
    docs = [account(a, attributes={"segment": "A" if i % 2 else "B"}) for i, a in enumerate(ids)]
    docs[0] = {**docs[0], "currency": "USD"}  # its amounts count in MXN at [money.rates]
    assert api.put("/v1/accounts", json=docs).status_code == 200
    answers = api.post(
        "/v1/decide", json=[{"account_id": a, "now": MORNING.isoformat(), "horizon_hours": 12} for a in ids]
    ).json()
    contacts = [d for d in answers if d["action"] == "contact"]
    assert len(contacts) > 10
    cancelled = contacts[-1]
    assert api.post(f"/v1/decisions/{cancelled['decision_id']}/cancel").status_code == 200
    contacts = contacts[:-1]
    events, expect, engaged = [], Counter(), set()
    for i, d in enumerate(contacts):
        at = datetime.fromisoformat(d["send_at"])
        base = {"account_id": d["account_id"], "decision_id": d["decision_id"], "channel": d["channel"]}
        if d["channel"] in ("voice", "ivr"):
            status = "answered" if i % 2 else "no_answer"
            events.append(
                {
                    **base,
                    "event_id": f"c{i}",
                    "ts": at.isoformat(),
                    "type": "call",
                    "status": status,
                    "carrier": d["carrier"],
                    "party": "right_party" if i % 2 else None,
                }
            )
            expect["deliveries"] += status == "answered"
            if status == "answered":
                engaged.add(d["decision_id"])
        else:
            events.append(
                {**base, "event_id": f"s{i}", "ts": at.isoformat(), "type": "message", "status": "delivered"}
            )
            expect["deliveries"] += 1
            if i % 3 == 0:  # read twice: engaged once, delivered once
                for k in range(2):
                    ts = (at + timedelta(minutes=5 + k)).isoformat()
                    events.append(
                        {**base, "event_id": f"r{i}{k}", "ts": ts, "type": "message", "status": "read"}
                    )
                engaged.add(d["decision_id"])
        if i % 4 == 1:
            ts = (at + timedelta(hours=1)).isoformat()
            events.append(
                {
                    **base,
                    "event_id": f"p{i}",
                    "ts": ts,
                    "type": "promise",
                    "amount": 100.0,
                    "due_date": "2026-03-09",
                }
            )
            expect["promises"] += 1
            engaged.add(d["decision_id"])  # a promise is engagement too: counted once a contact
    # a payment weeks later, answering no open decision, and an opt-out
    late = (MORNING + timedelta(days=20)).isoformat()
    events.append(
        {"account_id": ids[0], "event_id": "pay-late", "ts": late, "type": "payment", "amount": 10.0}
    )
    events.append({"account_id": ids[1], "event_id": "stop", "ts": late, "type": "optout"})
    assert api.post("/v1/events", json=events).status_code == 202
    end = (MORNING + timedelta(days=21)).isoformat()
    assert api.post("/v1/clock", json={"now": end}).status_code == 202  # every shard reads to here
    caught_up(api)

    body = api.get(f"{REPORT}&by={ALL_BY}").json()
    totals = body["totals"]
    assert totals["contacts"] == len(contacts)  # the cancelled one came off
    assert totals["cost"] == pytest.approx(
        sum(float(r.split("=")[1]) for d in contacts for r in d["reasons"] if r.startswith("cost=")), abs=0.01
    )
    assert totals["deliveries"] == expect["deliveries"]
    assert totals["promises"] == expect["promises"]
    assert totals["engaged"] == len(engaged) + 1  # and the late payment, on its own row
    promised = sum(
        100.0 * (17.5 if e["account_id"] == ids[0] else 1.0) for e in events if e["type"] == "promise"
    )
    assert totals["promised"] == pytest.approx(promised)
    assert (totals["payments"], totals["paid"]) == (1, pytest.approx(10.0 * 17.5))
    assert totals["optouts"] == 1
    assert totals["net"] == pytest.approx(totals["paid"] - totals["cost"])
    # grouped another way, the same totals; each row's dimensions as asked
    by_channel = api.get(f"{REPORT}&by=channel,segment").json()
    assert by_channel["totals"] == totals
    assert all(set(r) >= {"channel", "segment"} and "day" not in r for r in by_channel["rows"])
    sent = Counter(d["channel"] for d in contacts)
    got = Counter()
    for r in by_channel["rows"]:
        got[r["channel"]] += r["contacts"]
    assert +got == sent
    unattributed = [r for r in body["rows"] if r["payments"]]
    assert unattributed == [
        pytest.approx({**unattributed[0], "template": "-", "campaign": "-", "day": "2026-03-22"})
    ]
    # CSV: the same rows
    text = api.get(f"{REPORT}&by=channel&format=csv")
    assert text.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text.text)))
    assert sum(int(r["contacts"]) for r in rows) == totals["contacts"]


def test_a_bad_query_is_refused_naming_the_parameter(api, metrics):
    for query, field in [
        ("?to=2026-03-02", "from"),
        ("?from=2026-03-02&to=yesterday", "to"),
        ("?from=2026-03-05&to=2026-03-01", "to"),
        ("?from=2024-01-01&to=2026-03-01", "to"),
        ("?from=2026-03-01&to=2026-03-02&by=channel,colour", "by"),
        ("?from=2026-03-01&to=2026-03-02&format=xml", "format"),
        ("?from=2026-03-01&to=2026-03-02&form=csv", "form"),
    ]:
        r = api.get(f"/v1/reports/results{query}")
        assert r.status_code == 422, query
        assert r.json()["error"]["code"] == "validation_failed"
        assert field in [d["field"] for d in r.json()["error"]["details"]], (query, r.json())
    assert metrics.requests_rejected.labels("validation_failed")._value.get() >= 7
