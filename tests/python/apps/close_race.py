"""close() while four threads (and an event loop) are inside calls on the same client.

Usage: close_race.py SERVER client|cache ROUNDS. Prints one JSON object: the errors that
were not ClosedError, and what the calls after close() did.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time

import langchain_memcached
from langchain_core.outputs import Generation
from langchain_memcached import ClosedError, MemcachedCache

server, mode, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
unexpected: list[str] = []
after_close: list[str] = []


def record(error: BaseException) -> None:
    unexpected.append(f"{type(error).__name__}: {error}")


def one_round() -> None:
    client = langchain_memcached.Client(server)
    cache = MemcachedCache(client)
    closed = threading.Event()

    def work(i: int) -> None:
        key = f"key-{i}"
        try:
            while True:
                was_closed = closed.is_set()
                if mode == "client":
                    client.set(key, b"v" * 100)
                    client.get(key)
                    client.get_many([key, "other"])
                else:
                    cache.update(key, "llm", [Generation(text="v")])
                    hit = cache.lookup(key, "llm")
                    if was_closed:  # a cache over a closed client misses, it never raises
                        after_close.append("miss" if hit is None else "hit")
                        return
        except ClosedError:
            after_close.append("ClosedError")
        except BaseException as error:  # noqa: BLE001 - reported to the test
            record(error)

    async def async_work() -> None:
        try:
            while True:
                await client.aset("akey", b"v")
                await asyncio.gather(client.aget("akey"), cache.alookup("akey", "llm"))
        except ClosedError:
            after_close.append("ClosedError")

    def loop_thread() -> None:
        try:
            asyncio.run(async_work())
        except BaseException as error:  # noqa: BLE001
            record(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    threads.append(threading.Thread(target=loop_thread))
    for t in threads:
        t.start()
    time.sleep(0.05)
    client.close()
    closed.set()
    if mode == "cache":
        # The cache keeps answering, with misses; its client's own calls say why.
        after_close.append("miss" if cache.lookup("x", "llm") is None else "hit")
    client.close()  # idempotent
    for t in threads:
        t.join(30)
        if t.is_alive():
            unexpected.append("a thread is still inside a call 30 s after close()")
    try:
        client.get("x")
    except ClosedError:
        after_close.append("ClosedError")


for _ in range(rounds):
    one_round()
print(json.dumps({"unexpected": unexpected, "after_close": sorted(set(after_close))}))
