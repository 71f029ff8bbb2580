"""A drop-in replacement for ``langchain_community.cache.MemcachedCache``.

Change one import and nothing else::

    from langchain_memcached import MemcachedCache   # was: langchain_community.cache
    set_llm_cache(MemcachedCache(Client("localhost")))  # pymemcache clients still work

Keys, values and server placement are LangChain's and pymemcache's, so both can share a
pool. Differences, all on purpose: server trouble and corrupt entries are misses (counted
in :meth:`MemcachedCache.stats`, logged once per cause), never exceptions; a value the
server refuses is reported, never dropped silently; the async methods are real asyncio,
not threads; every call has a finite deadline.

Optionally (``signing_secret=...``), entries are signed with HMAC-SHA256 by the same C++
code the C++ cache uses, and only entries signed with that secret read back.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, TypedDict

from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
from langchain_core.outputs import Generation

from langchain_memcached import _codec, _ext
from langchain_memcached._client import Client, HashClient, _ClientBase

__all__ = ["MemcachedCache"]

logger = logging.getLogger("langchain_memcached")

_DEFAULT_TIMEOUT = 1.0


def _server_name(server: Any) -> str:
    """pymemcache's (host, port) or "host:port" as our "host:port"."""
    if isinstance(server, tuple) and len(server) == 2:
        host, port = server
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    if isinstance(server, str) and not server.startswith("/"):
        return server
    raise ValueError(f"llmcache does not support this memcached server spec: {server!r}")


class _Timeouts(TypedDict):
    connect_timeout: float
    timeout: float


def _timeouts(connect_timeout: float | None, timeout: float | None) -> _Timeouts:
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


def _from_pymemcache(client: Any) -> _ClientBase | None:
    try:
        from pymemcache.client import Client as PyClient
        from pymemcache.client import HashClient as PyHashClient
        from pymemcache.client import PooledClient, RetryingClient
    except ImportError:
        return None
    if isinstance(client, RetryingClient):
        return _from_pymemcache(client._client)
    if isinstance(client, (PyClient, PooledClient)):
        _refuse_tls_context(getattr(client, "tls_context", None))
        return Client(
            _server_name(client.server), **_timeouts(client.connect_timeout, client.timeout)
        )
    if isinstance(client, PyHashClient):
        kwargs = client.default_kwargs
        _refuse_tls_context(kwargs.get("tls_context"))
        return HashClient(
            [_server_name(name) for name in client.clients],
            retry_attempts=client.retry_attempts,
            retry_timeout=client.retry_timeout,
            dead_timeout=client.dead_timeout,
            **_timeouts(kwargs.get("connect_timeout"), kwargs.get("timeout")),
        )
    return None


def _to_client(client: Any, options: dict[str, Any]) -> _ClientBase:
    if isinstance(client, str):
        servers = [s for s in client.replace(",", " ").split() if s]
        if len(servers) == 1:
            return Client(servers[0], **options)
        return HashClient(servers, **options)
    if isinstance(client, (list, tuple)) and all(isinstance(s, str) for s in client):
        return HashClient(list(client), **options)
    if options:
        # A client made elsewhere already has its options; silently ignoring these
        # (say tls=True) would send traffic the caller meant to protect in the clear.
        raise ValueError(
            f"client options ({', '.join(sorted(options))}) apply only when MemcachedCache "
            "builds the client from a server string or list"
        )
    if isinstance(client, _ClientBase):
        return client
    converted = _from_pymemcache(client)
    if converted is None:
        raise ValueError(
            "Please pass a valid pymemcached client, an llmcache Client or HashClient, "
            f"a server string or a list of servers; got {type(client).__name__}"
        )
    return converted


