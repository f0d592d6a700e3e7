"""The collection-world simulator, small, end to end: the real engine (`cadencia run` on a real
redis-server) against the random baseline on the same world and seed, every contact audited by
the independent auditor at its send time."""

from __future__ import annotations

import pytest

from benchmarks.sim.compare import compare
from benchmarks.sim.driver import Setup


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_cadencia_beats_random_and_keeps_every_rule(redis_url):
    doc = compare(Setup(accounts=400, days=10, seed=3), ["random", "cadencia"], redis_url=redis_url)
    cad, rnd = doc["policies"]["cadencia"], doc["policies"]["random"]
    assert cad["contacts"] > 0 and rnd["contacts"] > 0
    assert cad["net"] > rnd["net"], (cad["net"], rnd["net"])
    assert rnd["violations"] == {}
    assert cad["violations"] == {}, cad["violation_examples"]
