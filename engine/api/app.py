"""The ASGI app: routes, each wrapped once by `engine.http.endpoint`."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import re
import time
from collections.abc import AsyncIterator, Awaitable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from connectors.store import OutcomeUnknown, RedisStore, StoreUnavailable, log_json, partly_applied
from connectors.store.decisions import made_of
from engine.api import experiments, openapi, reports, views
from engine.api.experiments import ExperimentBook
from engine.api.model_sync import ModelHolder
from engine.calls.campaigns import Campaign, CampaignBook, Enrolment, enrol
from engine.calls.dialer import next_leads
from engine.decisions.coalesce import Coalescer
from engine.decisions.decide import decide_each, decide_many, iso
from engine.decisions.route import route_one
from engine.decisions.settle import Settler
from engine.errors import Conflict, Invalid, NotFound
from engine.gateways.ingest import ingest_events
from engine.gateways.webhooks import routes as webhook_routes
from engine.http import by_method, endpoint, fast_lane, json_response, one, read_body, role_of
from engine.metrics import READY_PROBE_S, Metrics, exposition, watch_event_loop
from engine.settings import MoneySettings, Settings
from engine.wire import (
    Account,
    Check,
    ClockRequest,
    ConfirmRequest,
    DecideRequest,
    DialerNextRequest,
    RouteRequest,
    check_timezone,
    convert_some,
    decode_body,
    decode_items,
    epoch,
    within,
)
from features.records import AccountRecord, CancelRecord
from models import results
from models.carriers import prior_mean
from models.contact import loads_data

log = logging.getLogger("cadencia.api")
T = TypeVar("T")

CAMPAIGN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# After a campaign is deleted, when its queues are dropped again: by then the dataflow (which
# looks for campaign changes every half second of its work) has stopped re-scoring into them.
CAMPAIGN_SETTLE_S = 5.0
# Single decide requests are decided one by one while at most this many are in flight, and in
# batches of those that arrive together beyond (engine.decisions.coalesce): at 1,000 decisions/s a process
# has 1-2 in flight; a saturated one has as many as its clients' connections.
DECIDE_BATCH_FROM = 4
SLICE_ACCOUNTS = 64  # accounts written per round trip of an upload (see put_accounts)
# a body larger than this is validated in slices of SLICE_VALIDATE items (~1,000 accounts take
# ~5 ms to decode and check at once; a decide body of 1,000 items is ~60 KB and stays whole)
SLICED_BODY_BYTES = 256 * 1024
SLICE_VALIDATE = 128
READ, DIAL, GATEWAY, ADMIN = ("reader",), ("dialer",), ("gateway",), ("admin",)


class Api:
    """The endpoints, holding what they share: settings, store, metrics, the current model."""

    def __init__(
        self,
        settings: Settings,
        store: RedisStore,
        metrics: Metrics,
        models: ModelHolder | None = None,
        archive: Path | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.archive = archive  # the timelines' archive (None: the log alone)
        self.metrics = metrics
        self.models = models or ModelHolder(settings.routing)
        self.openapi = openapi.document(settings)  # what this server accepts, with its settings
        self.campaigns = CampaignBook()
        self.experiments = ExperimentBook(settings)
        self.enrolments: dict[str, Enrolment] = {}  # campaigns this process is enrolling
        self.tasks: set[asyncio.Task[None]] = set()
        self.single_decisions = Coalescer(
            self._decide_alone,
            batch_from=DECIDE_BATCH_FROM,
            alone_after=lambda exc: not isinstance(exc, OutcomeUnknown),
        )
        self.settler = Settler(store)

    async def _body(self, request: Request) -> tuple[bytes, str]:
        body = await read_body(request, self.settings.server.max_body_bytes)
        return body, request.headers.get("content-type", "application/json")

    def _now_check(self, index: int, _raw: dict[str, Any], req: Any) -> dict[str, Any] | None:
        return self.settings.clock.check_now(req.now, index)

    def _known_network(self, network: str) -> bool:
        networks = self.settings.routing.networks
        return not networks or network in networks

    def _network_message(self, network: str) -> str:
        return f"network {network!r} is not in [routing] networks"

    def _route_check(self, index: int, raw: dict[str, Any], req: RouteRequest) -> dict[str, Any] | None:
        if req.network is not None and not self._known_network(req.network):
            return {"index": index, "field": "network", "message": self._network_message(req.network)}
        return self._now_check(index, raw, req)

    async def _decode(
        self, request: Request, kind: Any, check: Check | None = None
    ) -> tuple[list[Any], bool]:
        body, content_type = await self._body(request)
        limit = self.settings.server.max_batch_items
        if len(body) > SLICED_BODY_BYTES:
            return await self._decode_sliced(body, content_type, kind, check, limit)
        began = time.thread_time()
        try:
            return decode_items(body, content_type, kind, check, limit)
        finally:
            self.metrics.slice_cpu["validate"].observe(time.thread_time() - began)

    async def _decode_sliced(
        self, body: bytes, content_type: str, kind: Any, check: Check | None, limit: int
    ) -> tuple[list[Any], bool]:
        """A large body validated in slices, the event loop free in between; as all-or-nothing
        as `decode_items` (every bad item named, nothing returned unless all are good)."""
        cpu = self.metrics.slice_cpu["validate"]
        began = time.thread_time()
        raw, many = decode_body(body, content_type)
        within(len(raw), limit)
        cpu.observe(time.thread_time() - began)
        out: list[Any] = []
        details: list[dict[str, Any]] = []
        size = SLICE_VALIDATE
        for start in range(0, len(raw), size):
            await asyncio.sleep(0)
            began = time.thread_time()
            part, bad = convert_some(raw[start : start + size], kind, check, start)
            out += part
            details += bad
            cpu.observe(time.thread_time() - began)
        if details:
            raise Invalid(
                f"{len(details)} of {len(raw)} items are invalid; nothing was applied", details, len(raw)
            )
        return out, many

    # --- accounts ---------------------------------------------------------------------------

    async def put_accounts(self, request: Request) -> Response:
        money = self.settings.money

        def check(i: int, raw: dict[str, Any], a: Account) -> dict[str, Any] | None:
            if not check_timezone(a.timezone):
                return {"index": i, "field": "timezone", "message": f"unknown time zone {a.timezone!r}"}
            if a.currency != money.currency and a.currency not in money.rates:
                return {
                    "index": i,
                    "field": "currency",
                    "message": f"no [money.rates] entry converts {a.currency} to {money.currency}",
                }
            ids = [p.id for p in a.contact_points]
            if len(ids) != len(set(ids)):
                return {"index": i, "field": "contact_points", "message": "contact point ids repeat"}
            for p in a.contact_points:
                if p.timezone is not None and not check_timezone(p.timezone):
                    return {
                        "index": i,
                        "field": "contact_points.timezone",
                        "message": f"unknown time zone {p.timezone!r}",
                    }
                if p.network is not None and not self._known_network(p.network):
                    message = self._network_message(p.network)
                    return {"index": i, "field": "contact_points.network", "message": message}
            return None

        accounts, _many = await self._decode(request, Account, check)
        size, cpu = SLICE_ACCOUNTS, self.metrics.slice_cpu["accounts"]
        for start in range(0, len(accounts), size):
            if start:
                await asyncio.sleep(0)  # a long upload lets other requests through between slices
            began = time.thread_time()
            try:
                await self.store.upsert_accounts([_upsert(a, money) for a in accounts[start : start + size]])
                cpu.observe(time.thread_time() - began)
            except StoreUnavailable as exc:
                if start:  # earlier slices stand
                    raise partly_applied(exc, f"after {start} of {len(accounts)} accounts") from exc
                raise
        return json_response({"upserted": len(accounts)})

    async def get_account(self, request: Request) -> Response:
        account_id = request.path_params["account_id"]
        row = await self.store.read_account_with_contacts(account_id)
        if not row.exists:
            raise NotFound(f"unknown account {account_id!r}")
        doc = orjson.loads(row.fields[b"doc"])
        feat = row.features() or {}
        live = row.live()
        doc["state"] = {
            "events_applied": feat.get("n", 0),
            "features_updated_at": iso(feat.get("as_of")),
            "features": feat or None,
            "lock": None
            if live.lock is None
            else {
                "decision_id": live.lock.decision_id,
                "channel": live.lock.channel,
                "expires_at": iso(live.lock.expires_at),
            },
            "promise": None
            if live.promise is None
            else {
                "amount": live.promise.amount,
                "due_date": live.promise.due_date,
                "made_at": iso(live.promise.ts),
            },
            "optouts": sorted(live.optouts),
            "paid_total": live.paid_total,
            "disputed_at": iso(live.dispute_at),
            "reserved_contacts_8d": _recent_contacts(row, self.settings),
            "version": live.ver,
        }
        return json_response(doc)

    async def get_timeline(self, request: Request) -> Response:
        account_id = request.path_params["account_id"]
        if not await self.store.existing([account_id]):
            raise NotFound(f"unknown account {account_id!r}")
        timeline = await self.store.timeline(account_id, self.archive)
        kinds = {"e": "event", "d": "decision", "c": "cancel", "w": "decision"}
        out = []
        for e in timeline.records:
            kind = kinds.get(e.pop("k", ""), "other")
            e.pop("x", None)
            e.pop("acc", None)
            out.append({"kind": kind, "at": iso(e.get("ts")), **e})
        out.sort(key=lambda e: e.get("ts") or 0.0)
        return json_response({"account_id": account_id, "entries": out, "complete": timeline.complete})

    # --- what the console reads -------------------------------------------------------------

    async def session(self, request: Request) -> Response:
        """Who the token is: the console shows an admin's controls only to an admin."""
        token = request.headers.get("authorization", "").partition(" ")[2].strip()
        role = role_of(self.settings.tokens, token) if self.settings.auth_enabled else "admin"
        return json_response({"auth": self.settings.auth_enabled, "role": role})

    async def list_campaigns(self, _request: Request) -> Response:
        campaigns = await self.campaigns.refresh(self.store)
        out = []
        for cid, campaign in sorted(campaigns.items()):
            ready, held = await self.store.queue_sizes(cid)
            body = {"campaign": cid, **msgspec.to_builtins(campaign), "ready": ready, "held": held}
            out.append({**body, "enrolment": self._enrolment(cid)})
        return json_response({"campaigns": out})

    async def get_rules(self, _request: Request) -> Response:
        return json_response(views.rules(self.settings))

    async def get_carriers(self, _request: Request) -> Response:
        scorer = self.models.scorer
        return json_response(views.carriers(self.settings, scorer.router, scorer.version))

    async def list_models(self, _request: Request) -> Response:
        serving = self.models.scorer.version
        out = [
            {
                "version": row["version"],
                "published_at": iso(float(row["published_at"])),
                "as_of": iso(float(row["as_of"])) if "as_of" in row else None,
                "examples_learned": int(row.get("examples_learned", 0)),
                "observations_learned": int(row.get("observations_learned", 0)),
                "reason": row.get("reason"),
                "serving": row["version"] == serving,
            }
            for row in await self.store.model_index(50)
        ]
        return json_response({"serving": serving, "models": out})

    # --- reports ----------------------------------------------------------------------------

    async def results_report(self, request: Request) -> Response:
        query = reports.parse(dict(request.query_params), request.headers.get("accept", ""))
        rows, totals = results.report(await self.store.results(query.days), query.by)
        if query.csv:
            return Response(reports.to_csv(rows, query.by), media_type="text/csv; charset=utf-8")
        return json_response(
            {
                "from": query.start.isoformat(),
                "to": query.end.isoformat(),
                "by": list(query.by),
                "currency": self.settings.money.currency,
                "rows": rows,
                "totals": totals,
            }
        )

    # --- decisions --------------------------------------------------------------------------

    async def decide(self, request: Request) -> Response:
        started = time.perf_counter()
        reqs, many = await self._decode(request, DecideRequest, self._now_check)
        if not reqs:
            return json_response([])
        if many:
            observe = self.metrics.slice_cpu["decide"].observe
            assign = self.experiments.assign
            work = decide_many(self.store, self.settings, self.models.scorer, reqs, observe, assign)
            answers = await self._settling(work)
        else:  # under load, decided together with the other single requests of this turn of the loop
            answers = [await self.single_decisions.submit(reqs[0])]
        for a in answers:
            if a["action"] == "wait":
                for rule in a["reasons"]:
                    self.metrics.policy_blocks.labels(rule).inc()
            elif a.get("carrier"):
                self.metrics.carrier_selections.labels(a["carrier"]).inc()
        action = answers[0]["action"] if not many else "batch"
        self.metrics.decision_duration.labels("decide", action).observe(time.perf_counter() - started)
        return json_response(answers if many else answers[0])

    async def _decide_alone(self, reqs: list[DecideRequest]) -> list[dict[str, Any] | Exception]:
        """Requests of different callers, decided as one batch; each answers for itself."""
        self.metrics.decide_batch_size.observe(len(reqs))
        work = decide_each(self.store, self.settings, self.models.scorer, reqs, self.experiments.assign)
        answers = await self._settling(work)
        return [
            NotFound(f"unknown account {r.account_id!r}") if a is None else a
            for r, a in zip(reqs, answers, strict=True)
        ]

    async def _settling(self, work: Awaitable[T]) -> T:
        """Run a decision's work; reservations a timed-out write may have left, which no
        caller can claim, are taken back (engine.decisions.settle)."""
        try:
            return await work
        except OutcomeUnknown as exc:
            self.settler.take_back(exc.unsettled)
            raise

    async def _decision(self, decision_id: str) -> dict[bytes, bytes]:
        """The decision's hash, or 404 (an id that is not ours, or one Redis no longer holds)."""
        try:
            meta = await self.store.decision(decision_id)
        except ValueError as exc:
            raise NotFound(str(exc)) from exc
        if not meta:
            raise NotFound(f"unknown decision {decision_id!r}")
        return meta

    async def cancel(self, request: Request) -> Response:
        decision_id = request.path_params["decision_id"]
        record = made_of(await self._decision(decision_id))
        if record is None:
            raise NotFound(f"unknown decision {decision_id!r}")
        cancel = CancelRecord(
            decision_id, record["account_id"], record["ts"], record["channel"], record["contact_point_id"]
        )
        result = await self.store.cancel(record["account_id"], decision_id, log_json(cancel))
        if result == -1:
            raise NotFound(f"unknown decision {decision_id!r}")
        if result == -2:
            raise Conflict(f"decision {decision_id!r} already has an outcome; it cannot be cancelled")
        return json_response(
            {"decision_id": decision_id, "cancelled": True, "already_cancelled": result == 0}
        )

    async def confirm(self, request: Request) -> Response:
        """A gateway, just before it sends: 200 if the decision still stands (now marked sent),
        409 naming what revoked it. `now` in the body (data clock) or the server's."""
        decision_id = request.path_params["decision_id"]
        req = await self._confirm_request(request)
        meta = await self._decision(decision_id)
        now = self.settings.clock.lock_time(epoch(req.now))
        why = await self.store.confirm(meta[b"account"].decode(), decision_id, now)
        if why == "unknown":
            raise NotFound(f"unknown decision {decision_id!r}")
        if why is not None:
            self.metrics.confirms.labels(why).inc()
            raise Conflict(
                f"decision {decision_id!r} no longer stands ({why}): do not send",
                [{"field": "decision_id", "message": why}],
            )
        self.metrics.confirms.labels("sent").inc()
        return json_response({"decision_id": decision_id, "confirmed": True})

    async def _confirm_request(self, request: Request) -> ConfirmRequest:
        """The optional body: one JSON object (`now`), or nothing."""
        body, content_type = await self._body(request)
        if not body.strip():
            return ConfirmRequest()
        return one(*decode_items(body, content_type, ConfirmRequest, self._now_check), "a confirm")

    # --- campaigns and the dialer -----------------------------------------------------------

    async def put_campaign(self, request: Request) -> Response:
        cid = request.path_params["campaign"]
        if not CAMPAIGN_ID.match(cid):
            raise Invalid(
                f"campaign id {cid!r} is not valid",
                [{"index": 0, "field": "campaign", "message": "letters, digits, '.', '_', '-'; 1-64"}],
            )
        campaign = one(*await self._decode(request, Campaign), "a campaign")
        definition = msgspec.json.encode(campaign)
        known = self.enrolments.get(cid)
        stored = await self.store.campaign_definition(cid) if known is not None else None
        if known is not None and known.error is None and stored == definition:
            # the same definition again: its enrolment (running or done) already covers it; a
            # walk of the whole portfolio per retried PUT would be work without a change
            body = {"campaign": cid, **msgspec.to_builtins(campaign), "enrolling": not known.done}
            return json_response({**body, "unchanged": True}, 200)
        await self.store.put_campaign(cid, definition)
        state = Enrolment(cid, time.time())
        self.enrolments[cid] = state
        task = asyncio.create_task(enrol(self.store, self.settings, self.models.scorer, cid, campaign, state))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return json_response({"campaign": cid, **msgspec.to_builtins(campaign), "enrolling": True}, 202)

    async def delete_campaign(self, request: Request) -> Response:
        """Leads already leased keep their leases (their outcomes still count); the queues are
        dropped now and once more a little later, after every process has seen the deletion
        and stopped re-scoring into them."""
        cid = request.path_params["campaign"]
        if not await self.store.delete_campaign(cid):
            raise NotFound(f"unknown campaign {cid!r}")
        task = asyncio.create_task(self._drop_queues_again(cid))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return json_response({"campaign": cid, "deleted": True})

    async def _drop_queues_again(self, cid: str) -> None:
        await asyncio.sleep(CAMPAIGN_SETTLE_S)
        try:
            if await self.store.campaign_definition(cid) is None:  # not created again meanwhile
                await self.store.drop_queues(cid)
        except StoreUnavailable as exc:
            log.warning("campaign %s: its queues could not be dropped again: %s", cid, exc)

    async def get_campaign(self, request: Request) -> Response:
        cid = request.path_params["campaign"]
        campaign = (await self.campaigns.refresh(self.store)).get(cid)
        if campaign is None:
            raise NotFound(f"unknown campaign {cid!r}")
        ready, held = await self.store.queue_sizes(cid)
        body = {"campaign": cid, **msgspec.to_builtins(campaign), "ready": ready, "held": held}
        return json_response({**body, "enrolment": self._enrolment(cid)})

    def _enrolment(self, cid: str) -> dict[str, Any] | None:
        """The progress of the campaign's last enrolment by this process (None: none here)."""
        state = self.enrolments.get(cid)
        if state is None:
            return None
        return {"accounts": state.accounts, "placed": state.placed, "done": state.done, "error": state.error}

    async def dialer_next(self, request: Request) -> Response:
        started = time.perf_counter()
        req = one(
            *await self._decode(request, DialerNextRequest, self._now_check),
            "dialer/next",
        )
        campaigns = await self.campaigns.refresh(self.store)
        scorer = self.models.scorer
        handout = await self._settling(next_leads(self.store, self.settings, scorer, campaigns, req))
        for wait in handout.waits:
            for rule in wait["reasons"]:
                self.metrics.policy_blocks.labels(rule).inc()
        for lead in handout.leads:
            if lead["carrier"]:
                self.metrics.carrier_selections.labels(lead["carrier"]).inc()
        action = "contact" if handout.leads else "wait"
        self.metrics.decision_duration.labels("dialer_next", action).observe(time.perf_counter() - started)
        return json_response({"leads": handout.leads})

    async def route(self, request: Request) -> Response:
        started = time.perf_counter()
        req = one(
            *await self._decode(request, RouteRequest, self._route_check),
            "route",
        )
        router = self.models.scorer.router
        try:
            answer = await route_one(self.store, self.settings, router, req)
        except Conflict:
            self.metrics.decision_duration.labels("route", "wait").observe(time.perf_counter() - started)
            raise
        if answer["carrier"] is not None:
            self.metrics.carrier_selections.labels(answer["carrier"]).inc()
        action = "contact" if answer["carrier"] else "wait"
        self.metrics.decision_duration.labels("route", action).observe(time.perf_counter() - started)
        return json_response(answer)

    def carrier_gauges(self) -> None:
        """Answer ratios and breakers of the model just loaded (labels: carrier and network),
        and its version number."""
        version = self.models.scorer.version
        self.metrics.model_version.set(int(version.rsplit("-", 1)[1]) if version[-1:].isdigit() else 0)
        self.metrics.model_published.set(self.models.published_at)
        router = self.models.scorer.router
        by_carrier: dict[str, list[float]] = {}
        for (carrier, network), asr in router.asr_table(router.clock()).items():
            self.metrics.carrier_answer_ratio.labels(carrier, network).set(asr)
            by_carrier.setdefault(carrier, []).append(asr)
        any_open: dict[str, bool] = {}
        for (carrier, network), breaker in router.breakers.items():
            self.metrics.carrier_breaker_open.labels(carrier, network).set(breaker.opened_at is not None)
            any_open[carrier] = any_open.get(carrier, False) or breaker.opened_at is not None
        for c in self.settings.carriers:
            if c.id in by_carrier:  # the mean over the networks it has evidence for
                mean = sum(by_carrier[c.id]) / len(by_carrier[c.id])
                self.metrics.carrier_answer_ratio.labels(c.id, "all").set(mean)
            self.metrics.carrier_breaker_open.labels(c.id, "all").set(any_open.get(c.id, False))

    # --- events -----------------------------------------------------------------------------

    async def events(self, request: Request) -> Response:
        body, content_type = await self._body(request)
        result = await ingest_events(
            self.store,
            self.metrics,
            self.settings.clock,
            body,
            content_type,
            limit=self.settings.server.max_batch_items,
            carriers=frozenset(c.id for c in self.settings.carriers),
        )
        return json_response(result, 202)

    async def post_clock(self, request: Request) -> Response:
        """clock = "data": a replay says how far its time has got, so every shard's clock moves
        on (attribution windows close, learning proceeds) without a record of its own."""
        req = one(*await self._decode(request, ClockRequest, self._now_check), "clock")
        if self.settings.clock.bounded:
            raise Conflict('[server] clock = "wall": the server\'s clock moves every shard; nothing to post')
        await self.store.clock(req.now.timestamp())
        return json_response({"now": iso(req.now.timestamp())}, 202)

    # --- operations -------------------------------------------------------------------------

    async def metrics_text(self, _request: Request) -> Response:
        return Response(exposition(self.metrics), media_type="text/plain; version=0.0.4")

    async def healthz(self, _request: Request) -> Response:
        return PlainTextResponse("ok")

    async def watch_readiness(self, interval_s: float = READY_PROBE_S) -> None:
        """Keep `cadencia_ready` and `cadencia_flow_backlog_seconds` current: /readyz's three
        checks (Redis, models, the dataflow's lag), two Redis round trips every `interval_s`."""
        while True:
            lag = None
            if await self.store.ping():
                with contextlib.suppress(StoreUnavailable):
                    lag = await self.store.flow_lag(int(time.time() * 1000))
            gauges = self.metrics.readiness
            if gauges is not None:
                if lag is not None:
                    gauges.flow_backlog.set(lag)
                caught_up = lag is not None and lag <= self.settings.flow.lag_limit_s
                gauges.ready.set(caught_up and self.models.loaded)
            await asyncio.sleep(interval_s)

    async def readyz(self, _request: Request) -> Response:
        checks: dict[str, Any] = {"redis": await self.store.ping(), "models": self.models.loaded}
        checks["model_version"] = self.models.scorer.version  # the one this process serves
        checks["examples_learned"] = self.models.examples_learned
        if checks["redis"]:
            lag = await self.store.flow_lag(int(time.time() * 1000))
            checks["flow_lag_s"] = round(lag, 3)
            checks["flow"] = lag <= self.settings.flow.lag_limit_s
            published = await self.store.model_version()
            checks["published_model_version"] = published.decode() if published else None
            if published and published.decode() != checks["model_version"]:
                self.models.wake.set()  # a replay waiting on readiness need not wait for the poll
            read, learned, queued, tails = await self.store.flow_progress()
            # event time: the log read up to (every shard), learned up to, and the campaign
            # queues placed up to (the shards holding campaign accounts)
            everywhere = len(read) == self.store.keys.shards
            finite = [at for at, _last in read.values() if at != math.inf]  # inf: a shard with no record
            read_at = min(finite) if everywhere and finite else None
            learned_at = float(learned.split(b"|")[0]) if learned else None
            checks["read_through"] = iso(read_at)
            checks["learned_through"] = iso(learned_at)
            checks["queued_through"] = iso(min(queued.values())) if queued else None
            # every log entry read and learned from, every campaign change placed, and this
            # process serves the newest model: what a replay waits for before its next step
            whole_log = everywhere and all(
                read[shard][1] == tail for shard, tail in enumerate(tails) if tail != "0-0"
            )
            checks["caught_up"] = bool(
                lag == 0.0
                and whole_log
                and learned_at == read_at
                and all(at >= read_at for at in queued.values())
                and checks["published_model_version"] in (None, checks["model_version"])
            )
        ok = bool(checks["redis"] and checks["models"] and checks.get("flow"))
        return json_response({"ready": ok, **checks}, 200 if ok else 503)

    async def get_model(self, request: Request) -> Response:
        version = request.path_params["version"]
        meta = await self.store.model(version)
        if not meta:
            raise NotFound(
                f"model {version!r} is not kept (unknown, or older than [flow] model_retention_days)"
            )
        data = loads_data(meta[b"data"])
        return json_response(
            {
                "version": version,
                "as_of": iso(float(meta[b"as_of"])),
                "published_at": iso(float(meta[b"published_at"])),
                "examples_learned": int(meta[b"examples_learned"]),
                "observations_learned": int(meta[b"observations_learned"]),
                "reason": meta[b"reason"].decode(),
                "late": int(meta.get(b"late", b"0")),
                "serving": version == self.models.scorer.version,
                "model": data,
            }
        )

    async def openapi_json(self, _request: Request) -> Response:
        return json_response(self.openapi)


