"""The learner's held lessons on SQLite (connectors/held.py): resuming from a snapshot's flush
count gives back exactly the lessons held at that snapshot, whatever happened after it."""

from __future__ import annotations

import heapq
import pickle

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.held import KEPT, HeldLessons
from engine.flow.learner import restore
from models.attribution import Example
from models.contact import ContactModels
from models.learner import HeapPending, Lesson, OrderedLearner


def lesson(i: int, at: float) -> Lesson:
    e = Example("response", {"acct_resp": i / 10}, i % 2 == 0, "sms", None, "1_30", 10, f"d{i}", f"a{i}", at)
    return Lesson.of_example(e, at)


def ids(lessons: list[Lesson]) -> list[str]:
    return [x.item.decision_id for x in lessons]  # type: ignore[union-attr]


def test_a_resume_forgets_what_came_after_its_snapshot(tmp_path):
    path = tmp_path / "held.db"
    held = HeldLessons(path)
    for i, at in enumerate([30.0, 10.0, 20.0]):
        held.push(lesson(i, at))
    assert ids(held.pop_until(15.0)) == ["d1"]
    n = held.flush()  # the snapshot: held d0 (30) and d2 (20)
    held.push(lesson(3, 5.0))
    assert ids(held.pop_until(25.0)) == ["d3", "d2"]
    held.flush()  # a later flush whose snapshot never reached Bytewax's store
    held.push(lesson(4, 1.0))  # and work after it, never flushed: the process is killed
    held.db.close()

    again = HeldLessons(path, n)
    assert len(again) == 2
    assert ids(again.pop_until(100.0)) == ["d2", "d0"]


def test_learned_lessons_go_after_the_kept_flushes(tmp_path):
    held = HeldLessons(tmp_path / "held.db")
    held.push(lesson(0, 1.0))
    held.pop_until(1.0)
    for _ in range(KEPT + 1):
        held.flush()
    assert held.db.execute("SELECT count(*) FROM held").fetchone()[0] == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.booleans()), min_size=1, max_size=40), st.data())
def test_held_lessons_match_the_heap_across_resumes(tmp_path_factory, steps, data):
    """Random pushes, frontier moves and flushes; a resume from any flush the store still
    covers gives back the heap's content at that flush, in the heap's order."""
    path = tmp_path_factory.mktemp("held") / "held.db"
    kept = 3
    held, heap = HeldLessons(path, kept=kept), HeapPending()
    at_flush: dict[int, list[Lesson]] = {0: []}
    frontier = 0.0
    for i, (at, advance) in enumerate(steps):
        if advance:
            frontier += 5.0
            assert ids(held.pop_until(frontier)) == ids(heap.pop_until(frontier))
        held.push(lesson(i, float(at)))
        heap.push(lesson(i, float(at)))
        if i % 3 == 2:
            at_flush[held.flush()] = sorted(heap.heap, key=lambda t: (t[0], t[1]))
    # learned lessons stay `kept` flushes: a resume from any of those snapshots is exact
    n = data.draw(st.sampled_from(sorted(k for k in at_flush if k >= held.flushes - kept)))
    held.db.close()
    again = HeldLessons(path, n)
    assert ids(again.pop_until(1e9)) == ids([t[2] for t in at_flush[n]])


def test_a_snapshot_written_before_the_store_resumes_with_its_lessons(tmp_path):
    old = OrderedLearner(ContactModels(), (0,))
    old.pending = []  # type: ignore[assignment]  # the heap a snapshot held before
    for i, at in enumerate([3.0, 1.0, 2.0]):
        heapq.heappush(old.pending, (at, lesson(i, at).key, lesson(i, at)))  # type: ignore[arg-type]
    learner = restore(pickle.dumps(old), tmp_path / "held.db", OrderedLearner(ContactModels(), (0,)))
    assert ids(learner.pending.pop_until(10.0)) == ["d1", "d2", "d0"]
