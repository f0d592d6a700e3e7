"""What a learner snapshot costs against the lessons it holds (`python -m benchmarks.held_cost`).

The learner holds every lesson until the frontier passes it (300 s of event time by default).
This measures, in process, one epoch's snapshot with `held` lessons waiting and `per_epoch`
arriving and as many learned: the learner pickled whole with its heap (how it was), and the
learner pickled without them beside `connectors.held.HeldLessons` (the epoch's inserts, marks
and commit included). Medians of `--reps`.
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from connectors.held import HeldLessons
from engine.flow.learner import Learner
from engine.metrics import Metrics
from models.attribution import Example
from models.contact import ContactModels
from models.learner import HeapPending, Lesson, OrderedLearner, Pending

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


def epoch_times(
    pending: Pending, held: int, per_epoch: int, reps: int, snapshot: Callable[[Learner], bytes]
) -> list[float]:
    """Seconds of each epoch: `per_epoch` lessons in, as many learned, then the snapshot."""
    learner = Learner(OrderedLearner(ContactModels(), (0,), pending=pending), Metrics())
    for i in range(held):
        learner.learner.add(lesson(i))
    snapshot(learner)
    out, nxt = [], held
    for _ in range(reps):
        arriving = [lesson(nxt + i) for i in range(per_epoch)]  # made outside the timing
        nxt += per_epoch
        t = time.perf_counter()
        for one in arriving:
            learner.learner.add(one)
        learner.learner.pending.pop_until(float(nxt - held))
        snapshot(learner)
        out.append(time.perf_counter() - t)
    return out


def whole(learner: Learner) -> bytes:
    """How the learner was snapshotted before the held store: with every held lesson."""
    return pickle.dumps(learner.learner)


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
            heap = epoch_times(HeapPending(), n, args.per_epoch, args.reps, whole)
            store = epoch_times(
                HeldLessons(Path(tmp) / f"held-{n}.db"), n, args.per_epoch, args.reps, Learner.snapshot
            )
            print(
                f"| {n:,} | {statistics.median(heap) * 1e3:.1f} / {max(heap) * 1e3:.1f} | "
                f"{statistics.median(store) * 1e3:.1f} / {max(store) * 1e3:.1f} | |"
            )


if __name__ == "__main__":
    main()
