"""Values larger than memcached's item limit (-I): the old value survives, the caller is
told (a warning and a counter by default, an exception with strict=True)."""

from __future__ import annotations

import logging

import pytest
from langchain_core.outputs import Generation

import langchain_memcached
from langchain_memcached import MemcachedCache

OLD = [Generation(text="old answer")]


def text(size: int) -> list[Generation]:
    return [Generation(text="x" * size)]



@pytest.mark.parametrize(("limit", "fits", "too_big"),
                         [("1m", 900_000, 1_500_000), ("2m", 1_500_000, 2_500_000)])
def test_too_large_update_keeps_the_old_value(memcached_factory, caplog, limit, fits, too_big):
    server = memcached_factory("-I", limit)
    cache = MemcachedCache(server.spec)
    cache.update("p", "l", text(fits))  # a value under this server's limit is stored
    assert cache.lookup("p", "l") == text(fits)
    cache.update("p", "l", OLD)
    with caplog.at_level(logging.WARNING, logger="langchain_memcached"):
        cache.update("p", "l", text(too_big))  # LangChain's contract: update does not raise
        cache.update("p", "l", text(too_big))
    assert cache.lookup("p", "l") == OLD
    stats = cache.stats()
    assert (stats["too_large"], stats["update_failures"]) == (2, 2)
    warnings = [r.getMessage() for r in caplog.records if r.name == "langchain_memcached"]
    assert len(warnings) == 1  # once per cause
    assert "nothing was sent" in warnings[0] and "is kept" in warnings[0]


def test_strict_mode_raises_and_still_keeps_the_old_value(memcached_factory):
    server = memcached_factory("-I", "1m")
    cache = MemcachedCache(server.spec, strict=True)
    cache.update("p", "l", OLD)
    with pytest.raises(langchain_memcached.ValueTooLargeError, match="nothing was sent"):
        cache.update("p", "l", text(1_500_000))
    assert cache.lookup("p", "l") == OLD


async def test_async_update_keeps_the_old_value(memcached_factory):
    server = memcached_factory("-I", "1m")
    cache = MemcachedCache(server.spec)
    await cache.aupdate("p", "l", OLD)
    await cache.aupdate("p", "l", text(1_500_000))
    assert await cache.alookup("p", "l") == OLD
    assert cache.stats()["too_large"] == 1
    with pytest.raises(langchain_memcached.ValueTooLargeError):
        await MemcachedCache(server.spec, strict=True).aupdate("p", "l", text(1_500_000))


def test_refusal_by_the_server_says_the_old_value_is_gone(memcached_factory, caplog):
    # Within a few bytes of the limit our estimate lets a value through (it leaves out the
    # CAS memcached stores) and the server refuses it, dropping the old value as it does.
    server = memcached_factory("-I", "1m")
    client = langchain_memcached.Client(server.spec)
    key = "k" * 32
    client.set(key, b"old")
    with pytest.raises(langchain_memcached.ValueTooLargeError, match="removed the previous value"):
        client.set(key, b"v" * ((1 << 20) - 48 - 32 - 1 - 2 - 4))
    assert client.get(key) is None
