"""Vendor webhooks: read the callback, check the vendor's signature, find the account, and
apply the events through the same path as POST /v1/events (`engine.gateways.ingest.apply`).

Per request: signature (or the gateway token) → `connectors.vendors.<vendor>.parse` →
`engine.gateways.callbacks`: the account, by the decision id the vendor echoes back, else by the
address index (connectors/KEYS.md) → cadencia's wire events, validated like /v1/events →
one atomic apply. A well-signed callback that matches no account is answered 2xx (the
vendor stops retrying), kept in the dead-letter stream and counted as `unmatched`; a bad
signature is answered 401 and nothing is applied. Event ids come from the vendor's own ids,
so a vendor's retry is a duplicate.

Who may call: with a vendor's secret configured (`[webhooks.<vendor>]`), its signature and
nothing else. Without one, the gateway bearer token when auth is on (a relay in front can
send it; the vendor itself cannot), and anyone when auth is off (local development); the
log says which at start. Infobip and SMPP, which have no signing scheme, take the gateway
token like /v1/events.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from connectors.store import RedisStore, StoreUnavailable
from connectors.vendors import Callback, VendorError, infobip, sendgrid, smpp, twilio, vonage, whatsapp
from engine.errors import BadRequest, CadenciaError, Forbidden, Invalid, Unauthorized, Unavailable
from engine.gateways.callbacks import Callbacks
from engine.http import authorize, by_method, endpoint, error_response, json_response, read_body
from engine.metrics import Metrics
from engine.settings import ConfigError, Settings

log = logging.getLogger("cadencia.webhooks")

GATEWAY = ("gateway",)
KEYS = {  # the keys each [webhooks.<vendor>] section takes
    "twilio": ("auth_token", "carrier"),
    "whatsapp": ("app_secret", "verify_token"),
    "sendgrid": ("public_key", "tolerance_s"),
    "vonage": ("signature_secret", "signature_method", "carrier"),
    "infobip": ("carrier",),
    "smpp": ("timezone", "carrier"),
}
SECRET = {
    "twilio": "auth_token",
    "whatsapp": "app_secret",
    "sendgrid": "public_key",
    "vonage": "signature_secret",
}
TWIML_EMPTY = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


class BadSignature(Unauthorized):
    code = "bad_signature"


@dataclass(frozen=True)
class VendorConfig:
    """`[webhooks.*]`, checked once at start."""

    raw: dict[str, dict[str, str]]
    sendgrid_key: ec.EllipticCurvePublicKey | None = None
    vonage_method: str = "md5hash"
    smpp_zone: Any = field(default_factory=lambda: ZoneInfo("UTC"))

    @classmethod
    def from_settings(cls, settings: Settings) -> VendorConfig:
        carriers = {c.id for c in settings.carriers}
        for vendor, spec in settings.webhooks.items():
            if vendor not in KEYS:
                raise ConfigError(f"[webhooks.{vendor}]: unknown vendor; use one of {', '.join(KEYS)}")
            unknown = set(spec) - set(KEYS[vendor])
            if unknown:
                raise ConfigError(f"[webhooks.{vendor}] has unknown keys: {', '.join(sorted(unknown))}")
            if "carrier" in spec and spec["carrier"] not in carriers:
                raise ConfigError(f"[webhooks.{vendor}] carrier {spec['carrier']!r} is not a [[carriers]] id")
        raw = settings.webhooks
        tolerance = raw.get("sendgrid", {}).get("tolerance_s")
        if tolerance is not None:
            try:
                if float(tolerance) <= 0:
                    raise ValueError
            except ValueError:
                message = "[webhooks.sendgrid] tolerance_s must be a positive number of seconds"
                raise ConfigError(message) from None
        key = None
        if raw.get("sendgrid", {}).get("public_key"):
            try:
                key = sendgrid.public_key(raw["sendgrid"]["public_key"])
            except ValueError as exc:
                raise ConfigError(str(exc)) from exc
        method = raw.get("vonage", {}).get("signature_method", "md5hash")
        if method not in vonage.METHODS:
            raise ConfigError(
                f"[webhooks.vonage] signature_method must be one of {', '.join(vonage.METHODS)}"
            )
        zone_name = raw.get("smpp", {}).get("timezone", "UTC")
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"[webhooks.smpp] timezone {zone_name!r} is not a time zone") from exc
        return cls(raw, key, method, zone)

    def get(self, vendor: str, key: str) -> str | None:
        return self.raw.get(vendor, {}).get(key) or None


def called_url(request: Request, public_url: str | None) -> str:
    """The URL the vendor called and signed: `[server] public_url` in front of the path and
    query when the engine sits behind a proxy, else the request's own URL."""
    if not public_url:
        return str(request.url)
    query = request.url.query
    return public_url.rstrip("/") + request.url.path + (f"?{query}" if query else "")


