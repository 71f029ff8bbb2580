"""single_flight and stale_ttl (issue 13) with real memcached and real OS processes.

The processes run tests/python/apps/single_flight_worker.py: LangChain callers invoking a
slow model through ``set_llm_cache(MemcachedCache(..., single_flight=True))``. Model calls
are counted in a file every process appends to. Counts and values are asserted, never
durations.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from langchain_core.outputs import Generation

from langchain_memcached import InvalidArgumentError, MemcachedCache

WORKER = Path(__file__).parent / "apps" / "single_flight_worker.py"
ANSWER = "forty-two, computed once"
LLM = "single-flight-llm"


class Workers:
    """Worker processes, always killed at the end."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[str]] = []

    def start(self, server: str, calls: Path, threads: int, tasks: int, **env: str) -> (
        subprocess.Popen[str]
    ):
        process = subprocess.Popen(
            [sys.executable, str(WORKER), server, str(calls), str(threads), str(tasks)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
        )
        self.processes.append(process)
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        return process

    @staticmethod
    def go(process: subprocess.Popen[str]) -> None:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()

    @staticmethod
    def result(process: subprocess.Popen[str]) -> dict:
        out, _ = process.communicate(timeout=180)
        assert process.returncode == 0
        return json.loads(out.strip().splitlines()[-1])

    def kill_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()


@pytest.fixture
def workers():
    started = Workers()
    yield started
    started.kill_all()


def model_calls(calls: Path) -> int:
    return len(calls.read_text().splitlines()) if calls.exists() else 0


def total(results: list[dict], counter: str) -> int:
    return sum(r["stats"][counter] for r in results)


def test_72_callers_in_3_processes_call_the_model_once(memcached, workers, tmp_path):
    calls = tmp_path / "calls"
    processes = [workers.start(memcached.spec, calls, threads=4, tasks=20) for _ in range(3)]
    for process in processes:
        workers.go(process)
    results = [workers.result(p) for p in processes]

    answers = [a for r in results for a in r["answers"]]
    assert answers == [ANSWER] * 72
    assert model_calls(calls) == 1
    assert total(results, "misses") == 1
    assert total(results, "leases_won") == 1
    assert total(results, "hits") == 71
    assert total(results, "lease_wait_timeouts") == 0
    assert total(results, "decode_errors") == 0
    assert total(results, "lease_waits") > 0  # the others did wait for the one call


def test_a_killed_winner_costs_one_more_model_call(memcached, workers, tmp_path):
    calls = tmp_path / "calls"
    winner = workers.start(memcached.spec, calls, threads=1, tasks=0,
                           LLMCACHE_TEST_LEASE_TTL="2", LLMCACHE_TEST_HANG="1")
    workers.go(winner)
    while model_calls(calls) == 0:  # the winner is inside its model call
        assert winner.poll() is None
        time.sleep(0.05)
    others = [workers.start(memcached.spec, calls, threads=2, tasks=5,
                            LLMCACHE_TEST_LEASE_TTL="2") for _ in range(2)]
    for process in others:
        workers.go(process)
    os.kill(winner.pid, signal.SIGKILL)  # before it stores
    winner.wait()
    results = [workers.result(p) for p in others]

    assert [a for r in results for a in r["answers"]] == [ANSWER] * 14
    assert model_calls(calls) == 2
    assert total(results, "leases_won") == 1
    assert total(results, "hits") == 13
    assert total(results, "lease_wait_timeouts") == 0


def _stored_then_stale(server: str) -> None:
    writer = MemcachedCache(server, ttl=1, stale_ttl=60)
    writer.update("p", LLM, [Generation(text="old")])
    time.sleep(2.5)  # past ttl (memcached counts whole seconds), inside the stale window


def test_stale_entry_one_refresh_the_rest_served(memcached):
    _stored_then_stale(memcached.spec)
    cache = MemcachedCache(memcached.spec, ttl=1, stale_ttl=60)
    results: list = [None] * 8
    start = threading.Barrier(8)

    def lookup(i: int) -> None:
        start.wait()
        results[i] = cache.lookup("p", LLM)

    threads = [threading.Thread(target=lookup, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(None) == 1
    assert sorted(r[0].text for r in results if r is not None) == ["old"] * 7
    stats = cache.stats()
    assert stats["stale_served"] == 7
    assert stats["leases_won"] == 1
    assert stats["misses"] == 1
    # The one refresh: everyone reads the new answer, fresh again.
    cache.update("p", LLM, [Generation(text="new")])
    assert cache.lookup("p", LLM)[0].text == "new"
    assert cache.stats()["stale_served"] == 7


def test_stale_entry_async_one_refresh_the_rest_served(memcached):
    _stored_then_stale(memcached.spec)
    cache = MemcachedCache(memcached.spec, ttl=1, stale_ttl=60, single_flight=True)

    async def lookups():
        return await asyncio.gather(*(cache.alookup("p", LLM) for _ in range(8)))

    results = asyncio.run(lookups())
    assert results.count(None) == 1
    assert [r[0].text for r in results if r is not None] == ["old"] * 7
    assert cache.stats()["stale_served"] == 7
    assert cache.stats()["leases_won"] == 1


def test_release_lease_lets_a_waiter_take_over(memcached):
    winner = MemcachedCache(memcached.spec, single_flight=True)
    waiter = MemcachedCache(memcached.spec, single_flight=True)
    assert winner.lookup("p", LLM) is None
    waited: list = []
    thread = threading.Thread(target=lambda: waited.append(waiter.lookup("p", LLM)))
    thread.start()
    time.sleep(0.3)  # orders the steps (the waiter is waiting); nothing asserts a duration
    winner.release_lease("p", LLM)  # its model call failed: no update will come
    thread.join()
    assert waited == [None]
    assert waiter.stats()["leases_won"] == 1
    assert waiter.stats()["lease_wait_timeouts"] == 0


def test_arelease_lease_lets_an_awaiting_lookup_take_over(memcached):
    winner = MemcachedCache(memcached.spec, single_flight=True)
    waiter = MemcachedCache(memcached.spec, single_flight=True)

    async def scenario():
        assert await winner.alookup("p", LLM) is None
        waiting = asyncio.ensure_future(waiter.alookup("p", LLM))
        await asyncio.sleep(0.3)  # orders the steps (the waiter awaits); nothing asserts a duration
        assert not waiting.done()
        await winner.arelease_lease("p", LLM)
        return await waiting

    assert asyncio.run(scenario()) is None
    assert winner.stats()["leases_won"] == 1
    assert waiter.stats()["leases_won"] == 1
    assert waiter.stats()["lease_wait_timeouts"] == 0


def test_a_wait_that_runs_out_is_a_miss_not_the_placeholder(memcached):
    winner = MemcachedCache(memcached.spec, single_flight=True)
    waiter = MemcachedCache(memcached.spec, single_flight=True, single_flight_wait=0.3)
    assert winner.lookup("p", LLM) is None
    assert waiter.lookup("p", LLM) is None
    assert asyncio.run(waiter.alookup("p", LLM)) is None
    stats = waiter.stats()
    assert stats["lease_wait_timeouts"] == 2
    assert stats["decode_errors"] == 0
    assert stats["misses"] == 2


def test_single_flight_through_twemproxy(twemproxy):
    """Classic protocol: an add-based lease next to the entry."""
    calls: list[int] = []
    lock = threading.Lock()
    answers: list = [None] * 6
    start = threading.Barrier(6)

    def caller(i: int) -> None:
        cache = MemcachedCache(twemproxy.spec, single_flight=True)
        start.wait()
        found = cache.lookup("p", LLM)
        if found is None:
            with lock:
                calls.append(i)
            time.sleep(0.5)  # the model
            found = [Generation(text=ANSWER)]
            cache.update("p", LLM, found)
        answers[i] = found[0].text

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert answers == [ANSWER] * 6


def test_options_are_checked():
    with pytest.raises(InvalidArgumentError):
        MemcachedCache("127.0.0.1:1", stale_ttl=10)  # no ttl: nothing ever goes stale
    with pytest.raises(InvalidArgumentError):
        MemcachedCache("127.0.0.1:1", single_flight=True, lease_ttl=0)
    with pytest.raises(InvalidArgumentError):
        MemcachedCache("127.0.0.1:1", single_flight=True, single_flight_wait=0)


def test_off_by_default_counters_present(memcached):
    cache = MemcachedCache(memcached.spec)
    assert cache.lookup("p", LLM) is None
    stats = cache.stats()
    for counter in ("stale_served", "leases_won", "lease_waits", "lease_wait_timeouts"):
        assert stats[counter] == 0
