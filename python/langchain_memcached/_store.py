"""``MemcachedStore``: a LangChain ``ByteStore`` (``BaseStore[str, bytes]``) on memcached.

    from langchain_classic.embeddings import CacheBackedEmbeddings
    store = MemcachedStore("127.0.0.1:11211", namespace="embeddings")
    embedder = CacheBackedEmbeddings.from_bytes_store(model, store, namespace=model.model)

Everything between a key and memcached (the stored key derived from the namespace, TTL,
signing, compression, counters, logging once per cause) is the cache core's, the same C++
code as ``MemcachedCache``'s. This class only checks types and wraps each value in the
envelope below, so that ``yield_keys`` can name the key a stored value belongs to.

The envelope (docs/byte-store.md), the bytes the core stores for ``key`` and ``value``::

    b"LCS1" | len(key_utf8) as 4 bytes, big-endian | key_utf8 | value

The key is delimited by its length, never by a separator, so no value can be read as
(part of) a key; and a read checks that the key inside is the key asked for. A stored value
that fails either check (another writer's bytes, a truncated item) reads as missing and is
counted in ``stats()["decode_errors"]`` (logged once); ``yield_keys`` skips it the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.stores import BaseStore

from langchain_memcached import _aio
from langchain_memcached._cache import _make_core

__all__ = ["MemcachedStore"]

# Magic and version in one: a format change gets a new tag, and entries of an older one
# read as corrupt (a miss) rather than as wrong bytes.
_MAGIC = b"LCS1"
_LENGTH_BYTES = 4
_HEADER_BYTES = len(_MAGIC) + _LENGTH_BYTES


def _key_bytes(key: Any) -> bytes:
    """The key as UTF-8; lone surrogates (legal in a Python str) pass through, so that
    every str round-trips through yield_keys."""
    if not isinstance(key, str):
        raise TypeError(f"MemcachedStore keys must be str, not {type(key).__name__}")
    return key.encode("utf-8", "surrogatepass")


def _seal(key: bytes, value: Any) -> bytes:
    """The envelope holding ``key`` and ``value``."""
    if not isinstance(value, (bytes, bytearray, memoryview)):
        hint = " (encode str values first)" if isinstance(value, str) else ""
        raise TypeError(
            f"MemcachedStore values must be bytes, not {type(value).__name__}{hint}"
        )
    return b"".join((_MAGIC, len(key).to_bytes(_LENGTH_BYTES, "big"), key, value))


def _open(stored: bytes) -> tuple[bytes, bytes] | str:
    """(key, value) from an envelope, or why it is not one."""
    if not stored.startswith(_MAGIC):
        return "not a MemcachedStore entry (no LCS1 envelope)"
    length = int.from_bytes(stored[len(_MAGIC) : _HEADER_BYTES], "big")
    if len(stored) < _HEADER_BYTES + length:
        return "truncated MemcachedStore entry (key longer than the value)"
    return stored[_HEADER_BYTES : _HEADER_BYTES + length], stored[_HEADER_BYTES + length :]


class MemcachedStore(BaseStore[str, bytes]):
    """A ByteStore on memcached, for ``CacheBackedEmbeddings.from_bytes_store`` and any
    other user of LangChain's ``BaseStore[str, bytes]``.

    memcached is a cache: an entry may be evicted (LRU) or lost with its server at any
    time, and then reads as missing. Server trouble while reading is a miss too (counted,
    logged once); a value that cannot be stored (larger than the server's item limit,
    server trouble) is counted and logged once per cause, or raised with ``strict=True``.
    ``mdelete`` raises server trouble: a delete that did not happen is not a miss.

    Args:
        client: as :class:`MemcachedCache`'s: ``"host:port"``, ``"h1:p1,h2:p2"``, a list
            of servers, an llmcache ``Client``/``HashClient`` or a pymemcache client.
        namespace: the store's namespace (any non-empty string, default ``"store"``): two
            stores with different namespaces never see each other's keys, and keys are
            derived from it (hashed under memcached's 250-byte limit, so keys may be any
            str of any length).
        ttl: seconds entries live; 0 (the default) or None means no expiry.
        strict: raise failed writes (e.g. ValueTooLargeError) instead of logging them.
        signing_secret: sign entries with HMAC-SHA256 under this secret (str or bytes);
            only entries signed with it read back.
        namespace_refresh: seconds a namespace's generation is trusted before it is read
            again (how soon another process's :meth:`clear` is seen; default 1.0).
        compress, compress_min_bytes, compress_level: store values of at least
            ``compress_min_bytes`` bytes as zstd frames, as :class:`MemcachedCache` does.
        **client_options: keywords of ``Client``/``HashClient`` when ``client`` is a
            server string or list (timeouts, TLS, auth, ``protocol``...).
    """

    def __init__(
        self,
        client: Any = "127.0.0.1:11211",
        *,
        namespace: str = "store",
        ttl: int | None = 0,
        strict: bool = False,
        signing_secret: str | bytes | None = None,
        namespace_refresh: float = 1.0,
        compress: bool = False,
        compress_min_bytes: int = 1024,
        compress_level: int = 3,
        **client_options: Any,
    ) -> None:
        if not isinstance(namespace, str):
            raise TypeError(
                f"MemcachedStore's namespace must be a str, not {type(namespace).__name__}"
            )
        # The cache core: stored keys (namespace, generation, hashing), TTL, signing,
        # compression, counters and logging are its rules, shared with MemcachedCache.
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
        self._ttl = ttl or 0
        self._strict = strict

    @property
    def namespace(self) -> str:
        """The namespace the store's entries live under."""
        return self._namespace

    @property
    def ttl(self) -> int:
        """Seconds entries live; 0 means forever."""
        return self._ttl

    @property
    def strict(self) -> bool:
        """Whether failed writes are raised rather than counted and logged."""
        return self._strict

    def stats(self) -> dict[str, int]:
        """The core's counters since creation: every key read is one hit or one miss;
        ``decode_errors`` counts stored values that are not this store's envelope."""
        return self._core.stats()

    # ------------------------------------------------------------------ helpers
    def _finish_read(self, key: bytes, stored: bytes | None) -> bytes | None:
        """Ends one key's read as exactly one hit or miss: its value, or None."""
        if stored is not None:
            opened = _open(stored)
            if isinstance(opened, str):
                self._core.record_decode_failure(opened)
            elif opened[0] != key:
                # Never another key's value: a hashed key's collision or a misplaced item.
                self._core.record_decode_failure("a MemcachedStore entry of another key")
            else:
                self._core.finish_lookup(True, len(opened[1]))
                return opened[1]
        self._core.finish_lookup(False)
        return None

    @staticmethod
    def _items(key_value_pairs: Sequence[tuple[str, bytes]]) -> list[tuple[bytes, bytes, None]]:
        """The batch for the core, every pair checked before anything is sent. A key set
        twice keeps its last value, as a dict would (the batch's order across servers is
        not the pairs' order)."""
        sealed: dict[bytes, bytes] = {}
        for key, value in key_value_pairs:
            key_bytes = _key_bytes(key)
            sealed[key_bytes] = _seal(key_bytes, value)
        return [(key, stored, None) for key, stored in sealed.items()]

    def _listed_keys(self, listed: list[bytes], prefix: str | None) -> Iterator[str]:
        """The keys of a listing's envelopes that start with ``prefix``, each once."""
        seen: set[bytes] = set()
        for stored in listed:
            opened = _open(stored)
            if isinstance(opened, str):
                self._core.record_decode_failure(opened)
                continue
            key_bytes = opened[0]
            if key_bytes in seen:  # on two servers, after a failover moved its home
                continue
            seen.add(key_bytes)
            key = key_bytes.decode("utf-8", "surrogatepass")
            if prefix is None or key.startswith(prefix):
                yield key

    # ------------------------------------------------------------------ BaseStore
    def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        """The values of ``keys``, in order (None where missing). One pipelined round trip
        per server."""
        encoded = [_key_bytes(key) for key in keys]
        if not encoded:
            return []
        stored = self._core.fetch_many(encoded)
        return [self._finish_read(key, value) for key, value in zip(encoded, stored)]

    def mset(self, key_value_pairs: Sequence[tuple[str, bytes]]) -> None:
        """Stores the pairs: one pipelined round trip per server. A value that cannot be
        stored is counted and logged (raised with ``strict=True``), never dropped silently."""
        items = self._items(key_value_pairs)
        if items:
            self._core.store_many(items)

    def mdelete(self, keys: Sequence[str]) -> None:
        """Deletes ``keys`` (missing ones are fine). Raises server trouble."""
        encoded = [_key_bytes(key) for key in keys]
        if encoded:
            self._core.remove_many(encoded)

    def yield_keys(self, *, prefix: str | None = None) -> Iterator[str]:
        """Every key in the store (those starting with ``prefix``, if given), each once, in
        no particular order.

        A FULL SCAN of every server (memcached's ``lru_crawler metadump``, then every
        entry of the namespace read back): fine for tools and small stores, not for a
        request path. Servers and proxies that refuse the crawl (twemproxy, mcrouter, a
        memcached started with ``-o no_lru_crawler``) raise ``ServerError``, as a crawl
        already running on a server does (reason ``busy``). Known limit: memcached's crawl
        of its LRUs can miss entries moved between LRU segments meanwhile (read shortly
        before); docs/byte-store.md.
        """
        yield from self._listed_keys(self._core.list_stored(), prefix)

    def clear(self) -> None:
        """Empties the store at once: a new generation for its namespace (one set, no
        ``flush_all``, no scan; docs/namespaces.md). Other namespaces are untouched."""
        self._core.clear()

    # ------------------------------------------------------------------ async
    async def amget(self, keys: Sequence[str]) -> list[bytes | None]:
        """Async :meth:`mget`: completed by llmcache's I/O thread, no thread per call."""
        encoded = [_key_bytes(key) for key in keys]
        if not encoded:
            return []
        future: asyncio.Future[list[bytes | None]] = _aio.submit(
            self._core.start_fetch_many, encoded
        )
        stored = await future
        return [self._finish_read(key, value) for key, value in zip(encoded, stored)]

    async def amset(self, key_value_pairs: Sequence[tuple[str, bytes]]) -> None:
        """Async :meth:`mset`."""
        items = self._items(key_value_pairs)
        if items:
            future: asyncio.Future[list[bool]] = _aio.submit(self._core.start_store_many, items)
            await future

    async def amdelete(self, keys: Sequence[str]) -> None:
        """Async :meth:`mdelete`."""
        encoded = [_key_bytes(key) for key in keys]
        if encoded:
            future: asyncio.Future[list[bool]] = _aio.submit(
                self._core.start_remove_many, encoded
            )
            await future

    async def ayield_keys(self, *, prefix: str | None = None) -> AsyncIterator[str]:
        """Async :meth:`yield_keys`: the same full scan. The one call here that is not
        completed by the I/O thread: the core's listing has no async form yet, so the scan
        runs in the loop's default executor (one pooled thread per scan, not per key)."""
        listed = await asyncio.get_running_loop().run_in_executor(None, self._core.list_stored)
        for key in self._listed_keys(listed, prefix):
            yield key

    async def aclear(self) -> None:
        """Async :meth:`clear`."""
        future: asyncio.Future[bool] = _aio.submit(self._core.start_clear, 0, False)
        await future

    def __repr__(self) -> str:
        return f"MemcachedStore({self.client!r}, namespace={self._namespace!r})"
