"""
llmcache's compiled core (private: use the langchain_memcached package)
"""

import asyncio
import builtins
from collections.abc import Iterable, Sequence
from typing import Any


# Generated from the built extension by nanobind's stubgen (python/CMakeLists.txt,
# python/stub_patterns.txt). Do not edit: run scripts/typecheck.sh --update.

class Error(Exception):
    reason: str = 'unspecified'

    server: str = ''

class IoError(Error):
    pass

class TimeoutError(IoError, builtins.TimeoutError):
    reason: str = 'timed_out'

class ClosedError(IoError):
    reason: str = 'closed_by_client'

class ProtocolError(Error):
    pass

class ServerError(Error):
    pass

class ValueTooLargeError(ServerError):
    reason: str = 'too_large'

    reached_server: bool = True

class DecodeError(Error):
    pass

class InvalidArgumentError(Error):
    pass

def langchain_key(prompt: str | bytes, llm_string: str | bytes) -> str:
    """LangChain's cache key: hex MD5 of prompt + llm_string."""

def decode_plain_generations(value: bytes) -> list[tuple[str, dict[str, Any] | None]] | None:
    """
    Decodes a stored value made only of plain Generations into (text, generation_info) pairs; None if it holds anything else. Raises DecodeError if it does not parse.
    """

def find_refused_node(value: bytes) -> str | None:
    """
    The type ('secret' or 'not_implemented') of the first LangChain node in a stored value that the decoder refuses, or None. Raises DecodeError if it does not parse.
    """

class Signer:
    def __init__(self, secret: str | bytes) -> None:
        """HMAC-SHA256 signing with `secret` (str or bytes, not empty)."""

    def seal(self, key: str | bytes, value: str | bytes) -> bytes:
        """The bytes to store for `value` under `key`."""

    def open(self, key: str | bytes, stored: bytes) -> tuple[bytes, None] | tuple[None, str]:
        """
        (value, None) if `stored` was sealed under `key` with this secret, else (None, why): 'unsigned', 'signature mismatch', 'malformed envelope'...
        """

class AsyncBridge:
    def __init__(self) -> None: ...

    def fileno(self) -> int: ...

    def drain(self) -> None: ...

class TlsOptions:
    def __init__(self) -> None: ...

    @property
    def enabled(self) -> bool: ...

    @enabled.setter
    def enabled(self, arg: bool, /) -> None: ...

    @property
    def verify(self) -> bool: ...

    @verify.setter
    def verify(self, arg: bool, /) -> None: ...

    @property
    def ca_file(self) -> str: ...

    @ca_file.setter
    def ca_file(self, arg: str, /) -> None: ...

    @property
    def cert_file(self) -> str: ...

    @cert_file.setter
    def cert_file(self, arg: str, /) -> None: ...

    @property
    def key_file(self) -> str: ...

    @key_file.setter
    def key_file(self, arg: str, /) -> None: ...

    @property
    def server_name(self) -> str: ...

    @server_name.setter
    def server_name(self, arg: str, /) -> None: ...

class Credentials:
    def __init__(self) -> None: ...

    @property
    def username(self) -> str: ...

    @username.setter
    def username(self, arg: str, /) -> None: ...

    @property
    def password(self) -> str: ...

    @password.setter
    def password(self, arg: str, /) -> None: ...

class ClientSettings:
    def __init__(self) -> None: ...

    @property
    def connect_timeout(self) -> float: ...

    @connect_timeout.setter
    def connect_timeout(self, arg: float, /) -> None: ...

    @property
    def timeout(self) -> float: ...

    @timeout.setter
    def timeout(self, arg: float, /) -> None: ...

    @property
    def connections(self) -> int: ...

    @connections.setter
    def connections(self, arg: int, /) -> None: ...

    @property
    def max_value_bytes(self) -> int: ...

    @max_value_bytes.setter
    def max_value_bytes(self, arg: int, /) -> None: ...

    @property
    def item_size_max(self) -> int: ...

    @item_size_max.setter
    def item_size_max(self, arg: int, /) -> None: ...

    @property
    def blocking_spin(self) -> float: ...

    @blocking_spin.setter
    def blocking_spin(self, arg: float, /) -> None: ...

    @property
    def retry_attempts(self) -> int: ...

    @retry_attempts.setter
    def retry_attempts(self, arg: int, /) -> None: ...

    @property
    def retry_timeout(self) -> float: ...

    @retry_timeout.setter
    def retry_timeout(self, arg: float, /) -> None: ...

    @property
    def dead_timeout(self) -> float: ...

    @dead_timeout.setter
    def dead_timeout(self, arg: float, /) -> None: ...

    @property
    def tls(self) -> TlsOptions: ...

    @tls.setter
    def tls(self, arg: TlsOptions, /) -> None: ...

    @property
    def credentials(self) -> Credentials: ...

    @credentials.setter
    def credentials(self, arg: Credentials, /) -> None: ...

    @property
    def key_prefix(self) -> str: ...

    @key_prefix.setter
    def key_prefix(self, arg: str, /) -> None: ...

    @property
    def protocol(self) -> str: ...

    @protocol.setter
    def protocol(self, arg: str, /) -> None: ...

