"""A LangGraph node cached in memcached across processes (MemcachedNodeCache).

Run it twice: the first process runs the slow node, the second gets its result from
memcached (LangGraph marks it ``cached``) without running it. ``--clear`` empties the
graph's cache (``graph.clear_cache()``), so the next run computes again. The node is a
stand-in for a model call or a costly tool; everything else is real: LangGraph, llmcache's
client and a real memcached (MEMCACHED_SERVERS, default 127.0.0.1:11211).
"""

from __future__ import annotations

import os
import sys
import time
from typing import TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import CachePolicy

from langchain_memcached import MemcachedNodeCache


class State(TypedDict, total=False):
    city: str
    report: str


def slow_report(state: State) -> State:
    time.sleep(float(os.environ.get("FAKE_NODE_DELAY", "1.5")))  # a model call's latency
    return {"report": f"Weather report for {state['city']}: mild, light wind."}


def main() -> None:
    cache = MemcachedNodeCache(
        os.environ.get("MEMCACHED_SERVERS", "127.0.0.1:11211"), namespace="node-cache-demo"
    )
    builder = StateGraph(State)
    builder.add_node("report", slow_report, cache_policy=CachePolicy(ttl=600))
    builder.add_edge(START, "report")
    builder.add_edge("report", END)
    graph = builder.compile(cache=cache)

    if "--clear" in sys.argv[1:]:
        graph.clear_cache()
        print("cache cleared")
        return
    started = time.perf_counter()
    for update in graph.stream({"city": "Lyon"}, stream_mode="updates"):
        cached = update.get("__metadata__", {}).get("cached", False)
        print(update["report"]["report"], "(cached)" if cached else "(computed)")
    print(f"took {time.perf_counter() - started:.2f}s, process {os.getpid()}: {cache.stats()}")


if __name__ == "__main__":
    main()
