"""LangChain's cache (ours) while a real memcached is killed (-9) or hung (SIGSTOP):
``lookup``/``alookup`` never raise, return by their deadline, recover by themselves, and
``stats()`` says what happened."""

from __future__ import annotations

import asyncio
import time

from langchain_core.outputs import Generation

import langchain_memcached
from langchain_memcached import MemcachedCache

GENS = [Generation(text="answer")]
DEADLINE = 0.3  # seconds, for connect and for each request
# Added to the deadline before a call counts as late: the machine is shared and loaded,
# and a hang would exceed any margin.
MARGIN = 2.0


def cache_for(*servers) -> MemcachedCache:
    specs = [server.spec for server in servers]
    if len(specs) == 1:
        client = langchain_memcached.Client(specs[0], timeout=DEADLINE, connect_timeout=DEADLINE)
    else:
        client = langchain_memcached.HashClient(specs, timeout=DEADLINE, connect_timeout=DEADLINE,
                                     retry_timeout=0.2, dead_timeout=1.0)
    return MemcachedCache(client)


def timed_lookup(cache: MemcachedCache, prompt: str = "p"):
    start = time.monotonic()
    result = cache.lookup(prompt, "l")  # must not raise, whatever the server does
    return result, time.monotonic() - start


def timed_alookup(cache: MemcachedCache, prompt: str = "p"):
    start = time.monotonic()
    result = asyncio.run(cache.alookup(prompt, "l"))
    return result, time.monotonic() - start


def test_killed_then_restarted_server_misses_by_the_deadline_then_hits_again(memcached):
    cache = cache_for(memcached)
    cache.update("p", "l", GENS)
    memcached.kill()
    for lookup in (timed_lookup, timed_alookup):
        result, elapsed = lookup(cache)
        assert result is None
        assert elapsed < DEADLINE + MARGIN
    memcached.start()  # the same port; the same cache, nothing reset
    assert cache.lookup("p", "l") is None  # restarted empty
    cache.update("p", "l", GENS)
    assert cache.lookup("p", "l") == GENS
    assert asyncio.run(cache.alookup("p", "l")) == GENS
    stats = cache.stats()
    assert stats["io_errors"] == 2 and stats["timeouts"] == 0
    assert stats["hits"] == 2 and stats["misses"] == 3
    assert stats["updates"] == 2 and stats["update_failures"] == 0


def test_hung_server_misses_by_the_deadline_then_recovers_on_sigcont(memcached):
    cache = cache_for(memcached)
    cache.update("p", "l", GENS)
    memcached.pause()
    try:
        for lookup in (timed_lookup, timed_alookup):
            result, elapsed = lookup(cache)
            assert result is None
            assert elapsed < DEADLINE + MARGIN

        async def many():
            return await asyncio.gather(*(cache.alookup("p", "l") for _ in range(50)))

        start = time.monotonic()
        assert asyncio.run(many()) == [None] * 50
        assert time.monotonic() - start < DEADLINE + MARGIN
    finally:
        memcached.resume()
    # memcached now answers what it had queued, on connections the client dropped; the
    # cache must read its own answers, not those.
    assert cache.lookup("p", "l") == GENS
    assert asyncio.run(cache.alookup("p", "l")) == GENS
    stats = cache.stats()
    assert stats["timeouts"] == 52 and stats["io_errors"] == 0
    assert stats["misses"] == 52 and stats["hits"] == 2


async def test_alookups_in_flight_when_the_server_is_killed_all_complete(memcached):
    cache = cache_for(memcached)
    await cache.aupdate("p", "l", GENS)
    start = time.monotonic()
    tasks = [asyncio.create_task(cache.alookup("p", "l")) for _ in range(500)]
    await asyncio.sleep(0)
    memcached.kill()
    results = await asyncio.gather(*tasks)  # an exception here fails the test
    assert time.monotonic() - start < DEADLINE + MARGIN
    assert all(r is None or r == GENS for r in results)
    stats = cache.stats()
    assert stats["hits"] + stats["misses"] == 500
    assert stats["misses"] == stats["io_errors"] + stats["timeouts"]
    memcached.start()
    await cache.aupdate("p", "l", GENS)
    assert await cache.alookup("p", "l") == GENS


def test_hash_client_keeps_serving_the_live_servers(three_memcached):
    cache = cache_for(*three_memcached)
    prompts = [f"prompt-{i}" for i in range(30)]
    for prompt in prompts:
        cache.update(prompt, "l", [Generation(text=prompt)])
    victim = three_memcached[0]
    on_victim = {p for p in prompts
                 if cache.client.server_for(langchain_memcached.langchain_key(p, "l")) == victim.spec}
    assert on_victim and len(on_victim) < len(prompts)
    victim.kill()
    for prompt in prompts:
        result, elapsed = timed_lookup(cache, prompt)
        assert elapsed < DEADLINE + MARGIN
        if prompt in on_victim:
            assert result is None
        else:
            assert result == [Generation(text=prompt)]
    assert cache.stats()["io_errors"] >= 1
    assert cache.stats()["misses"] == len(on_victim)
