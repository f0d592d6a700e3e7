"""The OpenAPI document served at /openapi.json: schemas generated from the very structs
that validate requests, paths as CONTRACT.md lists them, and what this server's settings
allow (currencies, carriers, networks, time zones) declared where the handlers check it, so
that a request the document calls valid is one the server accepts (schemathesis checks it)."""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

import msgspec

from engine.api.experiments import PromoteRequest
from engine.calls.campaigns import Campaign
from engine.decisions.experiments import Experiment
from engine.settings import Settings
from engine.wire import (
    NO_SPACE,
    Account,
    ClockRequest,
    ConfirmRequest,
    DecideRequest,
    DialerNextRequest,
    EventIn,
    RouteRequest,
)
from models.results import DIMENSIONS

ERROR = {"$ref": "#/components/schemas/Error"}
_ID = {"type": "string", "minLength": 1, "maxLength": 128, "pattern": NO_SPACE.replace("]+$", "/]+$")}
SMPP_STATS = "DELIVRD|ACCEPTD|ENROUTE|EXPIRED|UNDELIV|DELETED|REJECTD|UNKNOWN"
SMPP_TIME = r"[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])([01][0-9]|2[0-3])[0-5][0-9]([0-5][0-9])?"
# the receipt text SMSCs send (SMPP 3.4 appendix B), or its short form `id:… stat:…`
SMPP_RECEIPT = (
    rf"^id:[A-Za-z0-9-]{{1,64}} (sub:[0-9]{{3}} dlvrd:[0-9]{{3}} submit date:{SMPP_TIME} "
    rf"done date:{SMPP_TIME} )?stat:({SMPP_STATS})( err:[0-9A-Za-z]{{1,8}})?( text:[ -~]{{0,20}})?$"
)
PATH_PARAMETERS = {  # what the handlers accept in the path
    "account_id": _ID,
    "decision_id": _ID,
    "campaign": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,64}$"},
    "version": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,64}$"},
    "experiment": {"type": "string", "pattern": r"^[A-Za-z0-9._-]{1,64}$"},
}


def _one_or_many(ref: str, empty_ok: bool = False) -> dict[str, Any]:
    many: dict[str, Any] = {"type": "array", "items": {"$ref": ref}}
    if not empty_ok:
        many["minItems"] = 1
    schema = {"oneOf": [{"$ref": ref}, many]}
    return {
        "required": True,
        "content": {
            "application/json": {"schema": schema},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }


def _responses(ok: dict[str, Any], *errors: int) -> dict[str, Any]:
    out: dict[str, Any] = {"200" if "202" not in ok else "202": ok.get("202", ok)}
    for code in errors:
        out[str(code)] = {"description": "error", "content": {"application/json": {"schema": ERROR}}}
    return out


def _one(ref: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {"$ref": ref}}}}


def _query(name: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema}


