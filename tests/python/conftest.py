"""Fixtures: real memcached processes on free loopback ports, always stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest


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


class Memcached:
    """One memcached process. ``spec`` is "127.0.0.1:port"."""

    def __init__(self, *extra: str) -> None:
        self.extra = extra
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def spec(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def start(self) -> None:
        args = ["memcached", "-l", "127.0.0.1", "-p", str(self.port), "-U", "0", "-m", "64"]
        if os.geteuid() == 0:
            args += ["-u", "root"]
        self.process = subprocess.Popen([*args, *self.extra])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"memcached exited with {self.process.returncode}")
            if _accepts(self.port):
                return
            time.sleep(0.01)
        raise RuntimeError("memcached did not start")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def pause(self) -> None:
        assert self.process
        self.process.send_signal(signal.SIGSTOP)
        os.waitpid(self.process.pid, os.WUNTRACED)

    def resume(self) -> None:
        assert self.process
        self.process.send_signal(signal.SIGCONT)


@pytest.fixture
def memcached_factory() -> Iterator[type[Memcached]]:
    started: list[Memcached] = []

    def make(*extra: str) -> Memcached:
        server = Memcached(*extra)
        started.append(server)
        return server

    yield make  # type: ignore[misc]
    for server in started:
        if server.process and server.process.poll() is None:
            server.process.send_signal(signal.SIGCONT)
        server.kill()


@pytest.fixture
def memcached(memcached_factory) -> Memcached:
    return memcached_factory()


@pytest.fixture
def three_memcached(memcached_factory) -> list[Memcached]:
    return [memcached_factory() for _ in range(3)]
