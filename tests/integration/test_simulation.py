"""The collection-world simulator, small, end to end: the real engine (`cadencia run` on a real
redis-server) against the random baseline on the same world and seed, every contact audited by
the independent auditor at its send time.

What cadencia must win here is what it wins on every seed tried: more of its contacts engage
the debtor (it learns channels and hours), its carriers answer closer to the best carrier's rate,
and it stops sending calls into an outage. Net money against random is reported by the full run
(`python -m benchmarks.sim`), not asserted: at this size the debtors' own variance decides it
(see benchmarks/results/quality.md)."""

from __future__ import annotations

import pytest

from benchmarks.sim.compare import compare
from benchmarks.sim.driver import Setup


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_cadencia_beats_random_and_keeps_every_rule(redis_url):
    doc = compare(Setup(accounts=400, days=10, seed=3), ["random", "cadencia"], redis_url=redis_url)
    cad, rnd = doc["policies"]["cadencia"], doc["policies"]["random"]
    assert cad["contacts"] > 0 and rnd["contacts"] > 0 and cad["calls"] > 0
    assert rnd["violations"] == {}
    assert cad["violations"] == {}, cad["violation_examples"]
    assert cad["engagement_rate"] > rnd["engagement_rate"] * 1.1, (
        cad["engagement_rate"],
        rnd["engagement_rate"],
    )
    assert cad["asr_vs_best"] > rnd["asr_vs_best"] and cad["asr_vs_best"] > 0.85
    assert cad["outage_share_after_10min"] < 0.1 < rnd["outage_share_after_10min"]
