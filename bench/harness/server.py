"""A private memcached for the benchmark: one server on a free loopback port, fixed
settings, always stopped (context manager, and it dies with the harness)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@contextmanager
def memcached() -> Iterator[Server]:
    port = _free_port()
    args = ["memcached", "-l", "127.0.0.1", "-p", str(port), "-U", "0",
            "-m", str(MEMORY_MB), "-t", str(THREADS), "-c", str(MAX_CONNECTIONS)]
    if os.geteuid() == 0:
        args += ["-u", "root"]
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while not _accepts(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"memcached did not start ({' '.join(args)})")
            time.sleep(0.01)
        yield Server("127.0.0.1", port, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
