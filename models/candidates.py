"""The inputs a contact model sees for one candidate (channel, contact point, local hour).

The vector splits into a part that depends on (channel, contact point) and a part that
depends on (channel, hour), with disjoint keys, plus one input that depends on (contact point,
hour): how the number answers at that hour (`pt_rpc_hour`). A linear model's logit is then
`base(c, p) + hourly(c, h) + w * lift(p, h)`, which is how the API scores every hour of every
pair cheaply.
"""

from __future__ import annotations

import functools
import math

from features.account import (
    ATTEMPTS,
    BAND_HOURS,
    CP_ATTEMPTS,
    CP_FAILS,
    CP_RIGHT_PARTY,
    PAYS,
    RESPONSES,
    FeatureView,
    point_band,
)

BAND_PRIOR_CALLS = 2.0  # a number's rate in an hour band is shrunk toward its usual one by this many calls

DPD_BUCKETS = ((30, "1_30"), (60, "31_60"), (90, "61_90"), (180, "91_180"))


def dpd_bucket(days_past_due: int) -> str:
    if days_past_due <= 0:
        return "current"
    for top, name in DPD_BUCKETS:
        if days_past_due <= top:
            return name
    return "chargeoff"


@functools.cache
def onehot_keys(channel: str, bucket: str, point_type: str) -> tuple[str, ...]:
    """The indicator inputs of a (channel, DPD bucket, contact-point type): each is 1.0."""
    return (f"ch={channel}", f"dpd={bucket}", f"ch={channel}|dpd={bucket}", f"pt={point_type}")


def numeric_x(view: FeatureView, channel: str, point_id: str, balance: float) -> dict[str, float]:
    """The debtor's own history on this channel and contact point."""
    return channel_x(view, channel) | point_x(view, point_id) | account_x(view, balance)


# numeric_x in three parts, by what each depends on: a decision scores every channel on every
# contact point, and computes each part once.


def channel_x(view: FeatureView, channel: str) -> dict[str, float]:
    ch = view.channel(channel)
    att = ch[ATTEMPTS]
    return {
        "acct_resp": (ch[RESPONSES] + 0.5) / (att + 5.0) - 0.1,
        "acct_pay": (ch[PAYS] + 0.1) / (att + 5.0) - 0.02,
    }


def point_x(view: FeatureView, point_id: str) -> dict[str, float]:
    pt = view.point(point_id)
    return {
        "pt_rpc": (pt[CP_RIGHT_PARTY] + 0.5) / (pt[CP_ATTEMPTS] + 3.0) - 0.17,
        "pt_fail": pt[CP_FAILS] / (pt[CP_ATTEMPTS] + 1.0),
    }


def point_hour_lift(view: FeatureView, point_id: str, hour: int) -> float:
    """How much better (or worse) the number reaches the right person in this hour's band than
    at its usual hours: the band's right-party rate, shrunk toward the number's own, minus it.
    0 when the number has no calls in the band."""
    band = view.point_bands.get(point_band(point_id, hour))
    return 0.0 if band is None else _band_lift(band, _usual_rpc(view, point_id))


def point_hour_lifts(view: FeatureView, point_id: str) -> tuple[float, ...] | None:
    """`point_hour_lift` for each of the 24 local hours, computed once per band; None when the
    number has no call history by hour (most numbers: then the term is zero and costs nothing)."""
    prefix = f"{point_id}|"
    if not any(key.startswith(prefix) for key in view.point_bands):
        return None
    usual = _usual_rpc(view, point_id)
    bands = [view.point_bands.get(point_band(point_id, h)) for h in range(0, 24, BAND_HOURS)]
    lifts = [0.0 if band is None else _band_lift(band, usual) for band in bands]
    return tuple(lifts[hour // BAND_HOURS] for hour in range(24))


def _usual_rpc(view: FeatureView, point_id: str) -> float:
    pt = view.point(point_id)
    return (pt[CP_RIGHT_PARTY] + 0.5) / (pt[CP_ATTEMPTS] + 3.0)


def _band_lift(band: tuple[float, float], usual: float) -> float:
    calls, right_party = band
    return (right_party + BAND_PRIOR_CALLS * usual) / (calls + BAND_PRIOR_CALLS) - usual


RECENT_SCALE = 4.0  # `recent` is the account's decayed contacts over every channel, over this


def recent_contacts(view: FeatureView) -> float:
    """The account's contacts on every channel, decayed by the features' half-life."""
    return sum(v[ATTEMPTS] for v in view.channels.values())


def account_x(view: FeatureView, balance: float) -> dict[str, float]:
    x = {"log_balance": math.log10(1.0 + max(balance, 0.0)) / 5.0}
    recent = recent_contacts(view)
    if recent > 0:
        x["recent"] = recent / RECENT_SCALE  # fatigue: the heads learn what it does
    since = view.hours_since_contact
    if since is not None and since < 24.0:
        x["contacted_24h"] = 1.0
    return x


def base_x(
    view: FeatureView, channel: str, point_id: str, point_type: str, bucket: str, balance: float
) -> dict[str, float]:
    """Every input that does not depend on the hour: indicators and history."""
    return dict.fromkeys(onehot_keys(channel, bucket, point_type), 1.0) | numeric_x(
        view, channel, point_id, balance
    )


def hour_affinity(view: FeatureView) -> tuple[float, ...]:
    """The debtor's share of responses at each local hour, against uniform: 0 means
    no preference learned, positive means the debtor answers at that hour more than at others."""
    total = sum(view.hours)
    prior = 2.0
    return tuple(((h + prior / 24.0) / (total + prior)) * 24.0 - 1.0 for h in view.hours)


def hour_x(channel: str, hour: int, affinity: float) -> dict[str, float]:
    return {f"ch={channel}|h={hour}": 1.0, "acct_hour": affinity}
