import pickle
import random
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.carriers import CarrierRouter, Evidence, Observation, RouterConfig, observation, route_seed


@dataclass(frozen=True)
class C:
    id: str
    cost_per_attempt: float = 0.002
    cost_per_minute: float = 0.01
    cost_per_message: float = 0.004
    channels: tuple[str, ...] = ("voice", "ivr", "sms")


CARRIERS = (C("c1"), C("c2"), C("c3", cost_per_attempt=0.001))
T0 = 1_770_000_000.0


def feed(router: CarrierRouter, carrier: str, asr: float, n: int, rng: random.Random, network="telcel", t=T0):
    for i in range(n):
        router.observe(Observation(carrier, network, 3, t + i, rng.random() < asr, 200))


def shares(router: CarrierRouter, network="telcel", hour=10, n=400, now=T0 + 1000) -> dict[str, float]:
    picks: dict[str, int] = {}
    for i in range(n):
        r = router.route(CARRIERS, "voice", network, hour, now, route_seed(0, f"+52{i}", now))
        picks[r.carrier] = picks.get(r.carrier, 0) + 1
    return {k: v / n for k, v in picks.items()}


def test_traffic_moves_to_the_carrier_that_answers():
    router, rng = CarrierRouter(), random.Random(1)
    feed(router, "c1", 0.30, 300, rng)
    feed(router, "c2", 0.60, 300, rng)
    feed(router, "c3", 0.25, 300, rng)
    assert shares(router)["c2"] > 0.9


def test_an_unseen_network_borrows_the_carriers_rate_and_still_explores():
    router, rng = CarrierRouter(), random.Random(1)
    feed(router, "c1", 0.3, 300, rng)
    feed(router, "c2", 0.6, 300, rng)
    feed(router, "c3", 0.3, 300, rng)
    # the evidence is for telcel at band 3: movistar has none of its own, and c2 answers best
    # everywhere it was seen, so it leads there too; the others keep being tried
    s = shares(router, network="movistar", n=1000)
    assert s["c2"] > 0.5 and min(s.get("c1", 0), s.get("c3", 0)) > 0.02


def test_a_thin_cell_leans_on_its_network_and_carrier():
    router, rng = CarrierRouter(), random.Random(1)
    feed(router, "c1", 0.8, 400, rng)  # telcel, band 3
    a, f = router.posterior("telcel", 6, "c1", T0 + 500)  # band 6: never seen
    assert 0.6 < a / (a + f) < 0.85 and a + f == pytest.approx(RouterConfig().pool_strength)


def test_old_evidence_fades():
    cfg = RouterConfig(half_life_s=3600)
    router, rng = CarrierRouter(cfg), random.Random(1)
    feed(router, "c1", 0.0, 200, rng)
    a, b = router.posterior("telcel", 3, "c1", T0 + 200)
    assert b > 150
    a, b = router.posterior("telcel", 3, "c1", T0 + 200 + 20 * 3600)
    assert a / (a + b) == pytest.approx(1 / 3, abs=0.01) and a + b < 5


def test_a_run_of_5xx_opens_the_breaker_and_a_good_probe_closes_it():
    router = CarrierRouter(RouterConfig(breaker_failures=5, probe_share=1.0))
    changed = [router.observe(Observation("c2", "telcel", 3, T0 + i, False, 503)) for i in range(5)]
    assert changed == [False, False, False, False, True]
    # five failures in a row on telcel are also five for c2 everywhere: carrier-wide
    assert router.is_open("c2", "telcel") and router.is_open("c2", "movistar")
    assert "c2" not in shares(router)
    probe = router.route(CARRIERS, "voice", "telcel", 10, T0, random.Random(0), probe_due=["c2"])
    assert probe.carrier == "c2" and probe.probe and set(probe.alternates) == {"c1", "c3"}
    assert router.observe(Observation("c2", "telcel", 3, T0 + 60, False, 486)) is True  # busy: it works
    assert not router.is_open("c2", "telcel") and not router.is_open("c2", "movistar")


def test_failures_on_one_network_among_successes_elsewhere_open_that_network_only():
    router = CarrierRouter(RouterConfig(breaker_failures=3))
    for i in range(6):
        router.observe(Observation("c1", "telcel", 3, T0 + 2 * i, False, 503))
        router.observe(Observation("c1", "movistar", 3, T0 + 2 * i + 1, True, 200))
    assert router.is_open("c1", "telcel") and not router.is_open("c1", "movistar")


