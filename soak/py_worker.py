"""Soak worker for the Python package (`make soak`, soak/run.py).

Mixed load on ``langchain_memcached.MemcachedCache`` until stdin closes or ``--seconds``
pass: blocking ``lookup`` and ``update``, bursts of ``alookup`` (and some ``aupdate``)
under ``asyncio.gather``, and deletes, all on one event loop as an application would run
them. Every hit is checked against its key: a value may be stale but must name the
prompt it was written for. Once a second the counters go to stdout as one JSON line.

The keys and the model string are the C++ worker's (soak/cpp/soak_worker.cpp), so each
reads what the other wrote.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import random
import sys
import threading
import time
from dataclasses import asdict, dataclass

from langchain_core.outputs import Generation

import langchain_memcached
from langchain_memcached import MemcachedCache

LLM_STRING = "soak-model temperature=0"  # the C++ worker's kLlmString
CACHE_ERRORS = ("io_errors", "timeouts", "server_errors", "protocol_errors", "decode_errors")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


_libc = ctypes.CDLL(None)
_libc.mallinfo2.restype = _MallInfo2


def heap() -> dict[str, int]:
    """malloc's view (the extension's C++ allocations, CPython's objects over 512 bytes)
    and CPython's count of live blocks: with the RSS, these tell a leak from fragmentation."""
    info = _libc.mallinfo2()
    return {"in_use_bytes": info.uordblks + info.hblkhd, "arena_bytes": info.arena + info.hblkhd,
            "python_blocks": sys.getallocatedblocks()}


@dataclass
class Counters:
    requests: int = 0
    errors: int = 0  # exceptions the worker itself caught (deletes)
    hits: int = 0
    checked: int = 0
    mismatches: int = 0  # hits holding another key's value: must stay 0
    lookups: int = 0
    updates: int = 0
    async_lookups: int = 0
    async_updates: int = 0
    deletes: int = 0
    bursts: int = 0


def prompt_of(index: int) -> str:
    return f"soak prompt {index}"


def tag_of(prompt: str) -> str:
    return f"soak|{prompt}|"


class Load:
    def __init__(self, cache: MemcachedCache, seed: int, keys: int) -> None:
        self.cache = cache
        self.rng = random.Random(seed)
        self.keys = keys
        self.counters = Counters()
        self.version = 0

    def prompt(self) -> str:
        return prompt_of(self.rng.randrange(self.keys))

    def value_for(self, prompt: str) -> list[Generation]:
        # Sizes as the C++ worker's: mostly small, 1 in 100 around 100 KB.
        big = self.rng.randrange(100) == 0
        size = self.rng.randint(50_000, 150_000) if big else self.rng.randint(50, 4_000)
        self.version += 1
        text = f"{tag_of(prompt)}{self.version}|" + "p" * size
        info = {"writer": "python", "version": self.version} if self.version % 4 == 0 else None
        return [Generation(text=text, generation_info=info)]

    def check(self, prompt: str, hit: list[Generation] | None) -> None:
        if hit is None:
            return
        self.counters.hits += 1
        self.counters.checked += 1
        tag = tag_of(prompt)
        if not hit or not all(g.text.startswith(tag) for g in hit):
            self.counters.mismatches += 1

    async def burst(self) -> None:
        """alookup/aupdate for 8 to 64 keys at once, joined with asyncio.gather."""
        c = self.counters
        c.bursts += 1
        calls = []
        lookups: list[str | None] = []  # per call: the prompt of a lookup, None for an update
        for _ in range(self.rng.randint(8, 64)):
            prompt = self.prompt()
            c.requests += 1
            if self.rng.randrange(100) < 80:
                c.async_lookups += 1
                lookups.append(prompt)
                calls.append(self.cache.alookup(prompt, LLM_STRING))
            else:
                c.async_updates += 1
                lookups.append(None)
                calls.append(self.cache.aupdate(prompt, LLM_STRING, self.value_for(prompt)))
        for prompt, result in zip(lookups, await asyncio.gather(*calls), strict=True):
            if prompt is not None:
                self.check(prompt, result)

    def step(self) -> None:
        """One blocking operation."""
        c = self.counters
        roll = self.rng.randrange(100)
        prompt = self.prompt()
        c.requests += 1
        if roll < 60:
            c.lookups += 1
            self.check(prompt, self.cache.lookup(prompt, LLM_STRING))
        elif roll < 95:
            c.updates += 1
            self.cache.update(prompt, LLM_STRING, self.value_for(prompt))
        else:
            # Deletes, never clear(): flush_all would wipe what the other worker checks.
            c.deletes += 1
            try:
                self.cache.client.delete(langchain_memcached.langchain_key(prompt, LLM_STRING))
            except langchain_memcached.Error:
                c.errors += 1

    def snapshot(self, elapsed: float, final: bool) -> dict:
        stats = self.cache.stats()
        counters = asdict(self.counters)
        counters["errors"] += sum(stats[name] for name in CACHE_ERRORS)
        return {"worker": "python", "t": elapsed, "final": final, **counters, "heap": heap(),
                "cache": stats}


def watch_stdin(stop: threading.Event) -> None:
    """The driver closes our stdin to stop us."""
    for _ in sys.stdin:
        pass
    stop.set()


async def run(args: argparse.Namespace) -> None:
    client = langchain_memcached.HashClient(
        args.servers.split(","),
        # Short, so killed servers come back into the ring many times per run (see the
        # C++ worker): the revival and reconnect paths are soaked too.
        dead_timeout=args.dead_timeout,
    )
    load = Load(MemcachedCache(client), args.seed, args.keys)
    stop = threading.Event()
    threading.Thread(target=watch_stdin, args=(stop,), daemon=True).start()
    start = time.monotonic()
    next_report = start + 1.0
    while not stop.is_set() and time.monotonic() - start < args.seconds:
        if load.rng.randrange(100) < 15:
            await load.burst()
        else:
            load.step()
        now = time.monotonic()
        if now >= next_report:
            next_report += 1.0
            print(json.dumps(load.snapshot(now - start, final=False)), flush=True)
    print(json.dumps(load.snapshot(time.monotonic() - start, final=True)), flush=True)
    client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", required=True, help="h1:p1,h2:p2,...")
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--keys", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dead-timeout", type=float, default=5.0)
    asyncio.run(run(parser.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
