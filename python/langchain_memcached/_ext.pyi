"""llmcache's compiled core (private: use the langchain_memcached package)"""

from collections.abc import Iterable, Sequence


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

def langchain_key(prompt: object, llm_string: object) -> str:
    """LangChain's cache key: hex MD5 of prompt + llm_string."""

def decode_plain_generations(value: bytes) -> object:
    """
    Decodes a stored value made only of plain Generations into (text, generation_info) pairs; None if it holds anything else. Raises DecodeError if it does not parse.
    """

class Signer:
    def __init__(self, secret: object) -> None:
        """HMAC-SHA256 signing with `secret` (str or bytes, not empty)."""

    def seal(self, key: object, value: object) -> bytes:
        """The bytes to store for `value` under `key`."""

    def open(self, key: object, stored: bytes) -> tuple[bytes | None, str | None]:
        """(value, None) if `stored` was sealed under `key` with this secret, else (None, why)."""

class AsyncBridge:
    def __init__(self) -> None: ...

    def fileno(self) -> int: ...

    def drain(self) -> None: ...

class TlsOptions:
    def __init__(self) -> None: ...

    enabled: bool

    verify: bool

    ca_file: str

    cert_file: str

    key_file: str

    server_name: str

class Credentials:
    def __init__(self) -> None: ...

    username: str

    password: str

class ClientCore:
    def __init__(self, servers: Sequence[str], hashed: bool, connect_timeout: float, timeout: float, connections: int, max_value_bytes: int, retry_attempts: int, retry_timeout: float, dead_timeout: float, tls: TlsOptions = ..., credentials: Credentials = ..., key_prefix: str = '') -> None: ...

    def close(self) -> None: ...

    def servers(self) -> list[str]: ...

    def server_for(self, arg: object, /) -> str: ...

    def get(self, arg: object, /) -> object: ...

    def get_many(self, arg: Iterable, /) -> list: ...

    def set(self, key: object, value: object, ttl: int = 0, flags: int = 0) -> bool: ...

    def delete(self, arg: object, /) -> bool: ...

    def flush_all(self, delay: int = 0, noreply: bool = False) -> int: ...

    def start_get(self, arg0: object, arg1: AsyncBridge, arg2: object, /) -> None: ...

    def start_get_many(self, arg0: Iterable, arg1: AsyncBridge, arg2: object, /) -> None: ...

    def start_set(self, arg0: object, arg1: object, arg2: int, arg3: int, arg4: AsyncBridge, arg5: object, /) -> None: ...

    def start_delete(self, arg0: object, arg1: AsyncBridge, arg2: object, /) -> None: ...

    def start_flush_all(self, arg0: int, arg1: bool, arg2: AsyncBridge, arg3: object, /) -> None: ...
