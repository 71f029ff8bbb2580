"""Client and HashClient: memcached through the C++ core."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any

from langchain_memcached import _aio, _ext

Key = str | bytes
Value = str | bytes

_DEFAULT_MAX_VALUE = 64 << 20
# memcached's default -I: the item size limit assumed for a server that does not tell its own
# (ClientOptions::item_size_max; classic mode, or a server refusing `stats settings`).
_DEFAULT_ITEM_SIZE_MAX = _ext.ClientSettings().item_size_max
# The longest a blocking call polls its socket before sleeping (ClientOptions::blocking_spin,
# in seconds here); the C++ default, whatever it is.
_DEFAULT_BLOCKING_SPIN = _ext.ClientSettings().blocking_spin


# Keyword types are checked here, before the C++ option structs see them: the binding's
# own refusal names C++ signatures, not the keyword the caller got wrong.
def _type_error(name: str, expected: str, value: Any) -> TypeError:
    return TypeError(f"{name} must be {expected}, not {type(value).__name__}")


def _flag(name: str, value: Any) -> bool:
    # Strictly bool: tls="no" or tls=0 would otherwise read as a setting the caller did
    # not mean, in the one place where a wrong guess sends data in the clear.
    if not isinstance(value, bool):
        raise _type_error(name, "True or False", value)
    return value


def _path(name: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (str, os.PathLike)):
        return os.fsdecode(value)
    raise _type_error(name, "a file path (str or os.PathLike) or None", value)


def _text(name: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise _type_error(name, "a str or None", value)


def _number(name: str, value: Any, *, integer: bool = False) -> None:
    # bool is an int to Python, never a timeout or a count to a caller.
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        raise _type_error(name, "an int" if integer else "a number (seconds)", value)


def _check_numbers(**keywords: Any) -> None:
    """TypeError naming the keyword, for the numeric keywords of Client and HashClient."""
    for name, value in keywords.items():
        _number(name, value, integer=name in ("connections", "max_value_bytes", "item_size_max",
                                              "retry_attempts"))


def _security(
    tls: bool,
    tls_ca_file: str | os.PathLike[str] | None,
    tls_cert_file: str | os.PathLike[str] | None,
    tls_key_file: str | os.PathLike[str] | None,
    tls_server_name: str | None,
    tls_verify: bool,
    username: str | None,
    password: str | None,
) -> tuple[_ext.TlsOptions, _ext.Credentials]:
    """The TLS and auth keywords as the C++ option structs. Types are checked here
    (TypeError naming the keyword); values (files, combinations) in C++."""
    options = _ext.TlsOptions()
    options.enabled = _flag("tls", tls)
    options.verify = _flag("tls_verify", tls_verify)
    options.ca_file = _path("tls_ca_file", tls_ca_file)
    options.cert_file = _path("tls_cert_file", tls_cert_file)
    options.key_file = _path("tls_key_file", tls_key_file)
    options.server_name = _text("tls_server_name", tls_server_name)
    credentials = _ext.Credentials()
    credentials.username = _text("username", username)
    credentials.password = _text("password", password)
    return options, credentials


def _key_prefix(key_prefix: str | bytes) -> str:
    """pymemcache's key_prefix (str or bytes) as the C++ option (checked there)."""
    if isinstance(key_prefix, bytes):
        try:
            return key_prefix.decode("utf-8")  # the same bytes reach the wire
        except UnicodeDecodeError:
            raise ValueError(f"key_prefix must be UTF-8: {key_prefix!r}") from None
    return key_prefix


