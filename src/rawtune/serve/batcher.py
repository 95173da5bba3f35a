"""Dynamic micro-batching: concurrent requests for one model are merged into one model call.

Each model has a queue and a collector task on the event loop. The collector takes the oldest
request, then keeps taking queued ones until the batch holds `max_batch_size` examples or
`max_wait_ms` has passed since it started, and hands the batch to a thread pool shared by all models
(so tokenisation and inference never block the event loop). Requests are never split: one larger
than the batch runs alone. While a batch runs, new requests queue and form the next one, so under
load batches fill without waiting. Each model has at most one batch in flight (its tokenizer is not
safe to use from two threads at once); with one pool thread, models take turns in arrival order.

A request whose caller gave up (deadline, disconnect) before its batch ran is dropped from it. When a
merged batch fails, each of its requests is run alone, so one bad input fails only its own request.
`close()` stops taking requests and finishes every queued one before it returns (graceful drain)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("rawtune.serve")

RunFn = Callable[[str, list[Any]], list[Any]]  # (model name, inputs) -> one output per input
BatchHook = Callable[[str, int, int, float], None]  # (model, examples, requests, seconds)


class BatcherClosed(RuntimeError):
    """The batcher is draining or stopped and takes no new requests."""


@dataclass
class _Job:
    items: list[Any]
    future: asyncio.Future = field(repr=False)


_STOP = object()


class MicroBatcher:
    def __init__(
        self,
        run: RunFn,
        names: Sequence[str],
        *,
        max_batch_size: int = 32,
        max_wait_ms: float = 5.0,
        workers: int = 1,
        on_batch: BatchHook | None = None,
    ):
        if max_batch_size < 1 or max_wait_ms < 0 or workers < 1:
            raise ValueError("max_batch_size and workers must be >= 1, max_wait_ms >= 0")
        self._run_fn, self.names = run, list(names)
        self.max_batch_size, self.max_wait = max_batch_size, max_wait_ms / 1000.0
        self.workers, self.on_batch = workers, on_batch
        self._queues: dict[str, asyncio.Queue] = {}
        self._tasks: list[asyncio.Task] = []
        self._pool: ThreadPoolExecutor | None = None
        self._open = False

    # --- lifecycle ----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._open

    async def start(self) -> None:
        if self._open:
            return
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="rawtune-infer")
        self._queues = {name: asyncio.Queue() for name in self.names}
        self._tasks = [
            asyncio.create_task(self._collect(name, q), name=f"batcher-{name}")
            for name, q in self._queues.items()
        ]
        self._open = True

    async def close(self) -> None:
        """Refuse new requests, finish every queued one, stop the collectors and the threads."""
        if not self._open:
            return
        self._open = False
        for q in self._queues.values():
            q.put_nowait(_STOP)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def depth(self, name: str) -> int:
        """Requests waiting for `name` (not counting the batch that is running)."""
        q = self._queues.get(name)
        return q.qsize() if q is not None else 0

    # --- requests -----------------------------------------------------------------------------
    async def submit(self, name: str, items: list[Any]) -> list[Any]:
        """The outputs for `items` (in order), computed in some batch of model `name`. Cancelling the
        caller (e.g. `asyncio.wait_for`) drops the request if its batch has not started."""
        if not self._open:
            raise BatcherClosed("the server is shutting down")
        if name not in self._queues:
            raise KeyError(name)
        if not items:
            return []
        future = asyncio.get_running_loop().create_future()
        self._queues[name].put_nowait(_Job(list(items), future))
        return await future

    # --- the collector ------------------------------------------------------------------------
    async def _collect(self, name: str, queue: asyncio.Queue) -> None:
        carry: Any = None
        while True:
            job = carry if carry is not None else await queue.get()
            carry = None
            if job is _STOP:
                return
            batch, carry = await self._gather(job, queue)
            try:
                await self._run(name, batch)
            except Exception as e:  # never let a collector die: fail its requests instead
                log.error("batcher %s: unexpected error", name, exc_info=e)
                for j in batch:
                    _settle(j.future, error=e)

    async def _gather(self, first: _Job, queue: asyncio.Queue) -> tuple[list[_Job], Any]:
        """`first` plus what else fits within the size and wait bounds; also the job taken that did
        not fit (it starts the next batch)."""
        loop = asyncio.get_running_loop()
        batch, size = [first], len(first.items)
        deadline = loop.time() + self.max_wait
        while size < self.max_batch_size:
            try:
                nxt = queue.get_nowait()
            except asyncio.QueueEmpty:
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    nxt = await asyncio.wait_for(queue.get(), left)
                except asyncio.TimeoutError:
                    break
            if nxt is _STOP or size + len(nxt.items) > self.max_batch_size:
                return batch, nxt
            batch.append(nxt)
            size += len(nxt.items)
        return batch, None

    async def _run(self, name: str, batch: list[_Job]) -> None:
        jobs = [j for j in batch if not j.future.done()]  # callers that gave up are dropped
        if not jobs:
            return
        items = [x for j in jobs for x in j.items]
        assert self._pool is not None
        start = time.perf_counter()
        try:
            out = await asyncio.get_running_loop().run_in_executor(self._pool, self._run_fn, name, items)
            if len(out) != len(items):
                raise RuntimeError(f"model {name!r} returned {len(out)} outputs for {len(items)} inputs")
        except Exception as e:
            if len(jobs) > 1:  # find the request that fails: each alone
                for j in jobs:
                    await self._run(name, [j])
                return
            _settle(jobs[0].future, error=e)
            return
        if self.on_batch is not None:
            self.on_batch(name, len(items), len(jobs), time.perf_counter() - start)
        at = 0
        for j in jobs:
            _settle(j.future, result=out[at : at + len(j.items)])
            at += len(j.items)


def _settle(future: asyncio.Future, *, result: Any = None, error: BaseException | None = None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
