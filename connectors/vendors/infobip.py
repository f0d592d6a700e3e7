"""Infobip: delivery reports, seen reports and inbound messages (SMS and WhatsApp).

Sources read: Infobip's API reference, "Receive outbound SMS message report" and "Receive
WhatsApp delivery reports" webhooks: `{"results": [{"bulkId", "messageId", "to", "sentAt",
"doneAt" (yyyy-MM-dd'T'HH:mm:ss.SSSZ), "status": {"groupId", "groupName" (PENDING,
UNDELIVERABLE, DELIVERED, EXPIRED, REJECTED), "id", "name", "description"}, "error":
{"groupId", "groupName", "id", "name", "description", "permanent"}, "callbackData",
"mccMnc", "price", "channel"?}]}`; seen reports carry `seenAt` instead of a status; inbound
messages carry `from`, `receivedAt` and `text` (SMS) or `message` with `type`, `text`,
`payload`, `title` (WhatsApp, with `integrationType: "WHATSAPP"`).

Infobip has no request-signing scheme in cadencia's contract: the endpoint takes the
`gateway` bearer token (Infobip's subscriptions can send an Authorization header).
`callbackData` carries the decision id.
"""

from __future__ import annotations

from typing import Any

from connectors.vendors import Callback, VendorError, clip, from_iso, reply_intent, text_field

GROUP = {
    "PENDING": "sent",
    "DELIVERED": "delivered",
    "UNDELIVERABLE": "undelivered",
    "EXPIRED": "undelivered",
    "REJECTED": "failed",
}
CHANNELS = {"SMS": "sms", "WHATSAPP": "whatsapp", "VOICE": "ivr", "EMAIL": "email"}


def _channel(raw: dict[str, Any], i: int) -> str | None:
    name = text_field(raw, "channel", i) or text_field(raw, "integrationType", i)
    return CHANNELS.get(name.upper()) if name else None


def parse(payload: Any) -> list[Callback]:
    if not isinstance(payload, dict):
        raise VendorError("$", "expected a JSON object with `results`")
    results = payload.get("results")
    if not isinstance(results, list):
        raise VendorError("results", "expected an array")
    out: list[Callback] = []
    for i, raw in enumerate(results):
        if not isinstance(raw, dict):
            raise VendorError("results", "expected a JSON object", i)
        message_id = text_field(raw, "messageId", i, required=True)
        decision = text_field(raw, "callbackData", i)
        channel = _channel(raw, i)
        status = raw.get("status")
        if status is not None:
            if not isinstance(status, dict):
                raise VendorError("results.status", "expected an object", i)
            group = str(status.get("groupName") or "").upper()
            if not group:
                raise VendorError("results.status.groupName", "missing", i)
            mapped = GROUP.get(group)
            if mapped is None:
                raise VendorError("results.status.groupName", f"unknown status group {group!r}", i)
            error = raw.get("error") if isinstance(raw.get("error"), dict) else {}
            code = None
            if error.get("id") not in (None, 0, "0"):  # id 0 is Infobip's NO_ERROR
                code = error.get("name") or error.get("id")
            done = raw.get("doneAt") or raw.get("sentAt")
            out.append(
                Callback(
                    f"ib:{message_id}:{group}",
                    "message",
                    from_iso(done, "results.doneAt", i) if done else None,
                    text_field(raw, "to", i),
                    decision,
                    channel,
                    status=mapped,
                    error_code=str(code) if code is not None and mapped != "delivered" else None,
                )
            )
        elif raw.get("seenAt"):
            out.append(
                Callback(
                    f"ib:{message_id}:SEEN",
                    "message",
                    from_iso(raw["seenAt"], "results.seenAt", i),
                    text_field(raw, "to", i),
                    decision,
                    channel,
                    status="read",
                )
            )
        elif "text" in raw or "message" in raw or raw.get("receivedAt"):
            message = raw.get("message") if isinstance(raw.get("message"), dict) else {}
            text = text_field(raw, "text", i) or text_field(raw, "cleanText", i)
            text = text or str(message.get("text") or message.get("title") or message.get("payload") or "")
            sender = text_field(raw, "from", i, required=True)
            received = raw.get("receivedAt")
            out.append(
                Callback(
                    f"ib:{message_id}",
                    "reply",
                    from_iso(received, "results.receivedAt", i) if received else None,
                    sender,
                    None,
                    channel,
                    text=clip(text),
                    intent=reply_intent(text),
                )
            )
        else:
            raise VendorError("results", "neither a delivery report (status), a seen report nor a message", i)
    return out
