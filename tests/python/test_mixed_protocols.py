"""protocol="auto" decides per server: one cache over a real memcached (meta) and a real
twemproxy in front of another memcached (classic) hits through both; and clear() is
checked, so a proxy that answers flush_all itself (memcached's built-in proxy, replayed by a
small fake below: its binary cannot be installed here) raises instead of a silent success."""

from __future__ import annotations

import hashlib
import shutil
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.outputs import Generation

from langchain_memcached import Client, HashClient, MemcachedCache, ServerError

LLM = "fake-llm"

needs_twemproxy = pytest.mark.skipif(
    shutil.which("nutcracker") is None, reason="twemproxy (nutcracker) is not installed"
)


def langchain_key(prompt: str) -> str:
    return hashlib.md5((prompt + LLM).encode()).hexdigest()


def keys_on(client: HashClient, spec: str, count: int = 10) -> list[str]:
    keys = [f"k{i}" for i in range(200)]
    return [k for k in keys if client.server_for(k) == spec][:count]


@needs_twemproxy
def test_one_cache_hits_through_a_memcached_and_a_proxy(memcached, twemproxy):
    cache = MemcachedCache([memcached.spec, twemproxy.spec])  # protocol="auto"
    prompts = [f"prompt {i}" for i in range(30)]
    for prompt in prompts:
        cache.update(prompt, LLM, [Generation(text=prompt)])
    for prompt in prompts:
        assert cache.lookup(prompt, LLM) == [Generation(text=prompt)]
    client = cache.client
    assert isinstance(client, HashClient)
    # Keys landed on both, each server spoken to in its own protocol.
    places = {client.server_for(langchain_key(p)) for p in prompts}
    assert places == {memcached.spec, twemproxy.spec}
    assert cache.stats()["hits"] == len(prompts)


@needs_twemproxy
async def test_async_lookups_through_a_memcached_and_a_proxy(memcached, twemproxy):
    cache = MemcachedCache([memcached.spec, twemproxy.spec])
    prompts = [f"async {i}" for i in range(20)]
    for prompt in prompts:
        await cache.aupdate(prompt, LLM, [Generation(text=prompt)])
    for prompt in prompts:
        assert await cache.alookup(prompt, LLM) == [Generation(text=prompt)]


@needs_twemproxy
def test_get_many_and_clear_on_a_mixed_pool(memcached, twemproxy):
    client = HashClient([memcached.spec, twemproxy.spec])
    on_memcached = keys_on(client, memcached.spec)
    on_proxy = keys_on(client, twemproxy.spec)
    for key in on_memcached + on_proxy:
        client.set(key, key.encode())
    keys = on_memcached + on_proxy
    assert client.get_many([*keys, "never-stored"]) == [key.encode() for key in keys] + [None]
    with pytest.raises(ServerError) as error:
        client.flush_all()
    # The proxy hangs up on flush_all: named; the memcached was flushed.
    assert error.value.reason == "not_understood"
    assert error.value.server == twemproxy.spec
    assert client.get(on_memcached[0]) is None
    assert client.get(on_proxy[0]) == on_proxy[0].encode()
    # The hang-up counted nothing against the proxy: it keeps its keys.
    assert client.server_for(on_proxy[0]) == twemproxy.spec


def _metadump(port: int) -> list[str]:
    """The key=... lines of `lru_crawler metadump all` (live items only)."""
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(b"lru_crawler metadump all\r\n")
        data = b""
        while not data.endswith(b"END\r\n"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    return [line for line in data.decode().splitlines() if line.startswith("key=")]


def _read_line(reader: Any) -> bytes:
    try:
        line: bytes = reader.readline()
    except OSError:
        return b""
    return line


class LocalFlushProxy:
    """Answers as memcached's built-in proxy does: mn, version, ms/mg/md on a real dict
    (standing for its backends), and flush_all with OK from its own empty store."""

    def __init__(self) -> None:
        self.store: dict[str, bytes] = {}
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.spec = "127.0.0.1:%d" % self.listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        with conn, reader:
            while line := _read_line(reader):
                words = line.decode().split()
                if not words:
                    continue
                command, args = words[0], words[1:]
                opaque = "".join(f" {a}" for a in args if a.startswith("O"))
                if command == "mn":
                    reply = b"MN\r\n"
                elif command == "version":
                    reply = b"VERSION 1.6.23-proxy\r\n"
                elif command == "ms":
                    data = reader.read(int(args[1]) + 2)[:-2]
                    self.store[args[0]] = data
                    reply = f"HD{opaque}\r\n".encode()
                elif command == "mg":
                    value = self.store.get(args[0])
                    reply = (
                        f"EN{opaque}\r\n".encode()
                        if value is None
                        else f"VA {len(value)} f0{opaque}\r\n".encode() + value + b"\r\n"
                    )
                elif command == "md":
                    found = self.store.pop(args[0], None) is not None
                    reply = f"{'HD' if found else 'NF'}{opaque}\r\n".encode()
                elif command == "flush_all":
                    reply = b"OK\r\n"  # answered locally: the backends keep everything
                else:
                    reply = b"ERROR\r\n"
                conn.sendall(reply)

    def close(self) -> None:
        """Stops every thread of the fake (later tests count threads)."""
        for sock in [self.listener, *self.connections]:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept() or read
            except OSError:
                pass
        self.threads[0].join(timeout=5)
        for thread in self.threads[1:]:
            thread.join(timeout=5)
        self.listener.close()


@pytest.fixture
def local_flush_proxy() -> Iterator[LocalFlushProxy]:
    proxy = LocalFlushProxy()
    yield proxy
    proxy.close()


def test_clear_through_a_proxy_that_answers_flush_all_locally_raises(local_flush_proxy):
    cache = MemcachedCache(local_flush_proxy.spec)
    cache.update("kept", LLM, [Generation(text="still here")])
    with pytest.raises(ServerError) as error:
        cache.clear()
    assert error.value.reason == "flush_not_routed"
    assert error.value.server == local_flush_proxy.spec
    assert cache.lookup("kept", LLM) == [Generation(text="still here")]
    # The check's sentinel is gone; only the cache's entry is left.
    assert list(local_flush_proxy.store) == [langchain_key("kept")]
    with pytest.raises(ServerError) as error:
        Client(local_flush_proxy.spec).flush_all()
    assert error.value.reason == "flush_not_routed"


async def test_aclear_through_a_proxy_that_answers_flush_all_locally_raises(local_flush_proxy):
    cache = MemcachedCache(local_flush_proxy.spec)
    with pytest.raises(ServerError) as error:
        await cache.aclear()
    assert error.value.reason == "flush_not_routed"


def test_clear_of_a_real_memcached_is_no_false_alarm(memcached):
    cache = MemcachedCache(memcached.spec)
    cache.update("gone", LLM, [Generation(text="x")])
    cache.clear()
    assert cache.lookup("gone", LLM) is None
    # No sentinel left behind: the server holds no live item.
    keys = [line.split()[0] for line in _metadump(memcached.port)]
    assert keys == []
