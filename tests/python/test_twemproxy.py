"""Through twemproxy (Debian's nutcracker 0.5.0) in front of two real memcached: the
proxy hangs up on every meta command, so protocol="auto" must pick the classic protocol
and the cache must hit, share entries with LangChain's own pymemcache cache, and say
clearly that clear() (flush_all) is not available there."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

import pytest
from langchain_community.cache import MemcachedCache as LangchainMemcachedCache
from langchain_core.outputs import Generation
from pymemcache.client.base import Client as PymemcacheClient

from langchain_memcached import Client, MemcachedCache, ServerError, ValueTooLargeError

pytestmark = pytest.mark.skipif(
    shutil.which("nutcracker") is None, reason="twemproxy (nutcracker) is not installed"
)

PROMPT = "What is twemproxy?"
LLM = "fake-llm"


def pymemcache_client(proxy):
    host, port = proxy.spec.rsplit(":", 1)
    return PymemcacheClient((host, int(port)), default_noreply=False)


def test_the_cache_hits_through_the_proxy(twemproxy):
    cache = MemcachedCache(twemproxy.spec)  # protocol="auto"
    cache.update(PROMPT, LLM, [Generation(text="a proxy")])
    assert cache.lookup(PROMPT, LLM) == [Generation(text="a proxy")]
    assert cache.lookup("another prompt", LLM) is None
    stats = cache.stats()
    assert stats["hits"] == 1
    assert stats["misses"] == 1


async def test_the_async_cache_hits_through_the_proxy(twemproxy):
    cache = MemcachedCache(twemproxy.spec)
    await cache.aupdate(PROMPT, LLM, [Generation(text="async")])
    assert await cache.alookup(PROMPT, LLM) == [Generation(text="async")]
    assert cache.stats()["hits"] == 1


def test_entries_reach_the_memcached_behind_the_proxy(twemproxy):
    client = Client(twemproxy.spec)
    for i in range(50):
        client.set(f"k{i}", b"v")
    per_backend = [
        sum(PymemcacheClient(("127.0.0.1", b.port)).get(f"k{i}") is not None for i in range(50))
        for b in twemproxy.backends
    ]
    assert sum(per_backend) == 50  # where each lands is the proxy's choice


def _batch(count: int, key_bytes: int) -> tuple[list[str], list[bytes | None]]:
    """Keys (every third one missing, the first asked twice) and the values get_many
    should find."""
    keys = [f"k{i}-".ljust(key_bytes, "x") for i in range(count)]
    values: list[bytes | None] = [None if i % 3 == 1 else b"v%d" % i for i in range(count)]
    return keys + keys[:1], values + values[:1]


def test_get_many_through_the_proxy_finds_what_pymemcache_stored(twemproxy):
    # 300 keys of 200 bytes: several multi-key gets under the proxy's 16 KB request line,
    # split by the proxy between its two memcached and merged back.
    keys, values = _batch(300, 200)
    theirs = pymemcache_client(twemproxy)
    for key, value in zip(keys, values):
        if value is not None:
            theirs.set(key, value)
    client = Client(twemproxy.spec)  # protocol="auto"
    assert client.get_many(keys) == values
    assert client.get(keys[0]) == values[0]  # still in step after the batches
    per_backend = [
        sum(PymemcacheClient(("127.0.0.1", b.port)).get(k) is not None for k in keys[:-1])
        for b in twemproxy.backends
    ]
    assert all(n > 0 for n in per_backend)  # the batch really spans both memcached


async def test_aget_many_through_the_proxy(twemproxy):
    keys, values = _batch(100, 40)
    client = Client(twemproxy.spec, protocol="classic")
    for key, value in zip(keys, values):
        if value is not None:
            await client.aset(key, value)
    assert await client.aget_many(keys) == values


def test_langchain_pymemcache_cache_and_ours_share_entries_both_ways(twemproxy):
    theirs = LangchainMemcachedCache(pymemcache_client(twemproxy))
    ours = MemcachedCache(twemproxy.spec)
    theirs.update("from pymemcache", LLM, [Generation(text="theirs")])
    assert ours.lookup("from pymemcache", LLM) == [Generation(text="theirs")]
    ours.update("from llmcache", LLM, [Generation(text="ours")])
    assert theirs.lookup("from llmcache", LLM) == [Generation(text="ours")]


def test_clear_says_the_proxy_cannot_flush(twemproxy):
    cache = MemcachedCache(twemproxy.spec)
    cache.update(PROMPT, LLM, [Generation(text="kept")])
    with pytest.raises(ServerError) as error:
        cache.clear()
    assert error.value.reason == "not_understood"
    assert error.value.server == twemproxy.spec
    assert "flush_all" in str(error.value)
    # Not a silent success: the entry is still there, and the cache still works.
    assert cache.lookup(PROMPT, LLM) == [Generation(text="kept")]


def test_a_namespaced_clear_works_through_the_proxy(twemproxy):
    cache = MemcachedCache(twemproxy.spec, namespace="team")
    cache.update(PROMPT, LLM, [Generation(text="gone")])
    assert cache.lookup(PROMPT, LLM) == [Generation(text="gone")]
    cache.clear()
    assert cache.lookup(PROMPT, LLM) is None


def test_forcing_meta_through_the_proxy_fails_and_does_not_hit(twemproxy):
    # What protocol="auto" avoids: the proxy hangs up on every meta request.
    cache = MemcachedCache(twemproxy.spec, protocol="meta")
    cache.update(PROMPT, LLM, [Generation(text="lost")])
    assert cache.lookup(PROMPT, LLM) is None


def test_a_bad_protocol_name_is_refused():
    with pytest.raises(Exception, match="protocol"):
        Client("127.0.0.1:1", protocol="binary")


CLI = os.environ.get(
    "LLMCACHE_CLI",
    str(pathlib.Path(__file__).resolve().parents[2] / "build" / "default" / "cli" / "llmcache"),
)


def llmcache_cli(*args):
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(not os.path.exists(CLI), reason="the llmcache command is not built")
def test_cli_through_the_proxy(twemproxy):
    put = llmcache_cli("--servers", twemproxy.spec, "put", "a prompt", "an llm", "an answer")
    assert put.returncode == 0, put.stdout + put.stderr
    got = llmcache_cli("--servers", twemproxy.spec, "get", "a prompt", "an llm")
    assert got.returncode == 0, got.stdout + got.stderr
    assert "an answer" in got.stdout
    stats = llmcache_cli("--servers", twemproxy.spec, "stats")
    assert "DEAD" not in stats.stdout, stats.stdout + stats.stderr
    assert stats.returncode == 0, stats.stdout + stats.stderr


def test_a_value_over_the_assumed_item_limit_is_refused_and_the_old_entry_kept(twemproxy):
    # twemproxy hangs up on `stats settings`, so the limit is item_size_max (1 MiB, as the
    # memcached behind it): the big update is refused unsent and the entry it would have
    # replaced stays, where sending it would have made memcached drop that entry.
    cache = MemcachedCache(twemproxy.spec)
    cache.update("p", "llm", [Generation(text="old answer")])
    cache.update("p", "llm", [Generation(text="x" * (2 << 20))])
    assert cache.lookup("p", "llm") == [Generation(text="old answer")]
    stats = cache.stats()
    assert stats["too_large"] == 1, stats
    client = Client(twemproxy.spec, item_size_max=0)  # 0: the server judges, and drops it
    with pytest.raises(ValueTooLargeError) as refused:
        client.set("k", b"x" * (2 << 20))
    assert refused.value.reached_server is True
    with pytest.raises(ValueTooLargeError) as assumed:
        Client(twemproxy.spec).set("k", b"x" * (2 << 20))
    assert assumed.value.reached_server is False
    assert "item_size_max" in str(assumed.value)