def form_pairs(body: bytes) -> list[tuple[str, str]]:
    try:
        return parse_qsl(body.decode(), keep_blank_values=True)
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the form body is not UTF-8: {exc}") from exc


def json_body(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from exc


class Webhooks:
    """The vendor endpoints and what they share."""

    def __init__(self, settings: Settings, store: RedisStore, metrics: Metrics) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.config = VendorConfig.from_settings(settings)
        carriers = frozenset(c.id for c in settings.carriers)
        self.callbacks = Callbacks(store, metrics, settings.clock, carriers)
        unsigned = [v for v, key in SECRET.items() if not self.config.get(v, key)]
        if unsigned:
            how = (
                "need the gateway token" if settings.auth_enabled else "are accepted unchecked (auth is off)"
            )
            log.warning("no signing secret for webhooks %s: their callbacks %s", ", ".join(unsigned), how)

    # --- who may call -----------------------------------------------------------------------

    def _unsigned(self, request: Request) -> None:
        """No secret for this vendor: the gateway token when auth is on (else open)."""
        authorize(self.settings, request, GATEWAY)

    def _signed(self, ok: bool, vendor: str) -> None:
        if not ok:
            raise BadSignature(f"the {vendor} signature does not match this request; nothing was applied")

    async def _body(self, request: Request) -> bytes:
        return await read_body(request, self.settings.server.max_body_bytes)

    def _parsed(self, parse: Callable[[], list[Callback]]) -> list[Callback]:
        try:
            return parse()
        except VendorError as exc:
            self.metrics.rejected.labels("invalid").inc()
            where = {"index": exc.index, "field": exc.field, "message": exc.message}
            raise Invalid(f"the callback is malformed: {exc}; nothing was applied", [where]) from exc

    async def _accept(self, vendor: str, found: list[Callback], default_channel: str) -> dict[str, int]:
        return await self.callbacks.accept(vendor, found, default_channel, self.config.get(vendor, "carrier"))

    # --- the endpoints ----------------------------------------------------------------------

    async def twilio_messages(self, request: Request) -> Response:
        params = await self._twilio_params(request)
        found = self._parsed(
            lambda: twilio.parse_message(dict(params), request.query_params.get("decision_id"))
        )
        result = await self._accept("twilio", found, "sms")
        if found and found[0].type == "reply":  # an inbound message: Twilio reads the answer as TwiML
            return Response(TWIML_EMPTY, media_type="text/xml")
        return json_response(result)

    async def twilio_calls(self, request: Request) -> Response:
        params = await self._twilio_params(request)
        found = self._parsed(lambda: twilio.parse_call(dict(params), request.query_params.get("decision_id")))
        return json_response(await self._accept("twilio", found, "voice"))

    async def _twilio_params(self, request: Request) -> list[tuple[str, str]]:
        body = await self._body(request)
        pairs = form_pairs(body)
        token = self.config.get("twilio", "auth_token")
        if token is None:
            self._unsigned(request)
        else:
            url = called_url(request, self.settings.server.public_url)
            given = request.headers.get("x-twilio-signature", "")
            self._signed(bool(given) and twilio.valid_signature(token, url, pairs, given), "Twilio")
        first: dict[str, str] = {}
        for name, value in pairs:
            first.setdefault(name, value)
        return list(first.items())

    async def whatsapp_verify(self, request: Request) -> Response:
        challenge = whatsapp.verification(
            dict(request.query_params), self.config.get("whatsapp", "verify_token")
        )
        if challenge is None:  # not an event: answered here, not counted as a rejected one
            self.metrics.requests_rejected.labels(Forbidden.code).inc()
            return error_response(
                Forbidden("hub.mode must be subscribe and hub.verify_token must match [webhooks.whatsapp]")
            )
        return PlainTextResponse(challenge)

    async def whatsapp(self, request: Request) -> Response:
        body = await self._body(request)
        secret = self.config.get("whatsapp", "app_secret")
        if secret is None:
            self._unsigned(request)
        else:
            header = request.headers.get("x-hub-signature-256", "")
            self._signed(whatsapp.valid_signature(secret, body, header), "WhatsApp")
        payload = json_body(body)
        return json_response(
            await self._accept("whatsapp", self._parsed(lambda: whatsapp.parse(payload)), "whatsapp")
        )

    async def sendgrid(self, request: Request) -> Response:
        body = await self._body(request)
        key = self.config.sendgrid_key
        if key is None:
            self._unsigned(request)
        else:
            signature = request.headers.get(sendgrid.SIGNATURE_HEADER, "")
            timestamp = request.headers.get(sendgrid.TIMESTAMP_HEADER, "")
            ok = bool(signature and timestamp) and sendgrid.valid_signature(key, body, signature, timestamp)
            self._signed(ok, "SendGrid")
            tolerance = float(self.config.get("sendgrid", "tolerance_s") or sendgrid.TOLERANCE_S)
            if not sendgrid.fresh(timestamp, time.time(), tolerance):
                raise BadSignature(
                    f"the SendGrid signature is dated {timestamp}, more than {tolerance:.0f} s from the "
                    "server's clock ([webhooks.sendgrid] tolerance_s); nothing was applied"
                )
        payload = json_body(body)
        return json_response(
            await self._accept("sendgrid", self._parsed(lambda: sendgrid.parse(payload)), "email")
        )

    async def infobip(self, request: Request) -> Response:
        payload = json_body(await self._body(request))
        return json_response(
            await self._accept("infobip", self._parsed(lambda: infobip.parse(payload)), "sms")
        )

    async def vonage(self, request: Request) -> Response:
        body = await self._body(request)
        params = dict(request.query_params)
        mime = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if body and (mime == "application/json" or mime.endswith("+json")):
            payload = json_body(body)
            if not isinstance(payload, dict):
                self.metrics.rejected.labels("invalid").inc()
                raise Invalid(
                    "a Vonage callback is one JSON object",
                    [{"index": 0, "field": "$", "message": "expected an object"}],
                )
            params.update({k: vonage.as_text(v) for k, v in payload.items()})
        elif body:
            params.update(dict(form_pairs(body)))
        secret = self.config.get("vonage", "signature_secret")
        if secret is None:
            self._unsigned(request)
        else:
            self._signed(vonage.valid_signature(params, secret, self.config.vonage_method), "Vonage")
        return json_response(await self._accept("vonage", self._parsed(lambda: vonage.parse(params)), "sms"))

    async def smpp(self, request: Request) -> Response:
        body = await self._body(request)
        params = dict(request.query_params)
        mime = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        text = None
        if mime == "application/x-www-form-urlencoded":
            params.update(dict(form_pairs(body)))
        elif body:
            try:
                text = body.decode()
            except UnicodeDecodeError as exc:
                raise BadRequest(f"the receipt is not UTF-8: {exc}") from exc
        zone = self.config.smpp_zone
        # the gateway names the carrier in the query: refused when unknown, even for a receipt
        # that teaches nothing (stat:UNKNOWN), as the same query would be on a DELIVRD
        self.callbacks.require_carriers([params.get("carrier") or None])
        return json_response(
            await self._accept("smpp", self._parsed(lambda: smpp.parse(params, text, zone)), "sms")
        )


Handler = Callable[[Request], Awaitable[Response]]


def signed_endpoint(metrics: Metrics, handler: Handler) -> Handler:
    """Like `engine.http.endpoint`, without the bearer check (vendors sign instead), and with
    rejections counted for the events they carried."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except CadenciaError as exc:
            metrics.requests_rejected.labels(exc.code).inc()
            if isinstance(exc, BadSignature):
                reason: str | None = "bad_signature"
            elif exc.status in (401, 403):
                reason = "unauthorized"
            else:
                reason = {400: "invalid_json", 413: "too_large"}.get(exc.status)
            if reason:
                metrics.rejected.labels(reason).inc()
            return error_response(exc)
        except StoreUnavailable as exc:
            log.warning("redis unavailable on %s: %s", request.url.path, exc)
            metrics.rejected.labels("unavailable").inc()
            return error_response(Unavailable(f"storage unavailable, nothing was applied: {exc}"))

    return wrapped


def routes(settings: Settings, store: RedisStore, metrics: Metrics) -> list[Route]:
    hooks = Webhooks(settings, store, metrics)

    def signed(handler: Handler) -> Handler:
        return signed_endpoint(metrics, handler)

    def gateway(handler: Handler) -> Handler:
        return endpoint(settings, metrics, GATEWAY, handler, events_endpoint=True)

    return [
        Route("/v1/webhooks/twilio/messages", signed(hooks.twilio_messages), methods=["POST"]),
        Route("/v1/webhooks/twilio/calls", signed(hooks.twilio_calls), methods=["POST"]),
        Route(
            "/v1/webhooks/whatsapp",
            by_method({"GET": signed(hooks.whatsapp_verify), "POST": signed(hooks.whatsapp)}),
            methods=["GET", "POST"],
        ),
        Route("/v1/webhooks/sendgrid", signed(hooks.sendgrid), methods=["POST"]),
        Route("/v1/webhooks/vonage", signed(hooks.vonage), methods=["GET", "POST"]),
        Route("/v1/webhooks/infobip", gateway(hooks.infobip), methods=["POST"]),
        Route("/v1/webhooks/smpp", gateway(hooks.smpp), methods=["GET", "POST"]),
    ]
