"""What a user notices when things go wrong: misses, not exceptions; reports, not
silent drops; clear errors for bad input."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest
from langchain_core.outputs import Generation
from pymemcache.client.base import Client as PymemcacheClient
from pymemcache.client.base import PooledClient
from pymemcache.client.hash import HashClient as PymemcacheHashClient
from pymemcache.client.retrying import RetryingClient

import langchain_memcached
from langchain_memcached import MemcachedCache

GENS = [Generation(text="answer")]


def os_threads() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise RuntimeError("no thread count")


def fast_cache(server) -> MemcachedCache:
    return MemcachedCache(langchain_memcached.Client(server.spec, timeout=0.3, connect_timeout=0.3))


def test_killed_server_lookups_are_misses_within_the_deadline(memcached):
    cache = fast_cache(memcached)
    cache.update("p", "l", GENS)
    memcached.kill()
    start = time.monotonic()
    assert cache.lookup("p", "l") is None
    assert asyncio.run(cache.alookup("p", "l")) is None
    cache.update("p", "l", GENS)  # does not raise by default
    assert time.monotonic() - start < 3
    stats = cache.stats()
    assert stats["io_errors"] >= 3 and stats["update_failures"] == 1


def test_hung_server_lookup_is_a_miss_within_the_deadline(memcached):
    cache = fast_cache(memcached)
    cache.update("p", "l", GENS)
    memcached.pause()
    start = time.monotonic()
    assert cache.lookup("p", "l") is None
    assert time.monotonic() - start < 3
    assert cache.stats()["timeouts"] == 1
    memcached.resume()
    assert cache.lookup("p", "l") == GENS


def test_oversized_value_is_reported_not_dropped_silently(memcached, caplog):
    huge = [Generation(text="x" * (2 << 20))]
    cache = MemcachedCache(memcached.spec)
    with caplog.at_level(logging.WARNING, logger="langchain_memcached"):
        cache.update("p", "l", huge)
    assert cache.stats()["too_large"] == 1
    assert "too large" in caplog.text
    with pytest.raises(langchain_memcached.ValueTooLargeError):
        MemcachedCache(memcached.spec, strict=True).update("p", "l", huge)


def test_corrupt_entry_is_a_miss_logged_once(memcached, caplog):
    raw = PymemcacheClient(memcached.address, default_noreply=False)
    cache = MemcachedCache(memcached.spec)
    raw.set(langchain_memcached.langchain_key("a", "l"), b"{not json")
    raw.set(langchain_memcached.langchain_key("b", "l"), b'["{\\"lc\\": 1}"]')
    raw.set(langchain_memcached.langchain_key("c", "l"), b"\xff\xfe")
    with caplog.at_level(logging.WARNING, logger="langchain_memcached"):
        for prompt in ("a", "b", "c", "a"):
            assert cache.lookup(prompt, "l") is None
    assert cache.stats()["decode_errors"] == 4
    assert len([r for r in caplog.records if r.name == "langchain_memcached"]) == 1


def test_entries_naming_other_classes_are_not_built(memcached):
    raw = PymemcacheClient(memcached.address, default_noreply=False)
    # A constructor for a prompt template: LangChain's default allow-list would build it.
    planted = (
        '{"lc": 1, "type": "constructor", "id": ["langchain", "prompts", "prompt", '
        '"PromptTemplate"], "kwargs": {"template": "x", "input_variables": []}}'
    )
    import json

    raw.set(langchain_memcached.langchain_key("p", "l"), json.dumps([planted]))
    cache = MemcachedCache(memcached.spec)
    assert cache.lookup("p", "l") is None
    assert cache.stats()["decode_errors"] == 1


def test_update_rejects_non_generations_like_langchain(memcached):
    cache = MemcachedCache(memcached.spec)
    with pytest.raises(ValueError, match="only supports caching of normal LLM generations"):
        cache.update("p", "l", ["not a generation"])  # type: ignore[list-item]


def test_bad_client_is_a_clear_error():
    with pytest.raises(ValueError, match="valid pymemcached client"):
        MemcachedCache(42)
    with pytest.raises(langchain_memcached.InvalidArgumentError, match="port"):
        MemcachedCache("127.0.0.1:notaport")
    with pytest.raises(TypeError):
        langchain_memcached.Client("127.0.0.1:1").get(3.5)  # type: ignore[arg-type]


def test_cache_is_truthy_even_when_empty(memcached):
    assert bool(MemcachedCache(memcached.spec))


@pytest.mark.parametrize(
    "make",
    [
        lambda s: PymemcacheClient(s.address),
        lambda s: PymemcacheClient(s.spec),
        lambda s: PooledClient(s.address, timeout=2),
        lambda s: PymemcacheHashClient([s.address]),
        lambda s: RetryingClient(PymemcacheClient(s.address)),
        lambda s: [s.spec],
        lambda s: langchain_memcached.HashClient([s.spec]),
    ],
    ids=["Client", "Client-str", "PooledClient", "HashClient", "RetryingClient", "list", "ours"],
)
def test_accepts_every_client_langchain_accepts(memcached, make):
    cache = MemcachedCache(make(memcached))
    cache.update("p", "l", GENS)
    assert cache.lookup("p", "l") == GENS
    assert PymemcacheClient(memcached.address).get(langchain_memcached.langchain_key("p", "l"))


async def test_thousand_concurrent_alookups_use_no_thread_per_call(memcached):
    cache = MemcachedCache(memcached.spec)
    await cache.aupdate("p", "l", GENS)
    await cache.alookup("p", "l")  # the client's I/O thread exists from here on
    before = os_threads()
    peak = before
    stop = False

    async def watch():
        nonlocal peak
        while not stop:
            peak = max(peak, os_threads())
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch())
    results = await asyncio.gather(*(cache.alookup("p", "l") for _ in range(1000)))
    stop = True
    await watcher
    assert all(r == GENS for r in results)
    assert peak == before
    assert threading.active_count() == 1


async def test_cancelling_awaiting_tasks_is_safe(memcached):
    cache = MemcachedCache(memcached.spec)
    await cache.aupdate("p", "l", GENS)
    tasks = [asyncio.create_task(cache.alookup("p", "l")) for _ in range(200)]
    await asyncio.sleep(0)
    for task in tasks[::2]:
        task.cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    for i, result in enumerate(done):
        if i % 2:
            assert result == GENS
    # the client keeps working afterwards
    assert await cache.alookup("p", "l") == GENS


def test_clients_raise_typed_errors(memcached):
    client = langchain_memcached.Client(memcached.spec, timeout=0.3)
    assert client.get("missing") is None
    assert client.set("k", "v") and client.get("k") == b"v"
    with pytest.raises(langchain_memcached.InvalidArgumentError):
        client.get("has space")
    memcached.kill()
    with pytest.raises(langchain_memcached.IoError) as info:
        client.get("k")
    assert memcached.spec in str(info.value)
    assert issubclass(langchain_memcached.TimeoutError, langchain_memcached.IoError)
    assert issubclass(langchain_memcached.IoError, langchain_memcached.Error)
