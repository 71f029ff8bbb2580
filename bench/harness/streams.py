"""Streams through the cache (langchain_memcached.cache_streams), for BENCHMARKS.md.

Two questions, on a private memcached, with LangChain's GenericFakeChatModel streaming a
1 KB answer word by word (about 400 chunks, no sleeps: only the code path is timed):

- **A hit replayed as a stream**: time to the first chunk and to the last, against the
  same hit through LangChain's own path (``invoke()``, which returns the message whole).
- **A miss passed through**: the gap between consecutive chunks as the consumer sees them
  (p50, p99), and the whole stream including the store at its end, against the bare model
  streaming without any cache.

Standalone: ``.venv/bin/python bench/harness/streams.py [--quick] [--json]`` starts its own
memcached (harness.server) and prints the BENCHMARKS.md section (or the numbers as JSON).
From run.py: ``streams.measure(srv.spec, quick=args.quick)`` inside the ``server.memcached()``
block, and ``streams.markdown(results["streams"])`` appended by report.markdown.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script: make `harness` importable as run.py does
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langchain_core.globals import set_llm_cache
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from harness.stats import percentile
from langchain_memcached import MemcachedCache, cache_streams

# About 1 KB of prose, as the other workloads' answers.
ANSWER = " ".join(
    itertools.islice(
        itertools.cycle(
            "the cache replays an answer as the model would have streamed it, piece by "
            "piece, so every consumer sees tokens whether or not the model ran".split()
        ),
        170,
    )
)


def _model() -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=itertools.repeat(AIMessage(content=ANSWER)))


def _timed(chunks: Iterator[Any]) -> tuple[float, float, list[float]]:
    """(first chunk, last chunk, gaps between chunks), in microseconds from the call."""
    start = last = time.perf_counter()
    first: float | None = None
    gaps: list[float] = []
    for _ in chunks:
        now = time.perf_counter()
        if first is None:
            first = now - start
        else:
            gaps.append(now - last)
        last = now
    assert first is not None, "the stream yielded nothing"
    return first * 1e6, (last - start) * 1e6, [gap * 1e6 for gap in gaps]


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_us": percentile(values, 50),
        "p99_us": percentile(values, 99),
        "mean_us": statistics.fmean(values),
    }


def measure(spec: str, quick: bool = False) -> dict[str, Any]:
    runs = 20 if quick else 300
    cache = MemcachedCache(spec)
    set_llm_cache(None)  # every cached call below names its cache
    try:
        bare = _model()
        wrapped = cache_streams(_model(), cache=cache)
        question = "Why do caches replay streams?"
        list(wrapped.stream(question))  # stored: the hits below replay it
        for _ in range(max(3, runs // 10)):  # warm-up: imports, connections, caches
            list(wrapped.stream(question))
            wrapped.invoke(question)
            list(bare.stream(question))

        hit_first, hit_total, invoke_total = [], [], []
        for _ in range(runs):
            first, total, _gaps = _timed(wrapped.stream(question))
            hit_first.append(first)
            hit_total.append(total)
            start = time.perf_counter()
            wrapped.invoke(question)
            invoke_total.append((time.perf_counter() - start) * 1e6)

        bare_gaps: list[float] = []
        miss_gaps: list[float] = []
        bare_total, miss_total = [], []
        for run in range(runs):
            _first, total, gaps = _timed(bare.stream(f"question {run}"))
            bare_gaps += gaps
            bare_total.append(total)
            _first, total, gaps = _timed(wrapped.stream(f"question {run}"))  # a miss
            miss_gaps += gaps
            miss_total.append(total)
        chunks = len(list(bare.stream(question)))
    finally:
        cache.client.close()

    hit = {
        "first_chunk": _summary(hit_first),
        "last_chunk": _summary(hit_total),
        "invoke_hit": _summary(invoke_total),
    }
    miss = {
        "gap_bare": _summary(bare_gaps),
        "gap_miss": _summary(miss_gaps),
        "total_bare": _summary(bare_total),
        "total_miss": _summary(miss_total),
    }
    return {"runs": runs, "chunks": chunks, "answer_bytes": len(ANSWER), "hit": hit, "miss": miss}


def _ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}x"


def markdown(results: dict[str, Any]) -> list[str]:
    hit, miss = results["hit"], results["miss"]
    lines = [
        "## Streams through the cache (`cache_streams`)",
        "",
        f"LangChain's GenericFakeChatModel streaming a {results['answer_bytes']} B answer in "
        f"{results['chunks']} chunks, no sleeps; {results['runs']} runs each. A hit is "
        "replayed as a stream; LangChain's own hit (`invoke()`) returns the message whole.",
        "",
        "| hit | p50 µs | p99 µs | p50 vs invoke() hit |",
        "| --- | ---: | ---: | ---: |",
    ]
    anchor = hit["invoke_hit"]["p50_us"]
    for label, key in (("first chunk", "first_chunk"), ("last chunk", "last_chunk")):
        row = hit[key]
        lines.append(
            f"| {label} | {row['p50_us']:.0f} | {row['p99_us']:.0f} | "
            f"{_ratio(row['p50_us'], anchor)} |"
        )
    invoke_p99 = hit["invoke_hit"]["p99_us"]
    lines.append(f"| invoke() hit (anchor) | {anchor:.0f} | {invoke_p99:.0f} | 1.00x |")
    lines += [
        "",
        "| miss, passed through | p50 µs | p99 µs | vs bare model (p50, p99) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, ours, bare in (
        ("gap between chunks", "gap_miss", "gap_bare"),
        ("whole stream, store included", "total_miss", "total_bare"),
    ):
        a, b = miss[ours], miss[bare]
        lines.append(
            f"| {label} | {a['p50_us']:.1f} | {a['p99_us']:.1f} | "
            f"{_ratio(a['p50_us'], b['p50_us'])}, {_ratio(a['p99_us'], b['p99_us'])} |"
        )
    return lines + [""]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 runs (a smoke test)")
    parser.add_argument("--json", action="store_true", help="the numbers, not markdown")
    args = parser.parse_args()
    from harness import server

    with server.memcached() as srv:
        results = measure(srv.spec, quick=args.quick)
    print(json.dumps(results, indent=2) if args.json else "\n".join(markdown(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
