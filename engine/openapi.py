"""The OpenAPI document served at /openapi.json: schemas generated from the very structs
that validate requests, paths as CONTRACT.md lists them."""

from __future__ import annotations

from functools import cache
from typing import Any

import msgspec

from engine.campaigns import Campaign
from engine.wire import Account, DecideRequest, DialerNextRequest, EventIn, RouteRequest

ERROR = {"$ref": "#/components/schemas/Error"}


def _one_or_many(ref: str) -> dict[str, Any]:
    schema = {"oneOf": [{"$ref": ref}, {"type": "array", "items": {"$ref": ref}}]}
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


@cache
def document() -> dict[str, Any]:
    (account, decide, event, campaign, dialer_next, route), components = msgspec.json.schema_components(
        [Account, DecideRequest, EventIn, Campaign, DialerNextRequest, RouteRequest],
        ref_template="#/components/schemas/{name}",
    )
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
    json_ok = {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}
    accepted = {"202": {"description": "accepted", "content": json_ok["content"]}}
    bearer = [{"bearer": []}]
    paths = {
        "/v1/accounts": {
            "put": {
                "summary": "Upsert one or many accounts",
                "security": bearer,
                "requestBody": _one_or_many(account["$ref"]),
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
                "summary": "Every decision and event, oldest first",
                "security": bearer,
                "responses": _responses(json_ok, 401, 404, 503),
            }
        },
        "/v1/decide": {
            "post": {
                "summary": "Decide the next action for one or many accounts",
                "security": bearer,
                "requestBody": _one_or_many(decide["$ref"]),
                "responses": _responses(json_ok, 400, 401, 403, 404, 413, 422, 503),
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
                "responses": _responses(accepted, 400, 401, 403, 422, 503),
            },
            "get": {
                "summary": "A campaign with its queue sizes and enrolment",
                "security": bearer,
                "responses": _responses(json_ok, 401, 404, 503),
            },
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
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text"}}}},
        "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "alive"}}}},
        "/readyz": {
            "get": {
                "summary": "Readiness: Redis, models, dataflow lag",
                "responses": {"200": json_ok, "503": json_ok},
            }
        },
    }
    for path in (
        "/v1/accounts/{account_id}",
        "/v1/accounts/{account_id}/timeline",
        "/v1/decisions/{decision_id}/cancel",
        "/v1/campaigns/{campaign}",
    ):
        name = path.split("{")[1].split("}")[0]
        for op in paths[path].values():
            op["parameters"] = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "cadencia", "version": "1", "description": "cadencia wire contract v1"},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
