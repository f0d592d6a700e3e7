"""Per account: the features and the attribution windows, a pure step on each record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.store.log import FeatureWrite, LogItem
from engine.settings import Settings
from features import account as features
from features.pickling import fast_pickling
from features.records import AccountRecord, CancelRecord, ClockRecord, DecisionRecord, Event
from models import attribution, carriers, results
from models.attribution import Example
from models.eventtime import learn_at_example
from models.learner import Lesson
from policy.base import DIGITAL_CHANNELS


@dataclass(frozen=True, slots=True)
class AccountState:
    features: features.AccountFeatures
    attribution: attribution.Attribution
    networks: dict[str, str]  # contact point -> destination network, for carrier learning
    digital_failed_at: float | None = None  # a digital contact failed; no call since
    account: AccountRecord | None = None  # the latest upload
    arm: str | None = None  # the experiment arm of its latest decision (the results report)

    def __deepcopy__(self, memo: dict[int, Any]) -> AccountState:
        return self  # immutable all the way down: Bytewax's snapshot copy is not needed


def account_step(settings: Settings):
    half_life_s = settings.flow.half_life_days * 86400
    routing = settings.routing
    lateness, reorder = settings.flow.allowed_lateness_s, settings.flow.reorder_s

    def step(state: AccountState | None, item: LogItem):
        if isinstance(item.record, ClockRecord):  # no account's: only its log position counts
            return None, (FeatureWrite("", item.shard, item.entry_id, item.accepted_at, False, None), [], [])
        if state is None:
            state = AccountState(features.AccountFeatures(), attribution.Attribution(), {})
        record = item.record
        feats = features.update(state.features, record, half_life_s)
        for lease in attribution.lapsing(state.attribution, record):  # never dialled: no attempt
            feats = features.update(feats, unused(lease), half_life_s)
        attr, examples = attribution.step(state.attribution, record)
        upload = isinstance(record, AccountRecord)
        account = record if upload else state.account
        networks = record.networks if upload else state.networks
        arm = record.arm if isinstance(record, DecisionRecord) else state.arm
        report = results.contributions(state.attribution, attr, record, account, feats.timezone, arm)
        failed_at = digital_failure(state.digital_failed_at, record, examples)
        lessons = [Lesson.of_example(e, learn_at_example(e.closes_at, lateness, reorder)) for e in examples]
        if isinstance(record, Event) and record.carrier is not None:
            o = carriers.observation(
                record.channel,
                record.status,
                record.carrier,
                networks.get(record.contact_point_id or ""),
                features.local_hour(record.ts, feats.timezone),
                record.ts,
                record.sip_code,
                routing,
                record.error_code,
                record.event_id,
            )
            if o is not None:
                lessons.append(Lesson.of_observation(o))
        write = FeatureWrite(
            record.account_id,
            item.shard,
            item.entry_id,
            item.accepted_at,
            isinstance(record, Event),
            feats if feats is not state.features else None,
            failed_at is not None,
            account,
            upload,
            getattr(record, "ts", None),
            feats,
        )
        return AccountState(feats, attr, networks, failed_at, account, arm), (write, lessons, report)

    return step


def unused(lease: DecisionRecord) -> CancelRecord:
    return CancelRecord(lease.decision_id, lease.account_id, lease.ts, lease.channel, lease.contact_point_id)


def digital_failure(failed_at: float | None, record: Any, examples: list[Example]) -> float | None:
    """When the account's last digital contact failed (undelivered, no response by the end
    of its window, a response that brought no promise), until a call follows it."""
    if isinstance(record, DecisionRecord) and record.channel in ("voice", "ivr"):
        return None
    if isinstance(record, Event) and record.type == "message" and record.status in ("failed", "undelivered"):
        return record.ts
    for e in examples:
        if not e.y and e.channel in DIGITAL_CHANNELS:
            return record.ts
    return failed_at


fast_pickling(AccountState)
