"""One process of tests/python/test_single_flight.py: LangChain callers in threads and
asyncio tasks, all invoking one slow model on one prompt through
``set_llm_cache(MemcachedCache(..., single_flight=True))``.

Usage: ``single_flight_worker.py SERVER CALLS_FILE THREADS TASKS``. Environment:
``LLMCACHE_TEST_LEASE_TTL`` (seconds), ``LLMCACHE_TEST_HANG=1`` (the model never answers:
the process is to be killed). Prints ``ready``, waits for a line on stdin, then runs every
caller at once and prints one JSON line: the answers and the cache's stats. Every model
call appends a line to CALLS_FILE (O_APPEND: one write per call, whatever the process).
The model's behaviour comes from the environment, not its fields, so that every process
has the same llm_string and so the same cache key.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from typing import Any

from langchain_core.globals import set_llm_cache
from langchain_core.language_models.llms import LLM

from langchain_memcached import MemcachedCache

PROMPT = "What is the answer to the stampede question?"
ANSWER = "forty-two, computed once"
MODEL_SECONDS = 3600.0 if os.environ.get("LLMCACHE_TEST_HANG") == "1" else 1.0


def record_call(calls_file: str) -> None:
    fd = os.open(calls_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{os.getpid()}\n".encode())
    finally:
        os.close(fd)


class SlowModel(LLM):
    """Takes MODEL_SECONDS to answer ANSWER, and records each call."""

    @property
    def _llm_type(self) -> str:
        return "single-flight-test-model"

    def _call(self, prompt: str, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> str:
        record_call(os.environ["LLMCACHE_TEST_CALLS"])
        time.sleep(MODEL_SECONDS)
        return ANSWER

    async def _acall(
        self, prompt: str, stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> str:
        record_call(os.environ["LLMCACHE_TEST_CALLS"])
        await asyncio.sleep(MODEL_SECONDS)
        return ANSWER


def main() -> None:
    server, calls_file, threads, tasks = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    os.environ["LLMCACHE_TEST_CALLS"] = calls_file
    cache = MemcachedCache(
        server,
        single_flight=True,
        single_flight_wait=60.0,
        lease_ttl=int(os.environ.get("LLMCACHE_TEST_LEASE_TTL", "30")),
    )
    set_llm_cache(cache)
    model = SlowModel()
    print("ready", flush=True)
    sys.stdin.readline()

    answers: list[str] = []
    lock = threading.Lock()

    def sync_caller() -> None:
        answer = model.invoke(PROMPT)
        with lock:
            answers.append(answer)

    callers = [threading.Thread(target=sync_caller) for _ in range(threads)]
    for caller in callers:
        caller.start()

    async def async_callers() -> list[str]:
        return list(await asyncio.gather(*(model.ainvoke(PROMPT) for _ in range(tasks))))

    async_answers = asyncio.run(async_callers()) if tasks else []
    for caller in callers:
        caller.join()
    print(json.dumps({"answers": answers + async_answers, "stats": cache.stats()}), flush=True)


if __name__ == "__main__":
    main()
