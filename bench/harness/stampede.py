"""The stampede (issue 13): 72 callers ask one new prompt at the same instant of a model
that takes 1 s, through `set_llm_cache`, in 3 processes of 20 asyncio tasks and 4 threads
each. With `single_flight=True` one caller calls the model and the others wait for its
answer; without it (llmcache's default, and LangChain's own MemcachedCache over pymemcache)
every caller that misses calls the model. Reported: model calls per stampede and when the
callers had their answer (from the common start), median over rounds.

    .venv/bin/python bench/harness/stampede.py 127.0.0.1:11211   # prints the Markdown

`make bench` runs it against its memcached (run.py calls measure()).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from typing import Any

PROCESSES = 3
TASKS = 20
THREADS = 4
CALLERS = PROCESSES * (TASKS + THREADS)
MODEL_SECONDS = 1.0
ROUNDS = 3

KINDS = [
    ("single_flight", "llmcache MemcachedCache(single_flight=True)"),
    ("llmcache", "llmcache MemcachedCache (default)"),
    ("langchain", "LangChain MemcachedCache + pymemcache PooledClient"),
]


# ---------------------------------------------------------------- one worker process


def _worker(kind: str, spec: str, prompt: str, calls_file: str) -> None:
    from langchain_core.globals import set_llm_cache
    from langchain_core.language_models.llms import LLM

    class SlowModel(LLM):
        """A model call of MODEL_SECONDS, appended to a file shared by the processes."""

        @property
        def _llm_type(self) -> str:
            return "stampede-model"

        def _call(self, prompt: str, stop: Any = None, run_manager: Any = None, **kw: Any) -> str:
            time.sleep(MODEL_SECONDS)
            with open(calls_file, "a") as calls:
                calls.write("1\n")
            return f"the answer to {prompt}"

    if kind == "langchain":
        import warnings

        warnings.filterwarnings("ignore", category=DeprecationWarning)  # "being sunset"
        from langchain_community.cache import MemcachedCache as LangChainCache
        from pymemcache.client.base import PooledClient

        host, port = spec.rsplit(":", 1)
        set_llm_cache(LangChainCache(PooledClient((host, int(port)), max_pool_size=THREADS + 8)))
    else:
        from langchain_memcached import MemcachedCache

        set_llm_cache(
            MemcachedCache(spec, single_flight=kind == "single_flight", lease_ttl=30)
        )
    model = SlowModel()
    expected = f"the answer to {prompt}"
    print("ready", flush=True)
    start = float(sys.stdin.readline())
    while time.time() < start:
        time.sleep(0.001)
    elapsed: list[float] = []
    lock = threading.Lock()

    def answered(answer: str) -> None:
        assert answer == expected, answer
        with lock:
            elapsed.append(time.time() - start)

    threads = [
        threading.Thread(target=lambda: answered(model.invoke(prompt))) for _ in range(THREADS)
    ]
    for thread in threads:
        thread.start()

    async def tasks() -> None:
        async def one() -> None:
            answered(await model.ainvoke(prompt))

        await asyncio.gather(*(one() for _ in range(TASKS)))

    asyncio.run(tasks())
    for thread in threads:
        thread.join()
    print(json.dumps(elapsed), flush=True)


# ---------------------------------------------------------------- the driver


def _stampede(kind: str, spec: str) -> tuple[int, list[float]]:
    """One stampede on a prompt never asked before: (model calls, seconds to each answer)."""
    prompt = f"stampede {uuid.uuid4().hex}"
    with tempfile.TemporaryDirectory() as tmp:
        calls_file = os.path.join(tmp, "calls")
        open(calls_file, "w").close()
        workers = [
            subprocess.Popen(
                [sys.executable, __file__, "worker", kind, spec, prompt, calls_file],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(PROCESSES)
        ]
        try:
            for worker in workers:  # every process imported and built its cache
                assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
            start = time.time() + 0.2
            for worker in workers:
                assert worker.stdin is not None
                worker.stdin.write(f"{start}\n")
                worker.stdin.flush()
            elapsed: list[float] = []
            for worker in workers:
                assert worker.stdout is not None
                elapsed += json.loads(worker.stdout.readline())
                if worker.wait(timeout=120) != 0:
                    raise RuntimeError(f"a stampede worker ({kind}) failed")
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()
        with open(calls_file) as calls:
            return len(calls.read().split()), elapsed


def measure(spec: str, quick: bool = False) -> dict[str, Any]:
    rounds = 1 if quick else ROUNDS
    results: dict[str, Any] = {}
    for kind, label in KINDS:
        calls, p50, slowest, answered = [], [], [], []
        for _ in range(rounds):
            n, elapsed = _stampede(kind, spec)
            calls.append(n)
            answered.append(len(elapsed))
            p50.append(statistics.median(elapsed))
            slowest.append(max(elapsed))
        results[kind] = {
            "label": label,
            "model_calls": statistics.median(calls),
            "model_calls_each_round": calls,
            "answered": min(answered),
            "p50_s": statistics.median(p50),
            "max_s": statistics.median(slowest),
        }
    results["rounds"] = rounds
    return results


def markdown(results: dict[str, Any]) -> list[str]:
    anchor = results["langchain"]
    lines = [
        "## Stampede: one new prompt, 72 callers at once (`single_flight`)",
        "",
        f"{PROCESSES} processes × ({TASKS} asyncio tasks + {THREADS} threads) = {CALLERS} callers "
        f"invoke a LangChain LLM whose call takes {MODEL_SECONDS:g} s, on one prompt never asked "
        "before, at the same instant, through `set_llm_cache`, on the benchmark's memcached. "
        "Seconds are from the common start to each caller's answer (median over "
        f"{results['rounds']} rounds; the model's own {MODEL_SECONDS:g} s included). LangChain runs "
        "the async callers' model calls in its default executor (a few threads), hence the "
        "later answers without single_flight.",
        "",
        "| cache | callers answered | model calls (each round) | p50 s | slowest s | "
        "model calls vs LangChain |",
        "|---|---|---|---|---|---|",
    ]
    for kind, _ in KINDS:
        r = results[kind]
        lines.append(
            f"| {r['label']} | {r['answered']} of {CALLERS} | {r['model_calls']:g} "
            f"({', '.join(str(c) for c in r['model_calls_each_round'])}) | {r['p50_s']:.2f} | "
            f"{r['max_s']:.2f} | {r['model_calls'] / anchor['model_calls']:.2f}x |"
        )
    return lines + [""]


if __name__ == "__main__":
    if sys.argv[1] == "worker":
        _worker(*sys.argv[2:6])
    else:
        print("\n".join(markdown(measure(sys.argv[1], quick="--quick" in sys.argv))))