def test_probes_are_a_small_share_of_the_attempts_that_could_take_one():
    router = CarrierRouter(RouterConfig(breaker_failures=1, probe_share=0.02))
    router.observe(Observation("c1", "telcel", 3, T0, False, 503))
    routes = [
        router.route(CARRIERS, "voice", "telcel", 10, T0, route_seed(0, f"+52{i}", T0), probe_due=["c1"])
        for i in range(5000)
    ]
    share = sum(r.probe for r in routes) / len(routes)
    assert 0.01 < share < 0.03
    assert all(r.carrier != "c1" for r in routes if not r.probe)
    assert router.breaker_scope("c1", "telcel") == "*"  # one failure everywhere opened it carrier-wide


def test_outcomes_that_say_nothing_about_the_carrier_do_not_reset_the_run():
    router = CarrierRouter(RouterConfig(breaker_failures=3))
    cfg = router.config
    for i in range(3):
        router.observe(Observation("c1", "telcel", 3, T0 + 2 * i, False, 503))
        # an undelivered SMS through the same carrier in between: no evidence it works
        router.observe(observation("sms", "undelivered", "c1", "telcel", 10, T0 + 2 * i + 1, None, cfg))
    assert router.is_open("c1", "telcel")
    sms_5xx = observation("sms", "failed", "c1", "telcel", 10, T0, None, cfg, error_code="503")
    assert sms_5xx is not None and sms_5xx.carrier_failure


def test_a_success_resets_the_run():
    router = CarrierRouter(RouterConfig(breaker_failures=3))
    for i, sip in enumerate([503, 503, 200, 503, 503]):
        router.observe(Observation("c1", "telcel", 3, T0 + i, sip == 200, sip))
    assert not router.is_open("c1", "telcel")


def test_5xx_do_not_count_as_unanswered_attempts():
    router = CarrierRouter()
    router.observe(Observation("c1", "telcel", 3, T0, False, 503))
    assert ("telcel", 3, "c1") not in router.cells


def test_every_breaker_open_leaves_no_carrier():
    router = CarrierRouter(RouterConfig(breaker_failures=1))
    for c in CARRIERS:
        router.observe(Observation(c.id, "telcel", 3, T0, False, 500))
    r = router.route(CARRIERS, "voice", "telcel", 10, T0, random.Random(0))
    assert r.carrier is None and r.reasons == ["breaker_open=c1,c2,c3"]


def test_routes_only_through_carriers_of_the_channel():
    carriers = (C("c1", channels=("voice",)), C("c2", channels=("sms",)))
    r = CarrierRouter().route(carriers, "sms", None, 10, T0, random.Random(0))
    assert r.carrier == "c2" and r.alternates == []
    assert CarrierRouter().route(carriers, "whatsapp", None, 10, T0, random.Random(0)).carrier is None


def test_routing_is_deterministic_under_the_request_seed_and_pickles():
    router, rng = CarrierRouter(), random.Random(3)
    feed(router, "c1", 0.4, 50, rng)
    copy = pickle.loads(pickle.dumps(router))
    for i in range(20):
        a = router.route(CARRIERS, "voice", "telcel", 10, T0, route_seed(0, f"+1{i}", T0))
        b = copy.route(CARRIERS, "voice", "telcel", 10, T0, route_seed(0, f"+1{i}", T0))
        assert a == b


@pytest.mark.parametrize(
    ("channel", "status", "sip", "answered"),
    [
        ("voice", "answered", 200, True),
        ("voice", "voicemail", 200, True),
        ("voice", "no_answer", 480, False),
        ("voice", "failed", 503, False),
        ("sms", "delivered", None, True),
        ("sms", "undelivered", None, False),
    ],
)
def test_events_that_teach(channel, status, sip, answered):
    o = observation(channel, status, "c1", "telcel", 10, T0, sip, RouterConfig())
    assert o is not None and o.answered is answered and o.band == 3


