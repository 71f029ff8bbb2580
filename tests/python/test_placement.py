"""With the same three servers, pymemcache's HashClient and llmcache's agree on where
every key lives."""

from __future__ import annotations

from pymemcache.client.hash import HashClient as PymemcacheHashClient

import langchain_memcached
from langchain_memcached import MemcachedCache
from langchain_community.cache import MemcachedCache as LangchainMemcachedCache
from langchain_core.outputs import Generation


def test_entries_cross_between_hash_clients(three_memcached):
    servers = [s.address for s in three_memcached]
    theirs = PymemcacheHashClient(servers, default_noreply=False)
    ours = langchain_memcached.HashClient([s.spec for s in three_memcached])
    keys = [f"key-{i}" for i in range(120)]
    for key in keys[:60]:
        theirs.set(key, f"from pymemcache {key}")
    for key in keys[60:]:
        ours.set(key, f"from langchain_memcached {key}")
    for key in keys[:60]:
        assert ours.get(key) == f"from pymemcache {key}".encode()
    for key in keys[60:]:
        assert theirs.get(key) == f"from langchain_memcached {key}".encode()
    # and each key sits on exactly one server, the one both clients name
    for key in keys:
        holder = ours.server_for(key)
        for server in three_memcached:
            direct = langchain_memcached.Client(server.spec)
            assert (direct.get(key) is not None) == (server.spec == holder), key


def test_langchain_caches_share_a_three_server_pool(three_memcached):
    pool = PymemcacheHashClient([s.address for s in three_memcached], default_noreply=False)
    theirs = LangchainMemcachedCache(pool)
    ours = MemcachedCache(pool)  # reads servers and failure settings from pymemcache's client
    assert isinstance(ours.client, langchain_memcached.HashClient)
    for i in range(30):
        theirs.update(f"prompt {i}", "llm", [Generation(text=f"answer {i}")])
    for i in range(30):
        assert ours.lookup(f"prompt {i}", "llm") == [Generation(text=f"answer {i}")]
