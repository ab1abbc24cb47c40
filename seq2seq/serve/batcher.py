"""Micro-batching with admission by cost: requests arriving within a short window are decoded together, off the
event loop, in batches of bounded cost; the least-served request goes first, so one heavy client cannot starve
the others; a cancelled request's queued work never runs; a failing batch is retried request by request."""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field


class Busy(Exception):
    """The queue holds more work than `max_queued_cost`: try again after `retry_after` seconds."""

    def __init__(self, queued: float, cost: float, limit: float, retry_after: int):
        super().__init__(f"the server is busy ({queued:,.0f} cost units queued, this request {cost:,.0f}, limit "
                         f"{limit:,.0f}); retry after {retry_after} s")
        self.retry_after = retry_after


@dataclass(eq=False)
class _Job:
    items: list
    costs: list[float]
    options: tuple  # jobs are batched only with others of the same options (beam, n-best, attention)
    future: asyncio.Future = field(repr=False)
    seq: int = 0  # arrival order
    arrived: float = 0.0
    next: int = 0  # items before this have been handed to a batch
    served: float = 0.0  # cost handed to batches so far: the least-served job goes first
    results: list = field(default_factory=list)

    def remaining(self) -> float:
        return sum(self.costs[self.next :])


@dataclass
class _Slice:
    job: _Job
    start: int
    stop: int

    def cost(self) -> float:
        return sum(self.job.costs[self.start : self.stop])


class MicroBatcher:
    """Runs `run(items, options) -> results` (one result per item) in a single worker thread on batches of up to
    `max_batch` items and `max_batch_cost` cost, collected for up to `window_ms`. A request's items may be split
    over several batches (results are independent of the batch). `grouping=False` runs each request alone."""

    def __init__(self, run, window_ms: float = 5.0, max_batch: int = 64, max_batch_cost: float = math.inf,
                 max_queued_cost: float = math.inf, grouping: bool = True):
        self.run, self.window, self.max_batch = run, window_ms / 1000.0, max_batch
        self.max_batch_cost, self.max_queued_cost, self.grouping = max_batch_cost, max_queued_cost, grouping
        self.jobs: list[_Job] = []  # with items not yet handed to a batch
        self.queued = 0.0  # cost of the work admitted and not finished
        self.rate = 1000.0  # cost per second, measured on each batch; for Retry-After
        self.batches = 0  # for /health and tests
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self._seq = itertools.count()
        self._wake: asyncio.Event | None = None
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self.task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def enqueue(self, items: list, options: tuple, costs: list[float] | None = None) -> asyncio.Future:
        """Admit a request and return the future of its results; cancel the future to drop its queued work.
        Raises Busy when the queued cost would pass `max_queued_cost` (a request is always admitted alone)."""
        costs = [1.0] * len(items) if costs is None else list(costs)
        total = sum(costs)
        if self.queued > 0 and self.queued + total > self.max_queued_cost:
            raise Busy(self.queued, total, self.max_queued_cost, self.retry_after())
        loop = asyncio.get_running_loop()
        job = _Job(list(items), costs, options, loop.create_future(), next(self._seq), loop.time())
        if not items:
            job.future.set_result([])
            return job.future
        self.jobs.append(job)
        self.queued += total
        self._wake.set()
        return job.future

    async def submit(self, items: list, options: tuple, costs: list[float] | None = None) -> list:
        return await self.enqueue(items, options, costs)

    def retry_after(self) -> int:
        """Seconds until the queued work should be done, at the measured rate (1 to 60)."""
        return int(min(60, max(1, math.ceil(self.queued / self.rate))))

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._drop_cancelled()
            if not self.jobs:
                self._wake.clear()
                await self._wake.wait()
                continue
            await self._collect(loop)
            self._drop_cancelled()
            if self.jobs:
                await self._run(loop, *self._take())

    async def _collect(self, loop) -> None:
        """Wait until the oldest waiting request is `window` old or a batch's worth of items is waiting."""
        if not self.grouping:
            return
        deadline = min(j.arrived for j in self.jobs) + self.window
        while sum(len(j.items) - j.next for j in self.jobs) < self.max_batch and loop.time() < deadline:
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), deadline - loop.time())
            except asyncio.TimeoutError:
                break

    def _drop_cancelled(self) -> None:
        for job in [j for j in self.jobs if j.future.done()]:  # cancelled (timed out, disconnected) or failed
            self.queued -= job.remaining()
            self.jobs.remove(job)

    def _take(self) -> tuple[tuple, list[_Slice]]:
        """The next batch: the least-served job's options, then jobs with the same options in the same order, as
        many items as fit in `max_batch` and `max_batch_cost` (at least one item)."""
        order = sorted(self.jobs, key=lambda j: (j.served, j.seq))
        options, batch, n, cost = order[0].options, [], 0, 0.0
        for job in order:
            if job.options != options or (batch and not self.grouping):
                continue
            stop = job.next
            while stop < len(job.items) and n < self.max_batch and (n == 0 or cost + job.costs[stop]
                                                                    <= self.max_batch_cost):
                cost, n, stop = cost + job.costs[stop], n + 1, stop + 1
            if stop > job.next:
                batch.append(_Slice(job, job.next, stop))
                job.served += sum(job.costs[job.next : stop])
                job.next = stop
                if stop == len(job.items):
                    self.jobs.remove(job)
        return options, batch

    async def _run(self, loop, options: tuple, batch: list[_Slice]) -> None:
        cost = sum(s.cost() for s in batch)
        try:
            await self._execute(loop, options, batch)
        finally:
            self.queued -= cost

    async def _execute(self, loop, options: tuple, batch: list[_Slice]) -> None:
        items = [it for s in batch for it in s.job.items[s.start : s.stop]]
        self.batches += 1
        tic = time.perf_counter()
        try:
            results = await loop.run_in_executor(self.pool, self.run, items, options)
        except Exception as e:  # noqa: BLE001 - one bad request must not fail the others: retry each alone
            if len(batch) == 1:
                if not batch[0].job.future.done():  # its queued rest is dropped by _drop_cancelled
                    batch[0].job.future.set_exception(e)
                return
            for s in batch:
                if not s.job.future.done():
                    await self._execute(loop, options, [s])
            return
        self.rate = 0.8 * self.rate + 0.2 * sum(s.cost() for s in batch) / max(time.perf_counter() - tic, 1e-3)
        start = 0
        for s in batch:
            s.job.results.extend(results[start : start + s.stop - s.start])
            start += s.stop - s.start
            if len(s.job.results) == len(s.job.items) and not s.job.future.done():
                s.job.future.set_result(s.job.results)