def _client_core(
    servers: list[str],
    hashed: bool,
    connect_timeout: float,
    timeout: float,
    connections: int,
    max_value_bytes: int,
    item_size_max: int,
    blocking_spin: float,
    failure_rules: tuple[int, float, float] | None,
    tls: bool,
    tls_ca_file: str | os.PathLike[str] | None,
    tls_cert_file: str | os.PathLike[str] | None,
    tls_key_file: str | os.PathLike[str] | None,
    tls_server_name: str | None,
    tls_verify: bool,
    username: str | None,
    password: str | None,
    key_prefix: str | bytes,
    protocol: str,
) -> _ext.ClientCore:
    """The one place Client and HashClient turn their keywords into the C++ client:
    `failure_rules` is HashClient's (retry_attempts, retry_timeout, dead_timeout), None for
    a Client (one server has none)."""
    settings = _ext.ClientSettings()
    settings.connect_timeout = connect_timeout
    settings.timeout = timeout
    settings.connections = connections
    settings.max_value_bytes = max_value_bytes
    settings.item_size_max = item_size_max
    settings.blocking_spin = blocking_spin
    if failure_rules is not None:
        settings.retry_attempts, settings.retry_timeout, settings.dead_timeout = failure_rules
    settings.tls, settings.credentials = _security(
        tls, tls_ca_file, tls_cert_file, tls_key_file, tls_server_name, tls_verify, username,
        password,
    )
    settings.key_prefix = _key_prefix(key_prefix)
    if not isinstance(protocol, str):
        raise _type_error("protocol", '"auto", "meta" or "classic"', protocol)
    settings.protocol = protocol  # checked by the C++ client (InvalidArgumentError)
    return _ext.ClientCore(servers, hashed, settings)


