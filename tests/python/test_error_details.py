"""Every langchain_memcached error says why and where in typed attributes (``reason``,
``server``, and ``reached_server`` for ValueTooLargeError), the same for blocking and
async calls, so that no caller has to read message text."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from langchain_core.outputs import Generation

import langchain_memcached
from langchain_memcached import Client, MemcachedCache
from langchain_memcached._codec import UnwritableValueError
from langchain_memcached.testing import free_port


@pytest.fixture
def refused_spec() -> str:
    return f"127.0.0.1:{free_port()}"


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"127.0.0.1:{listener.getsockname()[1]}"


def test_a_refused_connection_names_its_reason_and_server(refused_spec):
    with Client(refused_spec) as client, pytest.raises(langchain_memcached.IoError) as e:
        client.get("k")
    assert e.value.reason == "connection_refused"
    assert e.value.server == refused_spec


async def test_async_refused_connection_names_its_reason_and_server(refused_spec):
    with Client(refused_spec) as client, pytest.raises(langchain_memcached.IoError) as e:
        await client.aget("k")
    assert e.value.reason == "connection_refused"
    assert e.value.server == refused_spec


async def test_async_errors_carry_the_details(silent_server, memcached_factory):
    with Client(silent_server, timeout=0.2) as client:
        with pytest.raises(langchain_memcached.TimeoutError) as timed_out:
            await client.aget("k")
    assert timed_out.value.reason == "timed_out"
    cache = MemcachedCache(memcached_factory("-I", "1m").spec, strict=True)
    with pytest.raises(langchain_memcached.ValueTooLargeError) as too_large:
        await cache.aupdate("p", "l", [Generation(text="x" * 1_500_000)])
    assert (too_large.value.reason, too_large.value.reached_server) == ("too_large", False)


def test_a_deadline_says_timed_out(silent_server):
    with Client(silent_server, timeout=0.2) as client:
        with pytest.raises(langchain_memcached.TimeoutError) as e:
            client.get("k")
    assert e.value.reason == "timed_out"


def test_a_closed_client_says_closed_by_client(memcached):
    client = Client(memcached.spec)
    client.close()
    with pytest.raises(langchain_memcached.ClosedError) as e:
        client.get("k")
    assert (e.value.reason, e.value.server) == ("closed_by_client", "")


def test_too_large_says_whether_the_server_saw_the_value(memcached_factory):
    server = memcached_factory("-I", "1m")
    cache = MemcachedCache(server.spec, strict=True)
    with pytest.raises(langchain_memcached.ValueTooLargeError) as before_sending:
        cache.update("p", "l", [Generation(text="x" * 1_500_000)])
    assert before_sending.value.reason == "too_large"
    assert before_sending.value.reached_server is False

    # Within a few bytes of the limit the value goes out and memcached itself refuses it.
    client = Client(server.spec)
    with pytest.raises(langchain_memcached.ValueTooLargeError) as at_server:
        client.set("k" * 32, b"v" * ((1 << 20) - 48 - 32 - 1 - 2 - 4))
    assert at_server.value.reason == "too_large"
    assert at_server.value.reached_server is True


def test_errors_raised_from_python_have_the_attributes_too():
    error = UnwritableValueError("a datetime")
    assert (error.reason, error.server) == ("unspecified", "")
    assert langchain_memcached.ValueTooLargeError("x").reached_server is True
    assert issubclass(langchain_memcached.TimeoutError, TimeoutError)


def test_a_refused_connection_is_an_io_error_in_the_cache_counters(refused_spec):
    cache = MemcachedCache(refused_spec)
    assert cache.lookup("p", "l") is None
    cache.update("p", "l", [Generation(text="x")])
    stats = cache.stats()
    assert (stats["io_errors"], stats["misses"], stats["update_failures"]) == (2, 1, 1)
