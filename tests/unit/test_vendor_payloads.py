"""Vendor callbacks normalised into cadencia's events, and the vendors' signature checks
against their own published vectors (pure: no I/O)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from connectors import addresses
from connectors.vendors import VendorError, infobip, sendgrid, smpp, twilio, vonage, whatsapp

# --- addresses ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("+5213312345678", "+523312345678"),  # WhatsApp's MX mobile form
        ("whatsapp:+52 33 1234 5678", "+523312345678"),
        ("5213312345678", "+523312345678"),
        ("0015551234567", "+15551234567"),
        ("tel:+1 (555) 123-4567", "+15551234567"),
        ("+573001234567", "+573001234567"),
        (" Ana@Example.COM ", "ana@example.com"),
        ("mailto:ana@example.com", "ana@example.com"),
        ("123", None),
        ("", None),
    ],
)
def test_addresses_normalise(raw, canonical):
    assert addresses.normalise(raw) == canonical


def test_addresses_of_a_document():
    doc = json.dumps(
        {
            "contact_points": [
                {"id": "m1", "address": "+5213312345678"},
                {"id": "w1", "address": "5213312345678"},
                {"id": "e1", "address": "Ana@example.com"},
            ]
        }
    ).encode()
    assert addresses.of_document(doc) == ["+523312345678", "ana@example.com"]


# --- Twilio -------------------------------------------------------------------------------

# twilio-python tests/unit/test_request_validator.py: token, URL, parameters and signatures.
TW_TOKEN = "12345"
TW_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TW_PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
    ("Caller", "+14158675309"),
]


def test_twilio_signature_matches_twilio_python_vectors():
    assert twilio.signature(TW_TOKEN, TW_URL, TW_PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    repeated = [
        ("Sid", "CA123"),
        ("SidAccount", "AC123"),
        ("Digits", "5678"),
        ("Digits", "1234"),
        ("Digits", "1234"),
    ]
    assert twilio.signature(TW_TOKEN, TW_URL, repeated) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="
    assert twilio.valid_signature(TW_TOKEN, TW_URL, TW_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    # Twilio signs with or without the port: both are accepted
    assert twilio.valid_signature(
        TW_TOKEN, TW_URL.replace(".com", ".com:1234"), TW_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    )
    assert twilio.valid_signature(TW_TOKEN, TW_URL, TW_PARAMS, "kvajT1Ptam85bY51eRf/AJRuM3w=")  # with :443
    assert not twilio.valid_signature(
        TW_TOKEN, TW_URL, [*TW_PARAMS[:-1], ("Caller", "+1")], "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    )
    assert not twilio.valid_signature("54321", TW_URL, TW_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")


def test_twilio_message_status_callbacks():
    params = {
        "MessageSid": "SM1",
        "MessageStatus": "undelivered",
        "To": "+5213312345678",
        "ErrorCode": "30003",
    }
    (cb,) = twilio.parse_message(params, "d-001-abc")
    assert (cb.event_id, cb.type, cb.status, cb.error_code) == (
        "twilio:SM1:undelivered",
        "message",
        "undelivered",
        "30003",
    )
    assert (cb.decision_id, cb.channel, cb.address, cb.ts) == ("d-001-abc", "sms", "+5213312345678", None)
    (wa,) = twilio.parse_message(
        {"MessageSid": "SM2", "MessageStatus": "read", "To": "whatsapp:+5213312345678"}, None
    )
    assert (wa.channel, wa.status, wa.error_code) == ("whatsapp", "read", None)
    (q,) = twilio.parse_message({"MessageSid": "SM3", "MessageStatus": "sending"}, None)
    assert q.status == "queued"
    assert twilio.parse_message({"MessageSid": "SM4", "MessageStatus": "canceled"}, None) == []
    with pytest.raises(VendorError) as err:
        twilio.parse_message({"MessageStatus": "sent"}, None)
    assert err.value.field == "MessageSid"


def test_twilio_inbound_messages_and_opt_outs():
    (cb,) = twilio.parse_message(
        {"MessageSid": "SM9", "SmsStatus": "received", "From": "+5213312345678", "Body": "pago el viernes"},
        None,
    )
    assert (cb.event_id, cb.type, cb.text, cb.intent, cb.address) == (
        "twilio:SM9",
        "reply",
        "pago el viernes",
        None,
        "+5213312345678",
    )
    (stop,) = twilio.parse_message({"MessageSid": "SM10", "From": "+1555", "Body": "Stop."}, None)
    assert stop.intent == "optout"
    (adv,) = twilio.parse_message(
        {"MessageSid": "SM11", "From": "+1555", "Body": "baja", "OptOutType": "STOP"}, None
    )
    assert adv.intent == "optout"
    (button,) = twilio.parse_message(
        {
            "MessageSid": "SM12",
            "From": "whatsapp:+1555",
            "Body": "",
            "ButtonText": "Pagar hoy",
            "SmsStatus": "received",
        },
        None,
    )
    assert (button.channel, button.text) == ("whatsapp", "Pagar hoy")


def test_twilio_call_status_callbacks():
    base = {"CallSid": "CA1", "To": "+5213312345678", "From": "+15550001111", "Direction": "outbound-api"}
    (cb,) = twilio.parse_call(
        {
            **base,
            "CallStatus": "completed",
            "CallDuration": "42",
            "SipResponseCode": "200",
            "Timestamp": "Mon, 02 Mar 2026 16:00:00 +0000",
        },
        "d-003-x",
    )
    assert (cb.event_id, cb.type, cb.status, cb.duration_s, cb.sip_code) == (
        "twilio:CA1:completed",
        "call",
        "answered",
        42.0,
        200,
    )
    assert (
        cb.ts == datetime(2026, 3, 2, 16, tzinfo=UTC)
        and cb.address == "+5213312345678"
        and cb.channel is None
    )
    (vm,) = twilio.parse_call({**base, "CallStatus": "completed", "AnsweredBy": "machine_end_beep"}, None)
    assert vm.status == "voicemail"
    for raw, mapped in [
        ("busy", "busy"),
        ("no-answer", "no_answer"),
        ("failed", "failed"),
        ("canceled", "canceled"),
    ]:
        assert twilio.parse_call({**base, "CallStatus": raw}, None)[0].status == mapped
    assert twilio.parse_call({**base, "CallStatus": "ringing"}, None) == []
    (inbound,) = twilio.parse_call({**base, "Direction": "inbound", "CallStatus": "busy"}, None)
    assert inbound.address == "+15550001111"
    with pytest.raises(VendorError) as err:
        twilio.parse_call({**base, "CallStatus": "completed", "CallDuration": "forever"}, None)
    assert err.value.field == "CallDuration"


# --- WhatsApp Cloud API -------------------------------------------------------------------


def wa_payload(value):
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}],
    }


def test_whatsapp_signature_and_verification():
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    import hashlib
    import hmac

    good = "sha256=" + hmac.new(b"app-secret", body, hashlib.sha256).hexdigest()
    assert whatsapp.valid_signature("app-secret", body, good)
    assert not whatsapp.valid_signature("app-secret", body + b" ", good)
    assert not whatsapp.valid_signature("app-secret", body, good.replace("sha256=", "sha1="))
    assert not whatsapp.valid_signature("app-secret", body, "")
    params = {"hub.mode": "subscribe", "hub.verify_token": "vt", "hub.challenge": "1158201444"}
    assert whatsapp.verification(params, "vt") == "1158201444"
    assert whatsapp.verification({**params, "hub.verify_token": "nope"}, "vt") is None
    assert whatsapp.verification(params, None) is None


def test_whatsapp_statuses_and_messages():
    payload = wa_payload(
        {
            "messaging_product": "whatsapp",
            "statuses": [
                {
                    "id": "wamid.A",
                    "status": "delivered",
                    "timestamp": "1772467200",
                    "recipient_id": "5213312345678",
                    "biz_opaque_callback_data": "d-002-ff",
                },
                {
                    "id": "wamid.B",
                    "status": "failed",
                    "timestamp": "1772467260",
                    "recipient_id": "5213312345678",
                    "errors": [{"code": 131026, "title": "Message undeliverable"}],
                },
                {
                    "id": "wamid.C",
                    "status": "deleted",
                    "timestamp": "1772467260",
                    "recipient_id": "5213312345678",
                },
            ],
            "messages": [
                {
                    "from": "5213312345678",
                    "id": "wamid.M1",
                    "timestamp": "1772467300",
                    "type": "text",
                    "text": {"body": "STOP"},
                },
                {
                    "from": "5213312345678",
                    "id": "wamid.M2",
                    "timestamp": "1772467301",
                    "type": "interactive",
                    "interactive": {
                        "type": "button_reply",
                        "button_reply": {"id": "pay", "title": "Pagar hoy"},
                    },
                },
                {
                    "from": "5213312345678",
                    "id": "wamid.M3",
                    "timestamp": "1772467302",
                    "type": "button",
                    "button": {"payload": "later", "text": "Más tarde"},
                },
                {
                    "from": "5213312345678",
                    "id": "wamid.M4",
                    "timestamp": "1772467303",
                    "type": "image",
                    "image": {"id": "x"},
                },
            ],
        }
    )
    delivered, failed, stop, button, quick, image = whatsapp.parse(payload)
    assert (delivered.event_id, delivered.status, delivered.decision_id) == (
        "wa:wamid.A:delivered",
        "delivered",
        "d-002-ff",
    )
    assert delivered.ts == datetime.fromtimestamp(1772467200, UTC) and delivered.channel == "whatsapp"
    assert (failed.status, failed.error_code) == ("failed", "131026")
    assert (stop.event_id, stop.type, stop.text, stop.intent) == ("wa:wamid.M1", "reply", "STOP", "optout")
    assert (button.text, quick.text, image.text) == ("Pagar hoy", "Más tarde", "[image]")
    with pytest.raises(VendorError) as err:
        whatsapp.parse(wa_payload({"statuses": [{"status": "read"}]}))
    assert err.value.field == "statuses.id"


# --- SendGrid -----------------------------------------------------------------------------

# sendgrid-python test/unit/test_eventwebhook.py: key, signature, timestamp and payload.
SG_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+"
    "2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
)
SG_SIGNATURE = (
    "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM="
)
SG_TIMESTAMP = "1600112502"
SG_EVENTS = [
    {
        "email": "hello@world.com",
        "event": "dropped",
        "reason": "Bounced Address",
        "sg_event_id": "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",
        "sg_message_id": "LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",
        "smtp-id": "<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>",
        "timestamp": 1600112492,
    }
]
SG_PAYLOAD = (json.dumps(SG_EVENTS, sort_keys=True, separators=(",", ":")) + "\r\n").encode()


def test_sendgrid_signature_matches_sendgrid_python_vector():
    key = sendgrid.public_key(SG_KEY)
    assert sendgrid.valid_signature(key, SG_PAYLOAD, SG_SIGNATURE, SG_TIMESTAMP)
    assert not sendgrid.valid_signature(key, b"payload", SG_SIGNATURE, SG_TIMESTAMP)
    assert not sendgrid.valid_signature(key, SG_PAYLOAD, SG_SIGNATURE, "1600112503")
    assert not sendgrid.valid_signature(key, SG_PAYLOAD, "not base64!", SG_TIMESTAMP)


def test_sendgrid_signature_with_a_key_made_here():
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key = sendgrid.public_key(base64.b64encode(der).decode())
    body, ts = b'[{"event":"open"}]', "1772467200"
    signature = base64.b64encode(private.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    assert sendgrid.valid_signature(key, body, signature, ts)
    assert not sendgrid.valid_signature(key, body.replace(b"open", b"click"), signature, ts)
    with pytest.raises(ValueError, match="public_key"):
        sendgrid.public_key("not a key")


def test_sendgrid_events():
    events = [
        {
            "email": "Ana@example.com",
            "timestamp": 1772467200,
            "event": "delivered",
            "sg_event_id": "e1",
            "decision_id": "d-004-aa",
        },
        {"email": "ana@example.com", "timestamp": 1772467201, "event": "open", "sg_event_id": "e2"},
        {
            "email": "ana@example.com",
            "timestamp": 1772467202,
            "event": "bounce",
            "sg_event_id": "e3",
            "status": "5.1.1",
            "type": "bounce",
        },
        {"email": "ana@example.com", "timestamp": 1772467203, "event": "deferred", "sg_event_id": "e4"},
        {"email": "ana@example.com", "timestamp": 1772467204, "event": "unsubscribe", "sg_event_id": "e5"},
        {"email": "ana@example.com", "timestamp": 1772467205, "event": "spamreport", "sg_event_id": "e6"},
        {"email": "ana@example.com", "timestamp": 1772467206, "event": "processed", "sg_message_id": "m7"},
    ]
    delivered, opened, bounced, unsubscribed, spam, processed = sendgrid.parse(events)
    assert (delivered.event_id, delivered.status, delivered.decision_id, delivered.channel) == (
        "sg:e1",
        "delivered",
        "d-004-aa",
        "email",
    )
    assert delivered.ts == datetime.fromtimestamp(1772467200, UTC)
    assert (opened.status, bounced.status, bounced.error_code) == ("read", "undelivered", "5.1.1")
    assert (unsubscribed.type, unsubscribed.channel, spam.type) == ("optout", "email", "optout")
    assert (processed.event_id, processed.status) == ("sg:m7:processed", "queued")
    (dropped,) = sendgrid.parse(SG_EVENTS)
    assert (dropped.status, dropped.error_code) == ("failed", "Bounced Address")
    with pytest.raises(VendorError) as err:
        sendgrid.parse([events[0], {"event": "open", "email": "x@y.z"}])
    assert (err.value.index, err.value.field) == (1, "sg_event_id")


# --- Infobip ------------------------------------------------------------------------------


def test_infobip_reports_and_inbound():
    payload = {
        "results": [
            {
                "bulkId": "B1",
                "messageId": "M1",
                "to": "5213312345678",
                "sentAt": "2026-03-02T16:00:00.000+0000",
                "doneAt": "2026-03-02T16:00:05.000+0000",
                "status": {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET"},
                "error": {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR", "permanent": False},
                "callbackData": "d-005-bb",
            },
            {
                "messageId": "M2",
                "to": "5213312345678",
                "doneAt": "2026-03-02T16:01:00.000+0000",
                "status": {"groupName": "UNDELIVERABLE", "name": "UNDELIVERABLE_NOT_DELIVERED"},
                "error": {"groupId": 1, "id": 27, "name": "EC_ABSENT_SUBSCRIBER"},
                "channel": "WHATSAPP",
            },
            {"messageId": "M3", "to": "5213312345678", "seenAt": "2026-03-02T16:02:00.000+0000"},
            {
                "messageId": "M4",
                "from": "5213312345678",
                "to": "447860099299",
                "text": "no puedo pagar",
                "receivedAt": "2026-03-02T16:03:00.000+0000",
            },
            {
                "messageId": "M5",
                "from": "5213312345678",
                "integrationType": "WHATSAPP",
                "message": {"type": "TEXT", "text": "Stop"},
                "receivedAt": "2026-03-02T16:04:00.000+0000",
            },
        ]
    }
    delivered, undeliverable, seen, sms, wa = infobip.parse(payload)
    assert (delivered.event_id, delivered.status, delivered.decision_id, delivered.error_code) == (
        "ib:M1:DELIVERED",
        "delivered",
        "d-005-bb",
        None,
    )
    assert delivered.ts == datetime(2026, 3, 2, 16, 0, 5, tzinfo=UTC)
    assert (undeliverable.status, undeliverable.error_code, undeliverable.channel) == (
        "undelivered",
        "EC_ABSENT_SUBSCRIBER",
        "whatsapp",
    )
    assert (seen.event_id, seen.status) == ("ib:M3:SEEN", "read")
    assert (sms.type, sms.text, sms.address, sms.channel) == (
        "reply",
        "no puedo pagar",
        "5213312345678",
        None,
    )
    assert (wa.channel, wa.intent) == ("whatsapp", "optout")
    with pytest.raises(VendorError) as err:
        infobip.parse({"results": [{"messageId": "M9", "status": {"groupName": "LOST"}}]})
    assert err.value.field == "results.status.groupName"
    with pytest.raises(VendorError):
        infobip.parse({"results": [{"to": "1"}]})


# --- Vonage -------------------------------------------------------------------------------


def test_vonage_signature_matches_the_sdk_vectors():
    # vonage-python-sdk tests/test_nexmo.py (before 2022): secret "secret"
    params = {"a": "1", "b": "2", "timestamp": "1461605396"}
    assert vonage.signature(params, "secret", "md5hash") == "6af838ef94998832dbfc29020b564830"
    assert vonage.signature(params, "secret", "md5") == "c15c21ced558c93a226c305f58f902f2"
    assert vonage.signature(params, "secret", "sha1") == "3e19a4e6880fdc2c1426bfd0587c98b9532f0210"
    assert (
        vonage.signature(params, "secret", "sha256")
        == "a321e824b9b816be7c3f28859a31749a098713d39f613c80d455bbaffae1cd24"
    )
    assert vonage.signature(params, "secret", "sha512").startswith("812a18f76680fa0fe1b8bd9ee1625466")
    # http_client/tests/test_auth.py: '&' and '=' in values become '_' (HMAC-MD5)
    special = {"param1": "value&1", "param2": "value=2", "timestamp": "1234567890"}
    assert vonage.signature(special, "signature_secret", "md5") == "2bbf0abafb2c55e5af6231513896a2ac"
    assert vonage.valid_signature({**params, "sig": "6AF838EF94998832DBFC29020B564830"}, "secret", "md5hash")
    assert not vonage.valid_signature(
        {**params, "b": "3", "sig": "6af838ef94998832dbfc29020b564830"}, "secret", "md5hash"
    )
    assert not vonage.valid_signature(params, "secret", "md5hash")  # no sig


def test_vonage_receipts_and_inbound():
    dlr = {
        "msisdn": "5213312345678",
        "to": "Cadencia",
        "network-code": "33402",
        "messageId": "0B00000127FDBC63",
        "price": "0.03330000",
        "status": "delivered",
        "scts": "2603021610",
        "err-code": "0",
        "client-ref": "d-006-cc",
        "message-timestamp": "2026-03-02 16:10:29",
    }
    (cb,) = vonage.parse(dlr)
    assert (cb.event_id, cb.status, cb.decision_id, cb.error_code) == (
        "vonage:0B00000127FDBC63:delivered",
        "delivered",
        "d-006-cc",
        None,
    )
    assert cb.ts == datetime(2026, 3, 2, 16, 10, 29, tzinfo=UTC)
    (failed,) = vonage.parse({**dlr, "status": "failed", "err-code": "6"})
    assert (failed.status, failed.error_code) == ("undelivered", "6")
    assert vonage.parse({**dlr, "status": "unknown"}) == []
    (mo,) = vonage.parse(
        {"msisdn": "5213312345678", "to": "12015550000", "messageId": "0A1", "text": "QUIT", "type": "text"}
    )
    assert (mo.type, mo.event_id, mo.intent, mo.channel) == ("reply", "vonage:0A1", "optout", "sms")
    with pytest.raises(VendorError) as err:
        vonage.parse({"status": "delivered"})
    assert err.value.field == "messageId"


# --- SMPP receipts --------------------------------------------------------------------------

RECEIPT = (
    "id:0123456789 sub:001 dlvrd:001 submit date:2603021600 done date:2603021605 stat:DELIVRD err:000"
    " text:Hola Ana, tu pago"
)


def test_smpp_receipt_text():
    fields = smpp.receipt_fields(RECEIPT)
    assert (
        fields["id"] == "0123456789" and fields["stat"] == "DELIVRD" and fields["text"] == "Hola Ana, tu pago"
    )
    (cb,) = smpp.parse({"decision_id": "d-007-dd", "to": "+5213312345678", "carrier": "c1"}, RECEIPT, UTC)
    assert (cb.event_id, cb.status, cb.decision_id, cb.carrier, cb.error_code) == (
        "smpp:0123456789:DELIVRD",
        "delivered",
        "d-007-dd",
        "c1",
        None,
    )
    assert cb.ts == datetime(2026, 3, 2, 16, 5, tzinfo=UTC)
    mexico = timezone(timedelta(hours=-6))
    (undeliv,) = smpp.parse(
        {"receipt": RECEIPT.replace("DELIVRD", "UNDELIV").replace("err:000", "err:0x1B")}, None, mexico
    )
    assert (undeliv.status, undeliv.error_code, undeliv.ts.utcoffset()) == (
        "undelivered",
        "0x1B",
        timedelta(hours=-6),
    )
    for stat, status in [
        ("EXPIRED", "undelivered"),
        ("DELETED", "failed"),
        ("REJECTD", "failed"),
        ("ACCEPTD", "sent"),
    ]:
        assert smpp.parse({}, RECEIPT.replace("DELIVRD", stat), UTC)[0].status == status
    assert smpp.parse({}, RECEIPT.replace("DELIVRD", "UNKNOWN"), UTC) == []
    with pytest.raises(VendorError) as err:
        smpp.parse({}, "sub:001 stat:DELIVRD", UTC)
    assert err.value.field == "receipt"
    with pytest.raises(VendorError):
        smpp.parse({}, RECEIPT.replace("2603021605", "26030216"), UTC)


def test_smpp_jasmin_fields():
    (level1,) = smpp.parse({"id": "abc", "message_status": "ESME_ROK", "level": "1"}, None, UTC)
    assert (level1.status, level1.ts) == ("sent", None)
    (rejected,) = smpp.parse({"id": "abc", "message_status": "ESME_RINVDSTADR", "level": "1"}, None, UTC)
    assert (rejected.status, rejected.error_code) == ("failed", "ESME_RINVDSTADR")
    (done,) = smpp.parse(
        {"id": "abc", "message_status": "DELIVRD", "level": "3", "donedate": "2603021605", "err": "000"},
        None,
        UTC,
    )
    assert (done.event_id, done.status, done.ts) == (
        "smpp:abc:DELIVRD",
        "delivered",
        datetime(2026, 3, 2, 16, 5, tzinfo=UTC),
    )
    with pytest.raises(VendorError):
        smpp.parse({}, None, UTC)
