"""MemcachedStore, the ByteStore: LangChain's own standard store suites unmodified,
CacheBackedEmbeddings across two real processes, namespaces, the full-scan yield_keys
(and its refusal through twemproxy), corrupt entries, wrong types and values above the
item limit, all against real memcached."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

import pytest
from langchain_core.stores import BaseStore
from langchain_tests.integration_tests import BaseStoreAsyncTests, BaseStoreSyncTests
from pymemcache.client.base import Client as PymemcacheClient

import langchain_memcached
from langchain_memcached import Client, MemcachedStore, ServerError, ValueTooLargeError

APPS = Path(__file__).parent / "apps"
LIMIT = 120  # seconds a subprocess may take on a loaded machine



class TestMemcachedStoreSync(BaseStoreSyncTests[bytes]):
    @pytest.fixture
    def kv_store(self, memcached) -> BaseStore[str, bytes]:
        return MemcachedStore(memcached.spec)

    @pytest.fixture
    def three_values(self) -> tuple[bytes, bytes, bytes]:
        return b"foo", b"bar", b"buzz"


class TestMemcachedStoreAsync(BaseStoreAsyncTests[bytes]):
    @pytest.fixture
    async def kv_store(self, memcached) -> BaseStore[str, bytes]:
        return MemcachedStore(memcached.spec)

    @pytest.fixture
    def three_values(self) -> tuple[bytes, bytes, bytes]:
        return b"foo", b"bar", b"buzz"


# Keys a user may pick: memcached itself refuses spaces, control characters and keys over
# 250 bytes, so each of these goes through the core's key derivation.
ODD_KEYS = [
    "plain",
    "with space and\nnewline\r\x00",
    "ünïcødé ключ 鍵 🔑",
    "k" * 5000,
    "",
    "lone \ud800 surrogate",
]


def test_odd_keys_round_trip_and_are_listed(memcached):
    store = MemcachedStore(memcached.spec)
    store.mset([(key, f"value of {key[:20]!r}".encode()) for key in ODD_KEYS])
    assert store.mget(ODD_KEYS) == [f"value of {key[:20]!r}".encode() for key in ODD_KEYS]
    assert sorted(store.yield_keys()) == sorted(ODD_KEYS)


def test_binary_values_and_empty_values_round_trip(memcached):
    store = MemcachedStore(memcached.spec)
    values = {"empty": b"", "binary": bytes(range(256)) * 4, "envelope-like": b"LCS1\xff\xff"}
    store.mset(list(values.items()))
    assert store.mget(list(values)) == list(values.values())


def test_yield_keys_with_and_without_prefix(memcached):
    store = MemcachedStore(memcached.spec)
    keys = [f"doc:{i}" for i in range(30)] + [f"query:{i}" for i in range(5)] + ["docs"]
    store.mset([(key, key.encode()) for key in keys])
    store.mdelete(["doc:0"])
    assert sorted(store.yield_keys()) == sorted(keys[1:])
    assert sorted(store.yield_keys(prefix="doc:")) == sorted(f"doc:{i}" for i in range(1, 30))
    assert sorted(store.yield_keys(prefix="query:")) == [f"query:{i}" for i in range(5)]
    assert list(store.yield_keys(prefix="nothing")) == []


async def test_ayield_keys_with_and_without_prefix(memcached):
    store = MemcachedStore(memcached.spec)
    await store.amset([("a:1", b"1"), ("a:2", b"2"), ("b:1", b"3")])
    assert sorted([key async for key in store.ayield_keys()]) == ["a:1", "a:2", "b:1"]
    assert sorted([key async for key in store.ayield_keys(prefix="a:")]) == ["a:1", "a:2"]


def test_a_scan_right_after_reads_lists_every_key(memcached_factory):
    # memcached's defaults (segmented LRU, maintainer on): `metadump all` missed items the
    # maintainer moved during the crawl, the hash walk the core uses sees each once.
    server = memcached_factory()
    store = MemcachedStore(server.spec)
    keys = [f"key {i}" for i in range(100)]
    store.mset([(key, b"v") for key in keys])
    for _ in range(20):
        assert store.mget(keys) == [b"v"] * len(keys)
        assert sorted(store.yield_keys()) == sorted(keys)


def test_yield_keys_scans_every_server(three_memcached):
    store = MemcachedStore([server.spec for server in three_memcached])
    keys = [f"key {i}" for i in range(60)]
    store.mset([(key, b"v") for key in keys])
    assert sorted(store.yield_keys()) == sorted(keys)
    holders = [
        server for server in three_memcached
        if any(not key.endswith(b"generation") for key in stored_keys(server))
    ]
    assert len(holders) == 3  # the scan really had three servers to visit


def test_namespaces_isolate_two_stores(memcached):
    team_a = MemcachedStore(memcached.spec, namespace="team-a")
    team_b = MemcachedStore(memcached.spec, namespace="team-b")
    team_a.mset([("shared key", b"a's"), ("only a", b"a")])
    team_b.mset([("shared key", b"b's")])
    assert team_a.mget(["shared key", "only a"]) == [b"a's", b"a"]
    assert team_b.mget(["shared key", "only a"]) == [b"b's", None]
    assert sorted(team_a.yield_keys()) == ["only a", "shared key"]
    assert list(team_b.yield_keys()) == ["shared key"]
    team_b.mdelete(["shared key"])
    assert team_a.mget(["shared key"]) == [b"a's"]
    team_a.clear()
    assert team_a.mget(["shared key", "only a"]) == [None, None]
    assert list(team_a.yield_keys()) == []
    team_b.mset([("after", b"b")])
    assert team_b.mget(["after"]) == [b"b"]


async def test_aclear_empties_only_its_namespace(memcached):
    mine = MemcachedStore(memcached.spec, namespace="mine")
    theirs = MemcachedStore(memcached.spec, namespace="theirs")
    await mine.amset([("k", b"mine")])
    await theirs.amset([("k", b"theirs")])
    await mine.aclear()
    assert await mine.amget(["k"]) == [None]
    assert await theirs.amget(["k"]) == [b"theirs"]


def test_a_key_set_twice_in_one_batch_keeps_its_last_value(three_memcached):
    store = MemcachedStore([server.spec for server in three_memcached])
    store.mset([("k", b"first"), ("other", b"o"), ("k", b"last")])
    assert store.mget(["k", "other"]) == [b"last", b"o"]


def test_stats_count_every_key_read_as_one_hit_or_miss(memcached):
    store = MemcachedStore(memcached.spec)
    store.mset([("a", b"12345"), ("b", b"x")])
    store.mget(["a", "b", "missing", "a"])
    stats = store.stats()
    assert (stats["hits"], stats["misses"], stats["updates"]) == (3, 1, 2)
    assert stats["bytes_read"] == 5 + 1 + 5
    assert store.stats() == store._core.stats()  # what the metrics module reads


def test_entries_carry_the_stores_ttl(memcached):
    MemcachedStore(memcached.spec, namespace="lives", ttl=3600).mset([("k", b"v")])
    MemcachedStore(memcached.spec, namespace="forever").mset([("k", b"v")])
    expiries = sorted(int(fields[b"exp"]) for key, fields in metadump(memcached).items()
                      if not key.endswith(b"generation"))
    assert expiries[0] == -1  # ttl=0: no expiry
    assert expiries[1] > 0


def test_signing_and_compression_apply_to_the_store(memcached):
    big = b"an embedding, very compressible " * 200
    store = MemcachedStore(memcached.spec, signing_secret="s3cret", compress=True)
    store.mset([("big", big), ("small", b"s")])
    assert store.mget(["big", "small"]) == [big, b"s"]
    assert sorted(store.yield_keys()) == ["big", "small"]
    assert store.stats()["bytes_saved_by_compression"] > 0
    sizes = [int(fields[b"size"]) for key, fields in metadump(memcached).items()
             if not key.endswith(b"generation")]
    assert max(sizes) < len(big)  # stored compressed
    # Another secret reads nothing, and its scan lists nothing it cannot verify.
    other = MemcachedStore(memcached.spec, signing_secret="another")
    assert other.mget(["big", "small"]) == [None, None]
    assert other.stats()["signature_failures"] == 2
    assert list(other.yield_keys()) == []
    unsigned = MemcachedStore(memcached.spec)
    assert unsigned.mget(["small"]) == [None]


# ---------------------------------------------------------------- what users pass in
@pytest.mark.parametrize(
    "make",
    [
        lambda s: s.spec,
        lambda s: [s.spec],
        lambda s: Client(s.spec),
        lambda s: PymemcacheClient(s.address),
    ],
    ids=["str", "list", "ours", "pymemcache"],
)
def test_accepts_the_clients_memcached_cache_accepts(memcached, make):
    store = MemcachedStore(make(memcached))
    store.mset([("k", b"v")])
    assert store.mget(["k"]) == [b"v"]


def test_wrong_types_are_refused_before_anything_is_sent(memcached):
    store = MemcachedStore(memcached.spec)
    with pytest.raises(TypeError, match="values must be bytes.*encode str"):
        store.mset([("good", b"v"), ("bad", "a str")])
    with pytest.raises(TypeError, match="keys must be str, not bytes"):
        store.mset([("good", b"v"), (b"bytes key", b"v")])
    with pytest.raises(TypeError, match="keys must be str, not int"):
        store.mget([1])
    with pytest.raises(TypeError, match="keys must be str"):
        store.mdelete([None])
    assert store.mget(["good"]) == [None]  # the valid pair before the bad one was not sent
    with pytest.raises(TypeError, match="namespace must be a str"):
        MemcachedStore(memcached.spec, namespace=None)  # type: ignore[arg-type]


async def test_async_wrong_types_are_refused(memcached):
    store = MemcachedStore(memcached.spec)
    with pytest.raises(TypeError, match="values must be bytes"):
        await store.amset([("k", 3)])
    with pytest.raises(TypeError, match="keys must be str"):
        await store.amget([b"k"])


def test_empty_batches_do_nothing(memcached):
    store = MemcachedStore(memcached.spec)
    assert store.mget([]) == []
    store.mset([])
    store.mdelete([])
    assert store.stats()["hits"] + store.stats()["misses"] == 0


# ---------------------------------------------------------------- the item limit
def test_a_value_above_the_item_limit_is_logged_and_the_old_value_kept(memcached_factory, caplog):
    server = memcached_factory("-I", "1m")
    store = MemcachedStore(server.spec)
    store.mset([("big", b"old"), ("small", b"s")])
    with caplog.at_level(logging.WARNING, logger="langchain_memcached"):
        store.mset([("big", b"x" * 1_500_000), ("small", b"new")])
    assert store.mget(["big", "small"]) == [b"old", b"new"]  # the rest of the batch landed
    stats = store.stats()
    assert (stats["too_large"], stats["update_failures"]) == (1, 1)
    warnings = [r.getMessage() for r in caplog.records if r.name == "langchain_memcached"]
    assert len(warnings) == 1 and "too large" in warnings[0].lower()


def test_strict_raises_a_value_above_the_item_limit(memcached_factory):
    server = memcached_factory("-I", "1m")
    store = MemcachedStore(server.spec, strict=True)
    store.mset([("big", b"old")])
    with pytest.raises(ValueTooLargeError):
        store.mset([("big", b"x" * 1_500_000)])
    assert store.mget(["big"]) == [b"old"]


async def test_async_strict_raises_a_value_above_the_item_limit(memcached_factory):
    server = memcached_factory("-I", "1m")
    store = MemcachedStore(server.spec, strict=True)
    with pytest.raises(ValueTooLargeError):
        await store.amset([("big", b"x" * 1_500_000)])
    lenient = MemcachedStore(server.spec)
    await lenient.amset([("big", b"x" * 1_500_000)])
    assert lenient.stats()["too_large"] == 1


# ---------------------------------------------------------------- corrupt entries
def metadump(server) -> dict[bytes, dict[bytes, bytes]]:
    """Every item the memcached holds, by key: its metadump fields (exp, size...). The
    hash table walk, which sees every item once."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"lru_crawler metadump hash\r\n")
        data = b""
        while not data.endswith(b"END\r\n"):
            chunk = s.recv(65536)
            assert chunk, data
            data += chunk
    items = {}
    for line in data.split(b"\n"):  # metadump ends its lines with \n alone
        if line.startswith(b"key="):
            fields = dict(field.split(b"=", 1) for field in line.split(b" "))
            items[urllib.parse.unquote_to_bytes(fields.pop(b"key"))] = fields
    return items