class ClientCore:
    def __init__(self, servers: Sequence[str], hashed: bool, settings: ClientSettings) -> None: ...

    def close(self) -> None: ...

    def servers(self) -> list[str]: ...

    def server_for(self, key: str | bytes) -> str: ...

    def get(self, key: str | bytes) -> bytes | None: ...

    def get_many(self, keys: Iterable[str | bytes]) -> list[bytes | None]: ...

    def set(self, key: str | bytes, value: str | bytes, ttl: int = 0, flags: int = 0) -> bool: ...

    def delete(self, key: str | bytes) -> bool: ...

    def flush_all(self, delay: int = 0, noreply: bool = False) -> int: ...

    def start_get(self, key: str | bytes, bridge: AsyncBridge, future: asyncio.Future[bytes | None]) -> None: ...

    def start_get_many(self, keys: Iterable[str | bytes], bridge: AsyncBridge, future: asyncio.Future[list[bytes | None]]) -> None: ...

    def start_set(self, key: str | bytes, value: str | bytes, ttl: int, flags: int, bridge: AsyncBridge, future: asyncio.Future[bool]) -> None: ...

    def start_delete(self, key: str | bytes, bridge: AsyncBridge, future: asyncio.Future[bool]) -> None: ...

    def start_flush_all(self, delay: int, noreply: bool, bridge: AsyncBridge, future: asyncio.Future[int]) -> None: ...

