"""What a learner snapshot costs against the lessons it holds (`python -m benchmarks.held_cost`).

The learner holds every lesson until the frontier passes it (300 s of event time by default).
This measures, in process, one epoch's snapshot with `held` lessons waiting and `per_epoch`
arriving and as many learned: the learner pickled whole with its heap (how it was), and the
learner pickled without them beside `connectors.held.HeldLessons` (the epoch's inserts, marks
and commit included). Medians of `--reps`.
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
import statistics
import tempfile
import time
from pathlib import Path

from connectors.held import HeldLessons
from models.attribution import Example
from models.contact import ContactModels
from models.learner import HeapPending, Lesson, OrderedLearner

X_KEYS = (
    "acct_resp",
    "acct_pay",
    "acct_hour",
    "pt_rpc",
    "pt_rpc_hour",
    "pt_fail",
    "ch=sms",
    "dpd=1_30",
    "ch=sms|dpd=1_30",
    "pt=mobile",
    "ch=sms|h=10",
    "balance",
    "dpd",
    "age",
    "promises",
    "replies",
)


def lesson(i: int) -> Lesson:
    x = {k: (i * 7919 + j) % 1000 / 1000 for j, k in enumerate(X_KEYS)}
    e = Example("response", x, i % 5 == 0, "sms", "t1", "1_30", 10, f"d{i:012d}", f"acct-{i}", float(i))
    return Lesson.of_example(e, float(i))


def epoch_heap(held: int, per_epoch: int, reps: int) -> list[float]:
    learner = OrderedLearner(ContactModels(), (0,), pending=HeapPending())
    for i in range(held):
        learner.add(lesson(i))
    out, nxt = [], held
    for _ in range(reps):
        arriving = [lesson(nxt + i) for i in range(per_epoch)]  # made outside the timing
        nxt += per_epoch
        t = time.perf_counter()
        for one in arriving:
            learner.add(one)
        learner.pending.pop_until(float(nxt - held))
        pickle.dumps(learner)
        out.append(time.perf_counter() - t)
    return out


def epoch_store(held: int, per_epoch: int, reps: int, path: Path) -> list[float]:
    store = HeldLessons(path)
    learner = OrderedLearner(ContactModels(), (0,), pending=store)
    for i in range(held):
        learner.add(lesson(i))
    store.flush()
    out, nxt = [], held
    for _ in range(reps):
        arriving = [lesson(nxt + i) for i in range(per_epoch)]  # made outside the timing
        nxt += per_epoch
        t = time.perf_counter()
        for one in arriving:
            learner.add(one)
        learner.pending.pop_until(float(nxt - held))
        pickle.dumps((store.flush(), dataclasses.replace(learner, pending=None)))
        out.append(time.perf_counter() - t)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.held_cost", description=__doc__.splitlines()[0])
    ap.add_argument("--held", default="1000,10000,100000")
    ap.add_argument("--per-epoch", type=int, default=1000, help="lessons arriving (and learned) an epoch")
    ap.add_argument("--reps", type=int, default=15)
    args = ap.parse_args(argv)
    print(
        f"| lessons held | heap in the snapshot: ms an epoch (p50 / max) | held store: ms an epoch "
        f"(p50 / max) | {args.per_epoch} in, {args.per_epoch} learned an epoch |"
    )
    print("| ---: | ---: | ---: | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(v) for v in args.held.split(",")):
            heap = epoch_heap(n, args.per_epoch, args.reps)
            store = epoch_store(n, args.per_epoch, args.reps, Path(tmp) / f"held-{n}.db")
            print(
                f"| {n:,} | {statistics.median(heap) * 1e3:.1f} / {max(heap) * 1e3:.1f} | "
                f"{statistics.median(store) * 1e3:.1f} / {max(store) * 1e3:.1f} | |"
            )


if __name__ == "__main__":
    main()
