"""1,000 event loops, each closed while a lookup is pending on a server that never answers.

Usage: closed_loops.py PORT LOOPS. Prints JSON: open fds and RSS after a warm-up and at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from langchain_memcached import MemcachedCache

port, loops = sys.argv[1], int(sys.argv[2])
cache = MemcachedCache(f"127.0.0.1:{port}", timeout=0.5)


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def one_loop() -> None:
    try:
        asyncio.run(asyncio.wait_for(cache.alookup("p", "l"), 0.005))
    except asyncio.TimeoutError:
        pass


for _ in range(50):
    one_loop()
before = {"fds": fds(), "rss_kb": rss_kb()}
for _ in range(loops):
    one_loop()
print(json.dumps({"before": before, "after": {"fds": fds(), "rss_kb": rss_kb()}}))
