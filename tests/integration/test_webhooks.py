"""Vendor webhooks through HTTP: each vendor's callback becomes the right event on the right
account; signatures; unmatched callbacks; retries; the address index; public_url."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import httpx
import pytest
import redis
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from connectors import keys as K
from connectors.store import RedisStore
from connectors.vendors import twilio, vonage
from engine.api.app import build_app
from engine.gateways.webhooks import routes as webhook_routes
from engine.metrics import Metrics
from engine.settings import from_dict
from tests.conftest import BASE_CONFIG, LiveServer, account
from tests.integration.test_events import metric

NOW = "2026-03-02T09:00:00-06:00"
SG_PRIVATE = ec.generate_private_key(ec.SECP256R1())
SG_PUBLIC = base64.b64encode(
    SG_PRIVATE.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()
WEBHOOKS = f"""
[webhooks.twilio]
auth_token = "tw-token"
carrier = "c2"
[webhooks.whatsapp]
app_secret = "wa-secret"
verify_token = "wa-verify"
[webhooks.sendgrid]
public_key = "{SG_PUBLIC}"
[webhooks.vonage]
signature_secret = "vn-secret"
signature_method = "sha256"
[webhooks.smpp]
carrier = "c1"
timezone = "America/Mexico_City"
"""


@pytest.fixture
def config_text():
    return BASE_CONFIG + WEBHOOKS


# --- helpers ----------------------------------------------------------------------------


def decide(api, channel: str, account_id: str = "A-1001") -> dict:
    r = api.post("/v1/decide", json={"account_id": account_id, "now": NOW, "channels": [channel]})
    assert r.status_code == 200 and r.json()["action"] == "contact", r.text
    return r.json()


def events_of(api, account_id: str = "A-1001") -> list[dict]:
    return [
        e for e in api.get(f"/v1/accounts/{account_id}/timeline").json()["entries"] if e["kind"] == "event"
    ]


def state(api, account_id: str = "A-1001") -> dict:
    return api.get(f"/v1/accounts/{account_id}").json()["state"]


def post_twilio(
    api, path: str, params: dict, query: str = "", token: str = "tw-token", url: str | None = None
):
    target = f"{path}?{query}" if query else path
    signed_url = url or str(api.base_url).rstrip("/") + target
    signature = twilio.signature(token, signed_url, list(params.items()))
    return api.post(
        target,
        content=urlencode(params),
        headers={"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature},
    )


def post_whatsapp(api, payload: dict, secret: str = "wa-secret"):
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return api.post(
        "/v1/webhooks/whatsapp",
        content=body,
        headers={"content-type": "application/json", "x-hub-signature-256": signature},
    )


def post_sendgrid(api, events: list, key=SG_PRIVATE, ts: str | None = None):
    body = (json.dumps(events) + "\r\n").encode()
    ts = ts or str(int(time.time()))  # SendGrid signs the time it sends
    signature = base64.b64encode(key.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    return api.post(
        "/v1/webhooks/sendgrid",
        content=body,
        headers={
            "content-type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": signature,
            "X-Twilio-Email-Event-Webhook-Timestamp": ts,
        },
    )


def vonage_signed(params: dict) -> dict:
    params = {**params, "timestamp": "1772467200", "nonce": "n-1"}
    return {**params, "sig": vonage.signature(params, "vn-secret", "sha256").upper()}


def deadletters(redis_url: str) -> list[dict]:
    client = redis.Redis.from_url(redis_url)
    rows = client.xrange(K.DEADLETTER)
    client.close()
    return [{k.decode(): v.decode() for k, v in fields.items()} for _id, fields in rows]


def wa_value(**value) -> dict:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}],
    }


# --- Twilio -------------------------------------------------------------------------------


def test_twilio_status_callback_lands_on_the_decision(api):
    api.put("/v1/accounts", json=account())
    d = decide(api, "sms")
    assert state(api)["lock"]["decision_id"] == d["decision_id"]
    params = {"MessageSid": "SM1", "MessageStatus": "undelivered", "To": d["address"], "ErrorCode": "30003"}
    r = post_twilio(api, "/v1/webhooks/twilio/messages", params, f"decision_id={d['decision_id']}")
    assert r.status_code == 200 and r.json() == {"accepted": 1, "duplicates": 0, "unmatched": 0}
    (event,) = events_of(api)
    assert event["event_id"] == "twilio:SM1:undelivered" and event["decision_id"] == d["decision_id"]
    assert (event["type"], event["status"], event["error_code"]) == ("message", "undelivered", "30003")
    assert (event["channel"], event["contact_point_id"], event["source"]) == (
        "sms",
        d["contact_point_id"],
        "twilio",
    )
    assert state(api)["lock"] is None  # a final status releases the reservation at once
    # Twilio retries: the same callback is a duplicate
    r = post_twilio(api, "/v1/webhooks/twilio/messages", params, f"decision_id={d['decision_id']}")
    assert r.json() == {"accepted": 0, "duplicates": 1, "unmatched": 0}
    assert metric(api, "cadencia_events_total", type="message", source="twilio") == 2.0


def test_twilio_bad_signature_is_401_and_nothing_applied(api):
    api.put("/v1/accounts", json=account())
    params = {"MessageSid": "SM2", "MessageStatus": "delivered", "To": "+5213312345678"}
    r = post_twilio(api, "/v1/webhooks/twilio/messages", params, token="wrong-token")
    assert r.status_code == 401 and r.json()["error"]["code"] == "bad_signature"
    r = api.post(
        "/v1/webhooks/twilio/messages",
        content=urlencode(params),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 401
    assert events_of(api) == []
    assert metric(api, "cadencia_events_rejected_total", reason="bad_signature") == 2.0


def test_twilio_inbound_stop_opts_the_channel_out(api):
    api.put("/v1/accounts", json=account())
    params = {
        "MessageSid": "SM3",
        "SmsStatus": "received",
        "From": "+5213312345678",
        "To": "+15550001111",
        "Body": "STOP",
    }
    r = post_twilio(api, "/v1/webhooks/twilio/messages", params)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/xml")
    assert "<Response>" in r.text
    (event,) = events_of(api)
    assert (event["type"], event["text"], event["intent"], event["channel"], event["contact_point_id"]) == (
        "reply",
        "STOP",
        "optout",
        "sms",
        "m1",
    )
    assert state(api)["optouts"] == ["sms"]


def test_twilio_call_voicemail_with_the_configured_carrier(api):
    api.put("/v1/accounts", json=account())
    d = decide(api, "voice")
    params = {
        "CallSid": "CA1",
        "CallStatus": "completed",
        "AnsweredBy": "machine_end_beep",
        "CallDuration": "31",
        "To": d["address"],
        "Direction": "outbound-api",
        "Timestamp": "Mon, 02 Mar 2026 15:05:00 +0000",
    }
    r = post_twilio(api, "/v1/webhooks/twilio/calls", params, f"decision_id={d['decision_id']}")
    assert r.status_code == 200 and r.json()["accepted"] == 1
    (event,) = events_of(api)
    assert (event["type"], event["status"], event["duration_s"], event["carrier"]) == (
        "call",
        "voicemail",
        31.0,
        "c2",
    )
    assert (event["channel"], event["decision_id"]) == ("voice", d["decision_id"])
    assert event["at"].startswith("2026-03-02T15:05:00")
    ringing = {**params, "CallStatus": "ringing"}
    assert post_twilio(api, "/v1/webhooks/twilio/calls", ringing).json()["accepted"] == 0


def test_twilio_async_answering_machine_verdict_is_the_calls_outcome(api):
    """AsyncAmd: the detection result comes alone (AnsweredBy, no CallStatus; Twilio's AMD
    docs); a machine becomes the call's outcome, and the later `completed` callback, which may
    not repeat AnsweredBy, is a duplicate of it."""
    api.put("/v1/accounts", json=account())
    d = decide(api, "voice")
    amd = {
        "AccountSid": "AC1",
        "CallSid": "CA7",
        "AnsweredBy": "machine_end_silence",
        "MachineDetectionDuration": "4100",
        "To": d["address"],
        "Direction": "outbound-api",
    }
    query = f"decision_id={d['decision_id']}"
    r = post_twilio(api, "/v1/webhooks/twilio/calls", amd, query)
    assert r.status_code == 200 and r.json()["accepted"] == 1
    completed = {"CallSid": "CA7", "CallStatus": "completed", "CallDuration": "22", "To": d["address"]}
    assert post_twilio(api, "/v1/webhooks/twilio/calls", completed, query).json()["duplicates"] == 1
    (event,) = events_of(api)
    assert (event["type"], event["status"], event["decision_id"]) == ("call", "voicemail", d["decision_id"])
    human = {**amd, "CallSid": "CA8", "AnsweredBy": "human"}
    assert post_twilio(api, "/v1/webhooks/twilio/calls", human).json()["accepted"] == 0


def test_whatsapp_user_stopping_marketing_messages_is_an_opt_out(api):
    """The user_preferences webhook (Meta's reference): a stop opts the debtor out of WhatsApp;
    a resume changes nothing."""
    api.put("/v1/accounts", json=account())
    change = {
        "field": "user_preferences",
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550009999", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": "5213312345678"}],
            "user_preferences": [
                {
                    "wa_id": "5213312345678",
                    "detail": "User requested to stop marketing messages",
                    "category": "marketing_messages",
                    "value": "stop",
                    "timestamp": 1772467300,
                }
            ],
        },
    }
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [change]}],
    }
    r = post_whatsapp(api, payload)
    assert r.status_code == 200 and r.json()["accepted"] == 1
    assert state(api)["optouts"] == ["whatsapp"]
    held = api.post("/v1/decide", json={"account_id": "A-1001", "now": NOW, "channels": ["whatsapp"]}).json()
    assert held["action"] == "wait" and "optout_whatsapp" in held["reasons"]
    resume = {
        **change,
        "value": {
            **change["value"],
            "user_preferences": [
                {**change["value"]["user_preferences"][0], "value": "resume", "timestamp": 1772467400}
            ],
        },
    }
    r = post_whatsapp(api, {**payload, "entry": [{"id": "102290129340398", "changes": [resume]}]})
    assert r.json()["accepted"] == 0 and state(api)["optouts"] == ["whatsapp"]


def test_malformed_callbacks_name_the_field(api):
    r = post_twilio(api, "/v1/webhooks/twilio/messages", {"MessageStatus": "sent"})
    assert r.status_code == 422
    assert r.json()["error"]["details"] == [{"index": 0, "field": "MessageSid", "message": "missing"}]
    r = post_whatsapp(
        api,
        {
            "entry": [
                {"changes": [{"value": {"statuses": [{"id": "w", "status": "read", "timestamp": "soon"}]}}]}
            ]
        },
    )
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "statuses.timestamp"
    r = api.post("/v1/webhooks/infobip", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    assert metric(api, "cadencia_events_rejected_total", reason="invalid") == 2.0


# --- WhatsApp -----------------------------------------------------------------------------


def test_whatsapp_verification(api):
    query = {"hub.mode": "subscribe", "hub.verify_token": "wa-verify", "hub.challenge": "1158201444"}
    r = api.get("/v1/webhooks/whatsapp", params=query)
    assert (
        r.status_code == 200 and r.text == "1158201444" and r.headers["content-type"].startswith("text/plain")
    )
    r = api.get("/v1/webhooks/whatsapp", params={**query, "hub.verify_token": "guess"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


def test_whatsapp_statuses_and_replies(api):
    api.put("/v1/accounts", json=account())
    d = decide(api, "whatsapp")
    payload = wa_value(
        statuses=[
            {
                "id": "wamid.A",
                "status": "read",
                "timestamp": "1772467260",
                "recipient_id": "5213312345678",
                "biz_opaque_callback_data": d["decision_id"],
            }
        ],
        messages=[
            {
                "from": "5213312345678",
                "id": "wamid.M1",
                "timestamp": "1772467300",
                "type": "interactive",
                "interactive": {"type": "button_reply", "button_reply": {"id": "pay", "title": "Pagar hoy"}},
            }
        ],
    )
    r = post_whatsapp(api, payload)
    assert r.status_code == 200 and r.json() == {"accepted": 2, "duplicates": 0, "unmatched": 0}
    read, reply = events_of(api)
    assert (read["event_id"], read["status"], read["decision_id"], read["channel"]) == (
        "wa:wamid.A:read",
        "read",
        d["decision_id"],
        "whatsapp",
    )
    assert read["at"].startswith("2026-03-02T16:01:00")  # the vendor's own time
    assert (reply["type"], reply["text"], reply["channel"], reply["contact_point_id"]) == (
        "reply",
        "Pagar hoy",
        "whatsapp",
        "m1",
    )
    assert post_whatsapp(api, payload, secret="other").status_code == 401
    assert post_whatsapp(api, payload).json() == {"accepted": 0, "duplicates": 2, "unmatched": 0}


# --- SendGrid -----------------------------------------------------------------------------


def test_sendgrid_events(api):
    api.put("/v1/accounts", json=account())
    d = decide(api, "email")
    events = [
        {
            "email": "ANA@example.com",
            "timestamp": 1772467200,
            "event": "delivered",
            "sg_event_id": "sg1",
            "decision_id": d["decision_id"],
        },
        {"email": "ana@example.com", "timestamp": 1772467300, "event": "deferred", "sg_event_id": "sg2"},
        {"email": "ana@example.com", "timestamp": 1772467400, "event": "unsubscribe", "sg_event_id": "sg3"},
    ]
    r = post_sendgrid(api, events)
    assert r.status_code == 200 and r.json() == {"accepted": 2, "duplicates": 0, "unmatched": 0}
    delivered, unsubscribed = events_of(api)
    assert (
        delivered["event_id"],
        delivered["status"],
        delivered["decision_id"],
        delivered["contact_point_id"],
    ) == (
        "sg:sg1",
        "delivered",
        d["decision_id"],
        "e1",
    )
    assert (unsubscribed["type"], unsubscribed["channel"], unsubscribed["contact_point_id"]) == (
        "optout",
        "email",
        "e1",
    )
    assert state(api)["optouts"] == ["email"]
    r = post_sendgrid(api, events, key=ec.generate_private_key(ec.SECP256R1()))
    assert (
        r.status_code == 401 and metric(api, "cadencia_events_rejected_total", reason="bad_signature") == 1.0
    )
    # a genuine callback captured and replayed later: its signature is valid, its time is not
    stale = post_sendgrid(api, [{**events[0], "sg_event_id": "sg-replayed"}], ts=str(int(time.time()) - 3600))
    assert stale.status_code == 401 and "tolerance_s" in stale.json()["error"]["message"]
    assert metric(api, "cadencia_events_rejected_total", reason="bad_signature") == 2.0


# --- Infobip, Vonage, SMPP ----------------------------------------------------------------


def test_infobip_report_by_callback_data_and_unmatched_to_the_dead_letter(api, redis_url):
    api.put("/v1/accounts", json=account())
    d = decide(api, "sms")
    report = {
        "messageId": "IB1",
        "to": "5213312345678",
        "doneAt": "2026-03-02T15:01:00.000+0000",
        "status": {"groupName": "DELIVERED", "name": "DELIVERED_TO_HANDSET"},
        "error": {"id": 0, "name": "NO_ERROR"},
        "callbackData": d["decision_id"],
    }
    stranger = {**report, "messageId": "IB2", "to": "+447700900123", "callbackData": "someone-else"}
    r = api.post("/v1/webhooks/infobip", json={"results": [report, stranger]})
    assert r.status_code == 200 and r.json() == {"accepted": 1, "duplicates": 0, "unmatched": 1}
    (event,) = events_of(api)
    assert (event["event_id"], event["status"], event["decision_id"], event["source"]) == (
        "ib:IB1:DELIVERED",
        "delivered",
        d["decision_id"],
        "infobip",
    )
    (dead,) = deadletters(redis_url)
    assert (
        dead["vendor"] == "infobip"
        and dead["event_id"] == "ib:IB2:DELIVERED"
        and dead["reason"] == "unmatched"
    )
    assert json.loads(dead["callback"])["address"] == "+447700900123"
    assert metric(api, "cadencia_events_rejected_total", reason="unmatched") == 1.0


def test_vonage_json_form_and_query(api):
    api.put("/v1/accounts", json=account())
    d = decide(api, "sms")
    dlr = vonage_signed(
        {
            "msisdn": "5213312345678",
            "to": "Cadencia",
            "messageId": "0B01",
            "status": "delivered",
            "err-code": "0",
            "client-ref": d["decision_id"],
            "message-timestamp": "2026-03-02 15:02:00",
        }
    )
    r = api.post("/v1/webhooks/vonage", json=dlr)
    assert r.status_code == 200 and r.json()["accepted"] == 1
    inbound = vonage_signed(
        {
            "msisdn": "5213312345678",
            "to": "12015550000",
            "messageId": "0A01",
            "text": "no puedo pagar",
            "type": "text",
        }
    )
    r = api.post("/v1/webhooks/vonage", data=inbound)
    assert r.status_code == 200 and r.json()["accepted"] == 1
    r = api.get("/v1/webhooks/vonage", params=inbound)
    assert r.json() == {"accepted": 0, "duplicates": 1, "unmatched": 0}
    delivered, reply = events_of(api)
    assert (delivered["decision_id"], delivered["status"], delivered["carrier"]) == (
        d["decision_id"],
        "delivered",
        None,
    )
    assert (reply["type"], reply["text"], reply["channel"]) == ("reply", "no puedo pagar", "sms")
    tampered = {**inbound, "text": "pagado"}
    assert api.post("/v1/webhooks/vonage", data=tampered).status_code == 401


def test_smpp_receipt_text(api):
    api.put("/v1/accounts", json=account())
    d = decide(api, "sms")
    receipt = (
        "id:7f3a sub:001 dlvrd:000 submit date:2603020900 done date:2603020904 stat:UNDELIV err:0x0B text:Hi"
    )
    query = {"decision_id": d["decision_id"], "to": d["address"]}
    r = api.post("/v1/webhooks/smpp", params=query, content=receipt, headers={"content-type": "text/plain"})
    assert r.status_code == 200 and r.json()["accepted"] == 1
    (event,) = events_of(api)
    assert (event["event_id"], event["status"], event["error_code"], event["carrier"]) == (
        "smpp:7f3a:UNDELIV",
        "undelivered",
        "0x0B",
        "c1",
    )
    assert event["at"].startswith("2026-03-02T15:04:00")  # 09:04 in [webhooks.smpp] timezone
    r = api.get("/v1/webhooks/smpp", params={**query, "receipt": receipt})  # Kannel: GET dlr-url with %A
    assert r.json() == {"accepted": 0, "duplicates": 1, "unmatched": 0}


def test_a_callback_naming_an_unconfigured_carrier_is_refused_matched_or_not(api, redis_url):
    receipt = "id:9c1 stat:DELIVRD"
    r = api.get("/v1/webhooks/smpp", params={"receipt": receipt, "to": "+10000000000", "carrier": "nope"})
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "carrier"
    assert deadletters(redis_url) == []  # not even dead-lettered


# --- finding the account by address -------------------------------------------------------


def test_the_address_index_follows_the_account(api, redis_url):
    api.put("/v1/accounts", json=account())
    mo = {"MessageSid": "SM10", "SmsStatus": "received", "From": "+523336001122", "Body": "hola"}
    assert post_twilio(api, "/v1/webhooks/twilio/messages", mo).status_code == 200
    assert events_of(api)[0]["contact_point_id"] == "h1"
    moved = account()
    moved["contact_points"] = [{**moved["contact_points"][0], "address": "+5213399990000"}]
    assert api.put("/v1/accounts", json=moved).status_code == 200
    gone = {**mo, "MessageSid": "SM11"}
    assert post_twilio(api, "/v1/webhooks/twilio/messages", gone).status_code == 200
    assert len(events_of(api)) == 1 and len(deadletters(redis_url)) == 1  # the old number no longer matches
    new = {**mo, "MessageSid": "SM12", "From": "whatsapp:+5213399990000"}
    post_twilio(api, "/v1/webhooks/twilio/messages", new)
    assert [e["contact_point_id"] for e in events_of(api)] == ["h1", "m1"]
    client = redis.Redis.from_url(redis_url)
    keys = K.Keys(16)
    assert client.hget(keys.address_index("+523336001122"), "+523336001122") is None
    assert client.hget(keys.address_index("+523399990000"), "+523399990000") == b"A-1001"
    client.close()


def test_a_shared_number_replies_to_every_holder_statuses_to_the_newest(api):
    api.put("/v1/accounts", json=[account("A-1"), account("A-2")])
    mo = {"MessageSid": "SM20", "SmsStatus": "received", "From": "+5213312345678", "Body": "STOP"}
    assert post_twilio(api, "/v1/webhooks/twilio/messages", mo).status_code == 200
    assert state(api, "A-1")["optouts"] == ["sms"] and state(api, "A-2")["optouts"] == ["sms"]
    status = {"MessageSid": "SM21", "MessageStatus": "delivered", "To": "+5213312345678"}
    assert post_twilio(api, "/v1/webhooks/twilio/messages", status).json()["accepted"] == 1
    assert len(events_of(api, "A-1")) == 1 and len(events_of(api, "A-2")) == 2


# --- public_url, auth, OpenAPI -----------------------------------------------------------


def test_signatures_are_checked_against_the_public_url(settings, redis_url):
    public = "https://hooks.example.net/cadencia"
    behind = dataclasses.replace(settings, server=dataclasses.replace(settings.server, public_url=public))
    store = RedisStore.from_url(redis_url, behind.redis.shards)
    with LiveServer(build_app(behind, store, Metrics())) as live, httpx.Client(base_url=live.url) as client:
        client.put("/v1/accounts", json=account())
        params = {"MessageSid": "SM30", "MessageStatus": "delivered", "To": "+5213312345678"}
        path, query = "/v1/webhooks/twilio/messages", "decision_id=d-001-000000000000"
        r = post_twilio(client, path, params, query, url=f"{public}{path}?{query}")
        assert r.status_code == 200 and r.json()["accepted"] == 1
        r = post_twilio(client, path, {**params, "MessageSid": "SM31"}, query)  # signed for the local URL
        assert r.status_code == 401


def test_auth_gateway_token_for_infobip_and_smpp_signature_for_vendors(settings, redis_url):
    secured = dataclasses.replace(
        settings, tokens={"gw-token": "gateway", "dial-token": "dialer", "admin-token": "admin"}
    )
    store = RedisStore.from_url(redis_url, secured.redis.shards)
    with LiveServer(build_app(secured, store, Metrics())) as live, httpx.Client(base_url=live.url) as client:
        client.put("/v1/accounts", json=account(), headers={"authorization": "Bearer admin-token"})
        report = {
            "results": [{"messageId": "IB9", "to": "5213312345678", "status": {"groupName": "PENDING"}}]
        }
        assert client.post("/v1/webhooks/infobip", json=report).status_code == 401
        assert (
            client.post(
                "/v1/webhooks/infobip", json=report, headers={"authorization": "Bearer dial-token"}
            ).status_code
            == 403
        )
        r = client.post("/v1/webhooks/infobip", json=report, headers={"authorization": "Bearer gw-token"})
        assert r.status_code == 200 and r.json()["accepted"] == 1
        assert client.post("/v1/webhooks/smpp", params={"receipt": "id:1 stat:DELIVRD"}).status_code == 401
        params = {"MessageSid": "SM40", "MessageStatus": "sent", "To": "+5213312345678"}
        assert (
            post_twilio(client, "/v1/webhooks/twilio/messages", params).status_code == 200
        )  # no bearer: signed


def test_openapi_lists_the_webhooks(api):
    paths = api.get("/openapi.json").json()["paths"]
    expected = {
        "/v1/webhooks/twilio/messages": {"post"},
        "/v1/webhooks/twilio/calls": {"post"},
        "/v1/webhooks/whatsapp": {"get", "post"},
        "/v1/webhooks/sendgrid": {"post"},
        "/v1/webhooks/infobip": {"post"},
        "/v1/webhooks/vonage": {"get", "post"},
        "/v1/webhooks/smpp": {"get", "post"},
    }
    for path, methods in expected.items():
        assert set(paths[path]) == methods, path
    assert paths["/v1/webhooks/twilio/messages"]["post"]["security"] == []
    assert paths["/v1/webhooks/infobip"]["post"]["security"] == [{"bearer": []}]
    store = RedisStore.from_url("redis://127.0.0.1:1", 16)  # never connected: only the routes are read
    registered = {
        (r.path, m.lower()) for r in webhook_routes(from_dict({}), store, Metrics()) for m in r.methods
    }
    assert {(p, m) for p, ms in expected.items() for m in ms} <= registered
