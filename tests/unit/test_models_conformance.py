"""One conformance suite over every model in models/, in River's protocol (as River's own
`river/checks` do): learning never mutates its input, key order is irrelevant, missing and
new features are tolerated, the model pickles, and it is deterministic under a seed."""

from __future__ import annotations

import copy
import math
import pickle
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from features.account import FeatureView
from models.attribution import Example
from models.candidates import DPD_BUCKETS, base_x, hour_affinity, hour_x
from models.contact import ContactModels, logit
from models.explore import normals, thompson_logit
from models.templates import TemplateBandit

CHANNELS = ("voice", "sms", "whatsapp", "email")
BUCKETS = ("current", *(name for _, name in DPD_BUCKETS), "chargeoff")
TEMPLATES = ("t_soft", "t_firm", "t_offer")


def random_view(rng: random.Random) -> FeatureView:
    def counts() -> tuple[float, float, float]:
        a = rng.uniform(0, 20)
        return (a, rng.uniform(0, a), rng.uniform(0, a / 4))

    return FeatureView(
        channels={c: counts() for c in CHANNELS if rng.random() < 0.7},
        hours=tuple(rng.uniform(0, 3) for _ in range(24)),
        points={p: counts() for p in ("p1", "p2") if rng.random() < 0.7},
        hours_since_contact=rng.choice([None, rng.uniform(0, 100)]),
        hours_since_response=None,
    )


def contact_x(rng: random.Random) -> dict[str, float]:
    """What the contact heads really see: a candidate's base inputs and its hour's."""
    view = random_view(rng)
    channel, hour = rng.choice(CHANNELS), rng.randrange(24)
    bx = base_x(
        view,
        channel,
        rng.choice(("p1", "p2")),
        rng.choice(("mobile", "landline")),
        rng.choice(BUCKETS),
        rng.uniform(0, 1e6),
    )
    return {**bx, **hour_x(channel, hour, hour_affinity(view)[hour])}


def template_x(rng: random.Random) -> dict[str, Any]:
    return {
        "channel": rng.choice(CHANNELS),
        "dpd_bucket": rng.choice(BUCKETS),
        "template": rng.choice(TEMPLATES),
    }


def ch_of(x: dict[str, Any]) -> str:
    return next((k[3:] for k in x if k.startswith("ch=") and "|" not in k), "sms")


def hour_of(x: dict[str, Any]) -> int:
    return next((int(k.rsplit("=", 1)[1]) for k in x if "|h=" in k), 0)


def contact_learn(m: ContactModels, x: dict[str, Any], y: bool) -> None:
    """One decision's examples through ContactModels.learn, the way the dataflow feeds them."""
    ch, hour = ch_of(x), hour_of(x)
    m.learn(Example("response", x, y, ch, "t_soft" if hour % 2 else None, "1_30", hour, "d"))
    if y:
        m.learn(Example("pay", x, hour % 3 == 0, ch, None, "1_30", hour, "d"))


def contact_predict(m: ContactModels, x: dict[str, Any]) -> tuple[float, ...]:
    s = m.scorer("v")
    t = m.templates.predict_proba_one({"channel": ch_of(x), "dpd_bucket": "1_30", "template": "t_soft"})
    return (s.proba("response", x), s.proba("pay", x), t[True])


def draw(p: list[float], evidence: list[float], seed: int) -> list[float]:
    """Thompson draws on the logit, with the noise decide takes from the seeded table."""
    lg = np.array([logit(min(max(q, 1e-12), 1 - 1e-12)) for q in p])
    return thompson_logit(lg, np.array(p), np.array(evidence), normals(seed, len(p))).tolist()


def contact_pick(m: ContactModels, xs: list[dict[str, Any]], seed: int) -> tuple[Any, ...]:
    s = m.scorer("v")
    drawn = draw([s.proba("response", x) for x in xs], [s.evidence(ch_of(x), hour_of(x)) for x in xs], seed)
    best = max(range(len(xs)), key=drawn.__getitem__)
    z = normals(seed + 1, len(TEMPLATES))
    return best, s.templates.choose(ch_of(xs[best]), "1_30", list(TEMPLATES), z)


def head_pick(m: Any, xs: list[dict[str, Any]], seed: int) -> tuple[Any, ...]:
    drawn = draw([m.predict_proba_one(x)[True] for x in xs], [50.0] * len(xs), seed)
    return (max(range(len(xs)), key=drawn.__getitem__), *drawn)


def bandit_pick(m: TemplateBandit, xs: list[dict[str, Any]], seed: int) -> tuple[Any, ...]:
    z = normals(seed, len(TEMPLATES))
    return tuple(m.choose(x["channel"], x["dpd_bucket"], list(TEMPLATES), z) for x in xs)


