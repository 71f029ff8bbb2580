"""The Python contenders: LangChain's MemcachedCache over pymemcache (the anchors),
pylibmc with LangChain's value format, and llmcache's drop-in (ours). Each contender is
a cache and the ways it is driven (workload kind -> request -> answer)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

warnings.filterwarnings("ignore")

from langchain_community.cache import MemcachedCache as LangChainMemcachedCache  # noqa: E402
from langchain_community.cache import _dumps_generations, _hash, _loads_generations  # noqa: E402
from langchain_core.caches import BaseCache  # noqa: E402
from langchain_core.language_models.llms import get_prompts  # noqa: E402
from langchain_core.outputs import Generation  # noqa: E402

from harness import loops  # noqa: E402
from harness.dataset import LLM_STRING, PARAMS  # noqa: E402

Driver = Callable[[dict], dict]


class PylibmcCache(BaseCache):
    """LangChain's MemcachedCache logic on pylibmc (LangChain accepts only pymemcache):
    same key, same value bytes, flags 0."""

    def __init__(self, server: str) -> None:
        import pylibmc

        self.client = pylibmc.Client([server], behaviors={"tcp_nodelay": True})

    def lookup(self, prompt: str, llm_string: str) -> Any:
        value = self.client.get(_hash(prompt + llm_string))
        return _loads_generations(value) if value is not None else None

    def update(self, prompt: str, llm_string: str, return_val: Any) -> None:
        self.client.set(_hash(prompt + llm_string), _dumps_generations(return_val).encode())

    def clear(self, **kwargs: Any) -> None:
        self.client.flush_all()


def _update_value(manifest: dict) -> list[Generation]:
    return _loads_generations(manifest["update_value"])


def _sync_drivers(cache: BaseCache, manifest: dict) -> dict[str, Driver]:
    """lookup, update, and a batch as LLM.generate does it (langchain_core's get_prompts)."""
    gens = _update_value(manifest)

    def update(prompt: str) -> bool:
        cache.update(prompt, LLM_STRING, gens)
        return True

    def generate_batch(batch: Sequence[str]) -> int:
        existing, _, _, _ = get_prompts(PARAMS, list(batch), cache)
        return len(existing)

    def prompts(r: dict) -> list[str]:
        return manifest["prompts"][r["set"]]

    return {
        "lookup": lambda r: loops.sequential(lambda p: cache.lookup(p, LLM_STRING), prompts(r),
                                             r["ops"]),
        "update": lambda r: loops.sequential(update, prompts(r), r["ops"]),
        "batch": lambda r: loops.batches(generate_batch, prompts(r), r["ops"], r["batch"]),
        "rss": lambda r: loops.resident_growth(lambda p: cache.lookup(p, LLM_STRING),
                                               prompts(r), r["ops"]),
    }


def _async_drivers(cache: BaseCache, manifest: dict) -> dict[str, Driver]:
    """N alookups in flight under asyncio.gather, and a batch as one gather."""

    def alookup(prompt: str) -> Any:
        return cache.alookup(prompt, LLM_STRING)

    def prompts(r: dict) -> list[str]:
        return manifest["prompts"][r["set"]]

    return {
        "inflight": lambda r: loops.gathered(alookup, prompts(r), r["ops"], r["inflight"]),
        "batch": lambda r: loops.gathered_batches(alookup, prompts(r), r["ops"], r["batch"]),
    }


def _threaded_drivers(cache: BaseCache, manifest: dict) -> dict[str, Driver]:
    """N threads, each looking up one prompt after another."""
    return {"inflight": lambda r: loops.threaded(lambda p: cache.lookup(p, LLM_STRING),
                                                 manifest["prompts"][r["set"]], r["ops"],
                                                 r["inflight"])}


def _pymemcache_address(server: str) -> tuple[str, int]:
    host, port = server.rsplit(":", 1)
    return host, int(port)


def family(name: str, server: str, manifest: dict) -> dict[str, dict[str, Driver]]:
    """The contenders one worker process hosts: contender -> workload kind -> driver."""
    if name == "langchain":
        from pymemcache.client.base import Client, PooledClient

        address = _pymemcache_address(server)
        plain = LangChainMemcachedCache(Client(address))
        # Thread-safe: what LangChain's async path (alookup in an executor) and threads need.
        pooled = LangChainMemcachedCache(PooledClient(address))
        return {
            "lc_client": _sync_drivers(plain, manifest),
            "lc_pooled": _threaded_drivers(pooled, manifest),
            "lc_async": _async_drivers(pooled, manifest),
        }
    if name == "pylibmc":
        return {"pylibmc": _sync_drivers(PylibmcCache(server), manifest)}
    if name == "ours":
        from langchain_memcached import MemcachedCache

        cache = MemcachedCache(server)
        # The blocking lookup never spinning before it sleeps (blocking_spin=0, its
        # least-CPU setting), beside the default.
        never_spins = MemcachedCache(server, blocking_spin=0)
        return {
            "py_ours": _sync_drivers(cache, manifest),
            "py_ours_nospin": _sync_drivers(never_spins, manifest),
            "py_ours_async": _async_drivers(cache, manifest),
        }
    raise ValueError(f"no contender family {name}")
