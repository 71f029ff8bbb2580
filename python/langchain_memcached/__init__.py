"""langchain-memcached: a LangChain-compatible LLM response cache on memcached (llmcache's
Python package).

Drop-in for LangChain::

    from langchain_core.globals import set_llm_cache
    from langchain_memcached import MemcachedCache
    set_llm_cache(MemcachedCache("127.0.0.1:11211"))

Embeddings computed once per text, across processes (a LangChain ByteStore)::

    from langchain_classic.embeddings import CacheBackedEmbeddings
    from langchain_memcached import MemcachedStore
    embedder = CacheBackedEmbeddings.from_bytes_store(
        model, MemcachedStore("127.0.0.1:11211"), namespace=model.model)

Streams too (LangChain's own stream()/astream() skip the cache)::

    from langchain_memcached import cache_streams
    model = cache_streams(ChatOpenAI(model="gpt-4o-mini"))

The clients (:class:`Client`, :class:`HashClient`) talk to memcached through the C++ core:
blocking methods release the GIL, ``a``-prefixed methods are real asyncio coroutines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

try:
    from langchain_memcached import _ext
except ImportError as exc:  # pragma: no cover - depends on how the package was installed
    raise ImportError(
        "langchain_memcached's compiled extension (_ext) is missing or does not load. "
        "Install the package with `pip install .` from the repository (the build needs "
        "the Debian packages from `make deps`), rather than importing the source tree. "
        f"Cause: {exc}"
    ) from exc

from langchain_memcached._client import Client, HashClient
from langchain_memcached._ext import (
    ClosedError,
    DecodeError,
    Error,
    InvalidArgumentError,
    IoError,
    ProtocolError,
    ServerError,
    TimeoutError as TimeoutError,  # public, but not in __all__ (see below)
    ValueTooLargeError,
    langchain_key,
)
from langchain_memcached._cache import MemcachedCache
from langchain_memcached._control import CacheControl, cache_control
from langchain_memcached._store import MemcachedStore
from langchain_memcached._streams import cache_streams

if TYPE_CHECKING:
    from langchain_memcached._node_cache import MemcachedNodeCache


def __getattr__(name: str) -> Any:
    # Imported on first use: the node cache needs langgraph, which the LLM cache does not.
    if name == "MemcachedNodeCache":
        try:
            from langchain_memcached._node_cache import MemcachedNodeCache
        except ImportError as exc:
            raise ImportError(
                "langchain_memcached.MemcachedNodeCache needs langgraph: "
                "pip install 'langchain-memcached[langgraph]'"
            ) from exc
        return MemcachedNodeCache
    raise AttributeError(f"module 'langchain_memcached' has no attribute {name!r}")


# The installed distribution's version, which scikit-build-core took from the VERSION file.
from importlib.metadata import version as _distribution_version

__version__: str = _distribution_version("langchain-memcached")

__all__ = [
    "CacheControl",
    "Client",
    "ClosedError",
    "DecodeError",
    "Error",
    "HashClient",
    "InvalidArgumentError",
    "IoError",
    "MemcachedCache",
    "MemcachedNodeCache",
    "MemcachedStore",
    "ProtocolError",
    "ServerError",
    # Not TimeoutError: `import *` would shadow the builtin. langchain_memcached.TimeoutError
    # subclasses the builtin, so `except TimeoutError` catches it anyway.
    "ValueTooLargeError",
    "__version__",
    "cache_control",
    "cache_streams",
    "langchain_key",
]