@pytest.mark.parametrize(
    ("channel", "status", "carrier", "sip"),
    [
        ("voice", "answered", None, 200),  # no carrier named
        ("voice", "failed", "c1", 404),  # a dead number is no carrier's fault
        ("voice", "canceled", "c1", None),  # the dialer hung up first
        ("sms", "sent", "c1", None),  # not final
        ("whatsapp", "delivered", "c1", None),  # no carrier on WhatsApp
    ],
)
def test_events_that_teach_nothing(channel, status, carrier, sip):
    assert observation(channel, status, carrier, "telcel", 10, T0, sip, RouterConfig()) is None


@given(st.lists(st.tuples(st.floats(0, 86400), st.booleans()), max_size=30))
def test_evidence_does_not_depend_on_arrival_order(obs):
    half_life = 3600.0

    def total(items):
        e = Evidence(at=0.0)
        for t, answered in items:
            e = e.add(answered, t, half_life)
        return e.as_of(90000.0, half_life)

    a, b = total(obs), total(list(reversed(obs)))
    assert a.answers == pytest.approx(b.answers, rel=1e-9, abs=1e-12)
    assert a.failures == pytest.approx(b.failures, rel=1e-9, abs=1e-12)


def test_networks_beyond_the_bound_pool_into_all():
    router = CarrierRouter(RouterConfig(max_networks=3))
    for i in range(10):
        router.observe(Observation("c1", f"net{i}", 3, T0 + i, True, 200))
    learned = {n for n, _, _ in router.cells} - {"*"}
    assert learned == {"net0", "net1", "net2"}
    assert {n for _, n in router.breakers} == {"net0", "net1", "net2", "*"}
    router.observe(Observation("c2", "net1", 3, T0 + 20, True, 200))  # a known network, another carrier
    assert ("net1", 3, "c2") in router.cells


def test_configured_networks_are_the_only_ones_learned_apart():
    router = CarrierRouter(RouterConfig(networks=("telcel", "att")))
    router.observe(Observation("c1", "telcel", 3, T0, True, 200))
    router.observe(Observation("c1", "made-up", 3, T0 + 1, False, 486))
    assert {n for n, _, _ in router.cells} == {"telcel", "*"}
    assert router.cells[("*", 3, "c1")].failures == 1.0  # the unknown one still counts, pooled


def test_a_run_of_calls_nobody_answers_opens_the_breaker_and_only_an_answer_closes_it():
    """An outage that times calls out (they ring, nobody picks up) rather than failing them."""
    router = CarrierRouter(RouterConfig(breaker_unanswered=12))
    changed = [router.observe(Observation("c1", "telcel", 3, T0 + i, False, None)) for i in range(12)]
    assert changed == [False] * 11 + [True]
    assert router.is_open("c1", "telcel")
    assert router.observe(Observation("c1", "telcel", 3, T0 + 100, False, 486)) is False  # busy: still silent
    assert router.is_open("c1", "telcel")
    assert router.observe(Observation("c1", "telcel", 3, T0 + 200, True, 200)) is True
    assert not router.is_open("c1", "telcel")


def test_each_failed_probe_doubles_the_wait_for_the_next():
    router = CarrierRouter(RouterConfig(breaker_failures=2, probe_interval_s=30.0, probe_backoff_max_s=600.0))
    for i in range(2):
        router.observe(Observation("c1", "telcel", 3, T0 + i, False, 503))
    waits = [router.probe_interval("c1", "telcel")]
    router.observe(Observation("c1", "telcel", 3, T0 + 2, False, 503))  # placed before a probe was due
    waits.append(router.probe_interval("c1", "telcel"))
    for k in range(6):  # probes, each failing
        router.observe(Observation("c1", "telcel", 3, T0 + 60 * (k + 1), False, 503))
        waits.append(router.probe_interval("c1", "telcel"))
    assert waits == [30.0, 30.0, 60.0, 120.0, 240.0, 480.0, 600.0, 600.0]
    router.observe(Observation("c1", "telcel", 3, T0 + 900, True, 200))
    assert router.probe_interval("c1", "telcel") == 30.0 and not router.is_open("c1", "telcel")
    again = CarrierRouter.from_data(router.to_data(), router.config)
    assert again.breakers == router.breakers


def test_breakers_published_before_the_back_off_still_load():
    old = {"cells": [], "breakers": [["c1", "*", 5, T0, T0 + 5]]}
    router = CarrierRouter.from_data(old, RouterConfig())
    assert router.is_open("c1", "telcel") and router.probe_interval("c1", "telcel") == 30.0
