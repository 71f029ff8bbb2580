"""
llmcache's compiled core (private: use the langchain_memcached package)
"""

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any


# Generated from the built extension by nanobind's stubgen (python/CMakeLists.txt,
# python/stub_patterns.txt). Do not edit: run scripts/typecheck.sh --update.

class Error(Exception):
    pass

class IoError(Error):
    pass

class TimeoutError(IoError):
    pass

class ClosedError(IoError):
    pass

class ProtocolError(Error):
    pass

class ServerError(Error):
    pass

class ValueTooLargeError(ServerError):
    pass

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

class ClientCore:
    def __init__(self, servers: Sequence[str], hashed: bool, connect_timeout: float, timeout: float, connections: int, max_value_bytes: int, retry_attempts: int, retry_timeout: float, dead_timeout: float, tls: TlsOptions = ..., credentials: Credentials = ...) -> None: ...

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