class MemcachedCache(BaseCache):
    """LangChain's MemcachedCache on llmcache's C++ client.

    Args:
        client_: a pymemcache ``Client``, ``PooledClient``, ``HashClient`` or
            ``RetryingClient`` (its servers and timeouts are used, the I/O is ours), an
            llmcache ``Client``/``HashClient``, ``"host:port"``, ``"h1:p1,h2:p2"`` or a
            list of servers.
        ttl: seconds entries live; None (the default, as LangChain) means forever.
        strict: raise update failures (e.g. ValueTooLargeError) instead of logging them.
        signing_secret: sign entries with HMAC-SHA256 under this secret (str or bytes);
            only entries signed with it read back, anything else (LangChain's own
            entries, forgeries, another secret) is a miss counted as
            ``signature_failures``. Off by default: signed values are not LangChain's
            bytes, so every process sharing the pool must use llmcache and this secret.
            An empty secret raises InvalidArgumentError.
        **client_options: when ``client_`` is a server string or list, keywords of
            ``langchain_memcached.Client``/``HashClient`` for the client built from it: timeouts, and
            TLS and auth (``tls=True``, ``tls_ca_file``, ``tls_cert_file``, ``tls_key_file``,
            ``tls_server_name``, ``tls_verify``, ``username``, ``password``).
    """

    def __init__(
        self,
        client_: Any = "127.0.0.1:11211",
        *,
        ttl: int | None = None,
        strict: bool = False,
        signing_secret: str | bytes | None = None,
        **client_options: Any,
    ) -> None:
        if ttl is not None and ttl < 0:
            raise ValueError("ttl cannot be negative")
        # The C++ Signer, so both languages seal and check entries with one implementation.
        self._signer = _ext.Signer(signing_secret) if signing_secret is not None else None
        self.client = _to_client(client_, client_options)
        self.ttl = ttl or 0
        self.strict = strict
        self._lock = threading.Lock()
        self._stats = dict.fromkeys(
            ("hits", "misses", "updates", "update_failures", "io_errors", "timeouts",
             "server_errors", "protocol_errors", "decode_errors", "too_large",
             "signature_failures"),
            0,
        )
        self._logged: set[str] = set()

    # ------------------------------------------------------------------ bookkeeping
    def stats(self) -> dict[str, int]:
        """Counters since creation: every lookup is one hit or one miss; the rest say why."""
        with self._lock:
            return dict(self._stats)

    def _count(self, name: str) -> None:
        with self._lock:
            self._stats[name] += 1

    def _failed(self, error: BaseException, operation: str) -> None:
        if isinstance(error, _ext.TimeoutError):
            cause = "timeouts"
        elif isinstance(error, _ext.IoError):
            cause = "io_errors"
        elif isinstance(error, _ext.ProtocolError):
            cause = "protocol_errors"
        elif isinstance(error, _ext.ValueTooLargeError):
            cause = "too_large"
        elif isinstance(error, _ext.ServerError):
            cause = "server_errors"
        else:
            cause = "decode_errors"
        log_as = cause
        if cause == "too_large" and "nothing was sent" not in str(error):
            # Refused by the server, which then removed the old value, rather than before
            # sending (the old value kept): different news, so each is logged once.
            log_as = "too_large_at_server"
        with self._lock:
            self._stats[cause] += 1
            first = log_as not in self._logged
            self._logged.add(log_as)
        if first:  # one line per cause, so a dead server cannot flood the log
            logger.warning(
                "llmcache %s failed (%s: %s); further %s are only counted",
                operation, type(error).__name__, error, log_as.replace("_", " "),
            )

    def _open(self, key: str, value: bytes) -> bytes | None:
        """The signed value under ``key``; None (counted, logged once per cause) if not."""
        assert self._signer is not None
        opened, why = self._signer.open(key, value)
        if opened is not None:
            return opened
        with self._lock:
            self._stats["signature_failures"] += 1
            first = f"signature: {why}" not in self._logged
            self._logged.add(f"signature: {why}")
        if first:
            logger.warning(
                "llmcache lookup: an entry failed its signature check (%s) and reads as a "
                "miss; it was not written by a cache holding this signing secret (further "
                "entries of this kind are only counted)", why,
            )
        return None

    def _decode(self, key: str, value: bytes | None) -> list[Generation] | None:
        result = None
        if value is not None and self._signer is not None:
            value = self._open(key, value)
        if value is not None:
            try:
                result = _codec.loads_generations(value)
            except Exception as error:  # noqa: BLE001 - any corrupt entry is a miss
                self._failed(error, "decoding a cached value")
        self._count("hits" if result is not None else "misses")
        return result

    @staticmethod
    def _check(return_val: RETURN_VAL_TYPE) -> None:
        for gen in return_val:
            if not isinstance(gen, Generation):
                raise ValueError(
                    "Memcached only supports caching of normal LLM generations, "
                    + f"got {type(gen)}"
                )

    def _stored_value(
        self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE
    ) -> tuple[str, str | bytes]:
        self._check(return_val)
        key = _ext.langchain_key(prompt, llm_string)
        value = _codec.dumps_generations(return_val)
        return key, value if self._signer is None else self._signer.seal(key, value)

    def _stored(self, error: BaseException | None) -> None:
        if error is None:
            self._count("updates")
            return
        self._count("update_failures")
        self._failed(error, "update")
        if self.strict:
            raise error

    # ------------------------------------------------------------------ BaseCache
    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        """Look up based on prompt and llm_string. Never raises for server trouble."""
        key = _ext.langchain_key(prompt, llm_string)
        try:
            value = self.client.get(key)
        except _ext.Error as error:
            self._failed(error, "lookup")
            value = None
        return self._decode(key, value)

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        """Update cache based on prompt and llm_string."""
        key, value = self._stored_value(prompt, llm_string, return_val)
        try:
            self.client.set(key, value, ttl=self.ttl)
        except _ext.Error as error:
            self._stored(error)
        else:
            self._stored(None)

    def clear(self, **kwargs: Any) -> None:
        """``flush_all`` on every server: wipes each WHOLE server, not only LangChain's
        entries. Takes ``delay`` (seconds) and ``noreply`` (don't wait for the servers)."""
        self.client.flush_all(int(kwargs.get("delay", 0)), bool(kwargs.get("noreply")))

    async def alookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        """Async lookup: completed by llmcache's I/O thread, no executor thread per call."""
        key = _ext.langchain_key(prompt, llm_string)
        try:
            value = await self.client.aget(key)
        except _ext.Error as error:
            self._failed(error, "lookup")
            value = None
        return self._decode(key, value)

    async def aupdate(
        self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE
    ) -> None:
        """Async update cache based on prompt and llm_string."""
        key, value = self._stored_value(prompt, llm_string, return_val)
        try:
            await self.client.aset(key, value, ttl=self.ttl)
        except _ext.Error as error:
            self._stored(error)
        else:
            self._stored(None)

    async def aclear(self, **kwargs: Any) -> None:
        """Async clear: ``flush_all`` on every server (see :meth:`clear`)."""
        await self.client.aflush_all(int(kwargs.get("delay", 0)), bool(kwargs.get("noreply")))

    def __repr__(self) -> str:
        return f"MemcachedCache({self.client!r})"
