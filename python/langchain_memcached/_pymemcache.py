"""pymemcache clients as llmcache clients: ``MemcachedCache(pymemcache.Client(...))``.

The converted client must read and write exactly what the pymemcache client would: the
same bytes, under the same keys (``key_prefix`` included), on the same servers (TCP or
Unix sockets, named as pymemcache's HashClient names them). Its servers, timeouts,
prefix and failure rules carry over; the I/O is ours. An option that would make our
bytes, keys or placement differ from that client's is refused here, at construction,
with the reason: a silent difference would be a cache that misreads (or reads another
tenant's entries) without a single error.

Options accepted because they cannot change what is stored or where (each has a test in
tests/python/test_pymemcache_conversion.py):

- ``allow_unicode_keys``: LangChain's keys are 32 hex digits, the same bytes either way;
  for other keys our client sends UTF-8, which is what ``True`` does (``False`` refuses
  such keys, it never sends other bytes).
- ``default_noreply``: whether pymemcache waits for memcached's answer to a write. The
  bytes stored are the same; ours always waits, so a refused write is reported.
- ``encoding`` when it maps every ASCII character to itself (ascii, utf-8, latin-1...):
  LangChain's keys and values (JSON with ``ensure_ascii``) are pure ASCII, so the
  bytes are the same. Any other (utf-16, utf-7, EBCDIC code pages) is refused.
- ``no_delay``, ``socket_keepalive``, ``socket_module``, ``ignore_exc``, pooling and
  ``RetryingClient``'s retries: how the client talks and retries, not what it stores.
  (Our cache already turns server trouble into misses, as ``ignore_exc`` does.)

Refused: a custom ``serde`` (or ``serializer``/``deserializer``), a non-ASCII-preserving
``encoding``, a ``hasher`` other than pymemcache's default RendezvousHash, and
``tls_context`` (an SSLContext cannot be read back into files and names).
"""

from __future__ import annotations

from typing import Any

from langchain_memcached._client import Client, HashClient, _ClientBase

__all__ = ["from_pymemcache"]

_DEFAULT_TIMEOUT = 1.0
_ASCII = bytes(range(128))


def _server_name(server: Any) -> str:
    """A normalized pymemcache server, (host, port) or a socket path, as our spec."""
    if isinstance(server, tuple) and len(server) == 2:
        host, port = server
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    if isinstance(server, str) and server.startswith("/"):
        return server  # a Unix socket; pymemcache has already dropped any "unix:"
    if isinstance(server, str) and ":" in server and not server.startswith("unix:"):
        return server  # a HashClient node name, "host:port"
    raise ValueError(
        f"llmcache does not support this memcached server spec: {server!r} "
        "(a Unix socket path must be absolute)"
    )


def _timeouts(connect_timeout: float | None, timeout: float | None) -> dict[str, float]:
    # pymemcache's None means "wait forever"; ours always has a deadline.
    return {
        "connect_timeout": connect_timeout or _DEFAULT_TIMEOUT,
        "timeout": timeout or _DEFAULT_TIMEOUT,
    }


def _refuse_tls_context(tls_context: Any) -> None:
    # An ssl.SSLContext cannot be read back into files and names; connecting without it
    # would send what the caller meant to protect in the clear.
    if tls_context is not None:
        raise ValueError(
            "this pymemcache client uses TLS (tls_context); pass the servers as a string "
            "with tls=True, tls_ca_file=... instead"
        )


def _refuse_serde(serde: Any) -> None:
    # We store LangChain's JSON bytes with flags 0 and return the stored bytes, which is
    # what pymemcache's default LegacyWrappingSerde(None, None) does. Any other serde
    # stores other bytes or flags, or reads ours differently (with a custom serde every
    # entry LangChain writes used to be a miss logged as a UnicodeDecodeError).
    from pymemcache.serde import LegacyWrappingSerde

    if (
        isinstance(serde, LegacyWrappingSerde)
        and serde.serialize == serde._default_serialize
        and serde.deserialize == serde._default_deserialize
    ):
        return
    raise ValueError(
        f"this pymemcache client uses a custom serde ({type(serde).__name__}, or a "
        "serializer/deserializer); llmcache stores LangChain's JSON bytes as they are "
        "(flags 0), so the two would misread each other's entries. Use a pymemcache "
        "client with the default serde, or pass the servers as a string"
    )


def _refuse_encoding(encoding: str) -> None:
    # LangChain's keys and values are pure ASCII: an encoding that maps ASCII to itself
    # writes the very bytes we write; any other writes different ones.
    try:
        same = _ASCII.decode("ascii").encode(encoding) == _ASCII
    except (LookupError, UnicodeError):
        same = False
    if not same:
        raise ValueError(
            f"this pymemcache client writes values in encoding={encoding!r}, which does not "
            "keep ASCII text as it is; llmcache writes LangChain's (ASCII) JSON as is, so "
            "the two would misread each other's entries. Use an ASCII-compatible encoding "
            "(the default 'ascii', or 'utf-8')"
        )


def _refuse_hasher(hasher: Any) -> None:
    # Our HashClient places keys as pymemcache's default RendezvousHash (seed 0, murmur3);
    # another hasher puts keys on other servers, so each side would miss the other's.
    from pymemcache.client.rendezvous import RendezvousHash

    if type(hasher) is not RendezvousHash or getattr(hasher, "seed", 0) != 0:
        raise ValueError(
            f"this pymemcache HashClient places keys with {type(hasher).__name__}; llmcache "
            "places them as pymemcache's default RendezvousHash only, so the two would look "
            "for keys on different servers. Use the default hasher"
        )


def _key_prefix(key_prefix: Any) -> bytes:
    # As pymemcache's Client normalizes it: a str is encoded as ASCII.
    if isinstance(key_prefix, str):
        return key_prefix.encode("ascii")
    return bytes(key_prefix or b"")


def _checked(settings: dict[str, Any]) -> dict[str, Any]:
    """The options our client needs, after refusing any that would change bytes or keys."""
    _refuse_tls_context(settings.get("tls_context"))
    _refuse_serde(settings["serde"])
    _refuse_encoding(settings.get("encoding") or "ascii")
    return {
        "key_prefix": _key_prefix(settings.get("key_prefix")),
        **_timeouts(settings.get("connect_timeout"), settings.get("timeout")),
    }


def from_pymemcache(client: Any) -> _ClientBase | None:
    """Our client for a pymemcache Client, PooledClient, HashClient or RetryingClient;
    None if ``client`` is none of these. Raises ValueError for an option we cannot honour."""
    try:
        from pymemcache.client import Client as PyClient
        from pymemcache.client import HashClient as PyHashClient
        from pymemcache.client import PooledClient, RetryingClient
        from pymemcache.serde import LegacyWrappingSerde
    except ImportError:
        return None
    if isinstance(client, RetryingClient):
        return from_pymemcache(client._client)
    if isinstance(client, (PyClient, PooledClient)):
        return Client(_server_name(client.server), **_checked(vars(client)))
    if isinstance(client, PyHashClient):
        _refuse_hasher(client.hasher)
        kwargs = dict(client.default_kwargs)
        # As its Client does: serde, else the legacy functions wrapped.
        kwargs["serde"] = kwargs.get("serde") or LegacyWrappingSerde(
            kwargs.get("serializer"), kwargs.get("deserializer")
        )
        # The node names HashClient hashes ("host:port", or a socket's path), in order.
        return HashClient(
            [_server_name(name) for name in client.clients],
            retry_attempts=client.retry_attempts,
            retry_timeout=client.retry_timeout,
            dead_timeout=client.dead_timeout,
            **_checked(kwargs),
        )
    return None
