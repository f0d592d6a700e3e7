"""Champion/challenger over HTTP: the experiments in Redis as each API process holds them
(polled like the models), and the endpoints that start, read, promote and end one.

One experiment is in force at a time: its arms decide `POST /v1/decide` for the accounts their
hash buckets hold (the dialer's leads keep the configuration's parameters), and once an arm is
promoted it decides for every account until the experiment is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from connectors.store import RedisStore, StoreUnavailable
from engine.api import reports
from engine.decisions.experiments import ID, Assign, Experiment, arm_results, assigner, problems
from engine.errors import Conflict, Invalid, NotFound
from engine.http import json_response, one
from engine.settings import Settings
from models import results
from models.contact import Scorer, loads_data, scorer_from_data

if TYPE_CHECKING:
    from engine.api.app import Api

log = logging.getLogger("cadencia.experiments")
POLL_S = 1.0


class PromoteRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    arm: ID


class ExperimentBook:
    """The experiments this process knows; `assign` decides each account's arm."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.version = -1
        self.experiments: dict[str, Experiment] = {}
        self.models: dict[str, Scorer] = {}  # the published versions the arms pin
        self.assign: Assign = assigner(settings, None)

    @property
    def in_force(self) -> tuple[str, Experiment] | None:
        return next(iter(sorted(self.experiments.items())), None)

    async def refresh(self, store: RedisStore) -> None:
        version = await store.experiments_version()
        if version == self.version:
            return
        version, raw = await store.experiments()
        experiments = {k: msgspec.json.decode(v, type=Experiment) for k, v in raw.items()}
        pinned = {a.params.model for e in experiments.values() for a in e.arms if a.params.model}
        models = {}
        for v in pinned:
            models[v] = self.models.get(v) or await pinned_model(store, v, self.settings)
        self.experiments, self.models, self.version = experiments, models, version
        self.assign = assigner(self.settings, self.in_force, models)

    async def follow(self, store: RedisStore) -> None:
        while True:
            with contextlib.suppress(StoreUnavailable):
                try:
                    await self.refresh(store)
                except (msgspec.DecodeError, KeyError):
                    log.exception("an experiment in Redis does not decode, or its pinned model expired")
            await asyncio.sleep(POLL_S)


async def pinned_model(store: RedisStore, version: str, settings: Settings) -> Scorer:
    """A published version as a scorer (plain data, never code); KeyError when not kept."""
    meta = await store.model(version)
    if b"data" not in meta:
        raise KeyError(version)
    return scorer_from_data(loads_data(meta[b"data"]), version, settings.routing)


def _valid_id(eid: str) -> bool:
    try:
        msgspec.convert(eid, type=ID)
        return True
    except msgspec.ValidationError:
        return False


def _today(settings: Settings) -> date | None:
    """The server's day in wall mode; in data mode the server's clock is not the data's."""
    return datetime.now(UTC).date() if settings.clock.bounded else None


async def put_experiment(api: Api, request: Request) -> Response:
    eid = request.path_params["experiment"]
    if not _valid_id(eid):
        detail = {"index": 0, "field": "experiment", "message": "letters, digits, '.', '_', '-'; 1-64"}
        raise Invalid(f"experiment id {eid!r} is not valid", [detail])
    experiment = one(*await api._decode(request, Experiment), "an experiment")
    bad = problems(experiment, api.settings)
    if experiment.promoted is not None:
        bad.append({"index": 0, "field": "promoted", "message": "promote with POST .../promote"})
    for i, arm in enumerate(experiment.arms):
        if arm.params.model is not None and not (await api.store.model(arm.params.model)).get(b"data"):
            message = (
                f"model {arm.params.model!r} is not kept (unknown, or older than [flow] model_retention_days)"
            )
            bad.append({"index": 0, "field": f"arms[{i}].params.model", "message": message})
    if bad:
        raise Invalid("the experiment is not valid; nothing was stored", bad)
    book = api.experiments
    await book.refresh(api.store)
    for other, running in book.experiments.items():
        if other != eid:
            raise Conflict(f"experiment {other!r} is in force: DELETE it before starting another")
        if running.arms == experiment.arms:
            return json_response({"experiment": eid, **msgspec.to_builtins(running), "unchanged": True})
        raise Conflict(f"experiment {eid!r} runs: its arms cannot change (DELETE it and start another)")
    started = experiment.started or _today(api.settings)
    stored = msgspec.structs.replace(experiment, started=started)
    await api.store.put_experiment(eid, msgspec.json.encode(stored))
    await book.refresh(api.store)
    return json_response({"experiment": eid, **msgspec.to_builtins(stored)}, 201)


async def _known(api: Api, eid: str) -> Experiment:
    await api.experiments.refresh(api.store)
    experiment = api.experiments.experiments.get(eid)
    if experiment is None:
        raise NotFound(f"unknown experiment {eid!r}")
    return experiment


async def list_experiments(api: Api, _request: Request) -> Response:
    await api.experiments.refresh(api.store)
    return json_response(
        {
            "experiments": [
                {"experiment": k, **msgspec.to_builtins(v)}
                for k, v in sorted(api.experiments.experiments.items())
            ]
        }
    )


async def get_experiment(api: Api, request: Request) -> Response:
    """The experiment and each arm's results, from its start day (or `from`) for 400 days (or
    to `to`): totals, rates with 95% intervals, the challengers against the champion. Bad
    dates answer 422 naming them (the report's own checks)."""
    eid = request.path_params["experiment"]
    experiment = await _known(api, eid)
    params = dict(request.query_params)
    # no start day (stored in data mode, where the server's clock is not the data's): the
    # longest span the report covers, up to the server's day
    fallback = datetime.now(UTC).date() - timedelta(days=reports.MAX_DAYS - 1)
    start = params.get("from") or (experiment.started or fallback).isoformat()
    end = params.get("to") or (date.fromisoformat(start) + timedelta(days=reports.MAX_DAYS - 1)).isoformat()
    query = reports.parse({"from": start, "to": end, "by": "arm"})
    rows, _totals = results.report(await api.store.results(query.days), ("arm",))
    arms = arm_results(eid, experiment, rows)
    return json_response(
        {"experiment": eid, **msgspec.to_builtins(experiment), "from": start, "to": end, "results": arms}
    )


async def promote(api: Api, request: Request) -> Response:
    eid = request.path_params["experiment"]
    experiment = await _known(api, eid)
    req = one(*await api._decode(request, PromoteRequest), "promote")
    if req.arm not in {a.id for a in experiment.arms}:
        arms = ", ".join(a.id for a in experiment.arms)
        raise Invalid(
            "promote one of the experiment's arms",
            [{"index": 0, "field": "arm", "message": f"one of {arms}"}],
        )
    if experiment.promoted not in (None, req.arm):
        raise Conflict(f"arm {experiment.promoted!r} was promoted already")
    promoted = msgspec.structs.replace(experiment, promoted=req.arm)
    await api.store.put_experiment(eid, msgspec.json.encode(promoted))
    await api.experiments.refresh(api.store)
    log.info("experiment %s: arm %s promoted", eid, req.arm)
    return json_response({"experiment": eid, **msgspec.to_builtins(promoted)})


async def delete_experiment(api: Api, request: Request) -> Response:
    eid = request.path_params["experiment"]
    if not await api.store.delete_experiment(eid):
        raise NotFound(f"unknown experiment {eid!r}")
    await api.experiments.refresh(api.store)
    return json_response({"experiment": eid, "deleted": True})
