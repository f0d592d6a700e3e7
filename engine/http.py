"""The HTTP plumbing every endpoint shares, built once: auth by role, bounded body reads,
orjson responses, and one mapping of cadencia's errors to the contract's JSON error."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from connectors.store import OutcomeUnknown, StoreUnavailable
from engine.errors import CadenciaError, Forbidden, Invalid, MaybeApplied, TooLarge, Unauthorized, Unavailable
from engine.metrics import Metrics
from engine.settings import Settings

log = logging.getLogger("cadencia.http")
Handler = Callable[[Request], Awaitable[Response]]


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def error_response(exc: CadenciaError) -> Response:
    return json_response(exc.body(), exc.status)


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the body is {declared} bytes; the limit is {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def role_of(tokens: dict[str, str], presented: str) -> str | None:
    """The presented token's role, compared in constant time against every configured token
    (a dict lookup's timing tells how much of a guess was right)."""
    given = presented.encode()
    role = None
    for token, r in tokens.items():
        if hmac.compare_digest(token.encode(), given):
            role = r
    return role


def authorize(settings: Settings, request: Request, roles: tuple[str, ...]) -> None:
    if not settings.auth_enabled:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send `Authorization: Bearer <token>`")
    role = role_of(settings.tokens, token.strip())
    if role is None:
        raise Unauthorized("unknown token")
    if role != "admin" and role not in roles:
        raise Forbidden(f"the {role!r} role may not call {request.method} {request.url.path}")


def one(items: list[Any], many: bool, what: str) -> Any:
    """The single object an endpoint takes; 422 for an array or NDJSON."""
    if many or len(items) != 1:
        detail = {"index": 0, "field": "body", "message": "one object, not an array or NDJSON"}
        raise Invalid(f"{what} takes one JSON object", [detail])
    return items[0]


def by_method(handlers: dict[str, Handler]) -> Handler:
    """One endpoint for the methods a path shares, so that a 405 names them all in its Allow
    (Starlette answers with the first route that matches the path); HEAD is GET's."""
    table = {**handlers, **({"HEAD": handlers["GET"]} if "GET" in handlers else {})}

    async def dispatch(request: Request) -> Response:
        return await table[request.method](request)

    return dispatch


def endpoint(
    settings: Settings,
    metrics: Metrics,
    roles: tuple[str, ...],
    handler: Handler,
    events_endpoint: bool = False,
) -> Handler:
    """Wrap a handler: authorization, then the handler, with errors mapped to the contract."""

    async def wrapped(request: Request) -> Response:
        try:
            authorize(settings, request, roles)
            return await handler(request)
        except CadenciaError as exc:
            metrics.requests_rejected.labels(exc.code).inc()
            if events_endpoint and exc.status in (401, 403, 413, 400):
                reason = {401: "unauthorized", 403: "unauthorized", 413: "too_large", 400: "invalid_json"}[
                    exc.status
                ]
                reason = "too_many_items" if exc.code == "too_many_items" else reason
                metrics.rejected.labels(reason).inc()
            return error_response(exc)
        except OutcomeUnknown as exc:
            log.warning("redis did not answer a write on %s: %s", request.url.path, exc)
            metrics.requests_rejected.labels(MaybeApplied.code).inc()
            if events_endpoint:
                metrics.rejected.labels("unavailable").inc()
            return error_response(
                MaybeApplied(
                    f"storage did not answer after the write was sent; it may have been applied: {exc}. "
                    "Retrying is safe: events count once, cancels repeat, and a decide with the same "
                    "request_id answers the same decision (one without is taken back)"
                )
            )
        except StoreUnavailable as exc:
            log.warning("redis unavailable on %s: %s", request.url.path, exc)
            metrics.requests_rejected.labels(Unavailable.code).inc()
            if events_endpoint:
                metrics.rejected.labels("unavailable").inc()
            return error_response(Unavailable(f"storage unavailable, nothing was applied: {exc}"))

    return wrapped


def fast_lane(app: Any, routes: dict[tuple[str, str], Handler]) -> Any:
    """An ASGI app that sends the hottest routes (method, path) straight to their handlers,
    already wrapped by `endpoint`, and everything else through `app` (Starlette's router
    and middleware cost ~50 µs a request: a tenth of a decision)."""

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        handler = (
            routes.get((scope.get("method", ""), scope.get("path", ""))) if scope["type"] == "http" else None
        )
        if handler is None:
            await app(scope, receive, send)
            return
        try:
            response = await handler(Request(scope, receive))
        except Exception:  # what Starlette's ServerErrorMiddleware would do: log, answer 500
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            response = error_response(CadenciaError("internal error; see the server log"))
        await response(scope, receive, send)

    return asgi
