"""Journeys: the example file loads, every journey in it is reachable (none shadowed by an
earlier one), and a journey constrains channels, templates and weekly contacts."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.settings import ConfigError, from_dict, load
from policy.base import Block
from policy.journeys import Facts, Journey, allowed_channels, allowed_templates, journey_block, select

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_772_463_600.0
DAY = 86400.0


@pytest.fixture(scope="module")
def journeys():
    return load(ROOT / "examples/journeys.toml").journeys  # a config that loads as is


def facts(dpd=20, balance=2000.0, segment=None, status=None, intent=None, intent_age_days=1.0):
    attributes = {k: v for k, v in (("segment", segment), ("status", status)) if v is not None}
    intent_at = None if intent is None else NOW - intent_age_days * DAY
    return Facts("cards", "credit_card", "MX", dpd, balance, attributes, intent, intent_at)


CASES = [
    (facts(intent="hardship"), "hardship_to_agent"),
    (facts(intent="callback"), "callback_requested"),
    (facts(intent="written_only", intent_age_days=30), "prefers_written"),
    (facts(status="deceased", intent="hardship"), "deceased"),  # the first match applies
    (facts(status="deceased"), "deceased"),
    (facts(status="bankruptcy"), "bankruptcy"),
    (facts(status="legal"), "legal_hold"),
    (facts(dpd=10, segment="self_cure"), "self_cure"),
    (facts(balance=150.0), "small_balance_digital"),
    (facts(segment="premium", dpd=45), "vip_agent_only"),
    (facts(dpd=3), "early_digital_only"),
    (facts(dpd=20), "early_bot_then_call"),
    (facts(dpd=20, balance=9000.0), "early_high_balance"),
    (facts(dpd=45), "mid_soft"),
    (facts(dpd=75), "late_firm"),
    (facts(dpd=120), "prewriteoff_settlement"),
    (facts(dpd=400), "recovery_letters"),
    (facts(intent="hardship", intent_age_days=20, dpd=45), "mid_soft"),  # an old intent lapses
]


@pytest.mark.parametrize(("f", "expected"), CASES)
def test_each_example_journey_is_reachable(journeys, f, expected):
    assert select(journeys, f, NOW).id == expected


def test_the_examples_are_at_least_fifteen_and_all_reached(journeys):
    assert len(journeys) >= 15
    assert {j.id for j in journeys} <= {expected for _f, expected in CASES}


def test_no_journey_matches_means_no_constraint():
    assert select((Journey("only_mx", country="MX"),), facts(), NOW).id == "only_mx"
    other = Facts("cards", "loan", "CO", 10, 100.0, {})
    assert select((Journey("only_mx", country="MX"),), other, NOW) is None
    assert allowed_channels(None, ("sms", "voice")) == ("sms", "voice")
    assert allowed_templates(None, ["a", "b"]) == ["a", "b"]


def test_channels_and_templates_are_narrowed():
    j = Journey("j", channels=("sms", "email"), templates=("t2",))
    assert allowed_channels(j, ("voice", "sms", "whatsapp", "email")) == ("sms", "email")
    assert allowed_templates(j, ["t1", "t2"]) == ["t2"]


def test_weekly_contacts_and_stop():
    j = Journey("j", contacts_per_week=2)
    assert journey_block(j, [NOW - 8 * DAY, NOW - DAY], NOW) is None
    assert journey_block(j, [NOW - 3 * DAY, NOW - DAY], NOW) == Block(
        "journey_week:j", NOW - 3 * DAY + 7 * DAY
    )
    assert journey_block(Journey("gone", stop=True), [], NOW) == Block("journey_stop:gone")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"id": "x", "chanels": ["sms"]}, "unknown keys chanels"),
        ({"id": "x", "channels": ["fax"]}, "unknown channels fax"),
        ({"id": "x", "templates": ["nope"]}, "templates not in"),
        ({"channels": ["sms"]}, "needs a unique id"),
    ],
)
def test_bad_journeys_fail_at_load(entry, message):
    with pytest.raises(ConfigError, match=message):
        from_dict({"journeys": [entry]})
