"""Cache semantics beyond LangChain's: namespaces (``namespace=``), zstd compression
(``compress=True``) and per-request control (``cache_control``), against real memcached
and, for the namespace bound, a real second process."""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import socket
import subprocess
import sys
import textwrap
import threading

import pytest
from langchain_core.globals import set_llm_cache
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, Generation
from langchain_core.runnables.config import run_in_executor
from pymemcache.client.base import Client as PymemcacheClient

import langchain_memcached
from langchain_memcached import MemcachedCache, _codec, cache_control

GENS = [Generation(text="Sample generated text.", generation_info={"reason": "test"})]
ZSTD_FLAG = 1 << 12


def raw_client(server) -> PymemcacheClient:
    return PymemcacheClient(server.address, default_noreply=False)


def long_answer() -> list[Generation]:
    text = "".join(f"Paragraph {i}: the cache stores model answers. " for i in range(200))
    return [Generation(text=text, generation_info={"finish_reason": "stop"})]


def generation_key(namespace: str) -> str:
    """The documented layout (docs/namespaces.md)."""
    return "llmcache:ns:" + hashlib.sha256(namespace.encode()).hexdigest()[:32] + ":generation"


# ---------------------------------------------------------------- namespaces


def test_namespaced_entries_are_not_under_langchains_key(memcached):
    cache = MemcachedCache(memcached.spec, namespace="tenant-a")
    cache.update("p", "l", GENS)
    assert cache.lookup("p", "l") == GENS
    assert cache.namespace == "tenant-a"
    assert raw_client(memcached).get(langchain_memcached.langchain_key("p", "l")) is None
    assert MemcachedCache(memcached.spec).lookup("p", "l") is None


def test_clearing_one_namespace_leaves_the_rest(memcached):
    a = MemcachedCache(memcached.spec, namespace="a")
    b = MemcachedCache(memcached.spec, namespace="b")
    plain = MemcachedCache(memcached.spec)
    raw = raw_client(memcached)
    for cache in (a, b, plain):
        cache.update("p", "l", GENS)
    raw.set("someone-elses-key", b"data")

    a.clear()

    assert a.lookup("p", "l") is None
    assert b.lookup("p", "l") == GENS
    assert plain.lookup("p", "l") == GENS
    assert raw.get("someone-elses-key") == b"data"
    a.update("p", "l", GENS)  # the namespace works on
    assert a.lookup("p", "l") == GENS


def test_namespaces_never_read_each_others_entries(memcached):
    a = MemcachedCache(memcached.spec, namespace="a")
    b = MemcachedCache(memcached.spec, namespace="b")
    a.update("p", "l", GENS)
    assert b.lookup("p", "l") is None
    other = [Generation(text="b's answer")]
    b.update("p", "l", other)
    assert a.lookup("p", "l") == GENS
    assert b.lookup("p", "l") == other


async def test_async_clear_of_a_namespace(memcached):
    cache = MemcachedCache(memcached.spec, namespace="async")
    plain = MemcachedCache(memcached.spec)
    await cache.aupdate("p", "l", GENS)
    plain.update("p", "l", GENS)
    assert await cache.alookup("p", "l") == GENS
    await cache.aclear()
    assert await cache.alookup("p", "l") is None
    assert plain.lookup("p", "l") == GENS


def test_namespaced_clear_refuses_a_delay(memcached):
    cache = MemcachedCache(memcached.spec, namespace="n")
    with pytest.raises(langchain_memcached.InvalidArgumentError):
        cache.clear(delay=5)
    with pytest.raises(langchain_memcached.InvalidArgumentError):
        MemcachedCache(memcached.spec, namespace="")


SECOND_PROCESS = textwrap.dedent(
    """
    import sys, time
    from langchain_memcached import MemcachedCache
    cache = MemcachedCache(sys.argv[1], namespace="shared", namespace_refresh=0.2)
    give_up = time.monotonic() + 30
    while cache.lookup("p", "l") is None:  # until the parent's entry is there
        if time.monotonic() > give_up:
            sys.exit("never saw the entry")
        time.sleep(0.02)
    print("hit", flush=True)
    while cache.lookup("p", "l") is not None:  # until the parent's clear reaches us
        if time.monotonic() > give_up:
            sys.exit("still reading cleared entries")
        time.sleep(0.02)
    print("miss", flush=True)
    """
)


