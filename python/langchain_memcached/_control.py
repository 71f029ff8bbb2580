"""Per-request cache control: ``with cache_control(no_cache=True): llm.invoke(...)``.

Carried by a :class:`contextvars.ContextVar`, so it follows the code it wraps wherever
Python carries contexts: into asyncio tasks created inside the block, and through
LangChain's ``run_in_executor`` hops (which copy the context into the worker thread).
A thread started with :class:`threading.Thread` starts from an empty context, so a block
in one thread never affects another.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["CacheControl", "cache_control"]


@dataclass(frozen=True)
class CacheControl:
    """What the lookups and updates inside a :func:`cache_control` block do differently.

    Attributes:
        refresh: lookups miss without reading (so the model runs now); updates store.
        no_store: updates are skipped (nothing sent, the old entry stays); lookups read.
        no_cache: neither read nor written.
        ttl: seconds the entries stored in the block live, instead of the cache's ttl
            (0: forever); None keeps the cache's.
    """

    refresh: bool = False
    no_store: bool = False
    no_cache: bool = False
    ttl: int | None = None

    def keywords(self) -> dict[str, Any]:
        """The cache core's per-call keywords."""
        return {
            "refresh": self.refresh,
            "no_store": self.no_store,
            "no_cache": self.no_cache,
            "ttl": self.ttl,
        }


_current: contextvars.ContextVar[CacheControl | None] = contextvars.ContextVar(
    "langchain_memcached.cache_control", default=None
)


def current() -> CacheControl | None:
    """The control in effect here, or None outside any block."""
    return _current.get()


@contextlib.contextmanager
def cache_control(
    *,
    refresh: bool = False,
    no_store: bool = False,
    no_cache: bool = False,
    ttl: int | None = None,
) -> Iterator[CacheControl]:
    """Changes what every ``MemcachedCache`` lookup and update does inside the block.

    Blocks nest: an inner block adds to the outer one (its options switched on stay on;
    its ``ttl``, if given, replaces the outer's). Works in sync and async code alike.
    Raises ValueError for a negative ttl.
    """
    if ttl is not None and ttl < 0:
        raise ValueError("ttl cannot be negative")
    outer = _current.get() or CacheControl()
    control = CacheControl(
        refresh=outer.refresh or refresh,
        no_store=outer.no_store or no_store,
        no_cache=outer.no_cache or no_cache,
        ttl=outer.ttl if ttl is None else ttl,
    )
    token = _current.set(control)
    try:
        yield control
    finally:
        _current.reset(token)