def stored_keys(server) -> list[bytes]:
    return list(metadump(server))


def entry_keys(server) -> list[bytes]:
    return [key for key in stored_keys(server) if not key.endswith(b"generation")]


def test_a_value_that_is_not_an_envelope_reads_as_missing_and_is_counted(memcached, caplog):
    store = MemcachedStore(memcached.spec)
    store.mset([("victim", b"real value")])
    (stored,) = entry_keys(memcached)
    raw = Client(memcached.spec)
    for garbage in (b"not an envelope", b"LCS1\x00\x00\x10\x00short"):
        raw.set(stored, garbage)
        with caplog.at_level(logging.WARNING, logger="langchain_memcached"):
            assert store.mget(["victim"]) == [None]
            assert list(store.yield_keys()) == []  # skipped, not a key made up of garbage
    stats = store.stats()
    assert (stats["decode_errors"], stats["misses"], stats["hits"]) == (4, 2, 0)
    assert any(r.name == "langchain_memcached" for r in caplog.records)


def test_another_keys_envelope_never_reads_as_this_keys_value(memcached):
    store = MemcachedStore(memcached.spec)
    store.mset([("mine", b"mine")])
    (mine,) = entry_keys(memcached)
    store.mset([("theirs", b"theirs")])
    (theirs,) = [key for key in entry_keys(memcached) if key != mine]
    raw = Client(memcached.spec)
    raw.set(mine, raw.get(theirs))  # as if "mine" had been stored under theirs
    assert store.mget(["mine", "theirs"]) == [None, b"theirs"]
    assert store.stats()["decode_errors"] == 1


