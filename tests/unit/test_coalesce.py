"""engine.decisions.coalesce: requests that reach the coalescer in one turn of the event loop run as one
batch, and each caller gets its own answer or its own error."""

from __future__ import annotations

import asyncio

import pytest

from engine.decisions.coalesce import Coalescer


class Recorder:
    def __init__(self, fail_batch: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.fail_batch = fail_batch

    async def run(self, items: list[int]) -> list[int | Exception]:
        self.batches.append(items)
        await asyncio.sleep(0)  # a round trip
        if self.fail_batch:
            raise ConnectionError("redis went away")
        if 13 in items:  # an item whose data breaks the whole batch
            raise ZeroDivisionError("poison")
        return [ValueError(f"bad {i}") if i < 0 else i * 10 for i in items]


def test_callers_of_one_turn_share_a_batch_and_get_their_own_answers():
    async def main():
        rec = Recorder()
        c = Coalescer(rec.run, batch_from=0)
        first = await asyncio.gather(*(c.submit(i) for i in range(5)))
        second = await c.submit(7)  # after the first batch: a batch of its own
        return rec.batches, first, second

    batches, first, second = asyncio.run(main())
    assert batches == [[0, 1, 2, 3, 4], [7]]
    assert first == [0, 10, 20, 30, 40] and second == 70


def test_while_the_process_keeps_up_each_item_runs_at_once_alone():
    async def main():
        rec = Recorder()
        c = Coalescer(rec.run, batch_from=2)
        answers = await asyncio.gather(*(c.submit(i) for i in range(5)))
        return rec.batches, answers, c.in_flight

    batches, answers, in_flight = asyncio.run(main())
    assert batches == [[0], [1], [2, 3, 4]]  # two in flight at most run alone; beyond, together
    assert answers == [0, 10, 20, 30, 40] and in_flight == 0


def test_an_item_error_reaches_its_caller_only():
    async def main():
        c = Coalescer(Recorder().run, batch_from=0)
        return await asyncio.gather(c.submit(1), c.submit(-1), c.submit(2), return_exceptions=True)

    one, bad, two = asyncio.run(main())
    assert (one, two) == (10, 20)
    assert isinstance(bad, ValueError) and str(bad) == "bad -1"


def test_a_batch_that_fails_for_everyone_fails_every_caller():
    async def main():
        rec = Recorder(fail_batch=True)
        c = Coalescer(rec.run, batch_from=0)
        return rec, await asyncio.gather(c.submit(1), c.submit(2), return_exceptions=True)

    rec, results = asyncio.run(main())
    assert all(isinstance(r, ConnectionError) for r in results)
    assert rec.batches == [[1, 2], [1], [2]]  # tried together, then each alone


def test_an_item_that_breaks_its_batch_fails_only_its_caller():
    async def main():
        rec = Recorder()
        c = Coalescer(rec.run, batch_from=0)
        return rec, await asyncio.gather(c.submit(1), c.submit(13), c.submit(2), return_exceptions=True)

    rec, (one, poison, two) = asyncio.run(main())
    assert (one, two) == (10, 20)
    assert isinstance(poison, ZeroDivisionError)
    assert rec.batches == [[1, 13, 2], [1], [13], [2]]


def test_a_caller_that_goes_away_does_not_disturb_the_others():
    async def main():
        rec = Recorder()
        c = Coalescer(rec.run, batch_from=0)
        gone = asyncio.ensure_future(c.submit(1))
        stays = asyncio.ensure_future(c.submit(2))
        await asyncio.sleep(0)  # both submitted, the batch not yet started
        gone.cancel()
        return rec, await stays, gone

    rec, stays, gone = asyncio.run(main())
    assert stays == 20 and gone.cancelled()
    assert rec.batches == [[1, 2]]
    with pytest.raises(asyncio.CancelledError):
        gone.result()


def test_a_batch_whose_writes_may_stand_is_not_run_again_alone():
    """A failure after which the batch's writes may have been applied (OutcomeUnknown) is
    every caller's answer: running each item again would write it a second time."""

    class Unknown(Exception):
        pass

    async def main():
        batches: list[list[int]] = []

        async def run(items: list[int]) -> list[int | Exception]:
            batches.append(items)
            raise Unknown("the write left; no answer came")

        c = Coalescer(run, batch_from=0, alone_after=lambda exc: not isinstance(exc, Unknown))
        answers = await asyncio.gather(*(c.submit(i) for i in range(4)), return_exceptions=True)
        return batches, answers

    batches, answers = asyncio.run(main())
    assert batches == [[0, 1, 2, 3]]
    assert all(isinstance(a, Unknown) for a in answers)
