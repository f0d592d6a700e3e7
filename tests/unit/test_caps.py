"""The frequency rules of policy/caps.py and the holiday calendar, each at its edges."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from features.account import zone
from policy.caps import Caps, History, Reserved, cap_block, parse_contacts
from policy.windows import COUNTRY_WINDOWS, is_holiday, next_window_start, permitted_hour_starts

NY, BOG, SCL = "America/New_York", "America/Bogota", "America/Santiago"
NONE = Caps()


def at(text: str, tz: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=zone(tz)).timestamp()


def calls(tz: str, *days: str, channel: str = "voice") -> tuple[Reserved, ...]:
    return tuple(Reserved(at(f"{d} 10:00", tz), channel, "m1") for d in days)


def rule(block):
    return None if block is None else block.rule


# --- US, Regulation F ---------------------------------------------------------------------------

SIX = ("2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05", "2026-03-06", "2026-03-07")


def test_us_the_seventh_call_in_seven_days_is_allowed_the_eighth_is_not():
    history = History(calls(NY, *SIX))
    assert cap_block("US", NONE, history, "voice", "m1", at("2026-03-08 10:00", NY), NY) is None
    history = History(calls(NY, *SIX, "2026-03-08"))
    block = cap_block("US", NONE, history, "ivr", "m1", at("2026-03-08 18:00", NY), NY)
    assert rule(block) == "us_calls_7_in_7" and block.until == at("2026-03-09 00:00", NY)
    # on the day the oldest call leaves the 7 days, the next is allowed; digital is never counted
    assert cap_block("US", NONE, history, "voice", "m1", at("2026-03-09 08:00", NY), NY) is None
    assert cap_block("US", NONE, history, "sms", "m1", at("2026-03-08 18:00", NY), NY) is None


@pytest.mark.parametrize(
    ("day", "blocked"), [("2026-03-02", True), ("2026-03-08", True), ("2026-03-09", False)]
)
def test_us_no_call_for_seven_days_after_a_conversation(day, blocked):
    history = History(conversation_at=at("2026-03-02 11:00", NY))  # day 1 is the conversation's day
    block = cap_block("US", NONE, history, "voice", "m1", at(f"{day} 12:00", NY), NY)
    assert rule(block) == ("us_after_conversation" if blocked else None)
    if blocked:
        assert block.until == at("2026-03-09 00:00", NY)
    assert cap_block("US", NONE, history, "email", "e1", at(f"{day} 09:00", NY), NY) is None


# --- CO, Ley 2300 -------------------------------------------------------------------------------


def test_co_one_contact_a_day():
    history = History(calls(BOG, "2026-03-03", channel="sms"))
    block = cap_block("CO", NONE, history, "email", "e1", at("2026-03-03 18:00", BOG), BOG)
    assert rule(block) == "co_one_a_day" and block.until == at("2026-03-04 00:00", BOG)
    assert cap_block("CO", NONE, history, "email", "e1", at("2026-03-04 07:00", BOG), BOG) is None


def test_co_after_a_direct_contact_no_other_channel_that_week():
    history = History(direct_at=at("2026-03-03 10:00", BOG), direct_channel="whatsapp")  # a Tuesday
    block = cap_block("CO", NONE, history, "sms", "m1", at("2026-03-05 10:00", BOG), BOG)
    assert rule(block) == "co_direct_contact_week" and block.until == at("2026-03-09 00:00", BOG)
    assert cap_block("CO", NONE, history, "whatsapp", "m1", at("2026-03-05 10:00", BOG), BOG) is None
    assert cap_block("CO", NONE, history, "sms", "m1", at("2026-03-09 10:00", BOG), BOG) is None


# --- CL, Ley 21.320 -----------------------------------------------------------------------------


def test_cl_one_call_a_week():
    history = History(calls(SCL, "2026-03-02"))  # Monday
    assert (
        rule(cap_block("CL", NONE, history, "voice", "m1", at("2026-03-07 10:00", SCL), SCL))
        == "cl_call_week"
    )
    assert cap_block("CL", NONE, history, "voice", "m1", at("2026-03-09 10:00", SCL), SCL) is None


def test_cl_two_digital_a_week_two_days_apart():
    one = History(calls(SCL, "2026-03-02", channel="sms"))
    block = cap_block("CL", NONE, one, "email", "e1", at("2026-03-03 10:00", SCL), SCL)
    assert rule(block) == "cl_digital_spacing" and block.until == at("2026-03-04 10:00", SCL)
    assert cap_block("CL", NONE, one, "email", "e1", at("2026-03-04 10:00", SCL), SCL) is None
    two = History(calls(SCL, "2026-03-02", "2026-03-04", channel="sms"))
    assert (
        rule(cap_block("CL", NONE, two, "whatsapp", "m1", at("2026-03-06 10:00", SCL), SCL))
        == "cl_digital_week"
    )
    assert cap_block("CL", NONE, two, "whatsapp", "m1", at("2026-03-09 10:00", SCL), SCL) is None


# --- the operation's own caps -------------------------------------------------------------------


def test_operation_caps():
    caps = Caps(contacts_per_day=2, contacts_per_week=3, attempts_per_number_per_day=1)
    history = History(calls(NY, "2026-03-02"))
    t = at("2026-03-02 15:00", NY)
    assert rule(cap_block("MX", caps, history, "voice", "m1", t, NY)) == "cap_number_day"
    assert cap_block("MX", caps, history, "voice", "h1", t, NY) is None
    two = History((*calls(NY, "2026-03-02"), Reserved(at("2026-03-02 12:00", NY), "sms", "m2")))
    assert rule(cap_block("MX", caps, two, "email", "e1", t, NY)) == "cap_day"
    three = History(calls(NY, "2026-03-01", "2026-03-03", "2026-03-05"))
    block = cap_block("MX", caps, three, "email", "e1", at("2026-03-06 15:00", NY), NY)
    # 168 hours after the oldest of the three (the clocks went forward on 8 March)
    assert rule(block) == "cap_week" and block.until == at("2026-03-08 11:00", NY)
    assert cap_block("MX", NONE, three, "email", "e1", at("2026-03-06 15:00", NY), NY) is None


def test_a_countrys_own_caps_replace_the_operations_for_its_accounts():
    caps = Caps.from_config({"contacts_per_day": 3, "PE": {"contacts_per_day": 1}})
    one = History(calls(NY, "2026-03-02"))
    t = at("2026-03-02 15:00", NY)
    assert rule(cap_block("PE", caps, one, "email", "e1", t, NY)) == "cap_day"
    assert cap_block("MX", caps, one, "email", "e1", t, NY) is None
    # and no table loosens the law: the US rules hold whatever the caps say
    seven = History(calls(NY, *(f"2026-03-0{d}" for d in range(2, 9))))
    loose = Caps.from_config({"US": {"contacts_per_day": 0}})
    assert (
        rule(cap_block("US", loose, seven, "voice", "m1", at("2026-03-08 15:00", NY), NY))
        == "us_calls_7_in_7"
    )


def test_contacts_parse_from_the_reservation_set():
    assert parse_contacts([(b"d-001-aa|voice|m1", 12.0)]) == (Reserved(12.0, "voice", "m1"),)


# --- holidays -----------------------------------------------------------------------------------


def test_holidays_ban_contact_only_where_the_law_says():
    assert is_holiday("CO", date(2026, 3, 23))  # San José, observed
    assert not is_holiday("CO", date(2026, 3, 24))
    assert is_holiday("PE", date(2026, 7, 28))  # Fiestas Patrias
    assert not is_holiday("MX", date(2026, 9, 16))  # a holiday, but no ban in MX's rules
    assert not is_holiday("US", date(2026, 7, 4))


def test_no_slot_on_a_colombian_holiday_and_the_next_window_skips_it():
    monday = at("2026-03-23 09:00", BOG)
    assert permitted_hour_starts(monday, BOG, 12, COUNTRY_WINDOWS["CO"], "CO") == []
    assert next_window_start(monday, BOG, COUNTRY_WINDOWS["CO"], country="CO") == at("2026-03-24 07:00", BOG)
    assert permitted_hour_starts(monday, BOG, 12, COUNTRY_WINDOWS["CO"], "MX") != []
