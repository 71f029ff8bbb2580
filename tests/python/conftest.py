"""Fixtures: real memcached processes on free loopback ports, always stopped."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from langchain_memcached.testing import MemcachedProcess, TwemproxyProcess


@pytest.fixture
def memcached_factory() -> Iterator[Callable[..., MemcachedProcess]]:
    started: list[MemcachedProcess] = []

    def make(*extra: str) -> MemcachedProcess:
        server = MemcachedProcess(*extra)
        started.append(server)
        return server

    yield make
    for server in started:
        server.kill()


@pytest.fixture
def memcached(memcached_factory) -> MemcachedProcess:
    return memcached_factory()


@pytest.fixture
def three_memcached(memcached_factory) -> list[MemcachedProcess]:
    return [memcached_factory() for _ in range(3)]


@pytest.fixture
def twemproxy(memcached_factory) -> Iterator[TwemproxyProcess]:
    """twemproxy in front of two real memcached, always stopped."""
    with TwemproxyProcess([memcached_factory(), memcached_factory()]) as proxy:
        yield proxy
