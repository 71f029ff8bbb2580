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
code the C++ cache uses, and only entries signed with that secret read back; with
``namespace=...`` entries live in a namespace that ``clear()`` empties alone; with
``compress=True`` large values are stored zstd-compressed; with ``single_flight=True``
concurrent misses of one prompt, across processes, call the model once (the others wait
for its answer), and with ``stale_ttl=...`` expired entries are served while one caller
refreshes them (docs/single-flight.md). Per request,
:func:`langchain_memcached.cache_control` changes what lookups and updates do.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, Generation

from langchain_memcached import _aio, _codec, _control, _ext
from langchain_memcached._client import Client, HashClient, _ClientBase
from langchain_memcached._pymemcache import from_pymemcache

__all__ = ["MemcachedCache"]


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
            f"client options ({', '.join(sorted(options))}) apply only when the cache "
            "builds the client from a server string or list"
        )
    if isinstance(client, _ClientBase):
        return client
    converted = from_pymemcache(client)
    if converted is None:
        raise ValueError(
            "Please pass a valid pymemcached client, an llmcache Client or HashClient, "
            f"a server string or a list of servers; got {type(client).__name__}"
        )
    return converted


def _tokens_saved(generations: list[Generation]) -> int:
    """The model tokens a hit spares: the ``total_tokens`` of each chat generation's usage
    metadata (a plain Generation, or a message without usage, reports none). A stored
    entry is not trusted to hold a sensible count: only positive integers add, and the sum
    stays within the core's 64-bit counter, so no entry can fail the lookup."""
    total = 0
    for generation in generations:
        if isinstance(generation, ChatGeneration) and isinstance(generation.message, AIMessage):
            usage = generation.message.usage_metadata
            tokens = usage.get("total_tokens") if usage else None
            if isinstance(tokens, int) and tokens > 0:
                total += tokens
    return min(total, 2**64 - 1)



def _make_core(
    client: Any, client_options: dict[str, Any], *, ttl: int | None, strict: bool, **core: Any
) -> tuple[_ClientBase, _ext.CacheCore]:
    """The client and the C++ cache core each cache of this package stands on (the LLM
    cache, the node cache, the store): keys, TTL, namespaces, signing, compression,
    counters and logging are the core's rules, the faces only encode their values."""
    if ttl is not None and ttl < 0:
        raise ValueError("ttl cannot be negative")
    built = _to_client(client, client_options)
    return built, _ext.CacheCore(built._core, ttl or 0, strict, **core)

_NO_CONTROL: dict[str, Any] = {}


def _control_keywords() -> dict[str, Any]:
    """The per-call keywords of the cache_control block in effect (none outside one)."""
    control = _control.current()
    return _NO_CONTROL if control is None else control.keywords()


