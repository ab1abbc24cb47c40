"""MicroBatcher on a scripted `run`: batches bounded by cost, least-served first, cancelled work skipped, failures
retried request by request, admission by queued cost."""

import asyncio
import threading

import pytest

from seq2seq.serve.batcher import Busy, MicroBatcher


class Script:
    """A `run` that records each batch and can hold the worker until released."""

    def __init__(self, fail_on=None):
        self.batches, self.fail_on = [], fail_on
        self.entered, self.release = threading.Event(), threading.Event()
        self.release.set()

    def __call__(self, items, options):
        self.batches.append(list(items))
        self.entered.set()
        self.release.wait(10)
        if self.fail_on in items:
            raise ValueError(f"cannot do {self.fail_on}")
        return [f"<{x}>" for x in items]


def run(coro):
    return asyncio.run(coro)


def test_heavy_request_is_split_and_a_light_one_goes_between():
    script = Script()
    script.release.clear()

    async def main():
        b = MicroBatcher(script, window_ms=1, max_batch=64, max_batch_cost=20)
        await b.start()
        heavy = b.enqueue([f"h{i}" for i in range(6)], (1,), [10] * 6)  # three batches of two
        await asyncio.to_thread(script.entered.wait, 5)  # the first heavy batch is running
        light = b.enqueue(["l"], (1,), [1])
        script.release.set()
        out = await asyncio.gather(heavy, light)
        await b.stop()
        return out, b.queued

    (heavy, light), queued = run(main())
    assert heavy == [f"<h{i}>" for i in range(6)] and light == ["<l>"]
    # after h0 h1 the heavy request has been served 20, the light one 0: it goes first, and h2 fills the batch
    assert script.batches == [["h0", "h1"], ["l", "h2"], ["h3", "h4"], ["h5"]]
    assert queued == 0


def test_cancelled_work_never_runs():
    script = Script()
    script.release.clear()

    async def main():
        b = MicroBatcher(script, window_ms=1)
        await b.start()
        first = b.enqueue(["a"], (1,), [5])
        await asyncio.to_thread(script.entered.wait, 5)
        gone = b.enqueue(["b", "c"], (1,), [5, 5])
        kept = b.enqueue(["d"], (1,), [5])
        assert b.queued == 20
        gone.cancel()
        script.release.set()
        out = await asyncio.gather(first, kept)
        await b.stop()
        return out, b.queued

    out, queued = run(main())
    assert out == [["<a>"], ["<d>"]] and script.batches == [["a"], ["d"]] and queued == 0


def test_a_failing_batch_is_retried_request_by_request():
    script = Script(fail_on="bad")

    async def main():
        b = MicroBatcher(script, window_ms=50)
        await b.start()
        futures = [b.enqueue(x, (1,)) for x in (["a", "b"], ["bad", "c"], ["d"])]
        out = await asyncio.gather(*futures, return_exceptions=True)
        await b.stop()
        return out, b.queued

    (ab, bad, d), queued = run(main())
    assert ab == ["<a>", "<b>"] and d == ["<d>"]
    assert isinstance(bad, ValueError) and "bad" in str(bad)
    assert script.batches[0] == ["a", "b", "bad", "c", "d"] and len(script.batches) == 4
    assert queued == 0


def test_admission_by_queued_cost():
    script = Script()
    script.release.clear()

    async def main():
        b = MicroBatcher(script, window_ms=1, max_queued_cost=10)
        await b.start()
        big = b.enqueue(["x"], (1,), [25])  # alone, a request over the cap is still admitted
        await asyncio.to_thread(script.entered.wait, 5)
        with pytest.raises(Busy, match="25 cost units queued") as e:
            b.enqueue(["y"], (1,), [1])
        script.release.set()
        await big
        await asyncio.sleep(0.01)
        after = await b.submit(["z"], (1,), [10])
        await b.stop()
        return e.value.retry_after, after

    retry, after = run(main())
    assert 1 <= retry <= 60 and after == ["<z>"]


def test_options_are_not_mixed_and_grouping_can_be_off():
    script = Script()

    async def main(grouping):
        script.batches.clear()
        b = MicroBatcher(script, window_ms=50, grouping=grouping)
        await b.start()
        await asyncio.gather(*(b.submit([f"{i}"], (i % 2,)) for i in range(6)))
        await b.stop()
        return list(script.batches)

    grouped = run(main(True))
    assert sorted(map(sorted, grouped)) == [["0", "2", "4"], ["1", "3", "5"]]
    assert sorted(run(main(False))) == [[f"{i}"] for i in range(6)]
