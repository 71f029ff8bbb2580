"""What compress=True saves on realistic answers: stored bytes per entry with and without
zstd, and entries per GB of memcached memory (memcached's own `bytes` stat, which counts
key, value and item header; slab rounding comes on top). Sizes, not timings: the result
is the same on every run.

    .venv/bin/python bench/harness/compression.py     # prints the Markdown table

`make bench` puts the same table in BENCHMARKS.md (run.py calls table()).

Three kinds of answer, as LangChain stores them: a plain-text answer, a chat message with
tool calls and provider metadata, and JSON structured output.
"""

from __future__ import annotations

import json
import socket

from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, Generation

from langchain_memcached import MemcachedCache
from langchain_memcached.testing import MemcachedProcess

ENTRIES = 500

PLAIN_TEXT = (
    "Memcached is an in-memory key-value store for small chunks of arbitrary data, such as "
    "the results of database calls, API calls or page rendering. It keeps items in a hash "
    "table spread over slab classes, evicts the least recently used items when memory runs "
    "out, and answers each request in constant time. Because the server forgets, a cache "
    "built on it must treat every miss as normal: the application computes the answer again "
    "and stores it. For language-model responses this matters, since a miss costs a model "
    "call of one to thirty seconds and a fraction of a cent, while a hit costs well under a "
    "millisecond. Sizing the pool is therefore a question of how many distinct prompts recur "
    "within the eviction horizon: a pool that holds a day of traffic turns repeated questions "
    "into hits, while one that holds an hour mostly serves bursts. Compression stretches the "
    "same memory over more entries, at the cost of a few microseconds per read and write. "
    "Answers written in natural language compress by about half; structured answers with "
    "repeated field names, and chat messages carrying metadata, compress further."
)


def plain_text(i: int) -> list[Generation]:
    return [Generation(text=f"Answer {i}. {PLAIN_TEXT}", generation_info={"finish_reason": "stop"})]


def chat_with_tool_calls(i: int) -> list[ChatGeneration]:
    message = AIMessage(
        content=f"Let me check the forecast for the cities you asked about (request {i}). "
        + PLAIN_TEXT[:400],
        tool_calls=[
            {"name": "get_weather", "args": {"city": city, "unit": "celsius"}, "id": f"call_{i}_{n}"}
            for n, city in enumerate(["Paris", "Berlin", "Madrid", "Rome"])
        ],
        response_metadata={
            "token_usage": {"completion_tokens": 96, "prompt_tokens": 412, "total_tokens": 508},
            "model_name": "gpt-4o-2024-08-06",
            "system_fingerprint": "fp_a7d06e42a7",
            "finish_reason": "tool_calls",
        },
        usage_metadata={"input_tokens": 412, "output_tokens": 96, "total_tokens": 508},
        id=f"run-{i:08d}-5b1c-4f0e-9d1e-0c2f5d1e7a33",
    )
    return [ChatGeneration(message=message, generation_info={"finish_reason": "tool_calls"})]


def structured_json(i: int) -> list[Generation]:
    output = {
        "request": i,
        "entities": [
            {"name": name, "type": kind, "confidence": round(0.5 + n / 40, 3), "mentions": n + 1}
            for n, (name, kind) in enumerate(
                [("Ada Lovelace", "person"), ("Analytical Engine", "machine"),
                 ("London", "place"), ("Charles Babbage", "person"), ("1843", "date"),
                 ("Royal Society", "organization"), ("Bernoulli numbers", "concept"),
                 ("Luigi Menabrea", "person"), ("Turin", "place"), ("Note G", "document")]
            )
        ],
        "summary": PLAIN_TEXT[:300],
        "language": "en",
    }
    return [Generation(text=json.dumps(output))]


KINDS = {
    "plain-text answer": plain_text,
    "chat message with tool calls": chat_with_tool_calls,
    "JSON structured output": structured_json,
}


def memcached_bytes(server: MemcachedProcess) -> int:
    with socket.create_connection(server.address, timeout=5) as conn:
        conn.sendall(b"stats\r\n")
        reply = b""
        while not reply.endswith(b"END\r\n"):
            reply += conn.recv(65536)
    for line in reply.decode().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == "bytes":
            return int(parts[2])
    raise RuntimeError("memcached reported no `bytes` stat")


def measure(make, compress: bool) -> tuple[float, float]:
    """(value bytes per entry as LangChain writes them, memcached bytes per item)."""
    with MemcachedProcess() as server:
        cache = MemcachedCache(server.spec, compress=compress)
        for i in range(ENTRIES):
            cache.update(f"prompt {i}", "llm", make(i))
        stats = cache.stats()
        plain = (stats["bytes_written"] + stats["bytes_saved_by_compression"]) / ENTRIES
        return plain, memcached_bytes(server) / ENTRIES


def table() -> list[str]:
    """The BENCHMARKS.md section: one row per kind of answer."""
    lines = [
        "## Compression (`compress=True`)",
        "",
        f"Sizes, not timings ({ENTRIES} entries per kind, memcached's own `bytes` stat: key, "
        "value and item header; slab rounding comes on top). LangChain's own reader cannot "
        "read compressed entries.",
        "",
        "| answer | value (B) | item, plain (B) | item, zstd (B) | ratio | entries/GB plain "
        "| entries/GB zstd |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, make in KINDS.items():
        value, plain_item = measure(make, compress=False)
        _, zstd_item = measure(make, compress=True)
        lines.append(
            f"| {name} | {value:,.0f} | {plain_item:,.0f} | {zstd_item:,.0f} | "
            f"{plain_item / zstd_item:.2f}x | {2**30 / plain_item:,.0f} | {2**30 / zstd_item:,.0f} |"
        )
    return lines + [""]


def main() -> None:
    print("\n".join(table()))


if __name__ == "__main__":
    main()