def _with_control(start: Callable[..., None]) -> Callable[..., None]:
    """``start`` with the keywords of the cache_control block in effect, if any."""
    control = _control.current()
    return start if control is None else functools.partial(start, **control.keywords())


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
        namespace: keep entries under this namespace (any non-empty string). Its keys are
            then no longer LangChain's, so LangChain's own cache does not see them;
            ``clear()`` empties only this namespace, at once (no ``flush_all``, so it also
            works through proxies), and two namespaces never read each other's entries
            (isolation, not access control). After ``clear()`` returns this process never
            reads an older entry; other processes stop within ``namespace_refresh``.
        namespace_refresh: seconds a namespace's generation is trusted before it is read
            again (default 1.0): the bound on how long other processes may still read
            entries a ``clear()`` removed.
        compress: store values of at least ``compress_min_bytes`` bytes as zstd frames
            (marked in the item's client flags, bit 12). Compressed and plain entries are
            read whatever this setting; LangChain's own reader cannot read compressed
            entries. ``stats()["bytes_saved_by_compression"]`` says what it saved.
        compress_min_bytes: smallest value compressed (default 1024).
        compress_level: zstd's level, 1 (fastest) to 19 (smallest); default 3.
        single_flight: stampede protection across processes: of all concurrent lookups
            of one missing entry, one misses (its caller calls the model and stores the
            answer) and the others wait for that answer (sleeping, or awaiting in async
            code: no thread), then read it as a hit. Counted in ``leases_won``,
            ``lease_waits`` and ``lease_wait_timeouts``. While the model runs, the entry's
            key holds an empty placeholder, which LangChain's own reader and pymemcache
            read as an empty value (see docs/single-flight.md).
        single_flight_wait: seconds a waiter waits (default 60.0); when it runs out the
            lookup misses and its caller calls the model itself.
        lease_ttl: seconds a winner may take before a waiter takes over (default 30): a
            winner that never stores (its model call raised, its process died) holds the
            others that long. Choose it above the model call's usual duration.
        stale_ttl: seconds an entry is still served after ``ttl`` (needs ``ttl``): in that
            window one lookup misses and refreshes it, the others read the old answer at
            once (``stale_served``). Meta protocol only; through a classic-protocol proxy
            entries simply expire after ``ttl``.
        **client_options: when ``client_`` is a server string or list, keywords of
            ``langchain_memcached.Client``/``HashClient`` for the client built from it: timeouts,
            ``blocking_spin`` (0: a blocking lookup never spins before it sleeps), and TLS and
            auth (``tls=True``, ``tls_ca_file``, ``tls_cert_file``, ``tls_key_file``,
            ``tls_server_name``, ``tls_verify``, ``username``, ``password``).
    """

    def __init__(
        self,
        client_: Any = "127.0.0.1:11211",
        *,
        ttl: int | None = None,
        strict: bool = False,
        signing_secret: str | bytes | None = None,
        namespace: str | None = None,
        namespace_refresh: float = 1.0,
        compress: bool = False,
        compress_min_bytes: int = 1024,
        compress_level: int = 3,
        single_flight: bool = False,
        single_flight_wait: float = 60.0,
        lease_ttl: int = 30,
        stale_ttl: int = 0,
        **client_options: Any,
    ) -> None:
        # The C++ cache core: keys, TTL, signing, counters and logging once per cause are
        # the same code as the C++ cache's; this class only turns bytes into generations.
        self.client, self._core = _make_core(
            client_,
            client_options,
            ttl=ttl,
            strict=strict,
            signing_secret=signing_secret,
            namespace=namespace,
            namespace_refresh=namespace_refresh,
            compress=compress,
            compress_min_bytes=compress_min_bytes,
            compress_level=compress_level,
            single_flight=single_flight,
            single_flight_wait=single_flight_wait,
            lease_ttl=lease_ttl,
            stale_ttl=stale_ttl,
        )
        self._ttl = ttl or 0
        self._strict = strict
        self._namespace = namespace

    # Read-only: the core was made with them, so assigning one would change nothing.
    @property
    def ttl(self) -> int:
        """Seconds entries live; 0 means forever."""
        return self._ttl

    @property
    def strict(self) -> bool:
        """Whether update failures are raised rather than counted and logged."""
        return self._strict

    @property
    def namespace(self) -> str | None:
        """The namespace entries live under, or None (LangChain's keys)."""
        return self._namespace

    def stats(self) -> dict[str, int]:
        """Counters since creation: every lookup is one hit or one miss; the rest say why
        (the C++ cache's counters, under the same names)."""
        return self._core.stats()

    def _finished(self, result: list[Generation] | bytes | None) -> list[Generation] | None:
        """A lookup's result from the core: plain generations and misses arrive decoded and
        counted; anything else (chat generations...) as bytes, read here."""
        if isinstance(result, bytes):
            return self._finish_lookup(result)
        return result

    def _finish_lookup(self, value: bytes | None) -> list[Generation] | None:
        """Ends a lookup: the verified bytes as generations (a hit), or None (a miss)."""
        if value is not None:
            try:
                generations = _codec.loads_generations(value)
            except Exception as error:  # noqa: BLE001 - any corrupt entry is a miss
                self._core.record_decode_failure(
                    f"not LangChain generations: {type(error).__name__}: {error}"
                )
            else:
                self._core.finish_lookup(True, len(value), _tokens_saved(generations))
                return generations
        self._core.finish_lookup(False)
        return None

    @staticmethod
    def _value(return_val: RETURN_VAL_TYPE) -> str | bytes:
        """LangChain's bytes for ``return_val``; raises UnwritableValueError for what its
        writer cannot represent."""
        for gen in return_val:
            if not isinstance(gen, Generation):
                raise ValueError(
                    "Memcached only supports caching of normal LLM generations, "
                    + f"got {type(gen)}"
                )
        return _codec.dumps_generations(return_val)

    # ------------------------------------------------------------------ BaseCache
    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        """Look up based on prompt and llm_string. Never raises for server trouble."""
        return self._finished(self._core.lookup(prompt, llm_string, **_control_keywords()))

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        """Update cache based on prompt and llm_string."""
        try:
            value = self._value(return_val)
        except _codec.UnwritableValueError as error:  # nothing sent: the old entry stays
            self._core.refuse_update(error, prompt, llm_string)
            return
        except BaseException:
            self._core.release_lease(prompt, llm_string)  # waiters need not wait lease_ttl
            raise
        self._core.store(prompt, llm_string, value, **_control_keywords())

    def release_lease(self, prompt: str, llm_string: str) -> None:
        """With ``single_flight``: gives back the lease a lookup of this prompt won, when
        its caller will not update (its model call failed), so that the waiting callers
        need not wait ``lease_ttl``. Does nothing when no lease is held; never raises for
        server trouble (the lease then ends by itself)."""
        self._core.release_lease(prompt, llm_string)

    async def arelease_lease(self, prompt: str, llm_string: str) -> None:
        """Async :meth:`release_lease`."""
        future: asyncio.Future[bool] = _aio.submit(
            self._core.start_release_lease, prompt, llm_string
        )
        await future

    def clear(self, **kwargs: Any) -> None:
        """Without a namespace, ``flush_all`` on every server: wipes each WHOLE server, not
        only LangChain's entries. Takes ``delay`` (seconds) and ``noreply`` (don't wait for
        the servers). With a namespace, empties only it, at once (``delay`` is then refused
        with InvalidArgumentError)."""
        self._core.clear(int(kwargs.get("delay", 0)), bool(kwargs.get("noreply")))

    async def alookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        """Async lookup: completed by llmcache's I/O thread, no executor thread per call."""
        future: asyncio.Future[list[Generation] | bytes | None] = _aio.submit(
            _with_control(self._core.start_lookup), prompt, llm_string
        )
        return self._finished(await future)

    async def aupdate(
        self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE
    ) -> None:
        """Async update cache based on prompt and llm_string."""
        try:
            value = self._value(return_val)
        except _codec.UnwritableValueError as error:  # nothing sent: the old entry stays
            self._core.refuse_update(error)
            await self.arelease_lease(prompt, llm_string)
            return
        except BaseException:
            await self.arelease_lease(prompt, llm_string)
            raise
        future: asyncio.Future[bool] = _aio.submit(
            _with_control(self._core.start_store), prompt, llm_string, value
        )
        await future

    async def aclear(self, **kwargs: Any) -> None:
        """Async clear: ``flush_all`` on every server, or the namespace (see :meth:`clear`)."""
        future: asyncio.Future[bool] = _aio.submit(
            self._core.start_clear, int(kwargs.get("delay", 0)), bool(kwargs.get("noreply"))
        )
        await future

    def __repr__(self) -> str:
        return f"MemcachedCache({self.client!r})"
