"""Schemathesis hooks (SCHEMATHESIS_HOOKS=tests.fuzz.schemathesis_hooks): requests name the
accounts the test loaded, as the documented way to test with existing data. Whether an account
exists is state no schema can say; everything else of a request is schemathesis' own."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import schemathesis

from engine.wire import NO_SPACE

ACCOUNTS = ("F-1", "F-2", "F-3")


def _valid_id(value: Any) -> bool:
    """A schema-valid account id: only those are swapped, so a negative case stays negative."""
    return isinstance(value, str) and 1 <= len(value) <= 128 and re.match(NO_SPACE, value) is not None


def _known(item: Any, i: int) -> Any:
    if isinstance(item, dict) and _valid_id(item.get("account_id")):
        return {**item, "account_id": ACCOUNTS[i % len(ACCOUNTS)]}
    return item


@schemathesis.hook
def map_body(ctx: Any, body: Any) -> Any:
    if ctx.operation.path == "/v1/accounts":
        return body  # an upload creates what it names
    if isinstance(body, list):
        return [_known(item, i) for i, item in enumerate(body)]
    return _known(body, 0)


@schemathesis.hook
def filter_body(ctx: Any, body: Any) -> bool:
    """An account's contact point ids must differ, which JSON Schema cannot say of a property
    of array items (the server answers 422 `contact point ids repeat`)."""
    if ctx.operation.path != "/v1/accounts":
        return True
    for account in body if isinstance(body, list) else [body]:
        points = account.get("contact_points") if isinstance(account, dict) else None
        points = points if isinstance(points, list) else []
        ids = [p.get("id") for p in points or [] if isinstance(p, dict) and isinstance(p.get("id"), str)]
        if len(ids) != len(set(ids)):
            return False
    return True


@schemathesis.hook
def map_path_parameters(ctx: Any, path: Any) -> Any:
    if path and _valid_id(path.get("account_id")):
        return {**path, "account_id": ACCOUNTS[0]}
    return path


@schemathesis.hook
def filter_query(ctx: Any, query: Any) -> bool:
    """The results report's `to` must not be before `from`, nor more than 400 days after it: a
    relation of two parameters no schema can say (422 names `to`). Cases breaking it with two
    valid dates are left out; the others (invalid dates included) stay."""
    if ctx.operation.path != "/v1/reports/results" or not isinstance(query, dict):
        return True
    try:
        start, end = date.fromisoformat(query["from"]), date.fromisoformat(query["to"])
    except (KeyError, TypeError, ValueError):
        return True
    return 0 <= (end - start).days < 400