def _webhooks(json_ok: dict[str, Any], bearer: list[dict[str, Any]], carriers: list[str]) -> dict[str, Any]:
    """The vendor webhooks (engine/gateways/webhooks.py): signed by the vendor (no bearer token when
    its secret is configured), or taking the gateway token (Infobip, SMPP)."""
    form = {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}}
    json_object = {"application/json": {"schema": {"type": "object"}}}
    json_array = {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}
    text = {"text/plain": {"schema": {"type": "string"}}}
    decision = {"name": "decision_id", "in": "query", "required": False, "schema": {"type": "string"}}

    def op(summary: str, content: dict[str, Any], signed: bool) -> dict[str, Any]:
        """A POST callback: signed by the vendor (401 on a bad signature), or taking the
        gateway token (401, and 403 for another role)."""
        errors = (400, 401, 413, 422, 503) if signed else (400, 401, 403, 413, 422, 503)
        return {
            "summary": summary,
            "requestBody": {"required": True, "content": content},
            "responses": _responses(json_ok, *errors),
            "security": [] if signed else bearer,
        }

    twilio_messages = op(
        "Twilio SMS/WhatsApp status callbacks and inbound messages (X-Twilio-Signature); "
        "inbound messages are answered with empty TwiML",
        form,
        True,
    )
    twilio_calls = op("Twilio voice status callbacks (X-Twilio-Signature)", form, True)
    for operation in (twilio_messages, twilio_calls):
        operation["parameters"] = [decision]
    carrier = {"type": "string", "enum": ["", *carriers]}  # a [[carriers]] id, or none
    smpp_query = [
        decision,
        _query("to", {"type": "string"}),
        _query("carrier", carrier),
        _query("receipt", {"type": "string"}),
    ]
    # a GET carries the receipt in the query (Kannel's dlr-url): `id:… stat:…` as SMPP spells it
    smpp_get_query = [
        decision,
        _query("to", {"type": "string"}),
        _query("carrier", carrier),
        _query("receipt", {"type": "string", "pattern": SMPP_RECEIPT}, required=True),
    ]
    smpp_post = op(
        "An SMPP delivery receipt forwarded by Kannel or Jasmin",
        {**text, **form},
        False,
    )
    smpp_post["parameters"] = smpp_query
    smpp_get = {
        "summary": "An SMPP delivery receipt in the query (Kannel fetches its dlr-url with GET)",
        "security": bearer,
        "parameters": smpp_get_query,
        "responses": _responses(json_ok, 401, 403, 422, 503),
    }
    vonage_get = {
        "summary": "Vonage SMS API delivery receipt as query parameters (webhook method GET); an "
        "inbound SMS has `text` and `msisdn` instead of `status`",
        "security": [],
        "parameters": [
            _query("messageId", {"type": "string", "minLength": 1}, required=True),
            _query("status", {"type": "string", "minLength": 1}, required=True),
            _query("msisdn", {"type": "string"}),
            _query("err-code", {"type": "string"}),
            _query("client-ref", {"type": "string"}),
        ],  # and `message-timestamp`, `YYYY-MM-DD HH:MM:SS` in UTC
        "responses": _responses(json_ok, 401, 422, 503),
    }
    challenge = {"200": {"description": "hub.challenge", "content": text}, "403": _responses({}, 403)["403"]}
    return {
        "/v1/webhooks/twilio/messages": {"post": twilio_messages},
        "/v1/webhooks/twilio/calls": {"post": twilio_calls},
        "/v1/webhooks/whatsapp": {
            "get": {
                "summary": "Meta's webhook verification: echoes hub.challenge when hub.verify_token matches",
                "security": [],
                "parameters": [
                    {"name": name, "in": "query", "required": True, "schema": {"type": "string"}}
                    for name in ("hub.mode", "hub.verify_token", "hub.challenge")
                ],
                "responses": challenge,
            },
            "post": op(
                "WhatsApp Cloud API statuses and messages (X-Hub-Signature-256)",
                json_object,
                True,
            ),
        },
        "/v1/webhooks/sendgrid": {
            "post": op("SendGrid Event Webhook (ECDSA signature headers)", json_array, True)
        },
        "/v1/webhooks/infobip": {
            "post": op(
                "Infobip delivery/seen reports and inbound messages",
                json_object,
                False,
            )
        },
        "/v1/webhooks/vonage": {
            "post": op(
                "Vonage SMS API delivery receipts and inbound SMS (sig)",
                {**json_object, **form},
                True,
            ),
            "get": vonage_get,
        },
        "/v1/webhooks/smpp": {"post": smpp_post, "get": smpp_get},
    }


def _only(schema: dict[str, Any], values: list[str]) -> None:
    """Restrict a string property (or its string branch, when it may be null) to `values`."""
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") == "string":
            branch.pop("pattern", None)
            branch["enum"] = values


def _settings_enums(components: dict[str, Any], settings: Settings) -> None:
    """What the handlers check against this server's settings, declared in the schemas."""
    money = settings.money
    account = components["Account"]["properties"]
    _only(account["currency"], sorted({money.currency, *money.rates}))
    zones = sorted(available_timezones())
    _only(account["timezone"], zones)
    _only(components["ContactPoint"]["properties"]["timezone"], zones)
    networks = list(settings.routing.networks)
    if networks:
        _only(components["ContactPoint"]["properties"]["network"], networks)
        _only(components["RouteRequest"]["properties"]["network"], networks)
    carriers = sorted(c.id for c in settings.carriers)
    for name in (
        "MessageEvent",
        "CallEvent",
        "ReplyEvent",
        "PromiseEvent",
        "PaymentEvent",
        "OptoutEvent",
        "DisputeEvent",
    ):
        _only(components[name]["properties"]["carrier"], carriers)


