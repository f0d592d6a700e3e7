"""PUT /v1/accounts and GET /v1/accounts/{id}: upserts, reads, and bad input."""

from __future__ import annotations

from unittest.mock import ANY

import orjson
import pytest

from tests.conftest import account


def test_upsert_one_and_read_back(api):
    r = api.put("/v1/accounts", json=account())
    assert r.status_code == 200 and r.json() == {"upserted": 1}
    got = api.get("/v1/accounts/A-1001").json()
    assert got["balance"] == 1520.50 and got["attributes"] == {"risk_score": 612, "segment": "B"}
    assert [p["id"] for p in got["contact_points"]] == ["m1", "h1", "e1"]
    state = got["state"]
    assert state["events_applied"] == 0 and state["lock"] is None and state["optouts"] == []


def test_upsert_many_as_array_and_ndjson(api):
    assert api.put("/v1/accounts", json=[account("A-1"), account("A-2")]).json() == {"upserted": 2}
    body = b"\n".join(orjson.dumps(account(f"B-{i}")) for i in range(3))
    r = api.put("/v1/accounts", content=body, headers={"content-type": "application/x-ndjson"})
    assert r.json() == {"upserted": 3}
    assert api.get("/v1/accounts/B-2").status_code == 200


def test_an_upload_longer_than_a_slice_writes_every_account(api):
    from engine.api.app import SLICE_ACCOUNTS

    n = SLICE_ACCOUNTS * 2 + 3
    r = api.put("/v1/accounts", json=[account(f"S-{i}") for i in range(n)])
    assert r.json() == {"upserted": n}
    assert all(api.get(f"/v1/accounts/S-{i}").status_code == 200 for i in (0, SLICE_ACCOUNTS, n - 1))


def test_a_large_upload_is_validated_in_slices_and_still_all_or_nothing(api):
    from engine.api.app import SLICED_BODY_BYTES

    docs = [account(f"L-{i}", attributes={"note": "x" * 300}) for i in range(1000)]
    docs[900]["balance"] = "lots"
    body = orjson.dumps(docs)
    assert len(body) > SLICED_BODY_BYTES
    r = api.put("/v1/accounts", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["error"]["details"] == [{"index": 900, "field": "balance", "message": ANY}]
    assert api.get("/v1/accounts/L-0").status_code == 404  # nothing applied
    docs[900]["balance"] = 10.0
    r = api.put("/v1/accounts", content=orjson.dumps(docs), headers={"content-type": "application/json"})
    assert r.json() == {"upserted": 1000}


def test_upsert_replaces_the_document(api):
    api.put("/v1/accounts", json=account(balance=100.0))
    api.put("/v1/accounts", json=account(balance=90.0, days_past_due=50))
    got = api.get("/v1/accounts/A-1001").json()
    assert got["balance"] == 90.0 and got["days_past_due"] == 50


def test_unknown_account_is_404(api):
    r = api.get("/v1/accounts/nobody")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert api.get("/v1/accounts/nobody/timeline").status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"balance": "lots"}, "balance"),
        ({"balance": -1}, "balance"),
        ({"balance": 1.6e308}, "balance"),  # would overflow a currency rate to infinity
        ({"days_past_due": 4.5}, "days_past_due"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"currency": "EUR"}, "currency"),
        ({"country": "mexico"}, "country"),
        ({"account_id": ""}, "account_id"),
        ({"contact_points": [{"id": "m1", "type": "pager", "address": "x"}]}, "contact_points[0].type"),
        (
            {"contact_points": [{"id": "m1", "type": "mobile", "address": "+1", "channels": ["fax"]}]},
            "contact_points[0].channels[0]",
        ),
        (
            {"contact_points": [{"id": "m1", "type": "mobile", "address": "+1", "network": "tel cel"}]},
            "contact_points[0].network",
        ),
        (
            {
                "contact_points": [
                    {"id": "m1", "type": "mobile", "address": "+1"},
                    {"id": "m1", "type": "mobile", "address": "+2"},
                ]
            },
            "contact_points",
        ),
    ],
)
def test_a_batch_with_one_bad_account_is_rejected_whole(api, change, field):
    bad = {**account("BAD-1"), **change}
    r = api.put("/v1/accounts", json=[account("GOOD-1"), bad])
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "validation_failed"
    assert err["details"] == [{"index": 1, "field": field, "message": err["details"][0]["message"]}]
    assert err["details"][0]["message"]
    assert api.get("/v1/accounts/GOOD-1").status_code == 404  # nothing applied


def test_missing_required_field_is_named(api):
    doc = account()
    del doc["timezone"]
    r = api.put("/v1/accounts", json=doc)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "timezone"


def test_malformed_json_and_wrong_media_type(api):
    r = api.put("/v1/accounts", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    r = api.put("/v1/accounts", content=b"a=1", headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415


def test_oversized_body_is_413(api, settings):
    big = b"[" + b",".join([orjson.dumps(account(f"X-{i}")) for i in range(12_000)]) + b"]"
    assert len(big) > settings.server.max_body_bytes
    r = api.put("/v1/accounts", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
    assert api.get("/v1/accounts/X-1").status_code == 404
