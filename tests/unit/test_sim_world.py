"""The simulated world: seeded, reproducible, shaped as the issue asks, and its config in step
with what cadencia is told."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from benchmarks.sim.catalog import Catalog, Outage
from benchmarks.sim.contact import Contact
from benchmarks.sim.driver import Setup
from benchmarks.sim.dynamics import World
from benchmarks.sim.world import RATES, make_world, observable


def test_same_seed_same_world_other_seed_other_world():
    assert make_world(300, 11) == make_world(300, 11)
    assert make_world(300, 11) != make_world(300, 12)


def test_portfolio_shape():
    world = make_world(3000, 5)
    assert set(Counter(d.country for d in world)) == {"MX", "CO", "US", "CL", "PE"}
    assert len({d.timezone for d in world}) >= 8
    assert all(1 <= len(d.phones) <= 3 for d in world)
    states = Counter(p.state for d in world for p in d.phones)
    assert states["dead"] > 0 and states["wrong"] > 0
    digital_only = sum(d.affinity["voice"] <= 0.01 for d in world) / len(world)
    assert 0.3 < digital_only < 0.6
    curers = sum(d.self_cure > 0.03 for d in world) / len(world)
    assert 0.08 < curers < 0.25
    assert {d.language for d in world} == {"es", "en"}


def test_uploaded_documents_hide_the_truth():
    d = make_world(1, 3)[0]
    doc = observable(d, d.balance, d.dpd)
    text = repr(doc)
    for hidden in ("willingness", "ability", "self_cure", "affinity", "peak", "tolerance", "wrong", "dead"):
        assert hidden not in text


def test_world_rates_and_carriers_match_the_engine_config():
    cat = Catalog()
    assert cat.rates == RATES
    assert set(cat.carriers) == {"c1", "c2", "c3"}
    assert {t.channel for t in cat.templates} == {"sms", "whatsapp", "email", "ivr", "voice"}


def test_outcomes_are_reproducible_and_the_outage_fails_calls():
    setup = Setup(50, 10, 9)
    cat = Catalog()
    debtors = make_world(50, 9)
    phone = next((d, p) for d in debtors for p in d.phones if p.state == "ok" and "voice" in p.channels)
    d, p = phone
    during = setup.outage.start
    runs = []
    for _ in range(2):
        w = World(debtors, 9, cat, setup.outage)
        c = Contact(d.account_id, "voice", p.id, during, None, "c1", "x1")
        runs.append([x.payload for x in w.contact(c)[0]])
    assert runs[0] == runs[1]
    assert runs[0][0]["status"] == "failed" and runs[0][0]["sip_code"] == 503
    w = World(
        debtors, 9, cat, Outage("c1", datetime(2000, 1, 1, tzinfo=UTC), datetime(2000, 1, 2, tzinfo=UTC))
    )
    ok = w.contact(Contact(d.account_id, "voice", p.id, during, None, "c1", "x2"))[0]
    assert ok[0].payload.get("sip_code") != 503


def test_self_cure_pays_without_contact_and_payments_are_clamped():
    debtors = make_world(400, 2)
    cat = Catalog()
    w = World(debtors, 2, cat, Setup(400, 5, 2).outage)
    start = Setup(400, 5, 2).start
    pending = [p for day in range(5) for p in w.morning(day, start)]
    assert pending
    p = pending[0]
    events, _ = w.realise(p)
    assert events[0]["type"] == "payment" and w.state[p.account_id].closed
    assert w.realise(p) == ([], [])  # nothing left to pay


def test_a_timeout_outage_rings_out_instead_of_failing():
    setup = Setup(50, 10, 9, outage_kind="timeout")
    debtors = make_world(50, 9)
    d, p = next((d, p) for d in debtors for p in d.phones if p.state == "ok" and "voice" in p.channels)
    w = World(debtors, 9, Catalog(), setup.outage)
    (ev,) = [
        x.payload
        for x in w.contact(Contact(d.account_id, "voice", p.id, setup.outage.start, None, "c1", "t1"))[0]
    ]
    assert ev["status"] == "no_answer" and "sip_code" not in ev


def test_variants_change_what_they_name_and_nothing_else():
    base, half, us = (
        make_world(2000, 4),
        make_world(2000, 4, response_scale=0.5),
        make_world(2000, 4, mix="us_heavy"),
    )
    assert [d.balance for d in half] == [d.balance for d in base]
    assert all(
        h.affinity["sms"] == min(0.9, b.affinity["sms"] * 0.5) for h, b in zip(half, base, strict=True)
    )
    assert sum(d.country == "US" for d in us) > 2.5 * sum(d.country == "US" for d in base)


def test_the_adaptive_baseline_keeps_the_rules_and_follows_value():
    from benchmarks.sim.driver import run
    from benchmarks.sim.policies.adaptive import Adaptive
    from benchmarks.sim.policies.static import Static

    setup, cat = Setup(300, 6, 3), Catalog()
    adaptive = run("adaptive", lambda a, w: Adaptive(a, cat, setup.seed), setup, cat)
    static = run("static", lambda a, w: Static(a, cat), setup, cat)
    a = adaptive.tally.summary(300, adaptive.portfolio)
    assert sum(adaptive.auditor.violations.values()) == 0
    assert a["net"] > 0
    per_day = max(d.contacts for d in adaptive.tally.days)
    assert per_day <= 300  # at most one contact an account a day
    assert a["contacts"] < static.tally.summary(300, static.portfolio)["contacts"]