# ---------------------------------------------------------------- async: no threads
def os_threads() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise RuntimeError("no thread count")


async def test_concurrent_async_batches_use_no_thread_per_call(memcached):
    store = MemcachedStore(memcached.spec)
    await store.amset([(f"k{i}", b"v%d" % i) for i in range(10)])  # the I/O thread exists
    before = os_threads()
    peak = before
    stop = False

    async def watch():
        nonlocal peak
        while not stop:
            peak = max(peak, os_threads())
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch())
    keys = [f"k{i}" for i in range(10)]
    results = await asyncio.gather(
        *(store.amget(keys) for _ in range(100)),
        *(store.amset([(f"n{i}", b"n")]) for i in range(100)),
        *(store.amdelete([f"n{i}"]) for i in range(0, 100, 7)),
    )
    stop = True
    await watcher
    assert all(r == [b"v%d" % i for i in range(10)] for r in results[:100])
    assert peak == before
    assert threading.active_count() == 1


# ---------------------------------------------------------------- through twemproxy
needs_twemproxy = pytest.mark.skipif(
    shutil.which("nutcracker") is None, reason="twemproxy (nutcracker) is not installed"
)


@needs_twemproxy
def test_through_twemproxy_the_store_works_and_the_scan_is_refused_clearly(twemproxy):
    store = MemcachedStore(twemproxy.spec)
    store.mset([("k", b"through the proxy"), ("gone", b"g")])
    store.mdelete(["gone"])
    assert store.mget(["k", "gone"]) == [b"through the proxy", None]
    with pytest.raises(ServerError) as error:
        list(store.yield_keys())
    assert error.value.reason == "not_understood"
    assert error.value.server == twemproxy.spec
    assert "lru_crawler" in str(error.value)


