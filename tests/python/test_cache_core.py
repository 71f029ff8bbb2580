"""MemcachedCache is a face over the C++ cache core: the core counts and logs (once per
cause), including for async calls whose failures happen on the client's I/O thread, and
the log lines reach Python's logger "langchain_memcached" in every process."""

from __future__ import annotations

import logging
import multiprocessing

from langchain_core.outputs import Generation
from pymemcache.client.base import Client as PymemcacheClient

import langchain_memcached
from langchain_memcached import MemcachedCache
from langchain_memcached import _codec

GENS = [Generation(text="an answer")]


def our_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "langchain_memcached" and r.levelno == logging.WARNING]


async def test_async_failures_are_logged_once_through_the_logger(memcached, caplog):
    cache = MemcachedCache(memcached.spec)
    memcached.kill()
    with caplog.at_level(logging.WARNING, logger="langchain_memcached"):
        for _ in range(3):
            assert await cache.alookup("p", "l") is None
            await cache.aupdate("p", "l", GENS)
    messages = our_warnings(caplog)
    assert len(messages) == 2, messages  # once per operation and cause
    assert messages[0].startswith("llmcache lookup failed")
    assert messages[1].startswith("llmcache update failed")
    stats = cache.stats()
    assert (stats["misses"], stats["io_errors"], stats["update_failures"]) == (3, 6, 3)


async def test_async_signature_failure_is_logged(memcached, caplog):
    MemcachedCache(memcached.spec).update("p", "l", GENS)  # unsigned: LangChain's bytes
    cache = MemcachedCache(memcached.spec, signing_secret="s3cret")
    with caplog.at_level(logging.WARNING, logger="langchain_memcached"):
        assert await cache.alookup("p", "l") is None
    assert ["unsigned" in m for m in our_warnings(caplog)] == [True]
    assert cache.stats()["signature_failures"] == 1


def test_stats_count_the_value_bytes_read_and_written(memcached):
    cache = MemcachedCache(memcached.spec)
    cache.update("p", "l", GENS)
    assert cache.lookup("p", "l") == GENS
    stored = PymemcacheClient(memcached.address).get(langchain_memcached.langchain_key("p", "l"))
    stats = cache.stats()
    assert stats["bytes_written"] == stats["bytes_read"] == len(stored)
    assert stored == _codec.dumps_generations(GENS).encode()


def test_signed_entries_count_sealed_bytes_written_and_verified_bytes_read(memcached):
    cache = MemcachedCache(memcached.spec, signing_secret="s3cret")
    cache.update("p", "l", GENS)
    assert cache.lookup("p", "l") == GENS
    stats = cache.stats()
    assert stats["bytes_read"] == len(_codec.dumps_generations(GENS).encode())
    assert stats["bytes_written"] > stats["bytes_read"]  # the envelope


def test_a_miss_reads_no_bytes(memcached):
    cache = MemcachedCache(memcached.spec)
    assert cache.lookup("nothing", "here") is None
    assert (cache.stats()["misses"], cache.stats()["bytes_read"]) == (1, 0)


def _log_in_child(cache: MemcachedCache, queue: multiprocessing.Queue) -> None:
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    logging.getLogger("langchain_memcached").addHandler(Keep())
    assert cache.lookup("p", "l") is None  # the server is gone: a counted, logged miss
    queue.put((seen, cache.stats()["io_errors"]))


def test_a_forked_child_logs_through_its_own_logger(memcached):
    cache = MemcachedCache(memcached.spec)
    cache.update("p", "l", GENS)  # the parent used the cache (and its log queue) before forking
    memcached.kill()
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_log_in_child, args=(cache, queue))
    child.start()
    seen, io_errors = queue.get(timeout=30)
    child.join(timeout=30)
    assert child.exitcode == 0
    assert io_errors == 1
    assert len(seen) == 1 and seen[0].startswith("llmcache lookup failed"), seen
