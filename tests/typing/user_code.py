"""Code a user of langchain_memcached writes, kept honest twice: scripts/typecheck.sh runs
``mypy --strict`` over it, and tests/python/test_typing_user_code.py runs it against a
real memcached. A change to the package that breaks either kind of user fails a check.

Run it by hand: ``python tests/typing/user_code.py`` (needs ``memcached`` on PATH).
"""

from __future__ import annotations

import asyncio
import logging

from langchain_core.caches import RETURN_VAL_TYPE
from langchain_core.globals import get_llm_cache, set_llm_cache
from langchain_core.language_models import FakeListChatModel
from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import Generation
from langchain_core.stores import BaseStore
from pymemcache.client.base import Client as PymemcacheClient
from pymemcache.client.hash import HashClient as PymemcacheHashClient
from pymemcache.client.retrying import RetryingClient

import langchain_memcached
from langchain_memcached import Client, HashClient, MemcachedCache, MemcachedStore, cache_streams
from langchain_memcached.metrics import instrument_opentelemetry, register_prometheus
from langchain_memcached.testing import MemcachedProcess, free_port

log = logging.getLogger("user_code")

PROMPT = "Tell me a joke"
LLM_STRING = "fake-llm:temperature=0"


def texts(generations: RETURN_VAL_TYPE | None) -> list[str]:
    """What a caller does with a lookup: a miss is None, a hit is generations."""
    if generations is None:
        return []
    return [generation.text for generation in generations]


def cache_from_string(spec: str) -> MemcachedCache:
    """The README's way: servers as a string, client keywords passed through."""
    cache = MemcachedCache(spec, ttl=3600, timeout=0.5, connect_timeout=0.5)
    set_llm_cache(cache)
    assert get_llm_cache() is cache
    assert cache.lookup(PROMPT, LLM_STRING) is None
    cache.update(PROMPT, LLM_STRING, [Generation(text="Why did the chicken...")])
    assert texts(cache.lookup(PROMPT, LLM_STRING)) == ["Why did the chicken..."]
    hits: int = cache.stats()["hits"]
    assert hits == 1
    return cache


def cache_from_pymemcache(address: tuple[str, int] | str) -> None:
    """Migrating from langchain_community: the pymemcache client the app already has."""
    for client in (
        PymemcacheClient(address, connect_timeout=1, timeout=1),
        PymemcacheHashClient([address], timeout=1),
        RetryingClient(PymemcacheClient(address), attempts=2),
    ):
        cache = MemcachedCache(client)
        # Entries written through one client read back through any other.
        assert texts(cache.lookup(PROMPT, LLM_STRING)) == ["Why did the chicken..."]


async def cache_async(spec: str) -> None:
    cache = MemcachedCache(spec)
    await cache.aupdate("async prompt", LLM_STRING, [Generation(text="async answer")])
    found = await cache.alookup("async prompt", LLM_STRING)
    assert texts(found) == ["async answer"]
    assert await cache.alookup("never stored", LLM_STRING) is None


def streams(cache: MemcachedCache) -> None:
    """A streaming chat model through the cache: the second stream is a replay."""
    model: FakeListChatModel = cache_streams(
        FakeListChatModel(responses=["Why did the chicken cross the road?", "Knock knock"]),
        cache=cache,
    )
    first = "".join(str(chunk.content) for chunk in model.stream("Tell me a joke"))
    replay: list[AIMessageChunk] = list(model.stream("Tell me a joke"))
    assert len(replay) > 1
    assert "".join(str(chunk.content) for chunk in replay) == first
    assert model.invoke("Tell me a joke").content == first  # one entry for both

    async def astream() -> str:
        return "".join([str(chunk.content) async for chunk in model.astream("Tell me a joke")])

    assert asyncio.run(astream()) == first


def semantics(spec: str) -> None:
    """A namespaced, compressing cache and per-request control."""
    cache = MemcachedCache(spec, namespace="tenant-a", namespace_refresh=0.5, compress=True)
    cache.update(PROMPT, LLM_STRING, [Generation(text="tenant a's answer")])
    with langchain_memcached.cache_control(no_cache=True) as control:
        assert control.no_cache
        assert cache.lookup(PROMPT, LLM_STRING) is None
    with langchain_memcached.cache_control(refresh=True, ttl=60):
        assert cache.lookup(PROMPT, LLM_STRING) is None
    assert texts(cache.lookup(PROMPT, LLM_STRING)) == ["tenant a's answer"]
    cache.clear()  # only tenant a's entries
    assert cache.lookup(PROMPT, LLM_STRING) is None
    saved: int = cache.stats()["bytes_saved_by_compression"]
    assert saved >= 0


