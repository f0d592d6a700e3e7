"""Event time in the dataflow (models/eventtime.py) and learning in its order (models/learner.py):
one record cannot move a shard's clock, and the same lessons in any order and any split into
deliveries give the same publications, byte for byte."""

from __future__ import annotations

import math
import random

from models.attribution import Example
from models.carriers import Observation
from models.contact import ContactModels
from models.eventtime import NEVER, ShardTime, learn_at_example
from models.learner import Frontier, Lesson, OrderedLearner, Publication, all_progress

T0 = 1_770_000_000.0


def test_one_future_record_moves_only_its_own_account():
    t = ShardTime().seen("a", T0).seen("b", T0 + 10)
    assert t.clock == T0  # the second most advanced account
    ahead = t.seen("c", T0 + 30 * 86_400)  # a month ahead, one account
    assert ahead.clock == T0 + 10  # now b is second: the shard moved to b's time, not c's
    again = ahead.seen("c", T0 + 60 * 86_400)
    assert again.clock == ahead.clock


def test_a_single_account_moves_its_shard():
    assert ShardTime().seen("a", T0).clock == T0


def test_clock_never_moves_back_and_idle_lifts_it():
    t = ShardTime().seen("a", T0).seen("b", T0)
    assert t.seen("c", T0 - 100).clock == T0
    assert t.idle(T0 - 5).clock == T0
    assert t.idle(T0 + 5).clock == T0 + 5


def test_frontier_waits_for_the_timers_and_the_reorder_allowance():
    t = ShardTime().seen("a", T0).seen("b", T0)
    assert t.frontier(300, 2) == NEVER + 298  # no timer read yet: nothing is closed
    t = t.timers_read([T0 - 400, T0 - 400, T0 - 350], complete_through=T0 - 300)
    assert (t.timers_at, t.timers_offset) == (T0 - 350, 1)
    assert t.frontier(300, 2) == T0 - 2
    assert t.timer_watermark(300) == T0 - 300
    # a window closing at d is emitted when its timer is read: learnable up to d + A - R
    assert learn_at_example(T0 - 300, 300, 2) == T0 - 2


def test_positional_timer_reads_resume_inside_one_score():
    t = ShardTime().timers_read([T0, T0], complete_through=None)
    assert (t.timers_at, t.timers_offset) == (T0, 2)
    assert t.timers_done < T0 and t.timers_done == math.nextafter(T0, -math.inf)  # T0 may hold more
    t = t.timers_read([T0, T0 + 1], complete_through=T0 + 1)
    assert (t.timers_at, t.timers_offset, t.timers_done) == (T0 + 1, 1, T0 + 1)


def _lessons(seed: int, n: int = 400) -> list[Lesson]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        at = T0 + rng.randrange(0, 6 * 3600)
        if rng.random() < 0.5:
            e = Example(
                rng.choice(["response", "pay"]),
                {"dpd": rng.random(), "bias": 1.0},
                rng.random() < 0.3,
                rng.choice(["sms", "voice", "email"]),
                rng.choice([None, "t1", "t2"]),
                "1_30",
                rng.randrange(24),
                f"d-{i}",
                f"a{i % 37}",
                at,
            )
            out.append(Lesson.of_example(e, at))
        else:
            failing = rng.random() < 0.2
            o = Observation(
                rng.choice(["c1", "c2"]),
                rng.choice(["telcel", "att"]),
                rng.randrange(4),
                at,
                not failing and rng.random() < 0.5,
                503 if failing else 200,
                not failing,
                f"e-{i}",
            )
            out.append(Lesson.of_observation(o))
    return out


def _run(lessons: list[Lesson], rng: random.Random | None) -> list[tuple]:
    """Feed lessons in the given order, split into deliveries with frontier markers that
    never pass a lesson not yet delivered (what the reader guarantees)."""
    learner = OrderedLearner(ContactModels(), shards=(0, 1), interval_s=900.0)
    out: list = []
    order = list(lessons)
    if rng is not None:
        # shuffle within deliveries: a delivery holds lessons of a bounded event-time range
        order.sort(key=lambda les: les.at)
        chunks, i = [], 0
        while i < len(order):
            size = rng.randrange(1, 40)
            chunk = order[i : i + size]
            rng.shuffle(chunk)
            chunks.append(chunk)
            i += size
    else:
        order.sort(key=lambda les: les.at)
        chunks = [[les] for les in order]
    for k, chunk in enumerate(chunks):
        for les in chunk:
            out += learner.add(les)
        nxt = min((les.at for les in chunks[k + 1]), default=math.inf) if k + 1 < len(chunks) else math.inf
        if math.isfinite(nxt):
            # each shard reports its own frontier, at different moments
            out += learner.progress({0: nxt - 1})
            out += learner.progress({1: nxt - 1})
    out += learner.end()
    assert learner.late == 0
    return [
        (p.version, p.as_of, p.examples_learned, p.observations_learned, p.reason, p.data)
        for p in out
        if isinstance(p, Publication)
    ]


def test_same_lessons_any_delivery_same_publications():
    lessons = _lessons(5)
    reference = _run(lessons, None)
    assert len(reference) >= 3 and any(r[4] == "interval" for r in reference)
    for seed in range(5):
        assert _run(lessons, random.Random(seed)) == reference


def test_a_lesson_behind_the_frontier_is_learned_and_counted_late():
    learner = OrderedLearner(ContactModels(), shards=(0,), interval_s=900.0)
    learner.progress(all_progress((0,), T0))
    e = Example("response", {"bias": 1.0}, True, "sms", None, "1_30", 9, "d", "a", T0 - 10)
    learner.add(Lesson.of_example(e, T0 - 10))
    assert (learner.late, learner.examples_learned) == (1, 1)


def test_frontier_is_the_slowest_shard_and_ignores_shards_without_records():
    learner = OrderedLearner(ContactModels(), shards=(0, 1, 2), interval_s=900.0)
    assert learner.progress({0: T0, 1: T0 + 50, 2: math.inf}) == [Frontier(T0, learner.version)]
    assert learner.progress({1: T0 + 60}) == []  # shard 0 holds the frontier
    assert learner.frontier == T0


def test_a_recovery_store_from_before_the_rooms_still_unpickles():
    """Snapshots name classes by module: the old names resolve to the new homes."""
    import io
    import pickle

    from connectors.store.log import FeatureWrite
    from engine.flow import compat
    from engine.flow.accounts import AccountState
    from engine.flow.queues import QueueState

    compat.install()
    find = pickle.Unpickler(io.BytesIO(b"")).find_class
    assert find("engine.dataflow", "AccountState") is AccountState
    assert find("engine.dataflow", "QueueState") is QueueState
    assert find("connectors.redis_log", "FeatureWrite") is FeatureWrite
