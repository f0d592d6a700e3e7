"""Vonage (Nexmo) SMS API: delivery receipts and inbound SMS.

Sources read:
- Vonage's "Signing messages" guide (developer docs, `signing-messages.md`): drop `sig`, sort
  the parameters by name, replace every `&` and `=` in the values with `_`, build
  `&name=value&name=value` (a leading `&`); `md5hash` (the dashboard's default) is
  hex(MD5(that string + signature secret)), the others hex(HMAC-<md5|sha1|sha256|sha512>(
  secret, that string)). Vonage sends the `timestamp` it signed; the hex may be upper case.
- vonage-python-sdk `vonage/client.py` (`signature`, `check_signature`, before 2022) and
  `http_client/src/vonage_http_client/auth.py` (`sign_params`): the same construction. The
  vectors in tests/unit/test_vendor_payloads.py are its own (`tests/test_nexmo.py` before
  2022 for md5hash and the HMACs, `http_client/tests/test_auth.py` for `&` and `=`).
- Vonage's delivery receipt and inbound SMS guides: a receipt has `msisdn` (the recipient),
  `to` (the sender id), `network-code`, `messageId`, `price`, `status` (delivered, expired,
  failed, rejected, accepted, buffered, unknown), `scts`, `err-code`, `client-ref`,
  `message-timestamp` (UTC, `YYYY-MM-DD HH:MM:SS`); an inbound message has `msisdn` (the
  sender), `to`, `messageId`, `text`, `type`, `keyword`, `message-timestamp`, and the concat
  fields for multi-part messages. With signing on, both add `timestamp`, `nonce` and `sig`.
  The webhook method is the account's choice: GET (query), POST (form) or POST-JSON.

`client-ref` carries the decision id.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.vendors import Callback, VendorError, clip, reply_intent, same

METHODS = ("md5hash", "md5", "sha1", "sha256", "sha512")
STATUS = {
    "delivered": "delivered",
    "accepted": "sent",
    "buffered": "sent",
    "expired": "undelivered",
    "failed": "undelivered",
    "rejected": "failed",
}


def as_text(value: Any) -> str:
    """A parameter's value as Vonage signs it (JSON bodies may hold numbers or booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def signature(params: Mapping[str, str], secret: str, method: str = "md5hash") -> str:
    if method not in METHODS:
        raise ValueError(f"signature_method must be one of {', '.join(METHODS)}, not {method!r}")
    text = "".join(
        f"&{name}={params[name].replace('&', '_').replace('=', '_')}"
        for name in sorted(params)
        if name != "sig"
    )
    if method == "md5hash":
        return hashlib.md5((text + secret).encode()).hexdigest()
    return hmac.new(secret.encode(), text.encode(), getattr(hashlib, method)).hexdigest()


def valid_signature(params: Mapping[str, str], secret: str, method: str) -> bool:
    given = params.get("sig", "")
    return bool(given) and same(signature(params, secret, method), given.lower())


def _time(params: Mapping[str, str]) -> datetime | None:
    raw = params.get("message-timestamp")
    if not raw:
        return None
    try:
        return datetime.strptime(raw, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError as exc:
        raise VendorError("message-timestamp", f"not `YYYY-MM-DD HH:MM:SS`: {raw!r}") from exc


def parse(params: Mapping[str, str]) -> list[Callback]:
    message_id = params.get("messageId") or params.get("message-id")
    if not message_id:
        raise VendorError("messageId", "missing")
    status = params.get("status")
    if status:
        mapped = STATUS.get(status.lower())
        if mapped is None:  # unknown: Vonage itself cannot say
            return []
        error = params.get("err-code")
        return [
            Callback(
                f"vonage:{message_id}:{status.lower()}",
                "message",
                _time(params),
                params.get("msisdn"),
                params.get("client-ref") or None,
                None,
                status=mapped,
                error_code=error if error and error != "0" and mapped != "delivered" else None,
            )
        ]
    if "text" not in params and "type" not in params:
        raise VendorError("status", "neither a delivery receipt (status) nor an inbound message (text)")
    sender = params.get("msisdn")
    if not sender:
        raise VendorError("msisdn", "missing")
    text = params.get("text", "")
    return [
        Callback(
            f"vonage:{message_id}",
            "reply",
            _time(params),
            sender,
            None,
            "sms",
            text=clip(text),
            intent=reply_intent(text),
        )
    ]
