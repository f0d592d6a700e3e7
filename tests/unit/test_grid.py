"""Scoring many decisions' grids at once gives each the same answer it gets alone: the batch is
an optimisation, never a change of decision (engine.decisions.grid)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.decisions.grid import Grid, best_contact, grid, pick, score
from engine.settings import DEFAULT_CONFIG, load
from engine.wire import Account, ContactPoint
from features.account import AccountFeatures, AccountRecord, read, serving, update
from models.contact import initial_scorer
from policy import windows
from policy.caps import History
from tests.unit.test_next_number import DAY0, TZ, history_view

CONFIG = load(DEFAULT_CONFIG)
RNG = np.random.default_rng(11)
# a model with opinions, so cells differ by more than their noise
SCORER = dataclasses.replace(
    initial_scorer(),
    head_terms=RNG.normal(-1.0, 1.0, (2, 5, 24)),
    evidence_grid=RNG.integers(0, 200, (5, 24)).astype(float),
    affinity_weights=np.array([0.7, 0.2])[:, None, None],
    point_hour_weights=np.array([1.5, 0.3])[:, None, None],
)


def account(n: int) -> Account:
    points = (
        ContactPoint("m1", "mobile", f"+52155000{n:05d}", ("voice", "ivr", "sms", "whatsapp"), "telcel"),
        ContactPoint("m2", "mobile", f"+52155100{n:05d}", ("voice",), "movistar"),
        ContactPoint("e1", "email", f"debtor{n}@example.com", ("email",)),
    )
    return Account(f"A-{n}", "cards", 800.0 + 450.0 * n, "MXN", 10 + 17 * n, "MX", TZ, points)


def grids() -> list[Grid]:
    """Grids that differ in every way a batch must handle: width (1 to 14 slots), channels,
    numbers with and without a call history by hour, balance, seed."""
    now = DAY0 + timedelta(days=14, hours=8)
    window = windows.window_for("MX")
    with_bands = history_view(now)
    without = read(serving(update(AccountFeatures(), AccountRecord("A-0", TZ, 45, 5000.0))), now.timestamp())
    shapes = [
        (["voice"], 1, with_bands),
        (["voice", "sms", "email"], 14, with_bands),
        (["whatsapp"], 3, without),
        (["voice", "ivr", "sms", "whatsapp", "email"], 9, without),
        (["email", "voice"], 14, with_bands),
    ]
    out = []
    for n, (channels, width, view) in enumerate(shapes):
        a = account(n)
        slots = windows.permitted_hour_starts(now.timestamp(), TZ, 24, window, "MX")[:width]
        assert len(slots) == width
        out.append(
            grid(
                a, a.contact_points, view, SCORER, CONFIG, now.timestamp(), channels, slots, History(), window
            )
        )
    return out


GRIDS = grids()


@settings(max_examples=30, deadline=None)
@given(st.permutations(range(len(GRIDS))), st.integers(1, len(GRIDS)))
def test_a_grid_scores_the_same_alone_and_in_any_batch(order, size):
    batch = [GRIDS[i] for i in order[:size]]
    together = score(batch, SCORER, CONFIG)
    for index, g in enumerate(batch):
        alone = score([g], SCORER, CONFIG)
        rows = slice(together.first[index], together.first[index + 1])
        width = len(g.slots)
        for name in ("value", "p_resp", "p_pay", "evidence"):
            assert np.array_equal(getattr(together, name)[rows, :width], getattr(alone, name)), name
        assert np.all(together.value[rows, width:] == -np.inf)  # padding is never chosen
        assert np.array_equal(together.template_z[index], alone.template_z[0])
        assert pick(g, together, index, SCORER, CONFIG) == best_contact(g, SCORER, CONFIG)


def test_the_batch_holds_every_pair_of_every_grid():
    together = score(GRIDS, SCORER, CONFIG)
    assert together.first == list(np.cumsum([0] + [len(g.pairs) for g in GRIDS]))
    assert together.value.shape == (sum(len(g.pairs) for g in GRIDS), max(len(g.slots) for g in GRIDS))
    # the number with calls by hour moves its voice rows: the lift term is in the batch's logits
    assert any(p.lifts is not None for p in GRIDS[0].pairs)


def test_logged_propensities_match_how_often_each_action_is_taken():
    """Off-policy evaluation weighs each decision by 1 / propensity: over many seeds of one
    grid, an action's mean logged propensity is how often the noise makes it the choice."""
    draws = 128
    config = dataclasses.replace(
        CONFIG, decisions=dataclasses.replace(CONFIG.decisions, propensity_draws=draws)
    )
    base = GRIDS[3]
    taken: dict[tuple, list[float]] = {}
    seeds = 600
    for seed in range(seeds):
        c = best_contact(dataclasses.replace(base, seed=seed * 7919 + 3), SCORER, config)
        key = (c.channel, c.point_id, c.send_at, c.template) if hasattr(c, "channel") else ("wait",)
        taken.setdefault(key, []).append(c.propensity)
    assert len(taken) >= 3  # the noise explores: several actions are taken
    for key, props in taken.items():
        assert all(1 / (draws + 1) <= p <= 1.0 for p in props)
        if len(props) >= 60:  # estimate where the frequency itself is measured well enough
            freq = len(props) / seeds
            assert abs(np.mean(props) - freq) < 0.06, (key, freq, np.mean(props))


def test_no_propensity_when_it_is_switched_off():
    config = dataclasses.replace(CONFIG, decisions=dataclasses.replace(CONFIG.decisions, propensity_draws=0))
    assert best_contact(GRIDS[1], SCORER, config).propensity is None


def test_a_learned_optout_risk_costs_its_share_of_the_stake():
    """value = P̃(response) × stake − money − P(opt-out | channel, recent contacts) × balance ×
    payment_share × optout_loss: a channel whose contacts end in opt-outs is worth less, and a
    wait when the risk outweighs what a response brings."""
    from models.candidates import recent_contacts
    from models.contact import OptoutRisk

    g = GRIDS[1]  # voice, sms and email
    risky = OptoutRisk()
    for _ in range(400):
        risky.learn("sms", 0.0, True)
    scorer = dataclasses.replace(SCORER, optout=risky)
    plain, taxed = score([g], SCORER, CONFIG), score([g], scorer, CONFIG)
    d = CONFIG.decisions
    for row, pair in enumerate(g.pairs):
        recent = recent_contacts(g.view)
        extra = scorer.optout.risk(pair.channel, recent) - SCORER.optout.risk(pair.channel, recent)
        expected = extra * g.balance * d.payment_share * d.optout_loss
        assert np.allclose(plain.value[row] - taxed.value[row], expected)
        assert (expected > 0.5 * g.balance * d.payment_share) == (pair.channel == "sms")


def test_optout_risk_shrinks_toward_the_channel_and_moves_with_evidence():
    from models.contact import OPTOUT_PRIOR, OptoutRisk

    risk = OptoutRisk()
    assert risk.risk("sms", 3.0) == OPTOUT_PRIOR[0]
    for _ in range(30):
        risk.learn("sms", 6.0, True)  # fatigued accounts opt out
        risk.learn("sms", 0.0, False)
    assert risk.risk("sms", 6.0) > 0.3 > risk.risk("sms", 0.0)
    assert risk.risk("sms", 0.0) > OPTOUT_PRIOR[0]  # the channel's rate rose, and the cell borrows it
    assert risk.risk("email", 6.0) == OPTOUT_PRIOR[0]
    assert OptoutRisk.from_data(risk.to_data()).risk("sms", 6.0) == risk.risk("sms", 6.0)
