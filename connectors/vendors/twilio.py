"""Twilio: SMS and WhatsApp status callbacks, inbound messages, voice status callbacks.

Sources read:
- twilio-python `twilio/request_validator.py`: `X-Twilio-Signature` is
  base64(HMAC-SHA1(auth token, URL + every POST parameter name followed by its value, names
  sorted, a repeated name's values sorted)); the URL is tried without and with its default
  port, since Twilio's own signing is inconsistent about it. The test vector in
  tests/unit/test_vendor_payloads.py is the one of twilio-python's `test_request_validator.py`.
- Twilio docs, messaging status callbacks (`MessageSid`, `MessageStatus`: accepted, scheduled,
  queued, sending, sent, delivered, undelivered, failed, read, canceled; `ErrorCode`; `From`
  and `To`, prefixed `whatsapp:` for WhatsApp), inbound messages (`Body`, `OptOutType` =
  STOP/START/HELP with Advanced Opt-Out, `ButtonText`/`ButtonPayload` for WhatsApp quick
  replies) and voice status callbacks (`CallSid`, `CallStatus`: queued, initiated, ringing,
  in-progress, completed, busy, no-answer, failed, canceled; `CallDuration`, `AnsweredBy`:
  human, machine_start, machine_end_beep/_silence/_other, fax, unknown; `SipResponseCode`;
  `Timestamp` in RFC 2822; `Direction`).
- Twilio docs, answering machine detection: with `AsyncAmd=true` the result comes to
  `AsyncAmdStatusCallback` as its own request: `CallSid`, `AnsweredBy`,
  `MachineDetectionDuration`, and no `CallStatus`. The call's final status callback
  (`completed`) may then lack `AnsweredBy`. A machine or fax verdict is therefore recorded as
  the call's final outcome under the very event id the `completed` callback would take, so
  whichever comes second is a duplicate; `human` and `unknown` leave the outcome to it.

The decision id travels as a `decision_id` query parameter on the StatusCallback URL.
Messages carry no event time of their own (RawDlrDoneDate is the carrier's, in an unstated
zone), so their events take the time they arrive.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit, urlunsplit

from connectors.vendors import Callback, VendorError, clip, reply_intent, same

MESSAGE_STATUS = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
    "undelivered": "undelivered",
}
INBOUND = ("received", "receiving")
CALL_STATUS = {
    "completed": "answered",
    "busy": "busy",
    "no-answer": "no_answer",
    "failed": "failed",
    "canceled": "canceled",
}
MACHINE = ("machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other")


def signature(auth_token: str, url: str, params: Sequence[tuple[str, str]]) -> str:
    by_name: dict[str, set[str]] = {}
    for name, value in params:
        by_name.setdefault(name, set()).add(value)
    text = url + "".join(name + value for name in sorted(by_name) for value in sorted(by_name[name]))
    digest = hmac.new(auth_token.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _port_variants(url: str) -> list[str]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        bare = parts._replace(netloc=parts.netloc.rsplit(":", 1)[0])
        return [url, urlunsplit(bare)]
    default = 443 if parts.scheme == "https" else 80
    return [url, urlunsplit(parts._replace(netloc=f"{parts.netloc}:{default}"))] if host else [url]


def valid_signature(auth_token: str, url: str, params: Sequence[tuple[str, str]], given: str) -> bool:
    return any(same(signature(auth_token, u, params), given) for u in _port_variants(url))


def _channel_and_address(raw: str | None) -> tuple[str, str | None]:
    if raw and raw.lower().startswith("whatsapp:"):
        return "whatsapp", raw
    return "sms", raw


def parse_message(params: Mapping[str, str], decision_id: str | None) -> list[Callback]:
    """A messaging status callback or an inbound message (SMS or WhatsApp)."""
    sid = params.get("MessageSid") or params.get("SmsSid")
    if not sid:
        raise VendorError("MessageSid", "missing")
    status = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
    if status in INBOUND or (not status and "Body" in params):
        channel, address = _channel_and_address(params.get("From"))
        text = params.get("ButtonText") or params.get("Body") or ""
        intent = "optout" if params.get("OptOutType", "").upper() == "STOP" else reply_intent(text)
        return [
            Callback(f"twilio:{sid}", "reply", None, address, None, channel, text=clip(text), intent=intent)
        ]
    if not status:
        raise VendorError("MessageStatus", "missing")
    mapped = MESSAGE_STATUS.get(status)
    if mapped is None:  # canceled (never sent), partially_delivered: nothing to learn
        return []
    channel, address = _channel_and_address(params.get("To"))
    error = params.get("ErrorCode") or None
    return [
        Callback(
            f"twilio:{sid}:{status}",
            "message",
            None,
            address,
            decision_id,
            channel,
            status=mapped,
            error_code=error if mapped in ("failed", "undelivered") else None,
        )
    ]


def _time(params: Mapping[str, str]) -> datetime | None:
    raw = params.get("Timestamp")
    if not raw:
        return None
    try:
        return parsedate_to_datetime(raw)
    except (TypeError, ValueError) as exc:
        raise VendorError("Timestamp", f"not an RFC 2822 time: {raw!r}") from exc


def parse_call(params: Mapping[str, str], decision_id: str | None) -> list[Callback]:
    """A voice status callback; only final statuses become events. The channel (voice or
    ivr) is the decision's."""
    sid = params.get("CallSid")
    if not sid:
        raise VendorError("CallSid", "missing")
    raw_status = (params.get("CallStatus") or "").lower()
    answered_by = (params.get("AnsweredBy") or "").lower()
    if not raw_status and answered_by:
        return _amd_verdict(sid, answered_by, params, decision_id)
    if not raw_status:
        raise VendorError("CallStatus", "missing")
    status = CALL_STATUS.get(raw_status)
    if status is None:  # queued, initiated, ringing, in-progress: the call is not over
        return []
    if status == "answered" and answered_by in MACHINE:
        status = "voicemail"
    elif status == "answered" and answered_by == "fax":
        status = "failed"
    inbound = (params.get("Direction") or "").lower() == "inbound"
    address = params.get("From") if inbound else params.get("To")
    duration = None
    if params.get("CallDuration"):
        try:
            duration = max(0.0, float(params["CallDuration"]))
        except ValueError as exc:
            raise VendorError("CallDuration", f"not a number: {params['CallDuration']!r}") from exc
    sip = None
    if params.get("SipResponseCode"):
        try:
            sip = int(params["SipResponseCode"])
        except ValueError as exc:
            raise VendorError("SipResponseCode", f"not a number: {params['SipResponseCode']!r}") from exc
        sip = sip if 100 <= sip <= 699 else None
    return [
        Callback(
            f"twilio:{sid}:{raw_status}",
            "call",
            _time(params),
            address,
            decision_id,
            status=status,
            sip_code=sip,
            duration_s=duration,
        )
    ]


def _amd_verdict(
    sid: str, answered_by: str, params: Mapping[str, str], decision_id: str | None
) -> list[Callback]:
    """An asynchronous answering-machine detection result (no CallStatus)."""
    if answered_by in MACHINE:
        status = "voicemail"
    elif answered_by == "fax":
        status = "failed"
    elif answered_by in ("human", "unknown"):
        return []  # the final status callback says how the call went
    else:
        raise VendorError("AnsweredBy", f"unknown value {answered_by!r}")
    inbound = (params.get("Direction") or "").lower() == "inbound"
    address = params.get("From") if inbound else params.get("To")
    return [Callback(f"twilio:{sid}:completed", "call", _time(params), address, decision_id, status=status)]
