"""LangGraph's node cache on memcached: ``MemcachedNodeCache``.

``StateGraph.compile(cache=...)``, ``@entrypoint(cache=...)`` and LangChain v1's
``create_agent(..., cache=...)`` take a ``langgraph.cache.base.BaseCache``; this is one on
llmcache's C++ core, so processes sharing a memcached pool share their cached nodes::

    from langgraph.types import CachePolicy
    from langchain_memcached import MemcachedNodeCache

    builder.add_node("expensive", expensive, cache_policy=CachePolicy(ttl=3600))
    graph = builder.compile(cache=MemcachedNodeCache("127.0.0.1:11211"))

Each of LangGraph's namespaces (one per cached node or task) is a sub-namespace of the
cache's namespace in the core: ``clear(namespaces)`` empties the ones named and ``clear()``
all of them, each in O(1) (a new generation: no ``flush_all``, no key scan). See
docs/node-cache.md.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from langgraph.cache.base import BaseCache, FullKey, Namespace
from langgraph.checkpoint.serde.base import SerializerProtocol

from langchain_memcached import _aio
from langchain_memcached._cache import _make_core

__all__ = ["MemcachedNodeCache"]

ValueT = TypeVar("ValueT")


def _sub_namespace(namespace: Namespace) -> str:
    """LangGraph's namespace (a tuple of strings) as one sub-namespace name: JSON, so two
    different tuples never share a name (("a:b",) and ("a", "b") stay apart)."""
    return json.dumps(list(namespace), ensure_ascii=False, separators=(",", ":"))


def _unique(keys: Sequence[FullKey]) -> list[FullKey]:
    """The keys of a batch, each once, in order."""
    return list(dict.fromkeys((tuple(namespace), key) for namespace, key in keys))


class MemcachedNodeCache(BaseCache[ValueT]):
    """A LangGraph cache (``langgraph.cache.base.BaseCache``) on memcached.

    Args:
        client: ``"host:port"``, ``"h1:p1,h2:p2"``, a list of servers, an llmcache
            ``Client``/``HashClient`` or a pymemcache client (as ``MemcachedCache`` takes).
        namespace: the cache's namespace in memcached (default ``"langgraph"``): caches
            with the same namespace on the same pool share their entries, across
            processes; ``clear()`` empties it alone.
        ttl: seconds an entry lives when its ``CachePolicy`` gives no ``ttl``; None (the
            default, as LangGraph) means forever. A policy's own ``ttl`` always wins.
        serde: LangGraph's serializer (default: the base class's ``JsonPlusSerializer``);
            its encoding and bytes are stored together in one value.
        signing_secret: sign entries with HMAC-SHA256 (as ``MemcachedCache``): only
            entries signed with this secret read back. Recommended when the serde can
            load pickles (``pickle_fallback=True``): memcached has no access control.
        compress: store values of at least ``compress_min_bytes`` as zstd frames.
        compress_min_bytes, compress_level: as ``MemcachedCache``.
        namespace_refresh: seconds a generation is trusted before it is read again: the
            bound on how long other processes may still read entries a clear removed.
        strict: raise store failures (e.g. ValueTooLargeError) from ``set`` instead of
            counting and logging them.
        **client_options: keywords of ``Client``/``HashClient`` when ``client`` is a server
            string or list (timeouts, TLS, auth).

    Values above the server's item size limit are refused, logged (once per cause, by the
    core) and counted in ``stats()["too_large"]``: the node runs again next time.
    """

    def __init__(
        self,
        client: Any = "127.0.0.1:11211",
        *,
        namespace: str = "langgraph",
        ttl: int | None = None,
        serde: SerializerProtocol | None = None,
        signing_secret: str | bytes | None = None,
        compress: bool = False,
        compress_min_bytes: int = 1024,
        compress_level: int = 3,
        namespace_refresh: float = 1.0,
        strict: bool = False,
        **client_options: Any,
    ) -> None:
        super().__init__(serde=serde)
        if not namespace:
            raise ValueError("namespace cannot be empty")
        self.client, self._core = _make_core(
            client,
            client_options,
            ttl=ttl,
            strict=strict,
            signing_secret=signing_secret,
            namespace=namespace,
            namespace_refresh=namespace_refresh,
            compress=compress,
            compress_min_bytes=compress_min_bytes,
            compress_level=compress_level,
        )
        self._namespace = namespace

    @property
    def namespace(self) -> str:
        """The cache's namespace in memcached."""
        return self._namespace

    def stats(self) -> dict[str, int]:
        """The core's counters: every key looked up is one hit or one miss; ``too_large``
        counts values refused for the item size limit; the rest say why."""
        return self._core.stats()

    # ------------------------------------------------------------------ encoding
    def _encode(self, value: ValueT) -> bytes | None:
        """The serde's encoding and bytes in one value (``encoding:bytes``, as LangGraph's
        RedisCache stores them), or None when the serde cannot write it (counted)."""
        try:
            encoding, data = self.serde.dumps_typed(value)
        except Exception as error:  # noqa: BLE001 - any serde failure refuses this value
            self._core.refuse_update(error)
            return None
        return encoding.encode() + b":" + data

    def _decode(self, stored: bytes | None) -> tuple[bool, Any]:
        """Ends one key's lookup in the core: (hit, value)."""
        if stored is not None:
            encoding, separator, data = stored.partition(b":")
            try:
                if not separator:
                    raise ValueError("no encoding before the serialized bytes")
                value = self.serde.loads_typed((encoding.decode(), data))
            except Exception as error:  # noqa: BLE001 - any corrupt entry is a miss
                self._core.record_decode_failure(
                    f"not a node cache entry this serde reads: {type(error).__name__}: {error}"
                )
            else:
                self._core.finish_lookup(True, len(stored))
                return True, value
        self._core.finish_lookup(False)
        return False, None

    def _finish_get(
        self, keys: list[FullKey], fetched: Sequence[bytes | None]
    ) -> dict[FullKey, ValueT]:
        values: dict[FullKey, ValueT] = {}
        for full_key, item in zip(keys, fetched):
            hit, value = self._decode(item)
            if hit:
                values[full_key] = value
        return values

    def _items(
        self, pairs: Mapping[FullKey, tuple[ValueT, int | None]]
    ) -> tuple[list[tuple[str, bytes, int | None]], list[str | None]]:
        """set()'s pairs as the core's items, and the sub-namespace of each. A ttl of 0 or
        less expires at once (as in LangGraph's in-memory cache), so nothing is stored for
        it; None is the cache's ttl (forever unless set)."""
        items: list[tuple[str, bytes, int | None]] = []
        subs: list[str | None] = []
        for (namespace, key), (value, ttl) in pairs.items():
            if ttl is not None and ttl <= 0:
                continue
            encoded = self._encode(value)
            if encoded is None:
                continue
            items.append((key, encoded, None if ttl is None else int(ttl)))
            subs.append(_sub_namespace(tuple(namespace)))
        return items, subs

    # ------------------------------------------------------------------ BaseCache
    def get(self, keys: Sequence[FullKey]) -> dict[FullKey, ValueT]:
        """The cached values of the keys found: one pipelined read for the whole batch,
        whatever its namespaces (one round trip per server). Server trouble reads as misses
        (counted, logged once per cause)."""
        unique = _unique(keys)
        if not unique:
            return {}
        subs: list[str | None] = [_sub_namespace(namespace) for namespace, _ in unique]
        fetched = self._core.fetch_many_across([key for _, key in unique], subs)
        return self._finish_get(unique, fetched)

    async def aget(self, keys: Sequence[FullKey]) -> dict[FullKey, ValueT]:
        """As get(), completed by llmcache's I/O thread through the event loop: no thread
        per call."""
        unique = _unique(keys)
        if not unique:
            return {}
        subs: list[str | None] = [_sub_namespace(namespace) for namespace, _ in unique]
        future: asyncio.Future[list[bytes | None]] = _aio.submit(
            self._core.start_fetch_many_across, [key for _, key in unique], subs
        )
        return self._finish_get(unique, await future)

    def set(self, pairs: Mapping[FullKey, tuple[ValueT, int | None]]) -> None:
        """Stores each value with its ttl (seconds; None: the cache's ttl, forever by
        default), pipelined. A value the server cannot take is counted and logged, never
        raised (unless strict)."""
        items, subs = self._items(pairs)
        if items:
            self._core.store_many_across(items, subs)

    async def aset(self, pairs: Mapping[FullKey, tuple[ValueT, int | None]]) -> None:
        """As set(), completed by llmcache's I/O thread."""
        items, subs = self._items(pairs)
        if items:
            future: asyncio.Future[list[bool]] = _aio.submit(
                self._core.start_store_many_across, items, subs
            )
            await future

    def clear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        """Empties the namespaces given, or with None every namespace of this cache: in
        O(1) each, a new generation (no flush_all, no key scan). Other processes stop
        reading the cleared entries within ``namespace_refresh``."""
        if namespaces is None:
            self._core.clear()
        elif namespaces:
            self._core.clear_sub_namespaces([_sub_namespace(tuple(ns)) for ns in namespaces])

    async def aclear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        """As clear(), completed by llmcache's I/O thread."""
        future: asyncio.Future[bool]
        if namespaces is None:
            future = _aio.submit(self._core.start_clear, 0, False)
        elif namespaces:
            future = _aio.submit(
                self._core.start_clear_sub_namespaces,
                [_sub_namespace(tuple(ns)) for ns in namespaces],
            )
        else:
            return
        await future

    def __repr__(self) -> str:
        return f"MemcachedNodeCache({self.client!r}, namespace={self._namespace!r})"
