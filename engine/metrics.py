"""The Prometheus series of the contract, built once per process on a registry passed in.

With several API workers and the dataflow in other processes, `PROMETHEUS_MULTIPROC_DIR`
is set by the supervisor before any of them start, and `/metrics` aggregates the files.
"""

from __future__ import annotations

import asyncio
import os
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from features.records import EVENT_TYPES

# Sub-millisecond resolution; 0.003 s is the decide SLO (p99 <= 3 ms), 0.25 s the flow lag SLO.
DECISION_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.00075,
    0.001,
    0.0015,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
)
# how late the event loop runs a timer: the longest one step of work held it (goal: ~5 ms)
LOOP_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
LOOP_PROBE_S = 0.05
READY_PROBE_S = 5.0
SLICE_KINDS = ("validate", "decide", "events", "accounts")
CONFIRM_RESULTS = (
    "sent", "promise", "payment", "optout", "dispute", "direct_contact", "cancelled", "expired", "released",
)
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
ENDPOINTS = ("decide", "dialer_next", "route")
ACTIONS = ("contact", "wait")
REJECT_REASONS = (
    "invalid",
    "invalid_json",
    "unknown_account",
    "too_large",
    "unauthorized",
    "unmatched",
    "bad_signature",
    "unavailable",
    "clock_skew",
    "too_many_items",
    "stale",
)
# the error codes of engine/errors.py (and webhooks' bad_signature) a request can be refused with
REQUEST_ERRORS = (
    "invalid_json",
    "validation_failed",
    "unauthorized",
    "bad_signature",
    "forbidden",
    "not_found",
    "conflict",
    "body_too_large",
    "too_many_items",
    "unsupported_media_type",
    "unavailable",
    "outcome_unknown",
)
SOURCES = ("api", "twilio", "whatsapp", "sendgrid", "infobip", "vonage", "smpp")  # vendor webhooks
BASE_RULES = (
    "paid",
    "dispute",
    "promise_pending",
    "optout_all",
    "contact_locked",
    "quiet_hours",
    "no_channel",
    "no_positive_value",
    "clock_behind_history",
    "optout_sms",
    "optout_whatsapp",
    "optout_email",
    "optout_voice",
    "optout_ivr",
)