@needs_twemproxy
async def test_through_twemproxy_the_async_scan_is_refused_clearly(twemproxy):
    store = MemcachedStore(twemproxy.spec)
    await store.amset([("k", b"v")])
    assert await store.amget(["k"]) == [b"v"]
    with pytest.raises(ServerError, match="lru_crawler"):
        [key async for key in store.ayield_keys()]


def test_a_memcached_without_the_lru_crawler_refuses_the_scan_clearly(memcached_factory):
    server = memcached_factory("-o", "no_lru_crawler")
    store = MemcachedStore(server.spec)
    store.mset([("k", b"v")])
    assert store.mget(["k"]) == [b"v"]
    with pytest.raises(ServerError, match="lru_crawler") as error:
        list(store.yield_keys())
    assert error.value.reason == "client_error_reply"
    assert error.value.server == server.spec


# ---------------------------------------------------------------- CacheBackedEmbeddings
def run_embed_app(server, calls_file, mode, *texts) -> dict:
    result = subprocess.run(
        [sys.executable, str(APPS / "embed_app.py"), server.spec, str(calls_file), mode, *texts],
        capture_output=True, text=True, timeout=LIMIT,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def embedded(calls_file) -> list[str]:
    return [json.loads(line) for line in calls_file.read_text().splitlines()]


def test_cache_backed_embeddings_embed_each_text_once_across_two_processes(memcached, tmp_path):
    calls = tmp_path / "embedded-texts"
    first = run_embed_app(memcached, calls, "sync", "alpha", "beta", "gamma")
    assert sorted(embedded(calls)) == ["alpha", "beta", "gamma"]
    # A second process (async this time): only the new text reaches the model.
    second = run_embed_app(memcached, calls, "async", "gamma", "alpha", "delta", "beta")
    assert sorted(embedded(calls)) == ["alpha", "beta", "delta", "gamma"]
    assert second["vectors"][0] == first["vectors"][2]  # gamma, as the first process stored it
    assert second["vectors"][1] == first["vectors"][0]
    assert second["stats"]["hits"] == 3 and second["stats"]["misses"] == 1
    # Both processes again: nothing new reaches the model.
    run_embed_app(memcached, calls, "sync", "delta", "alpha")
    run_embed_app(memcached, calls, "async", "beta", "gamma")
    assert len(embedded(calls)) == 4


def test_cache_backed_embeddings_keys_are_listed(memcached, tmp_path):
    run_embed_app(memcached, tmp_path / "calls", "sync", "one", "two")
    keys = list(MemcachedStore(memcached.spec, namespace="embeddings").yield_keys())
    assert len(keys) == 2
    assert all(key.startswith("counting-embeddings-v1") for key in keys)


def test_package_exports_the_store():
    assert langchain_memcached.MemcachedStore is MemcachedStore
    assert "MemcachedStore" in langchain_memcached.__all__


def test_the_embeddings_example_runs_and_embeds_each_text_once(memcached):
    example = Path(__file__).resolve().parents[2] / "examples" / "cached_embeddings.py"
    result = subprocess.run(
        [sys.executable, str(example)], capture_output=True, text=True, timeout=LIMIT,
        env={**os.environ, "MEMCACHED_SERVERS": memcached.spec},
    )
    assert result.returncode == 0, result.stderr
    embedded_lists = [line.split("the model embeds ", 1)[1]
                      for line in result.stdout.splitlines() if "the model embeds" in line]
    assert embedded_lists == ["['alpha', 'beta', 'gamma']", "['delta']"]
