"""The example from LangChain's MemcachedCache documentation, with llmcache in place.

No network model is reachable here, so the model is LangChain's FakeListLLM given a
realistic delay (FAKE_MODEL_DELAY seconds); everything else is real: LangChain's cache
plumbing, llmcache's client, and a real memcached (MEMCACHED_SERVERS).
"""

from __future__ import annotations

import os
import time

from langchain_core.globals import set_llm_cache
from langchain_core.language_models import FakeListLLM

from langchain_memcached import MemcachedCache  # was: langchain_community.cache

DELAY = float(os.environ.get("FAKE_MODEL_DELAY", "1.5"))


class SlowFakeLLM(FakeListLLM):
    """FakeListLLM that takes as long as a hosted model would."""

    def _call(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(DELAY)
        return super()._call(*args, **kwargs)


def main() -> None:
    servers = os.environ.get("MEMCACHED_SERVERS", "127.0.0.1:11211")
    cache = MemcachedCache(servers)
    set_llm_cache(cache)
    llm = SlowFakeLLM(responses=["New York City, with about 8.3 million people."])
    question = "Which city is the most crowded city in the USA?"
    print(f"model: LangChain's FakeListLLM with a {DELAY:.1f} s delay (no real model here)")
    print(f"cache: langchain_memcached.MemcachedCache on {servers}")
    for label in ("first call (asks the model)", "second call (from memcached)"):
        start = time.perf_counter()
        answer = llm.invoke(question)
        elapsed = time.perf_counter() - start
        print(f"{label:30s} {elapsed * 1000:9.1f} ms  {answer}")
    stats = cache.stats()
    print(f"cache counters: {stats['hits']} hit, {stats['misses']} miss, {stats['updates']} stored")
    cache.clear()  # the demo's pool is private; never do this on a shared one


if __name__ == "__main__":
    main()