def clients(spec: str, specs: list[str]) -> None:
    """The clients on their own, blocking and asyncio."""
    with Client(spec, timeout=0.5) as client:
        assert client.set("greeting", "hello", ttl=60)
        value: bytes | None = client.get("greeting")
        assert value == b"hello"
        assert client.get(b"missing") is None
        assert client.get_many(["greeting", "missing"]) == [b"hello", None]
        assert client.delete("greeting")
        assert client.servers == [spec]

    with HashClient(specs, retry_attempts=1, dead_timeout=5.0) as hashed:
        assert hashed.set(b"k", b"v")
        assert hashed.get("k") == b"v"
        owner: str = hashed.server_for("k")
        assert owner in specs

        async def concurrently() -> list[bytes | None]:
            await hashed.aset("a", "1")
            await hashed.aset("b", "2")
            single = await hashed.aget("a")
            assert single == b"1"
            return list(await asyncio.gather(hashed.aget("a"), hashed.aget("b")))

        assert asyncio.run(concurrently()) == [b"1", b"2"]


def errors(spec: str) -> None:
    """Failures are langchain_memcached.Error subclasses; a miss is never one."""
    try:
        Client(spec, timeout=0)
    except langchain_memcached.InvalidArgumentError as error:
        log.info("bad option: %s", error)
    else:
        raise AssertionError("timeout=0 was accepted")

    nobody_listens = f"127.0.0.1:{free_port()}"
    try:
        Client(nobody_listens, connect_timeout=0.2).get("key")
    except langchain_memcached.TimeoutError:
        log.info("the server is slow")  # TimeoutError is an IoError: catch it first
    except langchain_memcached.IoError as error:
        # Typed details: why (stable names) and which server, never the message text.
        reason: str = error.reason
        server: str = error.server
        log.info("no server (%s at %s): %s", reason, server, error)
    else:
        raise AssertionError("a get from a closed port succeeded")

    client = Client(spec)
    try:
        client.set("big", b"x" * (2 << 20))  # over memcached's item limit (-I, 1 MB)
    except langchain_memcached.ValueTooLargeError as error:
        old_value_kept: bool = not error.reached_server
        assert error.reason == "too_large"
        log.info("too large (old value kept: %s): %s", old_value_kept, error)
    else:
        raise AssertionError("a value over the item limit was stored")

    client.close()
    try:
        client.get("key")
    except langchain_memcached.Error as error:  # the base class of all of them
        assert isinstance(error, langchain_memcached.ClosedError)
    else:
        raise AssertionError("a closed client answered")

    # The cache never raises for server trouble: a dead pool is a miss.
    dead = MemcachedCache(nobody_listens, connect_timeout=0.2, timeout=0.2)
    assert dead.lookup(PROMPT, LLM_STRING) is None
    assert dead.stats()["io_errors"] + dead.stats()["timeouts"] == 1


def metrics(cache: MemcachedCache) -> None:
    """A cache's metrics in a Prometheus registry and through OpenTelemetry."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    collector = register_prometheus(cache, name="llm", registry=registry)
    hits = registry.get_sample_value("llmcache_cache_lookups_total", {"name": "llm", "result": "hit"})
    assert hits == cache.stats()["hits"]
    assert collector.names == ["llm"]
    provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    instrument_opentelemetry(cache, name="llm", meter_provider=provider).remove("llm")
    provider.shutdown()
    saved: int = cache.stats()["tokens_saved"]
    assert saved >= 0


def byte_store(spec: str) -> None:
    """A ByteStore, as CacheBackedEmbeddings and other BaseStore users hold it."""
    store: BaseStore[str, bytes] = MemcachedStore(spec, namespace="user-code", ttl=3600)
    store.mset([("vector:1", b"\x00\x01"), ("vector:2", b"")])
    values: list[bytes | None] = store.mget(["vector:1", "vector:2", "missing"])
    assert values == [b"\x00\x01", b"", None]
    assert sorted(store.yield_keys(prefix="vector:")) == ["vector:1", "vector:2"]
    store.mdelete(["vector:1"])

    async def in_a_loop() -> list[bytes | None]:
        await store.amset([("vector:3", b"3")])
        return await store.amget(["vector:1", "vector:3"])

    assert asyncio.run(in_a_loop()) == [None, b"3"]


def main() -> None:
    with MemcachedProcess() as server, MemcachedProcess() as other:
        cache = cache_from_string(server.spec)
        cache_from_pymemcache(server.address)
        asyncio.run(cache_async(server.spec))
        streams(cache)
        semantics(server.spec)
        clients(server.spec, [server.spec, other.spec])
        errors(server.spec)
        metrics(cache)
        byte_store(server.spec)
        cache.clear()
        assert cache.lookup(PROMPT, LLM_STRING) is None


if __name__ == "__main__":
    main()
