"""Exits the interpreter while calls are in flight against a server that never answers.

Usage: exit_in_flight.py PORT daemon-threads|async. ``daemon-threads``: five daemon threads
inside blocking calls; four time out and call again every 20 ms, so some return while
the interpreter finalizes. ``async``: a daemon thread's event loop with lookups in flight, and
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
server = f"127.0.0.1:{port}"
client = langchain_memcached.Client(server, timeout=5.0, connect_timeout=5.0)
short = langchain_memcached.Client(server, timeout=0.02, connect_timeout=0.02)


CALLS = [lambda: short.get("k"), lambda: short.set("k", "v"),
         lambda: short.get_many(["k1", "k2"]), lambda: short.delete("k"),
         lambda: client.get("k")]  # this one is still waiting when the process exits


def blocking_calls(call) -> None:
    while True:
        try:
            call()  # the server never answers: each call waits for its deadline
        except langchain_memcached.IoError:
            pass


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
