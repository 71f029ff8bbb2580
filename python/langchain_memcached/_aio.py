"""asyncio side of the bridge: one AsyncBridge (an eventfd) per event loop and process.

The C++ I/O thread queues completions on the bridge without touching the GIL or any Python
object; the loop wakes on the eventfd and resolves the futures on its own thread.

Lifetimes: the loop owns its bridge. The bridge's only strong reference is the loop's reader
registration, and ``_bridges`` finds a loop's bridge without keeping either alive. Closing
a loop drops its registrations, so the bridge, its eventfd and the futures still waiting
in it go with the loop, even with operations in flight: their completions, arriving later,
are dropped by the C++ side.

Fork: a child must not use its parent's eventfds (one process's loop would swallow the
other's wake-ups), so the child forgets every bridge and makes its own; the C++ side ignores
bridges made before the fork. Running, in the child, an event loop the parent was running is
unsupported (asyncio's loops share their epoll instance with the parent after fork).
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import Callable
from typing import Any

from langchain_memcached import _ext

_bridges: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, weakref.ReferenceType[_ext.AsyncBridge]
] = weakref.WeakKeyDictionary()

# The loop and bridge found last, weakly: nearly every call comes from the same loop, and
# two weakref calls cost less than a WeakKeyDictionary lookup (a new weakref and a hash).
_last: tuple[
    weakref.ReferenceType[asyncio.AbstractEventLoop], weakref.ReferenceType[_ext.AsyncBridge]
] | None = None


def bridge_for(loop: asyncio.AbstractEventLoop) -> _ext.AsyncBridge:
    global _last
    last = _last
    if last is not None and last[0]() is loop:
        cached = last[1]()
        if cached is not None:
            return cached
    found = _bridges.get(loop)
    bridge = found() if found is not None else None
    if bridge is None:
        bridge = _ext.AsyncBridge()
        loop.add_reader(bridge.fileno(), bridge.drain)
        _bridges[loop] = weakref.ref(bridge)
    _last = (weakref.ref(loop), weakref.ref(bridge))
    return bridge


def submit(start: Callable[..., None], *args: Any) -> asyncio.Future[Any]:
    """Starts ``start(*args, bridge, future)`` on the running loop's bridge; the future to await.

    The awaiting coroutine holds only the future: a frame kept by a traceback must not keep
    the bridge (and its eventfd) alive after the loop has closed.
    """
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    start(*args, bridge_for(loop), future)
    return future


def _forget_bridges() -> None:
    global _last
    _last = None
    _bridges.clear()


os.register_at_fork(after_in_child=_forget_bridges)