class _ClientBase:
    """Operations shared by Client and HashClient. Thread-safe; every call has a deadline.
    Fork-safe: a client made before fork() (gunicorn --preload, multiprocessing) works in
    the child, which makes its own connections on first use."""

    _core: _ext.ClientCore

    # ------------------------------------------------------------------ blocking
    def get(self, key: Key) -> bytes | None:
        """The value under ``key``, or None on a miss. Raises langchain_memcached.Error subclasses."""
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
        future: asyncio.Future[bytes | None] = _aio.submit(self._core.start_get, key)
        return await future

    async def aget_many(self, keys: Iterable[Key]) -> list[bytes | None]:
        future: asyncio.Future[list[bytes | None]] = _aio.submit(self._core.start_get_many, keys)
        return await future

    async def aset(self, key: Key, value: Value, *, ttl: int = 0, flags: int = 0) -> bool:
        future: asyncio.Future[bool] = _aio.submit(self._core.start_set, key, value, ttl, flags)
        return await future

    async def adelete(self, key: Key) -> bool:
        future: asyncio.Future[bool] = _aio.submit(self._core.start_delete, key)
        return await future

    async def aflush_all(self, delay: int = 0, noreply: bool = False) -> int:
        future: asyncio.Future[int] = _aio.submit(self._core.start_flush_all, delay, noreply)
        return await future

    # ------------------------------------------------------------------ introspection
    @property
    def servers(self) -> list[str]:
        """The servers as "host:port" (a Unix socket as its path), in the order given."""
        return self._core.servers()

    def server_for(self, key: Key) -> str:
        """The server that currently holds ``key``."""
        return self._core.server_for(key)

    def close(self) -> None:
        """Stops the I/O thread. Idempotent, and safe while other threads (or event loops)
        are inside calls: operations still pending and every later call fail with
        ClosedError; the client is freed when the last call in flight returns."""
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
    timeouts by default (seconds) and requests pipelined on ``connections`` sockets.

    TLS (memcached -Z): ``tls=True`` verifies the server's certificate against
    ``tls_ca_file`` (default: the system's trust store) and the name ``tls_server_name``
    (default: the server's host; an IP is checked against IP SANs). ``tls_cert_file`` and
    ``tls_key_file`` present a client certificate; ``tls_verify=False`` skips verification
    (tests only). Files are read when the client is made: a bad one raises
    InvalidArgumentError. ``username``/``password``: memcached's ASCII auth (-Y), sent
    first on every connection; a refusal raises IoError naming authentication.
    ``server`` may be a Unix socket, "/path" or "unix:/path" (memcached -s; no TLS there).
    ``key_prefix``: prepended to every key on the wire, as pymemcache's ``key_prefix``
    (the 250-byte key limit counts it).
    ``blocking_spin``: seconds a blocking call may poll its socket for the reply before it
    sleeps (default: the C++ library's ``ClientOptions::blocking_spin``, 50 µs); each pooled
    socket spins only while spinning catches replies in under 4/5 of the time sleeping takes,
    and otherwise sleeps at once. 0 never spins.
    ``protocol``: ``"auto"`` (default) asks the server on first use whether it speaks
    memcached's meta protocol (1.6.10+) and otherwise uses the classic text protocol
    (twemproxy, mcrouter, older memcached); ``"meta"`` or ``"classic"`` fix it. In classic
    mode cas, invalidate and meta_get's stampede flags raise InvalidArgumentError.
    """

    def __init__(
        self,
        server: str = "127.0.0.1:11211",
        *,
        connect_timeout: float = 1.0,
        timeout: float = 1.0,
        connections: int = 1,
        max_value_bytes: int = _DEFAULT_MAX_VALUE,
        item_size_max: int = _DEFAULT_ITEM_SIZE_MAX,
        blocking_spin: float = _DEFAULT_BLOCKING_SPIN,
        tls: bool = False,
        tls_ca_file: str | None = None,
        tls_cert_file: str | None = None,
        tls_key_file: str | None = None,
        tls_server_name: str | None = None,
        tls_verify: bool = True,
        username: str | None = None,
        password: str | None = None,
        key_prefix: str | bytes = "",
        protocol: str = "auto",
    ) -> None:
        if not isinstance(server, str):
            raise _type_error("server", 'a "host:port" str', server)
        _check_numbers(connect_timeout=connect_timeout, timeout=timeout,
                       connections=connections, max_value_bytes=max_value_bytes,
                       item_size_max=item_size_max, blocking_spin=blocking_spin)
        self._core = _client_core(
            [server], False, connect_timeout, timeout, connections, max_value_bytes,
            item_size_max, blocking_spin, None, tls, tls_ca_file, tls_cert_file, tls_key_file, tls_server_name,
            tls_verify, username, password, key_prefix, protocol,
        )


class HashClient(_ClientBase):
    """Several servers, keys placed exactly as pymemcache's HashClient places them, with
    its failure rules (``retry_attempts``, ``retry_timeout``, ``dead_timeout``). TLS, auth,
    ``key_prefix``, ``blocking_spin`` and ``protocol`` keywords as for Client; every server gets the same ones. Servers
    may mix TCP and Unix sockets; like pymemcache, keys are placed by the key without
    its prefix."""

    def __init__(
        self,
        servers: Sequence[str] | str,
        *,
        connect_timeout: float = 1.0,
        timeout: float = 1.0,
        connections: int = 1,
        max_value_bytes: int = _DEFAULT_MAX_VALUE,
        item_size_max: int = _DEFAULT_ITEM_SIZE_MAX,
        blocking_spin: float = _DEFAULT_BLOCKING_SPIN,
        retry_attempts: int = 2,
        retry_timeout: float = 1.0,
        dead_timeout: float = 60.0,
        tls: bool = False,
        tls_ca_file: str | None = None,
        tls_cert_file: str | None = None,
        tls_key_file: str | None = None,
        tls_server_name: str | None = None,
        tls_verify: bool = True,
        username: str | None = None,
        password: str | None = None,
        key_prefix: str | bytes = "",
        protocol: str = "auto",
    ) -> None:
        if isinstance(servers, str):
            servers = [s for s in servers.replace(",", " ").split() if s]
        elif isinstance(servers, Iterable):
            servers = list(servers)
        else:
            raise _type_error("servers", 'a "h1:p1,h2:p2" str or a list of them', servers)
        for i, server in enumerate(servers):
            if not isinstance(server, str):
                raise _type_error(f"servers[{i}]", 'a "host:port" str', server)
        _check_numbers(connect_timeout=connect_timeout, timeout=timeout,
                       connections=connections, max_value_bytes=max_value_bytes,
                       item_size_max=item_size_max, blocking_spin=blocking_spin,
                       retry_attempts=retry_attempts, retry_timeout=retry_timeout,
                       dead_timeout=dead_timeout)
        self._core = _client_core(
            list(servers), True, connect_timeout, timeout, connections, max_value_bytes,
            item_size_max, blocking_spin, (retry_attempts, retry_timeout, dead_timeout), tls, tls_ca_file, tls_cert_file,
            tls_key_file, tls_server_name, tls_verify, username, password, key_prefix,
            protocol,
        )
