"""Micro-batching: requests arriving within a short window are translated together, off the event loop."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field


@dataclass
class _Job:
    texts: list[str]
    options: tuple  # requests are batched only with others of the same options (beam, n-best, attention)
    future: asyncio.Future = field(repr=False)


class MicroBatcher:
    """Collects jobs for up to `window_ms` (or until `max_batch` sentences) and runs them as one call of
    `run(texts, options) -> results` in a single worker thread; each job gets its slice of the results."""

    def __init__(self, run, window_ms: float = 5.0, max_batch: int = 64):
        self.run, self.window, self.max_batch = run, window_ms / 1000.0, max_batch
        self.queue: asyncio.Queue[_Job] | None = None
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self.task: asyncio.Task | None = None
        self.batches = 0  # for /health and tests

    async def start(self) -> None:
        self.queue = asyncio.Queue()
        self.task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
        self.pool.shutdown(wait=False, cancel_futures=True)

    async def submit(self, texts: list[str], options: tuple) -> list:
        if self.queue is None:  # not started (e.g. batching off): run directly, still off the loop
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.pool, self.run, texts, options)
        fut = asyncio.get_running_loop().create_future()
        await self.queue.put(_Job(texts, options, fut))
        return await fut

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        pending: list[_Job] = []
        while True:
            job = pending.pop(0) if pending else await self.queue.get()
            group, size = [job], len(job.texts)
            deadline = loop.time() + self.window
            while size < self.max_batch:
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    nxt = await asyncio.wait_for(self.queue.get(), timeout)
                except asyncio.TimeoutError:
                    break
                if nxt.options == job.options and size + len(nxt.texts) <= self.max_batch:
                    group.append(nxt)
                    size += len(nxt.texts)
                else:
                    pending.append(nxt)
            texts = [t for j in group for t in j.texts]
            self.batches += 1
            try:
                results = await loop.run_in_executor(self.pool, self.run, texts, job.options)
            except Exception as e:  # hand the failure to every waiting request
                for j in group:
                    if not j.future.done():
                        j.future.set_exception(e)
                continue
            start = 0
            for j in group:
                if not j.future.done():
                    j.future.set_result(results[start : start + len(j.texts)])
                start += len(j.texts)
