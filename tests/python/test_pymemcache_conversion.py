"""MemcachedCache over pymemcache clients: what the pymemcache client would read and
write (its key_prefix, its Unix socket, its placement) is what we read and write, with
LangChain's own MemcachedCache on pymemcache as the oracle; options we cannot honour
are refused when the cache is made."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from langchain_community.cache import MemcachedCache as LangchainMemcachedCache
from langchain_core.outputs import Generation
from pymemcache.client.base import Client as PyClient
from pymemcache.client.base import PooledClient
from pymemcache.client.hash import HashClient as PyHashClient
from pymemcache.client.rendezvous import RendezvousHash
from pymemcache.client.retrying import RetryingClient
from pymemcache.serde import CompressedSerde, pickle_serde

import langchain_memcached
from langchain_memcached import MemcachedCache
from langchain_memcached.testing import MemcachedProcess

LLM = "llm-config"

def landed(langchain_cache) -> None:
    """LangChain's cache stores with pymemcache's default noreply, so update() returns
    before the server has applied the set, and a read on another connection can overtake
    it. memcached answers each connection in order: one reply on the same connection
    proves the set landed."""
    client = langchain_cache.client
    for each in client.clients.values() if isinstance(client, PyHashClient) else [client]:
        each.version()



def answer(text: str) -> list[Generation]:
    return [Generation(text=text)]


def key_of(prompt: str) -> str:
    return hashlib.md5((prompt + LLM).encode()).hexdigest()


@pytest.fixture
def socket_server() -> Iterator[MemcachedProcess]:
    with MemcachedProcess(unix_socket=True) as server:
        yield server


# ------------------------------------------------------------------ key_prefix


def test_two_prefixed_caches_on_one_server_stay_apart(memcached) -> None:
    ours_a = MemcachedCache(PyClient(memcached.address, key_prefix=b"appA:"))
    ours_b = MemcachedCache(PyClient(memcached.address, key_prefix=b"appB:"))
    ours_a.update("the prompt", LLM, answer("A's secret answer"))
    assert ours_b.lookup("the prompt", LLM) is None
    assert ours_a.lookup("the prompt", LLM) == answer("A's secret answer")
    ours_b.update("the prompt", LLM, answer("B's answer"))
    assert ours_a.lookup("the prompt", LLM) == answer("A's secret answer")
    assert ours_b.lookup("the prompt", LLM) == answer("B's answer")
    # As LangChain's own cache keeps them: under the prefixed keys.
    raw = PyClient(memcached.address)
    assert raw.get(b"appA:" + key_of("the prompt").encode()) is not None
    assert raw.get(key_of("the prompt")) is None


@pytest.mark.parametrize("prefix", [b"appA:", "appA:"])
def test_prefixed_client_reads_and_writes_what_langchain_does(memcached, prefix) -> None:
    theirs = LangchainMemcachedCache(PyClient(memcached.address, key_prefix=prefix))
    ours = MemcachedCache(PyClient(memcached.address, key_prefix=prefix))
    theirs.update("written by LangChain", LLM, answer("theirs"))
    landed(theirs)
    ours.update("written by llmcache", LLM, answer("ours"))
    assert ours.lookup("written by LangChain", LLM) == answer("theirs")
    assert theirs.lookup("written by llmcache", LLM) == answer("ours")
    assert ours.stats()["decode_errors"] == 0


def test_pooled_and_retrying_clients_carry_their_prefix(memcached) -> None:
    theirs = LangchainMemcachedCache(PyClient(memcached.address, key_prefix=b"p:"))
    theirs.update("q", LLM, answer("a"))
    landed(theirs)
    pooled = PooledClient(memcached.address, key_prefix=b"p:")
    retrying = RetryingClient(PyClient(memcached.address, key_prefix=b"p:"))
    for client in (pooled, retrying):
        assert MemcachedCache(client).lookup("q", LLM) == answer("a")


def pymemcache_node(client: PyHashClient, key: str) -> str:
    return client.hasher.get_node(key)


@pytest.mark.parametrize("count", [2, 3])
def test_prefixed_hash_client_interoperates_and_places_as_pymemcache(
    memcached_factory, count
) -> None:
    servers = [memcached_factory() for _ in range(count)]
    specs = [s.spec for s in servers]
    py_hash = PyHashClient(specs, key_prefix=b"appA:")
    theirs = LangchainMemcachedCache(py_hash)
    ours = MemcachedCache(PyHashClient(specs, key_prefix=b"appA:"))
    prompts = [f"prompt {i}" for i in range(40)]
    for i, prompt in enumerate(prompts):
        (theirs if i % 2 else ours).update(prompt, LLM, answer(f"answer {i}"))
    for i, prompt in enumerate(prompts):
        assert ours.lookup(prompt, LLM) == answer(f"answer {i}")
        assert theirs.lookup(prompt, LLM) == answer(f"answer {i}")
    # Placed by the plain key, as pymemcache's HashClient does, and stored there only.
    moved_by_prefix = 0
    for prompt in prompts:
        key = key_of(prompt)
        node = pymemcache_node(py_hash, key)
        moved_by_prefix += node != pymemcache_node(py_hash, "appA:" + key)
        assert ours.client.server_for(key) == node
        for server in servers:
            held = PyClient(server.address).get("appA:" + key) is not None
            assert held == (server.spec == node), (prompt, server.spec)
    assert moved_by_prefix > 0  # the two rules differ for some keys, so this tells them apart


def test_key_prefix_keyword_of_our_clients(memcached) -> None:
    ours = langchain_memcached.Client(memcached.spec, key_prefix="appA:")
    ours.set("k", b"v")
    assert PyClient(memcached.address).get("appA:k") == b"v"
    assert PyClient(memcached.address, key_prefix=b"appA:").get("k") == b"v"
    assert ours.get("k") == b"v"
    # The 250-byte limit counts the prefix, as memcached sees the key.
    ours.set("k" * 245, b"fits")
    with pytest.raises(langchain_memcached.InvalidArgumentError):
        ours.set("k" * 246, b"v")
    with pytest.raises(langchain_memcached.InvalidArgumentError, match="key_prefix"):
        langchain_memcached.HashClient([memcached.spec], key_prefix="app A:")
    cache = MemcachedCache(memcached.spec, key_prefix="appB:")
    cache.update("q", LLM, answer("b"))
    theirs = LangchainMemcachedCache(PyClient(memcached.address, key_prefix=b"appB:"))
    assert theirs.lookup("q", LLM) == answer("b")


# ------------------------------------------------------------------ refused options


class ShiftedHash(RendezvousHash):
    pass


def test_custom_serde_is_refused_at_construction(memcached) -> None:
    for client in (
        PyClient(memcached.address, serde=pickle_serde),
        PyClient(memcached.address, serde=CompressedSerde()),
        PyClient(memcached.address, serializer=lambda k, v: (v, 0)),
        PyClient(memcached.address, deserializer=lambda k, v, f: v),
        PooledClient(memcached.address, serde=pickle_serde),
        PyHashClient([memcached.spec], serde=pickle_serde),
        PyHashClient([memcached.spec], serializer=lambda k, v: (v, 0)),
        RetryingClient(PyClient(memcached.address, serde=pickle_serde)),
    ):
        with pytest.raises(ValueError, match="custom serde"):
            MemcachedCache(client)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "utf-7", "cp500", "no-such-codec"])
def test_an_encoding_that_changes_ascii_bytes_is_refused(memcached, encoding) -> None:
    for client in (
        PyClient(memcached.address, encoding=encoding),
        PyHashClient([memcached.spec], encoding=encoding),
    ):
        with pytest.raises(ValueError, match="encoding"):
            MemcachedCache(client)


def test_another_hasher_is_refused(memcached) -> None:
    with pytest.raises(ValueError, match="ShiftedHash"):
        MemcachedCache(PyHashClient([memcached.spec], hasher=ShiftedHash))


# Options that cannot change LangChain's bytes, keys or placement: accepted, and the two
# caches still read each other's entries (under a tenant's prefix, which must carry over
# alongside them).
@pytest.mark.parametrize(
    "options",
    [
        {"allow_unicode_keys": True},
        {"default_noreply": False},
        {"encoding": "utf-8"},
        {"encoding": "latin-1"},
        {"no_delay": True, "ignore_exc": True},
    ],
    ids=lambda o: ",".join(o),
)
def test_options_that_keep_the_bytes_are_accepted(memcached, options) -> None:
    options = {**options, "key_prefix": b"tenant:"}
    theirs = LangchainMemcachedCache(PyClient(memcached.address, **options))
    ours = MemcachedCache(PyClient(memcached.address, **options))
    theirs.update("theirs", LLM, answer("café 🚀"))
    landed(theirs)
    ours.update("ours", LLM, answer("ours"))
    assert ours.lookup("theirs", LLM) == answer("café 🚀")
    assert theirs.lookup("ours", LLM) == answer("ours")
    assert MemcachedCache(PyHashClient([memcached.spec], **options)).lookup(
        "theirs", LLM
    ) == answer("café 🚀")


# ------------------------------------------------------------------ Unix sockets


@pytest.mark.parametrize("unix_prefix", ["", "unix:"])
def test_pymemcache_client_on_a_unix_socket(socket_server, unix_prefix) -> None:
    spec = unix_prefix + socket_server.socket_path
    theirs = LangchainMemcachedCache(PyClient(spec))
    ours = MemcachedCache(PyClient(spec))
    assert ours.client.servers == [socket_server.socket_path]
    theirs.update("theirs", LLM, answer("over the socket"))
    landed(theirs)
    ours.update("ours", LLM, answer("ours"))
    assert ours.lookup("theirs", LLM) == answer("over the socket")
    assert theirs.lookup("ours", LLM) == answer("ours")
    # Our own spellings, and the asyncio path.
    assert MemcachedCache(spec).lookup("theirs", LLM) == answer("over the socket")
    assert langchain_memcached.Client(spec).get(key_of("ours")) is not None


async def test_async_lookup_over_a_unix_socket(socket_server) -> None:
    ours = MemcachedCache(PyClient(socket_server.socket_path, key_prefix=b"a:"))
    await ours.aupdate("q", LLM, answer("async"))
    assert await ours.alookup("q", LLM) == answer("async")
    assert LangchainMemcachedCache(
        PyClient(socket_server.socket_path, key_prefix=b"a:")
    ).lookup("q", LLM) == answer("async")


def test_a_missing_socket_is_a_miss_naming_the_path(tmp_path) -> None:
    path = str(tmp_path / "none.sock")
    cache = MemcachedCache(PyClient(path))
    assert cache.lookup("q", LLM) is None
    assert cache.stats()["io_errors"] == 1
    with pytest.raises(langchain_memcached.IoError, match="none.sock"):
        cache.client.get("k")


def test_tls_over_a_unix_socket_is_refused(socket_server) -> None:
    with pytest.raises(langchain_memcached.InvalidArgumentError, match="Unix socket"):
        langchain_memcached.Client(socket_server.socket_path, tls=True)


def test_hash_client_mixing_tcp_and_unix_places_keys_as_pymemcache(
    memcached_factory, tmp_path
) -> None:
    with MemcachedProcess(unix_socket=True) as one, MemcachedProcess(unix_socket=True) as two:
        tcp = memcached_factory()
        specs = [one.socket_path, tcp.spec, "unix:" + two.socket_path]
        py_hash = PyHashClient(specs)
        # pymemcache names socket nodes by their path alone.
        assert sorted(py_hash.clients) == sorted([one.socket_path, tcp.spec, two.socket_path])
        ours = MemcachedCache(PyHashClient(specs))
        direct = langchain_memcached.HashClient(specs)
        assert sorted(ours.client.servers) == sorted(py_hash.clients)
        counts = dict.fromkeys(py_hash.clients, 0)
        for i in range(300):
            key = key_of(f"prompt {i}")
            node = py_hash.hasher.get_node(key)
            assert ours.client.server_for(key) == node
            assert direct.server_for(key) == node
            counts[node] += 1
        assert all(n > 50 for n in counts.values())  # each kind of server takes keys
        theirs = LangchainMemcachedCache(py_hash)
        for i in range(30):
            theirs.update(f"prompt {i}", LLM, answer(str(i)))
            landed(theirs)
        for i in range(30):
            assert ours.lookup(f"prompt {i}", LLM) == answer(str(i))
        assert ours.stats()["hits"] == 30