@dataclass(frozen=True)
class Case:
    id: str
    make: Callable[[], Any]
    learn: Callable[[Any, dict[str, Any], bool], None]
    predict: Callable[[Any, dict[str, Any]], tuple[float, ...]]
    sample: Callable[[random.Random], dict[str, Any]]
    pick: Callable[[Any, list[dict[str, Any]], int], tuple[Any, ...]]

    def trained(self, seed: int = 0, n: int = 300, shuffle_keys: bool = False) -> Any:
        model, rng = self.make(), random.Random(seed)
        for x, y in stream(self, seed, n):
            if shuffle_keys:
                keys = list(x)
                rng.shuffle(keys)
                x = {k: x[k] for k in keys}
            self.learn(model, x, y)
        return model


def stream(case: Case, seed: int, n: int) -> list[tuple[dict[str, Any], bool]]:
    rng = random.Random(seed)
    return [(case.sample(rng), rng.random() < 0.3) for _ in range(n)]


def river_learn(m: Any, x: dict[str, Any], y: bool) -> None:
    m.learn_one(x, y)


def river_predict(m: Any, x: dict[str, Any]) -> tuple[float, ...]:
    return (m.predict_proba_one(x)[True],)


CASES = [
    Case(
        "response-head",
        lambda: ContactModels().heads["response"],
        river_learn,
        river_predict,
        contact_x,
        head_pick,
    ),
    Case("pay-head", lambda: ContactModels().heads["pay"], river_learn, river_predict, contact_x, head_pick),
    Case("template-bandit", TemplateBandit, river_learn, river_predict, template_x, bandit_pick),
    Case("contact-models", ContactModels, contact_learn, contact_predict, contact_x, contact_pick),
]
cases = pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])


def probabilities(values: tuple[float, ...]) -> bool:
    return all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in values)


@cases
def test_learn_and_predict_never_mutate_their_input(case):
    model, rng = case.make(), random.Random(1)
    for _ in range(100):
        x, y = case.sample(rng), rng.random() < 0.5
        before = copy.deepcopy(x)
        case.learn(model, x, y)
        assert x == before and list(x) == list(before)
        case.predict(model, x)
        assert x == before and list(x) == list(before)


@cases
def test_key_order_is_irrelevant(case):
    model = case.trained(seed=2)
    shuffled = case.trained(seed=2, shuffle_keys=True)
    rng = random.Random(3)
    for _ in range(50):
        x = case.sample(rng)
        backwards = dict(reversed(list(x.items())))
        want = case.predict(model, x)
        assert case.predict(model, backwards) == pytest.approx(want, rel=1e-12, abs=1e-15)
        assert case.predict(shuffled, x) == pytest.approx(want, rel=1e-12, abs=1e-15)


@cases
def test_missing_and_new_features_are_tolerated(case):
    model, rng = case.trained(seed=4, n=100), random.Random(5)
    for _ in range(30):
        x = case.sample(rng)
        keys = list(x)
        partial = {k: x[k] for k in keys[: len(keys) // 2]}
        extended = {**x, "never_seen_before": 1.0, "ch=fax": 1.0}
        for variant in ({}, partial, extended):
            assert probabilities(case.predict(model, variant))
            case.learn(model, variant, rng.random() < 0.5)
            assert probabilities(case.predict(model, variant))
    assert probabilities(case.predict(model, case.sample(rng)))


@cases
def test_pickles_to_identical_predictions_and_learning(case):
    model = case.trained(seed=6)
    clone = pickle.loads(pickle.dumps(model))
    rng = random.Random(7)
    probes = [case.sample(rng) for _ in range(30)]
    assert [case.predict(clone, x) for x in probes] == [case.predict(model, x) for x in probes]
    for x, y in stream(case, 8, 50):  # the clone carries the whole state, not a view of it
        case.learn(model, x, y)
        case.learn(clone, x, y)
    assert [case.predict(clone, x) for x in probes] == [case.predict(model, x) for x in probes]


@cases
def test_deterministic_under_a_seed(case):
    a, b = case.trained(seed=9), case.trained(seed=9)
    rng = random.Random(10)
    probes = [case.sample(rng) for _ in range(20)]
    assert [case.predict(a, x) for x in probes] == [case.predict(b, x) for x in probes]
    picks = [case.pick(a, probes, seed) for seed in range(5)]
    assert picks == [case.pick(b, probes, seed) for seed in range(5)]
    assert len({repr(p) for p in picks}) > 1, "the seed must matter, or the picks are not draws"


@cases
def test_learning_moves_predictions_towards_the_labels(case):
    """A test that can fail: learning from one kind of input always positive and another
    always negative separates them."""
    model, rng = case.make(), random.Random(11)
    good, bad = case.sample(rng), case.sample(rng)
    while bad == good:
        bad = case.sample(rng)
    for _ in range(200):
        case.learn(model, good, True)
        case.learn(model, bad, False)
    assert case.predict(model, good)[0] > case.predict(model, bad)[0]
