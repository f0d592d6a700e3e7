"""The serving side of the models: Scorer against River, Thompson draws, the candidate inputs,
the template bandit and the carrier choice."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.account import EMPTY_VIEW, FeatureView
from models.attribution import Example
from models.candidates import base_x, dpd_bucket, hour_affinity, hour_x
from models.contact import (
    CHANNEL_INDEX,
    CHANNELS,
    HEAD_PRIORS,
    INITIAL_VERSION,
    ContactModels,
    initial_scorer,
    logit,
    sigmoid,
)
from models.explore import normals, thompson_logit
from models.routing import least_cost
from models.templates import TemplateBandit

from .test_models_conformance import contact_learn, contact_x


def trained(n: int = 400, seed: int = 0) -> ContactModels:
    m, rng = ContactModels(), random.Random(seed)
    for _ in range(n):
        contact_learn(m, contact_x(rng), rng.random() < 0.3)
    return m


# --- Scorer: the API's fast path must not drift from River ------------------------------------


@pytest.mark.parametrize("n", [0, 1, 50, 400])
def test_scorer_proba_equals_river_predict_proba_one(n):
    m = trained(n, seed=n)
    scorer = m.scorer("v1")
    rng = random.Random(100 + n)
    probes = [contact_x(rng) for _ in range(200)]
    probes += [{}, {"never_seen": 3.0}, {"acct_resp": 40.0, "acct_pay": 40.0}, {"acct_resp": -40.0}]
    for head, river in m.heads.items():
        for x in probes:
            assert scorer.proba(head, x) == pytest.approx(river.predict_proba_one(x)[True], abs=1e-9)


def test_scorer_logit_splits_into_base_and_hour_parts():
    """decide scores every hour as sigmoid(intercept + dot(base) + dot(hour)); the keys of the
    two parts are disjoint, so that equals scoring the merged inputs."""
    m, rng = trained(300, seed=1), random.Random(2)
    s = m.scorer("v")
    for _ in range(100):
        view = FeatureView({"sms": (3.0, 1.0, 0.2)}, tuple(rng.random() for _ in range(24)), {}, 5.0, None)
        bx = base_x(view, "sms", "p1", "mobile", "31_60", 1500.0)
        hour = rng.randrange(24)
        hx = hour_x("sms", hour, hour_affinity(view)[hour])
        assert not set(bx) & set(hx)
        for head in ("response", "pay"):
            split = sigmoid(s.intercepts[head] + s.dot(head, bx) + s.dot(head, hx))
            assert split == pytest.approx(s.proba(head, {**bx, **hx}), abs=1e-12)


def test_scorer_grids_and_dots_match_its_weights():
    """decide scores the (channel, hour) grid from `hour_weights` and `evidence_grid`, and the
    contact point terms with `dots`: they must say what the weights and cells say."""
    m, rng = trained(600, seed=5), random.Random(6)
    s = m.scorer("v")
    assert set(CHANNEL_INDEX) == set(CHANNELS)
    for head in ("response", "pay"):
        assert s.hour_weights[head].shape == (len(CHANNELS), 24)
        for c in CHANNELS:
            for h in range(24):
                want = s.weights[head].get(f"ch={c}|h={h}", 0.0)
                assert s.hour_weights[head][CHANNEL_INDEX[c], h] == want
    assert s.evidence_grid.shape == (len(CHANNELS), 24)
    assert any(s.evidence(c, h) for c in CHANNELS for h in range(24))
    for c in CHANNELS:
        for h in range(24):
            assert s.evidence_grid[CHANNEL_INDEX[c], h] == s.evidence(c, h)
    for _ in range(100):
        x = contact_x(rng)
        r, p = s.dots(x)
        assert r == pytest.approx(s.dot("response", x), abs=1e-12)
        assert p == pytest.approx(s.dot("pay", x), abs=1e-12)
    # the grid logit of decide equals the logit of the merged inputs
    view = FeatureView({"sms": (3.0, 1.0, 0.2)}, tuple(rng.random() for _ in range(24)), {}, None, None)
    affinity = hour_affinity(view)
    bx = base_x(view, "sms", "p1", "mobile", "31_60", 1500.0)
    for h in range(24):
        for head in ("response", "pay"):
            grid = (
                s.intercepts[head]
                + s.hour_weights[head][CHANNEL_INDEX["sms"], h]
                + s.weights[head].get("acct_hour", 0.0) * affinity[h]
                + s.dot(head, bx)
            )
            merged = s.intercepts[head] + s.dot(head, {**bx, **hour_x("sms", h, affinity[h])})
            assert grid == pytest.approx(merged, abs=1e-12)


def test_the_scorer_is_a_snapshot_of_weights():
    m = trained(50)
    s = m.scorer("v")
    weights, intercepts, cells = (
        {h: dict(w) for h, w in s.weights.items()},
        dict(s.intercepts),
        dict(s.cells),
    )
    for _ in range(50):
        contact_learn(m, contact_x(random.Random(3)), True)
    assert (s.weights, s.intercepts, s.cells) == (weights, intercepts, cells)
    with pytest.raises(AttributeError):
        s.version = "other"  # type: ignore[misc]


def test_the_initial_scorer_starts_at_the_priors():
    s = initial_scorer()
    assert s.version == INITIAL_VERSION
    for head, prior in HEAD_PRIORS.items():
        assert s.proba(head, {}) == pytest.approx(prior)
    assert s.evidence("sms", 9) == 0


def test_evidence_counts_response_examples_per_channel_and_hour():
    m = ContactModels()
    for y in (True, False, False):
        m.learn(Example("response", {"a": 1.0}, y, "sms", "t1", "1_30", 9, "d"))
    m.learn(Example("pay", {"a": 1.0}, True, "sms", "t1", "1_30", 9, "d"))
    m.learn(Example("response", {"a": 1.0}, True, "voice", None, "1_30", 9, "d"))
    s = m.scorer("v")
    assert (s.evidence("sms", 9), s.evidence("voice", 9), s.evidence("sms", 10)) == (3, 1, 0)
    assert m.updates == 5
    # the template bandit learns from response examples that name a template
    assert m.templates.posterior({"channel": "sms", "dpd_bucket": "1_30", "template": "t1"}) == (2.0, 11.0)


# --- sigmoid, logit, Thompson draws -------------------------------------------------------------


@pytest.mark.parametrize("z", [-1000.0, -745.0, -30.0, -1.0, 0.0, 1e-9, 2.5, 30.0, 709.0, 1000.0])
def test_sigmoid_is_stable_and_symmetric(z):
    p = sigmoid(z)
    assert 0.0 <= p <= 1.0
    assert p + sigmoid(-z) == pytest.approx(1.0, abs=1e-15)
    if abs(z) < 30:
        assert p == pytest.approx(1.0 / (1.0 + math.exp(-z)), rel=1e-12)
        assert logit(p) == pytest.approx(z, abs=1e-9)


def test_normals_are_a_deterministic_read_only_standard_normal_slice():
    a, b = normals(12345, 10_000), normals(12345, 10_000)
    assert a.shape == (10_000,) and np.array_equal(a, b)
    assert not np.array_equal(a[:100], normals(12346, 100))
    assert abs(float(a.mean())) < 0.05 and float(a.var()) == pytest.approx(1.0, abs=0.05)
    with pytest.raises(ValueError):
        a[0] = 0.0
    for seed in (0, 1, 2**32 - 1, 2**63):
        assert normals(seed, 840).shape == (840,)


def draws(p: float, evidence: float, n: int = 4000, seed: int = 42) -> np.ndarray:
    """Thompson draws on the probability scale, the way decide makes them."""
    z = normals(seed, n)
    lg = np.full(n, logit(p))
    return 1.0 / (1.0 + np.exp(-thompson_logit(lg, np.full(n, p), np.full(n, evidence), z)))


@settings(max_examples=100, deadline=None)
@given(st.floats(1e-4, 1 - 1e-4), st.integers(0, 10**7), st.integers(0, 2**32))
def test_thompson_draws_are_strictly_between_0_and_1(p, evidence, seed):
    d = draws(p, evidence, n=50, seed=seed)
    assert np.all((d > 0.0) & (d < 1.0))


@pytest.mark.parametrize("p", [0.02, 0.2, 0.6])
def test_thompson_concentrates_around_p_as_evidence_grows(p):
    z = normals(42, 4000)
    spread = []
    for evidence in (0, 10, 100, 1000, 10_000):
        lg = thompson_logit(np.full(z.size, logit(p)), np.full(z.size, p), np.full(z.size, evidence), z)
        want_var = 1.0 / (1.0 + evidence * p * (1 - p))  # the Laplace posterior on the logit
        assert float(lg.mean()) == pytest.approx(logit(p), abs=4 * math.sqrt(want_var / z.size))
        assert float(lg.var()) == pytest.approx(want_var, rel=0.1)
        spread.append(float(draws(p, evidence).var()))
    assert spread == sorted(spread, reverse=True)
    assert float(draws(p, 10_000).mean()) == pytest.approx(p, abs=0.01)


def test_thompson_without_noise_is_the_model():
    lg = np.array([-2.0, 0.0, 3.0])
    p = 1.0 / (1.0 + np.exp(-lg))
    assert np.array_equal(thompson_logit(lg, p, np.array([0.0, 5.0, 1e6]), np.zeros(3)), lg)


# --- candidate inputs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dpd", "bucket"),
    [
        (-3, "current"),
        (0, "current"),
        (1, "1_30"),
        (30, "1_30"),
        (31, "31_60"),
        (60, "31_60"),
        (61, "61_90"),
        (90, "61_90"),
        (91, "91_180"),
        (180, "91_180"),
        (181, "chargeoff"),
        (5000, "chargeoff"),
    ],
)
def test_dpd_bucket(dpd, bucket):
    assert dpd_bucket(dpd) == bucket


def test_base_x_on_an_empty_view():
    x = base_x(EMPTY_VIEW, "sms", "p1", "mobile", "1_30", 0.0)
    assert x == {
        "ch=sms": 1.0,
        "dpd=1_30": 1.0,
        "ch=sms|dpd=1_30": 1.0,
        "pt=mobile": 1.0,
        "acct_resp": pytest.approx(0.0),
        "acct_pay": pytest.approx(0.0),
        "pt_rpc": pytest.approx(0.5 / 3 - 0.17),
        "pt_fail": 0.0,
        "log_balance": 0.0,
    }


def test_base_x_reads_the_view():
    view = FeatureView({"voice": (4.0, 2.0, 1.0)}, (0.0,) * 24, {"p9": (3.0, 1.5, 2.0)}, 3.0, None)
    x = base_x(view, "voice", "p9", "landline", "chargeoff", 99_999.0)
    assert x["acct_resp"] == pytest.approx(2.5 / 9 - 0.1)
    assert x["acct_pay"] == pytest.approx(1.1 / 9 - 0.02)
    assert x["pt_rpc"] == pytest.approx(2.0 / 6 - 0.17)
    assert x["pt_fail"] == pytest.approx(0.5)
    assert x["log_balance"] == pytest.approx(1.0)
    assert x["contacted_24h"] == 1.0
    later = FeatureView(view.channels, view.hours, view.points, 24.0, None)
    assert "contacted_24h" not in base_x(later, "voice", "p9", "landline", "chargeoff", -5.0)
    assert base_x(later, "voice", "p9", "landline", "chargeoff", -5.0)["log_balance"] == 0.0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 1e6), min_size=24, max_size=24))
def test_hour_affinity_is_centred_on_uniform(hours):
    aff = hour_affinity(FeatureView({}, tuple(hours), {}, None, None))
    assert len(aff) == 24
    assert sum(aff) == pytest.approx(0.0, abs=1e-9)
    assert all(a >= -1.0 for a in aff)
    best = max(range(24), key=hours.__getitem__)
    assert aff[best] == max(aff)


def test_hour_affinity_without_history_is_flat():
    assert hour_affinity(EMPTY_VIEW) == pytest.approx((0.0,) * 24)


# --- template bandit --------------------------------------------------------------------------


def test_bandit_posterior_counts_on_the_prior():
    b = TemplateBandit(prior_successes=1.0, prior_failures=9.0)
    x = {"channel": "sms", "dpd_bucket": "1_30", "template": "t1"}
    for y in (True, True, False):
        b.learn_one(x, y)
    assert b.posterior(x) == (3.0, 10.0)
    assert b.predict_proba_one(x) == pytest.approx({False: 10 / 13, True: 3 / 13})
    assert b.posterior({**x, "template": "t2"}) == (1.0, 9.0)


def test_bandit_choice_follows_the_evidence():
    b = TemplateBandit()
    for _ in range(300):
        b.learn_one({"channel": "sms", "dpd_bucket": "1_30", "template": "good"}, True)
        b.learn_one({"channel": "sms", "dpd_bucket": "1_30", "template": "bad"}, False)
    picks = [b.choose("sms", "1_30", ["bad", "good"], normals(seed, 2))[0] for seed in range(200)]
    assert picks.count("good") == 200
    # another bucket has learned nothing: both templates get picked
    other = [b.choose("sms", "61_90", ["bad", "good"], normals(seed, 2))[0] for seed in range(200)]
    assert 50 < other.count("good") < 150
    assert b.choose("sms", "1_30", ["good"], [0.0]) == ("good", pytest.approx(301 / 310))  # the mean
    assert b.choose("sms", "1_30", ["new"], [0.0]) == ("new", pytest.approx(0.1))  # the prior
    with pytest.raises(ValueError):
        b.choose("sms", "1_30", ["bad", "good"], [0.1])  # one normal per template


# --- carrier routing --------------------------------------------------------------------------


@dataclass(frozen=True)
class Carrier:
    id: str
    cost_per_attempt: float = 0.0
    cost_per_minute: float = 0.0
    cost_per_message: float = 0.0
    channels: tuple[str, ...] = ("voice", "ivr", "sms")


CARRIERS = (
    Carrier("c1", cost_per_attempt=0.002, cost_per_minute=0.010, cost_per_message=0.004),
    Carrier("c2", cost_per_attempt=0.001, cost_per_minute=0.020, cost_per_message=0.006),
    Carrier("c3", cost_per_attempt=0.0, cost_per_minute=0.001, channels=("voice",)),
)


@pytest.mark.parametrize(
    ("channel", "minutes", "expected"),
    [
        ("sms", 0.0, ("c1", 0.006, ["c2"])),
        ("voice", 3.0, ("c3", 0.003, ["c1", "c2"])),
        ("voice", 0.0, ("c3", 0.0, ["c2", "c1"])),
        ("ivr", 1.0, ("c1", 0.012, ["c2"])),
        ("ivr", 0.05, ("c2", 0.002, ["c1"])),
        ("whatsapp", 1.0, (None, 0.0, [])),
    ],
)
def test_least_cost(channel, minutes, expected):
    carrier, cost, others = least_cost(CARRIERS, channel, minutes)
    assert (carrier, others) == (expected[0], expected[2])
    assert cost == pytest.approx(expected[1])


def test_least_cost_breaks_ties_by_id_and_handles_no_carriers():
    tied = (Carrier("b", cost_per_attempt=1.0), Carrier("a", cost_per_attempt=1.0))
    assert least_cost(tied, "voice", 1.0) == ("a", 1.0, ["b"])
    assert least_cost((), "voice", 1.0) == (None, 0.0, [])