def document(settings: Settings | None = None) -> dict[str, Any]:
    """The document for a server with these settings (the defaults when None)."""
    settings = settings or Settings()
    structs = [
        Account,
        DecideRequest,
        EventIn,
        Campaign,
        DialerNextRequest,
        RouteRequest,
        ClockRequest,
        ConfirmRequest,
        Experiment,
        PromoteRequest,
    ]
    schemas, components = msgspec.json.schema_components(
        structs,
        ref_template="#/components/schemas/{name}",
    )
    account, decide, event, campaign, dialer_next, route, clock, confirm, experiment, promote = schemas
    components["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "details"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "details": {"type": "array", "items": {"type": "object"}},
                },
            }
        },
    }
    components["Event"] = event
    _settings_enums(components, settings)
    json_ok = {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}
    one_or_many = {"oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]}
    json_one_or_many = {"description": "ok", "content": {"application/json": {"schema": one_or_many}}}
    accepted = {"202": {"description": "accepted", "content": json_ok["content"]}}
    bearer = [{"bearer": []}]
    paths = {
        "/v1/accounts": {
            "put": {
                "summary": "Upsert one or many accounts",
                "security": bearer,
                "requestBody": _one_or_many(account["$ref"], empty_ok=True),
                "responses": _responses(json_ok, 400, 401, 403, 413, 422, 503),
            }
        },
        "/v1/accounts/{account_id}": {
            "get": {
                "summary": "An account with its live state",
                "security": bearer,
                "responses": _responses(json_ok, 401, 404, 503),
            }
        },
        "/v1/accounts/{account_id}/timeline": {
            "get": {
                "summary": "Every decision and event within [redis] retention_days, oldest first "
                "(`complete` is false when the log's unarchived tail was too long to read whole)",
                "security": bearer,
                "responses": _responses(json_ok, 401, 404, 503),
            }
        },
        "/v1/decide": {
            "post": {
                "summary": "Decide the next action for one or many accounts",
                "security": bearer,
                "requestBody": _one_or_many(decide["$ref"], empty_ok=True),
                "responses": _responses(json_one_or_many, 400, 401, 403, 404, 413, 422, 503),
            }
        },
        "/v1/decisions/{decision_id}/confirm": {
            "post": {
                "summary": "Just before sending: 200 if the decision still stands (it is marked sent), 409 "
                "naming what revoked it (promise, payment, optout, dispute, direct_contact, cancelled, "
                "expired, released)",
                "security": bearer,
                "requestBody": {
                    "required": False,
                    "content": {"application/json": {"schema": {"$ref": confirm["$ref"]}}},
                },
                "responses": _responses(json_ok, 400, 401, 403, 404, 409, 422, 503),
            }
        },
        "/v1/decisions/{decision_id}/cancel": {
            "post": {
                "summary": "Release an unused reservation",
                "security": bearer,
                "responses": _responses(json_ok, 401, 404, 409, 503),
            }
        },
        "/v1/dialer/next": {
            "post": {
                "summary": "The next leads of a call campaign, best first, each leased",
                "security": bearer,
                "requestBody": _one(dialer_next["$ref"]),
                "responses": _responses(json_ok, 400, 401, 403, 404, 413, 422, 503),
            }
        },
        "/v1/route": {
            "post": {
                "summary": "The carrier for one call or message, and the alternates in order",
                "security": bearer,
                "requestBody": _one(route["$ref"]),
                "responses": _responses(json_ok, 400, 401, 403, 404, 409, 413, 422, 503),
            }
        },
        "/v1/campaigns/{campaign}": {
            "put": {
                "summary": "Create or change a call campaign; its accounts are enrolled in the background",
                "security": bearer,
                "requestBody": _one(campaign["$ref"]),
                # 202: enrolment started; 200: the same definition again, nothing to enrol
                "responses": {**_responses(accepted, 400, 401, 403, 422, 503), "200": json_ok},
            },
            "get": {
                "summary": "A campaign with its queue sizes and enrolment",
                "security": bearer,
                "responses": _responses(json_ok, 401, 404, 503),
            },
            "delete": {
                "summary": "Delete a campaign and its queues; leads already leased keep their leases",
                "security": bearer,
                "responses": _responses(json_ok, 401, 403, 404, 503),
            },
        },
        "/v1/experiments": {
            "get": {
                "summary": "The champion/challenger experiments (at most one in force)",
                "security": bearer,
                "responses": _responses(json_ok, 401, 403, 503),
            }
        },
        "/v1/experiments/{experiment}": {
            "put": {
                "summary": "Start an experiment: accounts split into arms by a stable hash, each arm "
                "deciding with its parameters (shares sum to 1; 409 while another is in force)",
                "security": bearer,
                "requestBody": _one(experiment["$ref"]),
                "responses": {
                    **_responses(
                        {"description": "started", "content": json_ok["content"]},
                        400,
                        401,
                        403,
                        409,
                        422,
                        503,
                    ),
                    "201": json_ok,
                },
            },
            "get": {
                "summary": "The experiment and each arm's results with 95% intervals",
                "security": bearer,
                "parameters": [
                    _query("from", {"type": "string", "format": "date"}),
                    _query("to", {"type": "string", "format": "date"}),
                ],
                "responses": _responses(json_ok, 401, 403, 404, 422, 503),
            },
            "delete": {
                "summary": "End the experiment: every account decides with the configuration again",
                "security": bearer,
                "responses": _responses(json_ok, 401, 403, 404, 503),
            },
        },
        "/v1/experiments/{experiment}/promote": {
            "post": {
                "summary": "Promote an arm: it decides for every account until the experiment is deleted",
                "security": bearer,
                "requestBody": _one(promote["$ref"]),
                "responses": _responses(json_ok, 400, 401, 403, 404, 409, 422, 503),
            }
        },
        "/v1/events": {
            "post": {
                "summary": "Post one or many outcome events (idempotent by event_id)",
                "security": bearer,
                "requestBody": _one_or_many("#/components/schemas/Event"),
                "responses": _responses(
                    {"202": {"description": "accepted", "content": json_ok["content"]}},
                    400,
                    401,
                    403,
                    413,
                    422,
                    503,
                ),
            }
        },
        "/v1/clock": {
            "post": {
                "summary": 'clock = "data" only: every outcome before `now` is posted; each shard\'s '
                "event time moves there (409 in wall mode)",
                "security": bearer,
                "requestBody": _one(clock["$ref"]),
                "responses": _responses(accepted, 400, 401, 403, 409, 413, 422, 503),
            }
        },
        "/v1/models/{version}": {
            "get": {
                "summary": "A published model version: when, from how many examples, and its weights",
                "security": bearer,
                "responses": _responses(json_ok, 401, 404, 503),
            }
        },
        "/v1/campaigns": {
            "get": {
                "summary": "Every call campaign, its queue sizes (ready, held) and whether it is enrolling",
                "security": bearer,
                "responses": _responses(json_ok, 401, 403, 503),
            }
        },
        "/v1/session": {
            "get": {
                "summary": "The role of the token presented (`admin` with auth off)",
                "security": bearer,
                "responses": _responses(json_ok, 401),
            }
        },
        "/v1/rules": {
            "get": {
                "summary": "The rules in force: contact windows per country, holiday bans, the "
                "operation's caps, journeys, the dispute hold",
                "security": bearer,
                "responses": _responses(json_ok, 401, 403),
            }
        },
        "/v1/carriers": {
            "get": {
                "summary": "Carrier health from the model served: answer ratio and breaker per "
                "carrier and destination network",
                "security": bearer,
                "responses": _responses(json_ok, 401, 403),
            }
        },
        "/v1/models": {
            "get": {
                "summary": "The newest 50 published model versions (facts, not weights), newest first",
                "security": bearer,
                "responses": _responses(json_ok, 401, 403, 503),
            }
        },
        "/console": {
            "get": {
                "summary": "The operators' console (a page; its calls carry the user's token)",
                "responses": {
                    "200": {
                        "description": "the page",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/v1/reports/results": {
            "get": {
                "summary": "Contacts, deliveries, engagement, promises, payments, opt-outs, cost and net "
                "by day x channel x template x segment x carrier x campaign (the dimensions in `by`), "
                "from totals the dataflow keeps; days are the debtors' local dates",
                "security": bearer,
                "parameters": [
                    _query("from", {"type": "string", "format": "date"}, required=True),
                    _query("to", {"type": "string", "format": "date"}, required=True),
                    _query(
                        "by",
                        {
                            "type": "string",
                            "pattern": f"^({'|'.join(DIMENSIONS)})(,({'|'.join(DIMENSIONS)}))*$",
                            "default": "day,channel",
                        },
                    ),
                    _query("format", {"type": "string", "enum": ["json", "csv"], "default": "json"}),
                ],
                "responses": _responses(
                    {
                        "description": "ok",
                        "content": {
                            "application/json": {"schema": {"type": "object"}},
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    401,
                    403,
                    422,
                    503,
                ),
            }
        },
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text"}}}},
        "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "alive"}}}},
        "/readyz": {
            "get": {
                "summary": "Readiness: Redis, models, dataflow lag",
                "responses": {"200": json_ok, "503": json_ok},
            }
        },
    }
    paths.update(_webhooks(json_ok, bearer, sorted(c.id for c in settings.carriers)))
    for path in (
        "/v1/accounts/{account_id}",
        "/v1/accounts/{account_id}/timeline",
        "/v1/decisions/{decision_id}/cancel",
        "/v1/decisions/{decision_id}/confirm",
        "/v1/campaigns/{campaign}",
        "/v1/models/{version}",
        "/v1/experiments/{experiment}",
        "/v1/experiments/{experiment}/promote",
    ):
        name = path.split("{")[1].split("}")[0]
        for op in paths[path].values():
            schema = PATH_PARAMETERS[name]
            op["parameters"] = [{"name": name, "in": "path", "required": True, "schema": schema}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "cadencia", "version": "1", "description": "cadencia wire contract v1"},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
