"""How Python contenders are driven: one call after another, N threads, N asyncio tasks,
or batches. Each returns the answer a worker sends: ops, seconds, hits, latencies_us."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

Call = Callable[[str], Any]
AsyncCall = Callable[[str], Awaitable[Any]]


def _answer(ops: int, seconds: float, hits: int, latencies_ns: Sequence[int]) -> dict:
    return {"ops": ops, "seconds": seconds, "hits": hits,
            "latencies_us": [round(ns / 1000, 2) for ns in latencies_ns]}


def sequential(call: Call, prompts: Sequence[str], ops: int) -> dict:
    latencies = [0] * ops
    hits = 0
    clock = time.perf_counter_ns
    n = len(prompts)
    start = clock()
    for i in range(ops):
        begin = clock()
        hits += call(prompts[i % n]) is not None
        latencies[i] = clock() - begin
    return _answer(ops, (clock() - start) / 1e9, hits, latencies)


def threaded(call: Call, prompts: Sequence[str], ops: int, threads: int) -> dict:
    """`threads` threads, each calling one after another until `ops` calls are done."""
    latencies = [0] * ops
    hits = [0] * threads
    counter = itertools.count()  # next() on a count is atomic under the GIL
    clock = time.perf_counter_ns
    ready = threading.Barrier(threads + 1)

    def work(slot: int) -> None:
        ready.wait()
        n = len(prompts)
        while (i := next(counter)) < ops:
            begin = clock()
            hits[slot] += call(prompts[i % n]) is not None
            latencies[i] = clock() - begin

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    ready.wait()
    start = clock()
    for thread in pool:
        thread.join()
    return _answer(ops, (clock() - start) / 1e9, sum(hits), latencies)


def gathered(acall: AsyncCall, prompts: Sequence[str], ops: int, tasks: int) -> dict:
    """`tasks` asyncio tasks under asyncio.gather, each awaiting one call after another."""
    latencies = [0] * ops
    hits = 0
    counter = itertools.count()
    clock = time.perf_counter_ns
    n = len(prompts)

    async def work() -> None:
        nonlocal hits
        while (i := next(counter)) < ops:
            begin = clock()
            result = await acall(prompts[i % n])
            latencies[i] = clock() - begin
            hits += result is not None  # after the await: += across it would lose counts

    async def main() -> float:
        start = clock()
        await asyncio.gather(*(work() for _ in range(tasks)))
        return (clock() - start) / 1e9

    seconds = asyncio.run(main())
    return _answer(ops, seconds, hits, latencies)


def batches(call_batch: Callable[[Sequence[str]], int], prompts: Sequence[str], ops: int,
            size: int) -> dict:
    """`ops` batches of `size` prompts; `call_batch` returns its hit count. Latency per batch."""
    latencies = [0] * ops
    hits = 0
    clock = time.perf_counter_ns
    n = len(prompts)
    start = clock()
    for b in range(ops):
        batch = [prompts[(b * size + k) % n] for k in range(size)]
        begin = clock()
        hits += call_batch(batch)
        latencies[b] = clock() - begin
    return _answer(ops, (clock() - start) / 1e9, hits, latencies)


def gathered_batches(acall: AsyncCall, prompts: Sequence[str], ops: int, size: int) -> dict:
    """`ops` batches, each `size` calls under one asyncio.gather. Latency per batch."""

    async def one(batch: Sequence[str]) -> int:
        results = await asyncio.gather(*(acall(p) for p in batch))
        return sum(r is not None for r in results)

    loop = asyncio.new_event_loop()
    try:
        return batches(lambda batch: loop.run_until_complete(one(batch)), prompts, ops, size)
    finally:
        loop.close()


def _rss_kb() -> int:
    with open("/proc/self/statm") as statm:
        resident = int(statm.read().split()[1])
    import os

    return resident * os.sysconf("SC_PAGE_SIZE") // 1024


def resident_growth(call: Call, prompts: Sequence[str], ops: int) -> dict:
    """Resident memory before and after `ops` calls (nothing recorded per call, so the
    measurement does not grow the process itself)."""
    import gc

    n = len(prompts)
    for i in range(min(ops // 10, 20_000)):  # warm up: allocator pools, caches
        call(prompts[i % n])
    gc.collect()
    before = _rss_kb()
    start = time.perf_counter()
    for i in range(ops):
        call(prompts[i % n])
    seconds = time.perf_counter() - start
    gc.collect()
    return {"ops": ops, "seconds": seconds, "rss_before_kb": before, "rss_after_kb": _rss_kb()}
