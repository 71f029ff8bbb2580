"""--servers with Unix sockets (memcached -s): "/path" and "unix:/path", alone and mixed
with TCP servers, sharing entries and placement with LangChain's cache on pymemcache."""

from __future__ import annotations

import json

import pytest
from conftest import KEY, LLM, PROMPT, run

from langchain_memcached.testing import MemcachedProcess


@pytest.fixture
def socket_server():
    with MemcachedProcess(unix_socket=True) as server:
        yield server


def langchain_cache(specs: list[str]):
    from langchain_community.cache import MemcachedCache
    from pymemcache.client.base import Client
    from pymemcache.client.hash import HashClient

    # Writes wait for STORED, so the command's read on its own connection cannot race them.
    if len(specs) == 1:
        return MemcachedCache(Client(specs[0], timeout=2, default_noreply=False))
    return MemcachedCache(HashClient(specs, timeout=2, default_noreply=False))


@pytest.mark.parametrize("prefix", ["", "unix:"])
def test_put_get_over_a_unix_socket(socket_server, prefix):
    from langchain_core.outputs import Generation

    spec = prefix + socket_server.socket_path
    put = run("--servers", spec, "put", PROMPT, LLM, "over the socket")
    assert put.returncode == 0, put.stderr
    # The server is named as pymemcache names it: by its path.
    assert KEY in put.stdout and socket_server.socket_path in put.stdout
    got = run("--json", "--servers", spec, "get", PROMPT, LLM)
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["generations"][0]["text"] == "over the socket"
    # LangChain's own cache on pymemcache reads it, and writes what the command reads.
    cache = langchain_cache([spec])
    assert cache.lookup(PROMPT, LLM) == [Generation(text="over the socket")]
    cache.update("p2", "l2", [Generation(text="from LangChain")])
    got = run("--json", "--servers", spec, "get", "p2", "l2")
    assert json.loads(got.stdout)["generations"][0]["text"] == "from LangChain"


def test_stats_over_a_unix_socket(socket_server):
    result = run("--json", "--servers", socket_server.socket_path, "stats")
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert [s["server"] for s in stats["servers"]] == [socket_server.socket_path]
    assert stats["alive"] == 1


def test_a_pool_mixing_tcp_and_unix_places_entries_as_pymemcache(socket_server, server):
    from langchain_core.outputs import Generation

    specs = [socket_server.socket_path, server.spec]
    servers = ",".join(specs)
    cache = langchain_cache(specs)
    for i in range(20):
        assert run("--servers", servers, "put", f"p{i}", LLM, f"a{i}").returncode == 0
    for i in range(20):
        assert cache.lookup(f"p{i}", LLM) == [Generation(text=f"a{i}")]
    stats = json.loads(run("--json", "--servers", servers, "stats").stdout)
    per_server = {s["server"]: s for s in stats["servers"]}
    assert set(per_server) == set(specs)
    assert stats["total"]["curr_items"] == 20


def test_a_missing_socket_names_the_path(tmp_path):
    path = str(tmp_path / "none.sock")
    result = run("--servers", path, "get", PROMPT, LLM)
    assert result.returncode == 3
    assert path in result.stderr and "-s " + path in result.stderr


def test_a_relative_socket_path_is_a_usage_error():
    result = run("--servers", "unix:mc.sock", "get", PROMPT, LLM)
    assert result.returncode == 2
    assert "must be absolute" in result.stderr
