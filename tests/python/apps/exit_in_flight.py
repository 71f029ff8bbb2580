"""Exits the interpreter while calls are in flight against a server that never answers.

Usage: exit_in_flight.py PORT daemon-threads|async. ``daemon-threads``: four daemon threads
inside blocking calls. ``async``: a daemon thread's event loop with lookups in flight, and
the main thread's asyncio.run() returning with operations still pending in the client.
The process must exit with status 0 and print nothing.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time

import langchain_memcached

port, mode = sys.argv[1], sys.argv[2]
client = langchain_memcached.Client(f"127.0.0.1:{port}", timeout=5.0, connect_timeout=5.0)


CALLS = [lambda: client.get("k"), lambda: client.set("k", "v"),
         lambda: client.get_many(["k1", "k2"]), lambda: client.delete("k")]


def blocking_calls(call) -> None:
    while True:
        call()  # the server never answers: each call waits up to its 5 s deadline


async def many_lookups() -> None:
    while True:
        await asyncio.gather(*(client.aget(f"k{i}") for i in range(10)),
                             return_exceptions=True)


async def leave_pending() -> None:
    for i in range(10):
        asyncio.ensure_future(client.aget(f"pending{i}"))
    await asyncio.sleep(0.05)  # sent; asyncio.run cancels the tasks, the client still waits


if mode == "daemon-threads":
    for call in CALLS:
        threading.Thread(target=blocking_calls, args=(call,), daemon=True).start()
else:
    threading.Thread(target=lambda: asyncio.run(many_lookups()), daemon=True).start()
    asyncio.run(leave_pending())
time.sleep(0.3)  # every thread is inside a call now
