"""MicroBatcher on a plain function (no model): merging within the size and wait bounds, requests
never split, per-model queues, a failing request isolated, callers that gave up dropped, and a
drain that finishes queued work."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from rawtune.serve.batcher import BatcherClosed, MicroBatcher


class Model:
    def __init__(self, delay: float = 0.0, fail_on: object = None):
        self.delay, self.fail_on = delay, fail_on
        self.calls: list[tuple[str, list]] = []
        self.threads: set[str] = set()

    def __call__(self, name: str, items: list) -> list:
        self.calls.append((name, list(items)))
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        if self.fail_on in items:
            raise ValueError(f"cannot take {self.fail_on!r}")
        return [f"{name}:{x}" for x in items]


def run(coro):
    return asyncio.run(coro)


async def started(model: Model, names=("a",), **kw) -> MicroBatcher:
    b = MicroBatcher(model, list(names), **kw)
    await b.start()
    return b


def test_concurrent_requests_share_a_batch_and_get_their_own_results():
    model = Model(delay=0.02)

    async def main():
        b = await started(model, max_batch_size=10, max_wait_ms=50)
        out = await asyncio.gather(*(b.submit("a", [i, i + 100]) for i in range(4)))
        await b.close()
        return out

    out = run(main())
    assert out == [[f"a:{i}", f"a:{i + 100}"] for i in range(4)]
    assert len(model.calls) == 1 and len(model.calls[0][1]) == 8
    assert all(t.startswith("rawtune-infer") for t in model.threads)  # off the event loop


def test_batches_stop_at_the_size_bound_and_never_split_a_request():
    model = Model(delay=0.01)

    async def main():
        b = await started(model, max_batch_size=4, max_wait_ms=30)
        sizes = [3, 3, 1, 6, 2]
        out = await asyncio.gather(*(b.submit("a", list(range(n))) for n in sizes))
        await b.close()
        return sizes, out

    sizes, out = run(main())
    assert [len(o) for o in out] == sizes
    got = [len(items) for _, items in model.calls]
    assert sum(got) == sum(sizes) and all(n <= 4 or n == 6 for n in got)
    assert 6 in got  # the oversized request ran alone, whole


def test_zero_wait_takes_what_is_queued_and_under_load_batches_fill():
    model = Model(delay=0.05)

    async def main():
        b = await started(model, max_batch_size=32, max_wait_ms=0)
        first = asyncio.create_task(b.submit("a", [0]))
        await asyncio.sleep(0.01)  # the first batch is running; these queue behind it
        rest = await asyncio.gather(*(b.submit("a", [i]) for i in range(1, 6)))
        await first
        await b.close()
        return rest

    run(main())
    assert [len(items) for _, items in model.calls] == [1, 5]


def test_models_have_their_own_queues():
    model = Model(delay=0.01)

    async def main():
        b = await started(model, names=("a", "b"), max_batch_size=8, max_wait_ms=30)
        out = await asyncio.gather(*(b.submit(n, [i]) for i, n in enumerate("abab")))
        await b.close()
        return out

    assert run(main()) == [["a:0"], ["b:1"], ["a:2"], ["b:3"]]
    assert sorted((name, sorted(items)) for name, items in model.calls) == [("a", [0, 2]), ("b", [1, 3])]


def test_a_failing_request_fails_alone():
    model = Model(fail_on="bad")

    async def main():
        b = await started(model, max_batch_size=8, max_wait_ms=30)
        out = await asyncio.gather(
            b.submit("a", [1]), b.submit("a", ["bad"]), b.submit("a", [2]), return_exceptions=True
        )
        await b.close()
        return out

    ok1, bad, ok2 = run(main())
    assert ok1 == ["a:1"] and ok2 == ["a:2"]
    assert isinstance(bad, ValueError)


def test_callers_that_gave_up_are_dropped_and_close_drains():
    model = Model(delay=0.1)

    async def main():
        b = await started(model, max_batch_size=1, max_wait_ms=0)
        first = asyncio.create_task(b.submit("a", ["first"]))
        await asyncio.sleep(0.02)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(b.submit("a", ["abandoned"]), 0.01)
        queued = [asyncio.create_task(b.submit("a", [f"q{i}"])) for i in range(3)]
        await asyncio.sleep(0)
        await b.close()  # returns only when every queued request is answered
        assert all(t.done() for t in queued)
        with pytest.raises(BatcherClosed):
            await b.submit("a", ["late"])
        return await first, [t.result() for t in queued]

    first, queued = run(main())
    assert first == ["a:first"] and queued == [["a:q0"], ["a:q1"], ["a:q2"]]
    assert ["abandoned"] not in [items for _, items in model.calls]


def test_bounds_are_checked():
    with pytest.raises(ValueError):
        MicroBatcher(Model(), ["a"], max_batch_size=0)
    with pytest.raises(ValueError):
        MicroBatcher(Model(), ["a"], max_wait_ms=-1)
