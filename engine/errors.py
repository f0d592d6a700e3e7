"""cadencia's few error types. One handler (engine/api/app.py) maps them to the contract's
JSON error: `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

from typing import Any


class CadenciaError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class BadRequest(CadenciaError):
    status, code = 400, "invalid_json"


class Invalid(CadenciaError):
    """A request or an item of a batch breaks the contract; nothing was applied."""

    status, code = 422, "validation_failed"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None, items: int = 1) -> None:
        super().__init__(message, details)
        self.items = items  # how many items the refused request held


class Unauthorized(CadenciaError):
    status, code = 401, "unauthorized"


class Forbidden(CadenciaError):
    status, code = 403, "forbidden"


class NotFound(CadenciaError):
    status, code = 404, "not_found"


class Conflict(CadenciaError):
    status, code = 409, "conflict"


class TooLarge(CadenciaError):
    status, code = 413, "body_too_large"


class TooManyItems(CadenciaError):
    status, code = 413, "too_many_items"


class Unsupported(CadenciaError):
    status, code = 415, "unsupported_media_type"


class Unavailable(CadenciaError):
    """Redis (or another dependency) does not answer: nothing was applied; retry."""

    status, code = 503, "unavailable"


class MaybeApplied(CadenciaError):
    """A write left for Redis and no answer came back: it may have been applied. Retrying
    is safe (events and cancels are idempotent; decide with the same request_id)."""

    status, code = 503, "outcome_unknown"
