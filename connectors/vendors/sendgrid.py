"""SendGrid (Twilio SendGrid) Event Webhook.

Sources read:
- sendgrid-python `sendgrid/helpers/eventwebhook/__init__.py` and `eventwebhook_header.py`:
  the public key SendGrid shows is the base64 of a DER SubjectPublicKeyInfo (ECDSA P-256);
  the signature header `X-Twilio-Email-Event-Webhook-Signature` is a base64 DER ECDSA
  signature over SHA-256 of `X-Twilio-Email-Event-Webhook-Timestamp` + the raw body. The
  test vector in tests/unit/test_vendor_payloads.py is the one of its `test_eventwebhook.py`.
- SendGrid's Event Webhook reference: a JSON array of events, each with `email`,
  `timestamp` (UNIX seconds), `event` (processed, deferred, delivered, open, click, bounce
  with `type` bounce or blocked, dropped, spamreport, unsubscribe, group_unsubscribe,
  group_resubscribe), `sg_event_id`, `sg_message_id`, `reason`, `status`, and every custom
  arg of the message as a top-level field: cadencia's is `decision_id`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from connectors.vendors import Callback, VendorError, from_unix, text_field

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
TOLERANCE_S = 300.0  # how old a signed request may be (its timestamp header vs the server's clock)

MESSAGE = {
    "processed": "queued",
    "delivered": "delivered",
    "open": "read",
    "click": "read",
    "bounce": "undelivered",
    "dropped": "failed",
}
OPTOUT = ("unsubscribe", "group_unsubscribe", "spamreport")


def public_key(configured: str) -> ec.EllipticCurvePublicKey:
    """The verification key from `[webhooks.sendgrid] public_key` (base64, as SendGrid shows
    it); ValueError when it is not an EC public key."""
    try:
        key = load_der_public_key(base64.b64decode("".join(configured.split()), validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"[webhooks.sendgrid] public_key is not a base64 DER public key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("[webhooks.sendgrid] public_key is not an ECDSA key")
    return key


def fresh(timestamp: str, now: float, tolerance_s: float) -> bool:
    """A signed request from within `tolerance_s` of the server's clock (a replayed capture of
    a genuine callback is refused once it is older than that)."""
    try:
        return abs(now - int(timestamp)) <= tolerance_s
    except ValueError:
        return False


def valid_signature(key: ec.EllipticCurvePublicKey, body: bytes, signature: str, timestamp: str) -> bool:
    try:
        key.verify(
            base64.b64decode(signature, validate=True), timestamp.encode() + body, ec.ECDSA(hashes.SHA256())
        )
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def parse(payload: Any) -> list[Callback]:
    if not isinstance(payload, list):
        raise VendorError("$", "expected a JSON array of events")
    out: list[Callback] = []
    for i, raw in enumerate(payload):
        if not isinstance(raw, dict):
            raise VendorError("$", "expected a JSON object", i)
        event = text_field(raw, "event", i, required=True) or ""
        ident = text_field(raw, "sg_event_id", i)
        if ident is None:
            message_id = text_field(raw, "sg_message_id", i)
            if message_id is None:
                raise VendorError("sg_event_id", "missing (and no sg_message_id)", i)
            ident = f"{message_id}:{event}"
        ts = from_unix(raw["timestamp"], "timestamp", i) if raw.get("timestamp") is not None else None
        email = text_field(raw, "email", i)
        decision = text_field(raw, "decision_id", i)
        if event in OPTOUT:
            out.append(Callback(f"sg:{ident}", "optout", ts, email, decision, "email"))
            continue
        status = MESSAGE.get(event)
        if status is None:  # deferred (SendGrid retries), group_resubscribe, anything new
            continue
        error = None
        if status in ("failed", "undelivered"):
            reason = text_field(raw, "reason", i)
            error = text_field(raw, "status", i) or (reason[:200] if reason else None)
        out.append(
            Callback(f"sg:{ident}", "message", ts, email, decision, "email", status=status, error_code=error)
        )
    return out
