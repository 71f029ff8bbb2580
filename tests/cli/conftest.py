"""Fixtures for the llmcache command's end-to-end tests.

Each test gets real memcached processes on free loopback ports, started here and always
killed at teardown, and runs the built command (LLMCACHE_CLI, set by CTest) as a user would.
"""

from __future__ import annotations

import os
import socket
import subprocess
import warnings
from pathlib import Path

import pytest

from langchain_memcached.testing import MemcachedProcess

# langchain-community announces its own sunset on import; that is not our warning to fix.
warnings.filterwarnings("ignore", category=DeprecationWarning, module="langchain_community")

REPO = Path(__file__).resolve().parents[2]
CLI = os.environ.get("LLMCACHE_CLI", str(REPO / "build" / "default" / "cli" / "llmcache"))

# The standard-test sample entry LangChain's own cache tests use
# (key e9d5056781cb5de7386f768fd2eaa106).
PROMPT = "Sample prompt for testing."
LLM = "Sample LLM string configuration."
KEY = "e9d5056781cb5de7386f768fd2eaa106"


class Memcached(MemcachedProcess):
    """A memcached the command is pointed at, with a raw-protocol back door for checks."""

    def command(self, line: bytes) -> bytes:
        """Sends one classic/meta command and returns the raw reply (for checks below the CLI)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(line + b"mn\r\n")
            data = b""
            while not data.endswith(b"MN\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            return data[: -len(b"MN\r\n")]


@pytest.fixture
def memcached_factory():
    started: list[Memcached] = []

    def make(count: int = 1) -> list[Memcached]:
        servers = []
        for _ in range(count):
            server = Memcached()
            started.append(server)
            servers.append(server)
        return servers

    yield make
    for server in started:
        server.kill()


@pytest.fixture
def server(memcached_factory) -> Memcached:
    return memcached_factory(1)[0]


@pytest.fixture
def pool3(memcached_factory) -> list[Memcached]:
    return memcached_factory(3)


def servers_arg(servers: list[Memcached]) -> str:
    return ",".join(s.spec for s in servers)


def run(*args: str, servers: list[Memcached] | None = None, input: str | bytes | None = None,
        env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Runs the command with stdin/stdout/stderr as pipes (not a terminal)."""
    full_env = {k: v for k, v in os.environ.items() if k != "MEMCACHED_SERVERS"}
    if env:
        full_env.update(env)
    command = [CLI]
    if servers is not None:
        command += ["--servers", servers_arg(servers)]
    text = not isinstance(input, bytes)
    return subprocess.run(command + list(args), input=input if input is not None else "" if text
                          else b"", capture_output=True, text=text, env=full_env, timeout=timeout)


def pymemcache_client(servers: list[Memcached]):
    """The client LangChain users run: pymemcache's HashClient over the same names."""
    from pymemcache.client.hash import HashClient

    # Writes wait for STORED: pymemcache's default noreply returns before the server has
    # applied them, so a read on another connection (the command's) could race ahead.
    return HashClient([s.spec for s in servers], connect_timeout=2, timeout=2,
                      default_noreply=False)


def langchain_cache(servers: list[Memcached]):
    from langchain_community.cache import MemcachedCache

    return MemcachedCache(pymemcache_client(servers))
