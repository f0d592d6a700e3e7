"""WhatsApp Business Cloud API (Meta) webhooks.

Sources read: Meta's WhatsApp Cloud API webhook reference and "Set up webhooks" guide.
- Verification: `GET` with `hub.mode=subscribe`, `hub.verify_token` (the token set in the app
  dashboard) and `hub.challenge`, answered with the challenge as plain text.
- `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`.
- Body: `{"object": "whatsapp_business_account", "entry": [{"id", "changes": [{"field":
  "messages", "value": {"metadata", "contacts", "messages": [...], "statuses": [...]}}]}]}`.
  A status: `id` (the wamid), `status` (sent, delivered, read, failed; also deleted and
  warning), `timestamp` (UNIX seconds, as a string), `recipient_id` (the wa_id: digits with
  the country code), `biz_opaque_callback_data` (what the sender put on the message: here
  the decision id), `errors` ([{code, title, …}]). A message: `from`, `id`, `timestamp`,
  `type` (text, button, interactive, image, …), `text.body`, `button.text`/`.payload` (a
  template's quick reply), `interactive.button_reply`/`.list_reply` (`id`, `title`).
- `field: "user_preferences"` (the user_preferences webhook reference): `value.user_preferences`
  = [{`wa_id`, `detail`, `category` ("marketing_messages"), `value` ("stop" or "resume"),
  `timestamp`}]. A user who stops marketing messages is an opt-out from WhatsApp here; a resume
  is not a consent to collection messages, so it changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from connectors.vendors import Callback, VendorError, clip, from_unix, reply_intent, same

STATUS = {"sent": "sent", "delivered": "delivered", "read": "read", "failed": "failed"}


def valid_signature(app_secret: str, body: bytes, header: str) -> bool:
    scheme, _, given = header.partition("=")
    if scheme.strip().lower() != "sha256" or not given:
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return same(expected, given.strip().lower())


def verification(params: dict[str, str], verify_token: str | None) -> str | None:
    """The challenge to echo when Meta's verification request carries our token, else None."""
    if verify_token is None or params.get("hub.mode") != "subscribe":
        return None
    if not same(verify_token, params.get("hub.verify_token", "")):
        return None
    return params.get("hub.challenge", "")


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _message_text(m: dict[str, Any], kind: str) -> str:
    if kind == "text":
        return str(_object(m.get("text")).get("body", ""))
    if kind == "button":
        button = _object(m.get("button"))
        return str(button.get("text") or button.get("payload") or "")
    if kind == "interactive":
        inner = _object(m.get("interactive"))
        reply = _object(inner.get("button_reply")) or _object(inner.get("list_reply"))
        return str(reply.get("title") or reply.get("id") or "")
    media = m.get(kind)
    caption = media.get("caption") if isinstance(media, dict) else None
    return str(caption) if caption else f"[{kind}]"


def parse(payload: Any) -> list[Callback]:
    if not isinstance(payload, dict):
        raise VendorError("$", "expected a JSON object")
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise VendorError("entry", "expected an array")
    out: list[Callback] = []
    for entry in entries:
        for change in (entry or {}).get("changes") or []:
            if not isinstance(change, dict):
                continue
            field = change.get("field", "messages")
            value = change.get("value") or {}
            if field not in ("messages", "user_preferences"):
                continue
            if not isinstance(value, dict):
                raise VendorError("entry.changes.value", "expected an object")
            for p in value.get("user_preferences") or []:
                out.extend(_preference(p))
            for s in value.get("statuses") or []:
                out.extend(_status(s))
            for m in value.get("messages") or []:
                out.append(_message(m))
    return out


def _status(s: Any) -> list[Callback]:
    if not isinstance(s, dict):
        raise VendorError("statuses", "expected an object")
    wamid, status = s.get("id"), s.get("status")
    if not wamid:
        raise VendorError("statuses.id", "missing")
    if not status:
        raise VendorError("statuses.status", "missing")
    mapped = STATUS.get(str(status))
    if mapped is None:  # deleted, warning: nothing to learn
        return []
    errors = s.get("errors") or []
    code = str(errors[0].get("code")) if errors and isinstance(errors[0], dict) else None
    recipient = s.get("recipient_id")
    return [
        Callback(
            f"wa:{wamid}:{status}",
            "message",
            from_unix(s["timestamp"], "statuses.timestamp") if s.get("timestamp") else None,
            str(recipient) if recipient else None,
            s.get("biz_opaque_callback_data") or None,
            "whatsapp",
            status=mapped,
            error_code=code if mapped == "failed" else None,
        )
    ]


def _preference(p: Any) -> list[Callback]:
    if not isinstance(p, dict):
        raise VendorError("user_preferences", "expected an object")
    wa_id, choice = p.get("wa_id"), str(p.get("value") or "").lower()
    if not wa_id:
        raise VendorError("user_preferences.wa_id", "missing")
    if choice not in ("stop", "resume"):
        raise VendorError("user_preferences.value", f"expected stop or resume, not {choice!r}")
    if choice == "resume":
        return []
    ts = from_unix(p["timestamp"], "user_preferences.timestamp") if p.get("timestamp") else None
    stamp = p.get("timestamp") or ""
    return [Callback(f"wa:pref:{wa_id}:{stamp}:stop", "optout", ts, str(wa_id), None, "whatsapp")]


def _message(m: Any) -> Callback:
    if not isinstance(m, dict):
        raise VendorError("messages", "expected an object")
    wamid, sender = m.get("id"), m.get("from")
    if not wamid:
        raise VendorError("messages.id", "missing")
    if not sender:
        raise VendorError("messages.from", "missing")
    text = _message_text(m, str(m.get("type") or "text"))
    return Callback(
        f"wa:{wamid}",
        "reply",
        from_unix(m["timestamp"], "messages.timestamp") if m.get("timestamp") else None,
        str(sender),
        None,
        "whatsapp",
        text=clip(text),
        intent=reply_intent(text),
    )