def _recent_contacts(row: Any, settings: Settings) -> int:
    """Reserved contacts in the 8 days before the server's clock (wall mode) or before the
    account's newest contact (data mode: the account's own time), later ones included."""
    times = [ts for _member, ts in row.contacts]
    if not times:
        return 0
    ref = time.time() if settings.clock.bounded else max(times)
    return sum(1 for ts in times if ts >= ref - 8 * 86400)


def _upsert(a: Account, money: MoneySettings) -> tuple[str, bytes, AccountRecord]:
    """An uploaded account as the store writes it: its document and the dataflow's record."""
    return (
        a.account_id,
        msgspec.json.encode(a),
        AccountRecord(
            a.account_id,
            a.timezone,
            a.days_past_due,
            money.to_base(a.balance, a.currency),
            tuple(p.id for p in a.contact_points),
            {p.id: p.network for p in a.contact_points if p.network},
            a.portfolio,
            a.product,
            a.country,
            _segment(a.attributes),
            a.balance,
            tuple((p.id, p.type, p.channels) for p in a.contact_points),
            money.to_base(1.0, a.currency),
        ),
    )


def _segment(attributes: dict[str, Any]) -> str | None:
    segment = attributes.get("segment")
    return None if segment is None else str(segment)


CONSOLE = Path(__file__).with_name("console")


