"""MemcachedNodeCache: LangGraph's node cache on real memcached, with real LangGraph graphs
and LangChain's create_agent."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TypedDict

import pytest
from langchain.agents import create_agent
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.cache.base import BaseCache
from langgraph.graph import END, START, StateGraph
from langgraph.types import CachePolicy

from langchain_memcached import MemcachedNodeCache

APPS = Path(__file__).parent / "apps"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "node_cache_demo.py"


class State(TypedDict, total=False):
    question: str
    answer: str
    other: str


def run_graph_process(server: str, runs_file: Path, *extra: str) -> list[dict]:
    """Runs tests/python/apps/node_graph.py in its own process; its stream updates."""
    done = subprocess.run(
        [sys.executable, str(APPS / "node_graph.py"), server, str(runs_file), *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else []


def runs(runs_file: Path) -> int:
    return len(runs_file.read_text().splitlines()) if runs_file.exists() else 0


def cached(updates: list[dict]) -> bool:
    return any(update.get("__metadata__", {}).get("cached") for update in updates)


def test_is_a_langgraph_cache(memcached):
    cache = MemcachedNodeCache(memcached.spec)
    assert isinstance(cache, BaseCache)
    assert cache.stats()["hits"] == 0
    assert cache._core.stats() == cache.stats()  # what the metrics module reads


def test_node_runs_once_across_two_processes(memcached, tmp_path):
    runs_file = tmp_path / "runs"
    first = run_graph_process(memcached.spec, runs_file)
    assert runs(runs_file) == 1
    assert first == [{"expensive": {"answer": "Q"}}]
    assert not cached(first)

    second = run_graph_process(memcached.spec, runs_file)
    assert runs(runs_file) == 1  # served from memcached: the node did not run again
    assert cached(second)
    assert second[0]["expensive"] == {"answer": "Q"}

    # graph.clear_cache() in a third process: the node runs again in the next.
    run_graph_process(memcached.spec, runs_file, "clear")
    third = run_graph_process(memcached.spec, runs_file)
    assert runs(runs_file) == 2
    assert not cached(third)


def graph_of(cache: MemcachedNodeCache, calls: list[str], ttl: int | None = None):
    def a(state: State) -> State:
        calls.append("a")
        return {"answer": state["question"] + "!"}

    def b(state: State) -> State:
        calls.append("b")
        return {"other": state["question"] + "?"}

    builder = StateGraph(State)
    builder.add_node("a", a, cache_policy=CachePolicy(ttl=ttl))
    builder.add_node("b", b, cache_policy=CachePolicy(ttl=ttl))
    builder.add_edge(START, "a")
    builder.add_edge(START, "b")
    builder.add_edge("a", END)
    builder.add_edge("b", END)
    return builder.compile(cache=cache)


def test_ttl_expiry_runs_the_node_again(memcached):
    calls: list[str] = []
    graph = graph_of(MemcachedNodeCache(memcached.spec), calls, ttl=1)
    graph.invoke({"question": "q"})
    graph.invoke({"question": "q"})
    assert calls.count("a") == 1
    time.sleep(2.1)  # memcached's clock counts whole seconds
    graph.invoke({"question": "q"})
    assert calls.count("a") == 2


def test_clear_cache_of_one_node_leaves_the_others(memcached):
    calls: list[str] = []
    cache = MemcachedNodeCache(memcached.spec, namespace_refresh=0.05)
    graph = graph_of(cache, calls)
    graph.invoke({"question": "q"})
    graph.clear_cache(nodes=["a"])
    result = graph.invoke({"question": "q"})
    assert result == {"question": "q", "answer": "q!", "other": "q?"}
    assert sorted(calls) == ["a", "a", "b"]
    # The whole cache, from another cache object (another process would do the same).
    # This process's cache sees it once it reads the generation again (namespace_refresh).
    graph_of(MemcachedNodeCache(memcached.spec), []).clear_cache()
    time.sleep(0.1)
    calls.clear()
    graph.invoke({"question": "q"})
    assert sorted(calls) == ["a", "b"]


def test_clear_namespaces_leaves_other_namespaces_and_caches(memcached):
    cache = MemcachedNodeCache(memcached.spec)
    other_cache = MemcachedNodeCache(memcached.spec, namespace="another")
    pairs = {(("x",), "k"): ({"v": 1}, None), (("y",), "k"): ({"v": 2}, None)}
    cache.set(pairs)
    other_cache.set(pairs)
    keys = list(pairs)
    cache.clear([("x",)])
    assert cache.get(keys) == {(("y",), "k"): {"v": 2}}
    assert other_cache.get(keys) == {(("x",), "k"): {"v": 1}, (("y",), "k"): {"v": 2}}
    # A namespace is a tuple: ("x", "y") is neither ("x",) nor ("x:y",).
    cache.set({(("x", "y"), "k"): ("deep", None), (("x:y",), "k"): ("flat", None)})
    cache.clear([("x",)])
    assert cache.get([(("x", "y"), "k"), (("x:y",), "k")]) == {
        (("x", "y"), "k"): "deep",
        (("x:y",), "k"): "flat",
    }
    cache.clear()
    assert cache.get(keys + [(("x", "y"), "k")]) == {}
    assert len(other_cache.get(keys)) == 2


def test_values_keys_and_ttls(memcached):
    cache = MemcachedNodeCache(memcached.spec, compress=True, signing_secret="s")
    long_key = "k" * 5000
    binary_key = "a key\x00with\nbytes \u00e9\u4e2d"
    big = {"text": "repeat " * 2000}
    cache.set(
        {
            (("n",), long_key): (big, None),
            (("n",), binary_key): ([1, 2.5, None, "x"], 3600),
            (("n",), "gone"): ("expired at once", 0),
        }
    )
    got = cache.get([(("n",), long_key), (("n",), binary_key), (("n",), "gone")])
    assert got == {(("n",), long_key): big, (("n",), binary_key): [1, 2.5, None, "x"]}
    stats = cache.stats()
    assert stats["hits"] == 2 and stats["misses"] == 1
    assert stats["bytes_saved_by_compression"] > 0
    # Another secret reads nothing.
    assert MemcachedNodeCache(memcached.spec, signing_secret="other").get(list(got)) == {}


def test_value_too_large_is_refused_counted_and_logged(memcached_factory, caplog):
    server = memcached_factory("-I", "1m")
    calls: list[str] = []

    def huge(state: State) -> State:
        calls.append("huge")
        return {"answer": "x" * (2 << 20)}

    builder = StateGraph(State)
    builder.add_node("huge", huge, cache_policy=CachePolicy())
    builder.add_edge(START, "huge")
    builder.add_edge("huge", END)
    cache = MemcachedNodeCache(server.spec)
    graph = builder.compile(cache=cache)
    with caplog.at_level(logging.WARNING, logger="langchain_memcached"):
        graph.invoke({"question": "q"})
    assert cache.stats()["too_large"] == 1
    assert cache.stats()["update_failures"] == 1
    assert any("too large" in record.getMessage() for record in caplog.records)
    graph.invoke({"question": "q"})
    assert calls == ["huge", "huge"]  # not cached, and said so: never silently dropped


async def test_async_graph_runs_start_no_threads(memcached):
    cache = MemcachedNodeCache(memcached.spec)
    calls: list[str] = []
    seen_threads: list[int] = []

    async def node(state: State) -> State:
        calls.append(state["question"])
        seen_threads.append(threading.active_count())
        await asyncio.sleep(0)
        return {"answer": state["question"] * 2}

    builder = StateGraph(State)
    builder.add_node("node", node, cache_policy=CachePolicy())
    builder.add_edge(START, "node")
    builder.add_edge("node", END)
    graph = builder.compile(cache=cache)
    await graph.ainvoke({"question": "warm-up"})  # the client's I/O thread exists from here
    before = set(threading.enumerate())

    questions = [f"q{i}" for i in range(100)]
    first = await asyncio.gather(*(graph.ainvoke({"question": q}) for q in questions))
    during = set(threading.enumerate())
    second = await asyncio.gather(*(graph.ainvoke({"question": q}) for q in questions))

    assert [r["answer"] for r in first] == [q * 2 for q in questions]
    assert second == first
    assert len(calls) == 101  # the second round came from memcached
    assert cache.stats()["hits"] == 100
    assert during == before == set(threading.enumerate())
    assert max(seen_threads) == len(before)


async def test_aget_aset_aclear(memcached):
    cache = MemcachedNodeCache(memcached.spec)
    await cache.aset({(("a",), "k"): ("v", None), (("b",), "k"): ("w", 60)})
    keys = [(("a",), "k"), (("b",), "k"), (("a",), "missing")]
    assert await cache.aget(keys) == {(("a",), "k"): "v", (("b",), "k"): "w"}
    assert cache.get(keys) == await cache.aget(keys)
    await cache.aclear([("a",)])
    assert await cache.aget(keys) == {(("b",), "k"): "w"}
    await cache.aclear()
    assert await cache.aget(keys) == {}


def test_server_down_reads_as_misses(memcached):
    cache = MemcachedNodeCache(memcached.spec, connect_timeout=0.2, timeout=0.2)
    memcached.kill()
    assert cache.get([(("a",), "k")]) == {}
    cache.set({(("a",), "k"): ("v", None)})  # counted, not raised
    stats = cache.stats()
    assert stats["misses"] == 1 and stats["update_failures"] == 1


def test_create_agent_with_a_memcached_node_cache(memcached):
    model = GenericFakeChatModel(
        messages=iter([AIMessage(content="first answer"), AIMessage(content="second answer")])
    )
    cache = MemcachedNodeCache(memcached.spec, namespace="agent")
    agent = create_agent(model, tools=[], cache=cache)
    # create_agent sets no cache policy: give the model node one. (A graph-wide
    # agent.cache_policy would cache __start__ too, whose cached writes change the model
    # node's input bytes, so its key, on the next run: LangGraph's behaviour, any cache.)
    agent.nodes["model"].cache_policy = CachePolicy(ttl=600)
    # With its id: a message without one gets a fresh id each run, so the input (and the
    # cache key) would differ.
    question = {"messages": [HumanMessage(content="hi", id="question-1")]}
    first = agent.invoke(question)
    second = agent.invoke(question)
    assert first["messages"][-1].content == "first answer"
    assert second["messages"][-1].content == "first answer"  # the model was not called again
    assert cache.stats()["hits"] == 1


def test_the_example_caches_its_node_across_processes(memcached):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMCACHED")}
    env.update(MEMCACHED_SERVERS=memcached.spec, FAKE_NODE_DELAY="0")

    def run() -> str:
        done = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True,
                              env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "(computed)" in run()
    assert "(cached)" in run()
