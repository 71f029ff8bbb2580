"""A private memcached for the benchmark: one server on a free loopback port, fixed
settings, always stopped (context manager, and it dies with the harness)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from langchain_memcached.testing import MemcachedProcess

# Fixed so that every run measures the same server: memory for every data set without
# eviction, one worker thread per core of the 2-core reference machine, default item size.
MEMORY_MB = 512
THREADS = 2
MAX_CONNECTIONS = 1024


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    pid: int

    @property
    def spec(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def settings(self) -> str:
        return f"memcached -m {MEMORY_MB} -t {THREADS} -c {MAX_CONNECTIONS} -U 0 on {self.spec}"


@contextmanager
def memcached() -> Iterator[Server]:
    with MemcachedProcess(memory_mb=MEMORY_MB, threads=THREADS) as process:
        assert process.process is not None
        yield Server("127.0.0.1", process.port, process.process.pid)
