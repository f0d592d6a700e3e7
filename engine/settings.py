"""Configuration: one TOML file read once into frozen objects that are passed in.

Tests build their own `Settings` directly; nothing reads the environment after start-up
except `${ENV_VAR}` expansion here and, in the API and dataflow processes `cadencia run`
starts, `CADENCIA_CONFIG` and `CADENCIA_REDIS_URL` (`settings_from_env`).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

import msgspec

from engine.clock import MODES as CLOCK_MODES
from engine.clock import Clock
from models.carriers import RouterConfig
from models.routing import least_cost
from policy.caps import Caps
from policy.journeys import Journey, JourneyError
from policy.journeys import from_config as journeys_from_config

CHANNELS = ("voice", "ivr", "sms", "whatsapp", "email")
CARRIER_CHANNELS = ("voice", "ivr", "sms")
ROLES = ("dialer", "gateway", "admin", "reader")


# value ranges, checked when the file is read (msgspec names the key)
Positive = Annotated[int, msgspec.Meta(ge=1)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Share = Annotated[float, msgspec.Meta(ge=0, le=1)]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]


class ConfigError(ValueError):
    """The configuration file is missing something or holds a wrong value."""


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"  # a non-loopback address needs [auth.tokens] (or --insecure)
    port: Port = 8080
    public_url: str | None = None  # the URL vendors reach the webhooks at (signatures cover it)
    workers: Positive = 1  # API worker processes
    max_body_bytes: Positive = 4 * 1024 * 1024  # a larger body is 413 body_too_large
    max_batch_items: Positive = 1000  # items in one request (decide, events, accounts); beyond: 413
    # a longer batch is worked in slices of this many items, the event loop free in between
    slice_items: Positive = 8
    clock: str = "wall"  # "wall": request and event times bounded by the server's; "data": the data's
    data_dir: str = "cadencia-data"  # the embedded Redis's AOF and the dataflow's recovery store
    # wall mode: how far a request's `now` (or an event's `ts`, ahead) may stray
    max_skew_s: PositiveFloat = 300.0


@dataclass(frozen=True)
class RedisSettings:
    url: str | None = None  # None: start a private redis-server
    shards: Positive = 16  # hash-tag buckets; fixed once data is written (see connectors/keys.py)
    log_maxlen: Positive = 1_000_000  # per shard stream, approximate trimming
    # ignored since timelines moved to the archive ([flow] archive_dir); older configs set it
    timeline_maxlen: Positive = 300
    # an event id is remembered this long (event time) to count a resend as a duplicate; an
    # event older than that is refused, so every event is still applied once, ever. Two weeks
    # covers receipts and replies resent for hours and payment files posted days late; each
    # id costs ~16 bytes while it is kept
    dedup_days: PositiveFloat = 14.0
    # the longest a decision's own hash (what cancels, confirms, outcomes, routes and request_id
    # repeats look up) is kept: each lives until its attribution window closes plus 2 days;
    # its record stays on the account's timeline for retention_days
    decision_days: PositiveFloat = 10.0
    # the timelines' archive drops entries this old (the time they were accepted)
    retention_days: Positive = 400


@dataclass(frozen=True)
class MoneySettings:
    currency: str = "MXN"  # the base currency
    rates: dict[str, float] = field(default_factory=dict)  # currency -> units of the base currency

    def to_base(self, amount: float, currency: str) -> float:
        """`amount` in `currency`, expressed in the configured base currency."""
        if currency == self.currency:
            return amount
        rate = self.rates.get(currency)
        if rate is None:
            raise ConfigError(f"[money.rates] has no rate for {currency!r}")
        return amount * rate


@dataclass(frozen=True)
class CarrierSettings:
    id: str  # what events' `carrier` and route answers name
    cost_per_attempt: NonNegative = 0.0  # in the base currency
    cost_per_minute: NonNegative = 0.0
    channels: tuple[str, ...] = ("voice", "ivr", "sms")  # what it carries
    cost_per_message: NonNegative = 0.0  # an SMS
    cps: PositiveFloat | None = None  # attempts per second this carrier accepts, across all API workers


@dataclass(frozen=True)
class ChannelSettings:
    name: str
    cost: NonNegative = 0.0  # per message or attempt
    cost_per_minute: NonNegative = 0.0  # calls
    expected_minutes: NonNegative = 0.0  # expected billed minutes of an attempt (calls)

    def expected_cost(self) -> float:
        return self.cost + self.cost_per_minute * self.expected_minutes


@dataclass(frozen=True)
class TemplateSettings:
    id: str  # what decide answers and events' `template` name
    channel: str  # sms, whatsapp, email, voice or ivr
    days_past_due_min: int = 0  # offered to accounts this many days past due ...
    days_past_due_max: int = 100_000  # ... up to this many
    portfolio: str | None = None  # only this portfolio's accounts


@dataclass(frozen=True)
class DecisionSettings:
    default_horizon_hours: Annotated[int, msgspec.Meta(ge=1, le=168)] = 24  # how far ahead a decide looks
    reservation_minutes: Positive = 120  # a contact decision holds the lock this long after send_at
    lease_minutes: Positive = 15  # a dialer's lead holds the account this long unless an outcome comes
    response_window_hours: PositiveFloat = 6.0  # a response within this after send_at counts as one
    attribution_hours: Positive = 48  # a promise or payment within this after send_at counts
    payment_share: Share = 0.5  # expected share of the balance a promise or payment brings
    response_value: NonNegative = 0.0  # value of a response that brings no promise, in base currency
    # what an opt-out or a dispute costs, in payments of the account's stake (balance × payment
    # share): a contact's value is net of its learned risk (models.contact.OptoutRisk) times this
    optout_loss: NonNegative = 1.0
    seed: int = 0  # exploration is seeded by (seed, account, now): replays decide the same
    digital_failure_boost: NonNegative = 1.0  # call priority × (1 + this) after a failed digital contact
    # Monte-Carlo draws of the exploration noise for each decision's logged propensity (0: off)
    propensity_draws: Annotated[int, msgspec.Meta(ge=0, le=1024)] = 16


@dataclass(frozen=True)
class FlowSettings:
    half_life_days: PositiveFloat = 14.0  # the features' decay: a contact's weight halves this often
    # a model is published when the learning frontier crosses a multiple of this much event
    # time (and at once when a carrier's breaker opens or closes)
    publish_interval_s: PositiveFloat = 60.0
    lag_limit_s: PositiveFloat = 5.0  # /readyz fails when the dataflow is further behind than this
    epoch_interval_s: PositiveFloat = 1.0  # bytewax snapshot cadence; learning waits up to one epoch
    state_dir: str | None = None  # bytewax recovery store; default: <[server] data_dir>/flow
    # the timelines' archive (connectors/archive.py), written by the dataflow and read by the
    # API: both must see it; default: <[server] data_dir>/archive
    archive_dir: str | None = None
    source_partitions: Positive = 1  # groups of shards read together; = shards on Redis Cluster
    # after a read that drains the log, records gather this long
    poll_linger_ms: Annotated[float, msgspec.Meta(ge=0, le=1000)] = 5.0
    # an attribution window closes this long (event time) after its deadline: an outcome
    # reported up to this late still counts in it
    allowed_lateness_s: NonNegative = 300.0
    # how long (event time) the learner waits for out-of-order outcomes before it learns in
    # event-time order; a carrier's breaker reacts this much (plus an epoch) after the failures
    reorder_s: NonNegative = 2.0
    model_retention_days: PositiveFloat = 30.0  # every published model version is kept this long
    # a day of the results report (GET /v1/reports/results) is kept this long after its last change
    results_retention_days: PositiveFloat = 400.0


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    money: MoneySettings = field(default_factory=MoneySettings)
    carriers: tuple[CarrierSettings, ...] = ()
    channels: dict[str, ChannelSettings] = field(default_factory=dict)
    templates: tuple[TemplateSettings, ...] = ()
    decisions: DecisionSettings = field(default_factory=DecisionSettings)
    flow: FlowSettings = field(default_factory=FlowSettings)
    policy: dict[str, Any] = field(default_factory=dict)
    routing: RouterConfig = field(default_factory=RouterConfig)
    journeys: tuple[Journey, ...] = ()
    webhooks: dict[str, dict[str, str]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # bearer token -> role

    @cached_property
    def clock(self) -> Clock:
        return Clock(self.server.clock, float(self.server.max_skew_s))

    @property
    def auth_enabled(self) -> bool:
        return bool(self.tokens)

    @cached_property
    def dispute_hold_s(self) -> float | None:
        """`[policy.dispute] hold_days`: how long a dispute holds contact; None: until resolved."""
        days = self.policy.get("dispute", {}).get("hold_days")
        return None if days is None else float(days) * 86400

    @cached_property
    def caps(self) -> Caps:
        """The operation's own frequency caps, `[policy.caps]`."""
        return Caps.from_config(self.policy.get("caps"))

    @cached_property
    def contact_costs(self) -> dict[str, tuple[float, str | None]]:
        """Per channel: the expected cost of one contact (channel + carrier) and the carrier."""
        out: dict[str, tuple[float, str | None]] = {}
        for channel in CHANNELS:
            spec = self.channels.get(channel)
            minutes = spec.expected_minutes if spec else 0.0
            carrier, carrier_cost = None, 0.0
            if channel in CARRIER_CHANNELS:
                carrier, carrier_cost, _alternates = least_cost(self.carriers, channel, minutes)
            out[channel] = ((spec.expected_cost() if spec else 0.0) + carrier_cost, carrier)
        return out


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(value: str, where: str) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in os.environ:
            raise ConfigError(f"{where} refers to ${{{name}}}, which is not set")
        return os.environ[name]

    return _ENV.sub(sub, value)