class CacheCore:
    def __init__(self, client: ClientCore, ttl: int = 0, strict: bool = False, signing_secret: str | bytes | None = None, namespace: str | bytes | None = None, namespace_refresh: float = 1.0, compress: bool = False, compress_min_bytes: int = 1024, compress_level: int = 3, single_flight: bool = False, single_flight_wait: float = 60.0, lease_ttl: int = 30, stale_ttl: int = 0) -> None:
        """
        The cache policy over `client`: keys, namespace, TTL, compression, signing, single flight and stale serving, counters, logging once per cause. Raises InvalidArgumentError for a negative ttl, an empty secret or namespace, a non-positive namespace_refresh, a bad compress_level, a non-positive single_flight_wait or lease_ttl (with single_flight), a negative stale_ttl or a positive one without ttl.
        """

    def key(self, prompt: str | bytes, llm_string: str | bytes) -> str:
        """The key the entry for this prompt and llm_string is stored under."""

    def lookup(self, prompt: str | bytes, llm_string: str | bytes, refresh: bool = False, no_store: bool = False, no_cache: bool = False, ttl: int | None = None) -> list[Any] | bytes | None:
        """
        The lookup, ended in C++ when it can be: None (a miss, counted) or a list of LangChain Generations (a hit, counted). Bytes otherwise (the verified bytes of chat generations, entries the C++ codec does not read): decode them and call finish_lookup() once. Server trouble and entries failing their signature check are counted misses.
        """

    def start_lookup(self, prompt: str | bytes, llm_string: str | bytes, bridge: AsyncBridge, future: asyncio.Future[list[Any] | bytes | None], refresh: bool = False, no_store: bool = False, no_cache: bool = False, ttl: int | None = None) -> None: ...

    def finish_lookup(self, decoded: bool, value_bytes: int = 0, tokens_saved: int = 0) -> None:
        """
        Ends one lookup: a hit if the fetched value `decoded` (of `value_bytes` bytes, sparing `tokens_saved` model tokens), else a miss.
        """

    def record_decode_failure(self, why: str) -> None:
        """
        A fetched value did not decode: counted and logged once. Then finish_lookup(False).
        """

    def store(self, prompt: str | bytes, llm_string: str | bytes, value: str | bytes, refresh: bool = False, no_store: bool = False, no_cache: bool = False, ttl: int | None = None) -> bool:
        """
        Stores `value` (LangChain's bytes) for this prompt and llm_string; whether it was stored. A failure is counted and logged once per cause, or raised when strict.
        """

    def start_store(self, prompt: str | bytes, llm_string: str | bytes, value: str | bytes, bridge: AsyncBridge, future: asyncio.Future[bool], refresh: bool = False, no_store: bool = False, no_cache: bool = False, ttl: int | None = None) -> None: ...

    def refuse_update(self, error: BaseException, prompt: str | bytes | None = None, llm_string: str | bytes | None = None) -> bool:
        """
        An update the face could not encode (`error` says why): nothing is sent, the old entry stays; counted as unserializable_values and logged once (and the lease of prompt and llm_string, if held, given back). Returns False, or raises `error` again when strict.
        """

    def release_lease(self, prompt: str | bytes, llm_string: str | bytes) -> None:
        """
        single_flight: gives back the lease a lookup of this prompt and llm_string won, for a caller that will not store (its model call failed), so that waiters need not wait lease_ttl. Does nothing when no lease is held.
        """

    def start_release_lease(self, prompt: str | bytes, llm_string: str | bytes, bridge: AsyncBridge, future: asyncio.Future[bool]) -> None: ...

    def clear(self, delay: int = 0, noreply: bool = False) -> None:
        """
        Without a namespace, `flush_all [delay]` on every server: wipes each WHOLE server. With one, a new generation: only the namespace's entries go.
        """

    def start_clear(self, delay: int, noreply: bool, bridge: AsyncBridge, future: asyncio.Future[bool]) -> None: ...

    def fetch_many(self, keys: Iterable[str | bytes], sub_namespace: str | bytes | None = None) -> list[bytes | None]:
        """
        One value (verified bytes) or None per key, in order: pipelined, one round trip per server. Failures are counted misses. Call finish_lookup() once per key afterwards. Raises InvalidArgumentError without a namespace.
        """

    def start_fetch_many(self, keys: Iterable[str | bytes], bridge: AsyncBridge, future: asyncio.Future[list[bytes | None]], sub_namespace: str | bytes | None = None) -> None: ...

    def fetch_many_across(self, keys: Iterable[str | bytes], sub_namespaces: Iterable[str | bytes | None]) -> list[bytes | None]:
        """
        As fetch_many, key i in sub_namespaces[i] (None: none): one batch over several sub-namespaces, one round trip per server. Raises InvalidArgumentError unless there is one per key.
        """

    def start_fetch_many_across(self, keys: Iterable[str | bytes], sub_namespaces: Iterable[str | bytes | None], bridge: AsyncBridge, future: asyncio.Future[list[bytes | None]]) -> None: ...

    def store_many_across(self, items: Iterable[tuple[str | bytes, str | bytes, int | None]], sub_namespaces: Iterable[str | bytes | None]) -> list[bool]:
        """As store_many, item i in sub_namespaces[i] (None: none)."""

    def start_store_many_across(self, items: Iterable[tuple[str | bytes, str | bytes, int | None]], sub_namespaces: Iterable[str | bytes | None], bridge: AsyncBridge, future: asyncio.Future[list[bool]]) -> None: ...

    def store_many(self, items: Iterable[tuple[str | bytes, str | bytes, int | None]], sub_namespace: str | bytes | None = None) -> list[bool]:
        """
        Stores (key, value, ttl) items, ttl in seconds (None: the cache's ttl, 0: no expiry); whether each was stored. Pipelined. Failures are counted and logged once per cause (a value above the item limit in too_large), or raised when strict.
        """

    def start_store_many(self, items: Iterable[tuple[str | bytes, str | bytes, int | None]], bridge: AsyncBridge, future: asyncio.Future[list[bool]], sub_namespace: str | bytes | None = None) -> None: ...

    def remove_many(self, keys: Iterable[str | bytes], sub_namespace: str | bytes | None = None) -> list[bool]:
        """Removes each key's entry; whether it existed. Server trouble raises."""

    def start_remove_many(self, keys: Iterable[str | bytes], bridge: AsyncBridge, future: asyncio.Future[list[bool]], sub_namespace: str | bytes | None = None) -> None: ...

    def clear_sub_namespaces(self, sub_namespaces: Iterable[str | bytes]) -> None:
        """
        A new generation for each sub-namespace listed: only their entries go, in O(1) each. Raises if a server failed.
        """

    def start_clear_sub_namespaces(self, sub_namespaces: Iterable[str | bytes], bridge: AsyncBridge, future: asyncio.Future[bool]) -> None: ...

    def list_stored(self) -> list[bytes]:
        """
        The stored values of every entry of the namespace's current generation (outside sub-namespaces): lru_crawler metadump on every server, then pipelined reads. A full scan. Raises ServerError (reason not_understood or client_error_reply) where a server or proxy refuses the crawl, reason busy while another crawl runs.
        """

    def stats(self) -> dict[str, int]:
        """
        Counters since the cache was made: every lookup is one hit or one miss; the rest say why.
        """

    def lookup_latency(self) -> tuple[list[float], list[int], float]:
        """
        The lookup latency histogram: (upper bounds in seconds, observations per bucket (not cumulative; one more than the bounds, the last +Inf's), sum in seconds). One observation per fetch, from the call to its result.
        """