async def console_page(_request: Request) -> Response:
    """The console's page: static, no data in it; every call it makes carries the user's token."""
    return FileResponse(CONSOLE / "index.html", headers={"cache-control": "no-cache"})


def build_app(
    settings: Settings,
    store: RedisStore,
    metrics: Metrics,
    models: ModelHolder | None = None,
    follow_models: bool = True,
    archive: Path | None = None,
) -> Any:
    api = Api(settings, store, metrics, models, archive)
    metrics.preinitialise(tuple(c.id for c in settings.carriers), prior_mean(settings.routing))

    def ep(handler: Any, roles: tuple[str, ...], events: bool = False) -> Any:
        return endpoint(settings, metrics, roles, handler, events_endpoint=events)

    decide = ep(api.decide, DIAL)
    route = ep(api.route, DIAL)
    dialer_next = ep(api.dialer_next, DIAL)
    events = ep(api.events, GATEWAY, events=True)
    routes = [
        Route("/v1/accounts", ep(api.put_accounts, ADMIN), methods=["PUT"]),
        Route("/v1/accounts/{account_id}", ep(api.get_account, READ), methods=["GET"]),
        Route("/v1/accounts/{account_id}/timeline", ep(api.get_timeline, READ), methods=["GET"]),
        Route("/v1/decide", decide, methods=["POST"]),
        Route("/v1/decisions/{decision_id}/cancel", ep(api.cancel, DIAL), methods=["POST"]),
        Route("/v1/decisions/{decision_id}/confirm", ep(api.confirm, GATEWAY + DIAL), methods=["POST"]),
        Route("/v1/route", route, methods=["POST"]),
        Route("/v1/dialer/next", dialer_next, methods=["POST"]),
        Route(
            "/v1/campaigns/{campaign}",
            by_method(
                {
                    "PUT": ep(api.put_campaign, ADMIN),
                    "GET": ep(api.get_campaign, READ),
                    "DELETE": ep(api.delete_campaign, ADMIN),
                }
            ),
            methods=["PUT", "GET", "DELETE"],
        ),
        Route("/v1/campaigns", ep(api.list_campaigns, READ), methods=["GET"]),
        Route("/v1/experiments", ep(partial(experiments.list_experiments, api), READ), methods=["GET"]),
        Route(
            "/v1/experiments/{experiment}",
            by_method(
                {
                    "PUT": ep(partial(experiments.put_experiment, api), ADMIN),
                    "GET": ep(partial(experiments.get_experiment, api), READ),
                    "DELETE": ep(partial(experiments.delete_experiment, api), ADMIN),
                }
            ),
            methods=["PUT", "GET", "DELETE"],
        ),
        Route(
            "/v1/experiments/{experiment}/promote",
            ep(partial(experiments.promote, api), ADMIN),
            methods=["POST"],
        ),
        Route("/v1/events", events, methods=["POST"]),
        Route("/v1/clock", ep(api.post_clock, GATEWAY), methods=["POST"]),
        Route("/metrics", api.metrics_text, methods=["GET"]),
        Route("/healthz", api.healthz, methods=["GET"]),
        Route("/readyz", api.readyz, methods=["GET"]),
        Route("/v1/models", ep(api.list_models, READ), methods=["GET"]),
        Route("/v1/models/{version}", ep(api.get_model, READ), methods=["GET"]),
        Route("/v1/session", ep(api.session, READ + DIAL + GATEWAY), methods=["GET"]),
        Route("/v1/rules", ep(api.get_rules, READ), methods=["GET"]),
        Route("/v1/carriers", ep(api.get_carriers, READ), methods=["GET"]),
        Route("/v1/reports/results", ep(api.results_report, READ), methods=["GET"]),
        Route("/openapi.json", api.openapi_json, methods=["GET"]),
        Route("/console", console_page, methods=["GET"]),
        Mount("/console/static", StaticFiles(directory=CONSOLE, packages=None), name="console"),
        *webhook_routes(settings, store, metrics),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if not settings.auth_enabled:
            log.warning("no [auth.tokens] configured: authentication is OFF (local development)")
        task = asyncio.create_task(api.models.follow(store, api.carrier_gauges)) if follow_models else None
        watch = asyncio.create_task(watch_event_loop(metrics))
        readiness = asyncio.create_task(api.watch_readiness())
        following = asyncio.create_task(api.experiments.follow(store))
        # Start-up objects live forever: keep them out of the collector's full passes, which
        # otherwise pause a busy worker for tens of milliseconds (LIMITS.md).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            watch.cancel()
            readiness.cancel()
            following.cancel()
            if task:
                task.cancel()
            await store.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.api = api
    hot = {"/v1/decide": decide, "/v1/route": route, "/v1/dialer/next": dialer_next, "/v1/events": events}
    return fast_lane(app, {("POST", path): handler for path, handler in hot.items()})
