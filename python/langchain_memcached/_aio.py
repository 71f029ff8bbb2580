"""asyncio side of the bridge: one AsyncBridge (an eventfd) per event loop.

The C++ I/O thread queues completions on the bridge without touching the GIL; the loop
wakes on the eventfd and resolves the futures on its own thread.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from langchain_memcached import _ext

_bridges: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _ext.AsyncBridge] = (
    weakref.WeakKeyDictionary()
)


def bridge_for(loop: asyncio.AbstractEventLoop) -> _ext.AsyncBridge:
    bridge = _bridges.get(loop)
    if bridge is None:
        bridge = _ext.AsyncBridge()
        loop.add_reader(bridge.fileno(), bridge.drain)
        _bridges[loop] = bridge
    return bridge


def new_future() -> tuple[asyncio.Future[Any], _ext.AsyncBridge]:
    loop = asyncio.get_running_loop()
    return loop.create_future(), bridge_for(loop)