def _build(cls: type, raw: dict[str, Any], where: str) -> Any:
    names = set(cls.__dataclass_fields__)
    unknown = set(raw) - names
    if unknown:
        raise ConfigError(f"[{where}] has unknown keys: {', '.join(sorted(unknown))}")
    try:
        # typed: "4mb" for a byte count, or -5 minutes, fails here naming the key
        return msgspec.convert(raw, type=cls)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"[{where}] {_validation_message(exc)}") from exc


def _validation_message(exc: msgspec.ValidationError) -> str:
    """msgspec's 'Expected `int`, got `str` - at `$.port`' as 'port: expected `int`, got `str`'."""
    text = str(exc)
    m = re.match(r"(?P<msg>.*) - at `\$\.?(?P<path>[^`]*)`$", text)
    if not m:
        return text
    msg = m.group("msg")
    return f"{m.group('path')}: {msg[0].lower()}{msg[1:]}" if m.group("path") else msg


DEFAULT_CONFIG = os.path.join(os.path.dirname(__file__), "demo.toml")  # the embedded default


def settings_from_env() -> tuple[Settings, str]:
    """What a child process of `cadencia run` is told: the config file and the Redis URL."""
    settings = load(os.environ.get("CADENCIA_CONFIG") or DEFAULT_CONFIG)
    url = os.environ.get("CADENCIA_REDIS_URL") or settings.redis.url
    if not url:
        raise RuntimeError("set CADENCIA_REDIS_URL or [redis] url (cadencia run does this for you)")
    return settings, url


