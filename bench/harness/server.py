"""A private memcached for the benchmark: one server on a free loopback port, fixed
settings, always stopped (context manager, and it dies with the harness). And a twemproxy
in front of it, likewise always stopped."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from langchain_memcached.testing import MemcachedProcess, TwemproxyProcess

# Fixed so that every run measures the same server: memory for every data set without
# eviction, one worker thread per core of the 2-core reference machine, default item size.
MEMORY_MB = 512
THREADS = 2
MAX_CONNECTIONS = 1024
# The second server: one worker thread, as issue 16's Python lookup target asks (a server
# that cannot answer two clients' requests at once, so the client's own cost per lookup
# shows more, and the contenders' server-side costs count alike).
SINGLE_THREAD = 1


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    pid: int
    threads: int = THREADS

    @property
    def spec(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def settings(self) -> str:
        return (f"memcached -m {MEMORY_MB} -t {self.threads} -c {MAX_CONNECTIONS} -U 0 "
                f"on {self.spec}")


@contextmanager
def memcached(threads: int = THREADS) -> Iterator[Server]:
    with MemcachedProcess(memory_mb=MEMORY_MB, threads=threads) as process:
        assert process.process is not None
        yield Server("127.0.0.1", process.port, process.process.pid, threads)


@dataclass(frozen=True)
class Proxy:
    host: str
    port: int
    pid: int
    backend: Server

    @property
    def spec(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def settings(self) -> str:
        return f"nutcracker (twemproxy) on {self.spec} in front of {self.backend.spec} alone"


@dataclass(frozen=True)
class _Backend:
    """What TwemproxyProcess reads from a backend (its port): the bench server, which is
    already running, rather than a MemcachedProcess of its own."""

    port: int


@contextmanager
def twemproxy(backend: Server) -> Iterator[Proxy]:
    """nutcracker in front of the benchmark's memcached alone, so every key it routes lands
    on the server the data was loaded into."""
    with TwemproxyProcess([_Backend(backend.port)]) as process:  # type: ignore[list-item]
        assert process.process is not None
        yield Proxy("127.0.0.1", process.port, process.process.pid, backend)