def test_another_process_stops_reading_cleared_entries(memcached):
    cache = MemcachedCache(memcached.spec, namespace="shared")
    cache.update("p", "l", GENS)
    child = subprocess.Popen(
        [sys.executable, "-c", SECOND_PROCESS, memcached.spec],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "hit"
        cache.clear()
        assert cache.lookup("p", "l") is None  # at once in this process
        out, _ = child.communicate(timeout=60)
    finally:
        child.kill()
        child.wait()
    assert out.strip() == "miss"
    assert child.returncode == 0


def test_evicted_generation_key_does_not_resurrect_old_entries(memcached):
    cache = MemcachedCache(memcached.spec, namespace="evicted", namespace_refresh=0.001)
    cache.update("p", "l", GENS)
    raw = raw_client(memcached)
    old_generation = raw.get(generation_key("evicted"))
    assert old_generation is not None
    assert raw.delete(generation_key("evicted"), noreply=False)  # as the LRU would
    assert cache.lookup("p", "l") is None
    fresh = MemcachedCache(memcached.spec, namespace="evicted")
    assert fresh.lookup("p", "l") is None
    assert raw.get(generation_key("evicted")) not in (None, old_generation)


# ---------------------------------------------------------------- compression


class _WithFlags:
    """A pymemcache serde that hands back (value, flags) as stored."""

    def serialize(self, key, value):  # noqa: ANN001, ANN201 - pymemcache's protocol
        return value

    def deserialize(self, key, value, flags):  # noqa: ANN001, ANN201
        return value, flags


def stored_with_flags(server, key: str) -> tuple[bytes, int] | None:
    return PymemcacheClient(server.address, serde=_WithFlags(), default_noreply=False).get(key)


def test_compressed_round_trip_is_byte_exact(memcached):
    cache = MemcachedCache(memcached.spec, compress=True)
    gens = long_answer()
    plain = _codec.dumps_generations(gens)
    plain = plain.encode() if isinstance(plain, str) else plain
    cache.update("p", "l", gens)
    stored = stored_with_flags(memcached, langchain_memcached.langchain_key("p", "l"))
    assert stored is not None
    value, flags = stored
    assert flags == ZSTD_FLAG
    assert len(value) < len(plain)
    assert cache.lookup("p", "l") == gens
    stats = cache.stats()
    assert stats["bytes_saved_by_compression"] == len(plain) - len(value)
    assert stats["bytes_written"] == len(value)
    assert stats["bytes_read"] == len(plain)


def test_chat_generations_with_tool_calls_compress(memcached):
    content = "".join(f"Step {i}: call the weather tool for city {i}. " for i in range(100))
    gens = [
        ChatGeneration(
            message=AIMessage(
                content=content,
                tool_calls=[{"name": "weather", "args": {"city": "Paris"}, "id": "call_1"}],
            )
        )
    ]
    writer = MemcachedCache(memcached.spec, compress=True)
    writer.update("p", "l", gens)
    assert writer.stats()["bytes_saved_by_compression"] > 0
    assert MemcachedCache(memcached.spec).lookup("p", "l") == gens


@pytest.mark.parametrize("writer_compresses", [True, False])
@pytest.mark.parametrize("reader_compresses", [True, False])
async def test_entries_read_whatever_the_readers_setting(
    memcached, writer_compresses, reader_compresses
):
    gens = long_answer()
    MemcachedCache(memcached.spec, compress=writer_compresses).update("p", "l", gens)
    reader = MemcachedCache(memcached.spec, compress=reader_compresses)
    assert reader.lookup("p", "l") == gens
    assert await reader.alookup("p", "l") == gens


def test_small_values_stay_langchains_bytes(memcached):
    MemcachedCache(memcached.spec, compress=True).update("p", "l", GENS)
    plain = _codec.dumps_generations(GENS)
    plain = plain.encode() if isinstance(plain, str) else plain
    assert stored_with_flags(memcached, langchain_memcached.langchain_key("p", "l")) == (plain, 0)


def test_corrupt_or_planted_compressed_entries_are_counted_misses(memcached):
    raw = raw_client(memcached)
    key = langchain_memcached.langchain_key("p", "l")
    cache = MemcachedCache(memcached.spec)
    plain = _codec.dumps_generations(GENS)
    planted = [
        plain.encode() if isinstance(plain, str) else plain,  # flagged, but not a frame
        b"\x28\xb5\x2f\xfd\xe0" + (1 << 40).to_bytes(8, "little"),  # declares 1 TB
        b"\x28\xb5\x2f\xfd",  # a magic number and nothing more
    ]
    for value in planted:
        raw.set(key, value, flags=ZSTD_FLAG)
        assert cache.lookup("p", "l") is None
    stats = cache.stats()
    assert stats["decode_errors"] == len(planted)
    assert stats["misses"] == len(planted)


# ---------------------------------------------------------------- cache_control


def remaining_ttl(server, key: str) -> int:
    """The item's remaining TTL as memcached reports it (meta get's t flag; -1: none)."""
    with socket.create_connection(server.address, timeout=5) as conn:
        conn.sendall(f"mg {key} t\r\n".encode())
        reply = conn.recv(1024)  # "HD t<seconds>\r\n"
    return int(reply.split()[1][1:])


def test_cache_control_options_do_what_they_say(memcached):
    cache = MemcachedCache(memcached.spec)
    cache.update("p", "l", GENS)
    newer = [Generation(text="newer")]
    with cache_control(refresh=True):
        assert cache.lookup("p", "l") is None
        cache.update("p", "l", newer)
    assert cache.lookup("p", "l") == newer
    with cache_control(no_store=True):
        assert cache.lookup("p", "l") == newer
        cache.update("p", "l", GENS)
    assert cache.lookup("p", "l") == newer
    with cache_control(no_cache=True):
        assert cache.lookup("p", "l") is None
        cache.update("p", "l", GENS)
    assert cache.lookup("p", "l") == newer
    assert cache.stats()["update_failures"] == 0


def test_cache_control_ttl(memcached):
    cache = MemcachedCache(memcached.spec)
    key = langchain_memcached.langchain_key("p", "l")
    cache.update("p", "l", GENS)
    assert remaining_ttl(memcached, key) == -1  # the cache's own: forever
    with cache_control(ttl=100):
        cache.update("p", "l", GENS)
    assert 0 < remaining_ttl(memcached, key) <= 100
    with pytest.raises(ValueError):
        with cache_control(ttl=-1):
            pass


def test_cache_control_blocks_nest_and_end(memcached):
    cache = MemcachedCache(memcached.spec)
    cache.update("p", "l", GENS)
    with cache_control(ttl=50) as outer:
        with cache_control(no_cache=True) as inner:
            assert inner.ttl == 50 and inner.no_cache
            assert cache.lookup("p", "l") is None
        assert not outer.no_cache
        assert cache.lookup("p", "l") == GENS
    assert langchain_memcached._control.current() is None


async def test_cache_control_follows_asyncio_tasks(memcached):
    cache = MemcachedCache(memcached.spec)
    await cache.aupdate("p", "l", GENS)
    with cache_control(no_cache=True):
        task = asyncio.create_task(cache.alookup("p", "l"))
    # A task created outside the block does not see it.
    outside = asyncio.create_task(cache.alookup("p", "l"))
    assert await task is None
    assert await outside == GENS
    with cache_control(no_store=True):
        await cache.aupdate("p", "l", [Generation(text="not stored")])
    assert await cache.alookup("p", "l") == GENS


async def test_cache_control_follows_langchains_executor_hops(memcached):
    cache = MemcachedCache(memcached.spec)
    cache.update("p", "l", GENS)
    with cache_control(no_cache=True):
        # LangChain's own path for sync work in async code: copies the context.
        assert await run_in_executor(None, cache.lookup, "p", "l") is None
    assert await run_in_executor(None, cache.lookup, "p", "l") == GENS


def test_cache_control_stays_in_its_thread(memcached):
    cache = MemcachedCache(memcached.spec)
    cache.update("p", "l", GENS)
    seen: dict[str, object] = {}
    entered = threading.Event()
    release = threading.Event()

    def inside_block() -> None:
        with cache_control(no_cache=True):
            entered.set()
            release.wait(30)
            seen["inside"] = cache.lookup("p", "l")

    worker = threading.Thread(target=inside_block)
    worker.start()
    assert entered.wait(30)
    seen["other thread"] = cache.lookup("p", "l")  # while the worker is inside its block
    release.set()
    worker.join(30)
    assert seen == {"inside": None, "other thread": GENS}
    # A thread given the block's context (as LangChain's executor hops do) follows it.
    with cache_control(no_cache=True):
        context = contextvars.copy_context()
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(context.run(cache.lookup, "p", "l")))
    thread.start()
    thread.join(30)
    assert result == [None]


def test_refresh_makes_langchain_call_the_model_again(memcached):
    cache = MemcachedCache(memcached.spec, namespace="llm")
    set_llm_cache(cache)
    try:
        llm = FakeListLLM(responses=["first", "second", "third"])
        assert llm.invoke("question") == "first"
        assert llm.invoke("question") == "first"  # cached
        with cache_control(refresh=True):
            assert llm.invoke("question") == "second"  # the model ran again, and it is stored
        assert llm.invoke("question") == "second"
        with cache_control(no_cache=True):
            assert llm.invoke("question") == "third"
        assert llm.invoke("question") == "second"
    finally:
        set_llm_cache(None)
