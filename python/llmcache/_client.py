"""Client and HashClient: memcached through the C++ core."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from types import TracebackType

from llmcache import _aio, _ext

Key = str | bytes
Value = str | bytes

_DEFAULT_MAX_VALUE = 64 << 20


class _ClientBase:
    """Operations shared by Client and HashClient. Thread-safe; every call has a deadline."""

    _core: _ext.ClientCore

    # ------------------------------------------------------------------ blocking
    def get(self, key: Key) -> bytes | None:
        """The value under ``key``, or None on a miss. Raises llmcache.Error subclasses."""
        return self._core.get(key)

    def get_many(self, keys: Iterable[Key]) -> list[bytes | None]:
        """One value (or None) per key, in order; requests are pipelined."""
        return self._core.get_many(keys)

    def set(self, key: Key, value: Value, *, ttl: int = 0, flags: int = 0) -> bool:
        """Stores ``value``. Raises ValueTooLargeError if memcached refuses its size."""
        return self._core.set(key, value, ttl, flags)

    def delete(self, key: Key) -> bool:
        """Deletes ``key``; False if it did not exist."""
        return self._core.delete(key)

    def flush_all(self, delay: int = 0, noreply: bool = False) -> int:
        """memcached's ``flush_all`` on every server: wipes each WHOLE server."""
        return self._core.flush_all(delay, noreply)

    # ------------------------------------------------------------------ asyncio
    async def aget(self, key: Key) -> bytes | None:
        future, bridge = _aio.new_future()
        self._core.start_get(key, bridge, future)
        return await future

    async def aget_many(self, keys: Iterable[Key]) -> list[bytes | None]:
        future, bridge = _aio.new_future()
        self._core.start_get_many(keys, bridge, future)
        return await future

    async def aset(self, key: Key, value: Value, *, ttl: int = 0, flags: int = 0) -> bool:
        future, bridge = _aio.new_future()
        self._core.start_set(key, value, ttl, flags, bridge, future)
        return await future

    async def adelete(self, key: Key) -> bool:
        future, bridge = _aio.new_future()
        self._core.start_delete(key, bridge, future)
        return await future

    async def aflush_all(self, delay: int = 0, noreply: bool = False) -> int:
        future, bridge = _aio.new_future()
        self._core.start_flush_all(delay, noreply, bridge, future)
        return await future

    # ------------------------------------------------------------------ introspection
    @property
    def servers(self) -> list[str]:
        """The servers as "host:port", in the order given."""
        return self._core.servers()

    def server_for(self, key: Key) -> str:
        """The server that currently holds ``key``."""
        return self._core.server_for(key)

    def close(self) -> None:
        """Stops the I/O thread; operations still pending fail with ClosedError."""
        self._core.close()

    def __enter__(self) -> _ClientBase:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.servers!r})"


class Client(_ClientBase):
    """One memcached server ("host:port"), like pymemcache's Client, but with finite
    timeouts by default (seconds) and requests pipelined on ``connections`` sockets."""

    def __init__(
        self,
        server: str = "127.0.0.1:11211",
        *,
        connect_timeout: float = 1.0,
        timeout: float = 1.0,
        connections: int = 1,
        max_value_bytes: int = _DEFAULT_MAX_VALUE,
    ) -> None:
        self._core = _ext.ClientCore(
            [server], False, connect_timeout, timeout, connections, max_value_bytes, 0, 0.0, 0.0
        )


class HashClient(_ClientBase):
    """Several servers, keys placed exactly as pymemcache's HashClient places them, with
    its failure rules (``retry_attempts``, ``retry_timeout``, ``dead_timeout``)."""

    def __init__(
        self,
        servers: Sequence[str] | str,
        *,
        connect_timeout: float = 1.0,
        timeout: float = 1.0,
        connections: int = 1,
        max_value_bytes: int = _DEFAULT_MAX_VALUE,
        retry_attempts: int = 2,
        retry_timeout: float = 1.0,
        dead_timeout: float = 60.0,
    ) -> None:
        if isinstance(servers, str):
            servers = [s for s in servers.replace(",", " ").split() if s]
        self._core = _ext.ClientCore(
            list(servers),
            True,
            connect_timeout,
            timeout,
            connections,
            max_value_bytes,
            retry_attempts,
            retry_timeout,
            dead_timeout,
        )