def archive_dir(settings: Settings) -> Path:
    """Where the timelines' archive is: `CADENCIA_ARCHIVE_DIR` (cadencia run sets it), else
    [flow] archive_dir, else <[server] data_dir>/archive."""
    explicit = os.environ.get("CADENCIA_ARCHIVE_DIR") or settings.flow.archive_dir
    return Path(explicit) if explicit else Path(settings.server.data_dir) / "archive"


def load(path: str | Path) -> Settings:
    try:
        raw = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    return from_dict(raw)


def from_dict(raw: dict[str, Any]) -> Settings:
    raw = dict(raw)
    channels = {}
    for name, spec in raw.pop("channels", {}).items():
        if name not in CHANNELS:
            raise ConfigError(f"[channels.{name}]: unknown channel; use one of {CHANNELS}")
        channels[name] = _build(ChannelSettings, {"name": name, **spec}, f"channels.{name}")
    carriers = tuple(
        _build(
            CarrierSettings, {**c, "channels": tuple(c.get("channels", ("voice", "ivr", "sms")))}, "carriers"
        )
        for c in raw.pop("carriers", [])
    )
    templates = tuple(_build(TemplateSettings, t, "templates") for t in raw.pop("templates", []))
    for t in templates:
        if t.channel not in CHANNELS:
            raise ConfigError(f"template {t.id!r}: unknown channel {t.channel!r}")
    try:
        journeys = journeys_from_config(raw.pop("journeys", []), {t.id for t in templates})
    except JourneyError as exc:
        raise ConfigError(str(exc)) from exc
    money = raw.pop("money", {})
    for currency, rate in dict(money.get("rates", {})).items():
        if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 < rate <= 1e6:
            raise ConfigError(f"[money.rates] {currency}: expected a number > 0 and <= 1e6, got {rate!r}")
    auth = raw.pop("auth", {})
    tokens = {}
    for token, role in auth.get("tokens", {}).items():
        token, role = _expand(token, "[auth.tokens]"), _expand(role, "[auth.tokens]")
        if role not in ROLES:
            raise ConfigError(f"[auth.tokens]: unknown role {role!r}; use one of {ROLES}")
        tokens[token] = role
    webhooks = {
        vendor: {k: _expand(str(v), f"[webhooks.{vendor}]") for k, v in spec.items()}
        for vendor, spec in raw.pop("webhooks", {}).items()
    }
    settings = Settings(
        server=_build(ServerSettings, raw.pop("server", {}), "server"),
        redis=_build(RedisSettings, raw.pop("redis", {}), "redis"),
        money=MoneySettings(currency=money.get("currency", "MXN"), rates=dict(money.get("rates", {}))),
        carriers=carriers,
        channels=channels,
        templates=templates,
        decisions=_build(DecisionSettings, raw.pop("decisions", {}), "decisions"),
        flow=_build(FlowSettings, raw.pop("flow", {}), "flow"),
        policy=raw.pop("policy", {}),
        routing=_build(RouterConfig, raw.pop("routing", {}), "routing"),
        journeys=journeys,
        webhooks=webhooks,
        tokens=tokens,
    )
    if raw:
        raise ConfigError(f"unknown sections: {', '.join(sorted(raw))}")
    try:
        settings.caps  # noqa: B018 - built now so that a bad key fails at load, not at a decision
    except TypeError as exc:
        raise ConfigError(f"[policy.caps]: {exc}") from exc
    dispute = settings.policy.get("dispute", {})
    if set(dispute) - {"hold_days"} or not isinstance(dispute.get("hold_days", 0), int | float):
        raise ConfigError("[policy.dispute] takes one key, hold_days (a number of days)")
    d = settings.decisions
    if not 0 < d.response_window_hours <= d.attribution_hours:
        raise ConfigError("[decisions] response_window_hours must be > 0 and <= attribution_hours")
    if settings.redis.decision_days * 24 < d.attribution_hours + 168:
        raise ConfigError(
            "[redis] decision_days must cover the longest horizon (168 h) plus [decisions] attribution_hours"
        )
    if settings.server.clock not in CLOCK_MODES:
        raise ConfigError(f"[server] clock must be one of {', '.join(CLOCK_MODES)}")
    return settings