class Readiness:
    """The readiness probe's view as series (alerts need a series, not a status code), kept
    current by the API's watch_readiness; livemin/livemax: a dead worker's value does not linger."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.ready = Gauge(
            "cadencia_ready",
            f"1 while the process would answer /readyz with 200 (checked every {READY_PROBE_S:g} s).",
            registry=registry,
            multiprocess_mode="livemin",
        )
        self.flow_backlog = Gauge(
            "cadencia_flow_backlog_seconds",
            "Age of the oldest accepted event the dataflow has not applied yet (0 when caught up).",
            registry=registry,
            multiprocess_mode="livemax",
        )


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None, serving: bool = True) -> None:
        """`serving`: the metrics of an API process (False in the dataflow's)."""
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.decision_duration = Histogram(
            "cadencia_decision_duration_seconds",
            "Time to answer a decision request.",
            ["endpoint", "action"],
            buckets=DECISION_BUCKETS,
            registry=r,
        )
        self.decide_batch_size = Histogram(
            "cadencia_decide_batch_size",
            "Single decide requests decided together (those that reached the process in one turn).",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=r,
        )
        self.events = Counter(
            "cadencia_events_total", "Events accepted (duplicates included).", ["type", "source"], registry=r
        )
        self.rejected = Counter(
            "cadencia_events_rejected_total", "Events refused, by reason.", ["reason"], registry=r
        )
        self.flow_lag = Histogram(
            "cadencia_flow_lag_seconds",
            "From an event's acceptance to its features being updated.",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.model_updates = Counter(
            "cadencia_model_updates_total", "Examples learned, by model.", ["model"], registry=r
        )
        self.policy_blocks = Counter(
            "cadencia_policy_blocks_total", "Contacts held back, by rule.", ["rule"], registry=r
        )
        self.carrier_selections = Counter(
            "cadencia_carrier_selections_total",
            "Carriers chosen for calls and messages.",
            ["carrier"],
            registry=r,
        )
        self.requests_rejected = Counter(
            "cadencia_requests_rejected_total",
            "Requests answered with a 4xx, by error code.",
            ["code"],
            registry=r,
        )
        self.carrier_answer_ratio = Gauge(
            "cadencia_carrier_answer_ratio",
            "Learned answer-seizure ratio per carrier and destination network (posterior mean).",
            ["carrier", "network"],
            registry=r,
            multiprocess_mode="max",
        )
        self.carrier_breaker_open = Gauge(
            "cadencia_carrier_breaker_open",
            "1 while a carrier's circuit breaker for a destination network is open.",
            ["carrier", "network"],
            registry=r,
            multiprocess_mode="max",
        )
        self.event_loop_lag = Histogram(
            "cadencia_event_loop_lag_seconds",
            f"How late the API's event loop runs a timer set every {LOOP_PROBE_S:g} s: the longest "
            "a step of work held the loop.",
            buckets=LOOP_BUCKETS,
            registry=r,
        )
        self.batch_slice_cpu = Histogram(
            "cadencia_batch_slice_cpu_seconds",
            "CPU the API spent on one slice of a long batch (or on validating a whole body) "
            "before letting other requests through.",
            ["kind"],
            buckets=LOOP_BUCKETS,
            registry=r,
        )
        self.confirms = Counter(
            "cadencia_confirms_total",
            "Decisions confirmed by a gateway before sending (sent) or refused, by what revoked them.",
            ["result"],
            registry=r,
        )
        # the labelled children, made once: the validate one is observed on every request
        self.slice_cpu = {kind: self.batch_slice_cpu.labels(kind) for kind in SLICE_KINDS}
        self.model_version = Gauge(
            "cadencia_model_version", "Published model version in use.", registry=r, multiprocess_mode="max"
        )
        self.model_published = Gauge(
            "cadencia_model_published_timestamp_seconds",
            "When (wall clock, Unix seconds) the model version in use was published; 0 before the first.",
            registry=r,
            multiprocess_mode="max",
        )
        # the API processes' readiness; not in the dataflow's process, whose 0 would pull the
        # multiprocess minimum down
        self.readiness = Readiness(r) if serving else None

    def preinitialise(self, carriers: tuple[str, ...] = (), prior_asr: float = 0.0) -> None:
        for endpoint in ENDPOINTS:
            for action in ACTIONS:
                self.decision_duration.labels(endpoint, action)
        for t in EVENT_TYPES:
            for s in SOURCES:
                self.events.labels(t, s)
        for reason in REJECT_REASONS:
            self.rejected.labels(reason)
        for code in REQUEST_ERRORS:
            self.requests_rejected.labels(code)
        for result in CONFIRM_RESULTS:
            self.confirms.labels(result)
        for head in ("response", "pay", "templates", "carriers"):
            self.model_updates.labels(head)
        for rule in BASE_RULES:
            self.policy_blocks.labels(rule)
        for carrier in carriers:
            self.carrier_selections.labels(carrier)
            # network "all": the carrier over every network (set from each model loaded)
            self.carrier_answer_ratio.labels(carrier, "all").set(prior_asr)
            self.carrier_breaker_open.labels(carrier, "all").set(0)
        self.model_version.set(0)
        self.model_published.set(0)


async def watch_event_loop(metrics: Metrics, interval_s: float = LOOP_PROBE_S) -> None:
    """Observe, every `interval_s`, how much later than asked the loop woke this task."""
    while True:
        asked = time.perf_counter() + interval_s
        await asyncio.sleep(interval_s)
        metrics.event_loop_lag.observe(max(0.0, time.perf_counter() - asked))


def exposition(metrics: Metrics) -> bytes:
    """The text to serve at /metrics: every process's values in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(metrics.registry)
