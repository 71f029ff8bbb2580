"""A LangGraph graph whose one node is cached in memcached, run as its own process.

``python node_graph.py SERVER RUNS_FILE [clear]`` runs the graph once on the input
``{"question": "q"}``: the node appends a line to RUNS_FILE each time it really runs. It
prints the stream's updates as JSON (LangGraph marks a node served from the cache with
``"__metadata__": {"cached": true}``). With ``clear``, it clears the graph's cache
(``graph.clear_cache()``) instead of running.
"""

from __future__ import annotations

import json
import sys
from typing import TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import CachePolicy

from langchain_memcached import MemcachedNodeCache


class State(TypedDict, total=False):
    question: str
    answer: str


def build(server: str, runs_file: str, ttl: int | None = None):
    def expensive(state: State) -> State:
        with open(runs_file, "a") as runs:
            runs.write("ran\n")
        return {"answer": state["question"].upper()}

    builder = StateGraph(State)
    builder.add_node("expensive", expensive, cache_policy=CachePolicy(ttl=ttl))
    builder.add_edge(START, "expensive")
    builder.add_edge("expensive", END)
    return builder.compile(cache=MemcachedNodeCache(server, namespace="node-graph-test"))


def main() -> None:
    server, runs_file = sys.argv[1], sys.argv[2]
    graph = build(server, runs_file)
    if sys.argv[3:] == ["clear"]:
        graph.clear_cache()
        return
    updates = list(graph.stream({"question": "q"}, stream_mode="updates"))
    print(json.dumps(updates))


if __name__ == "__main__":
    main()
