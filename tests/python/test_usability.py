"""What a user meets first when something is slightly wrong: the type errors of the public
API, the exception names `import *` brings in, what a timeout is caught as, which names
TLS errors use, which warnings our calls raise and what the log says once the server is
gone. Real memcached throughout."""

from __future__ import annotations

import builtins
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from langchain_core.outputs import Generation

import langchain_memcached
from langchain_memcached import Client, HashClient, MemcachedCache


# ---------------------------------------------------------------- LangChain's beta warning

@pytest.mark.parametrize("langchain_exempts_us", [True, False])
def test_chat_lookups_raise_no_warning_of_ours(memcached, langchain_exempts_us):
    # LangChain skips its beta warning for callers whose module name starts with
    # "langchain", which today happens to include langchain_memcached; the second case
    # is a LangChain that checks its own modules only, where nothing but our explicit
    # silencing keeps users' warning filters from firing on a chat lookup.
    # A fresh interpreter: the warning fires only on the first unsilenced call per process.
    script = textwrap.dedent(f"""
        import warnings
        from langchain_core._api import beta_decorator
        from langchain_core.messages import AIMessage
        from langchain_core.outputs import ChatGeneration
        from langchain_memcached import MemcachedCache

        if not {langchain_exempts_us!r}:
            beta_decorator.is_caller_internal = lambda *args, **kwargs: False
        warnings.simplefilter("error")  # as a user who turns warnings into errors
        cache = MemcachedCache({memcached.spec!r})
        cache.update("p", "l", [ChatGeneration(message=AIMessage(content="hi"))])
        for _ in range(2):
            hit = cache.lookup("p", "l")
            assert hit is not None and hit[0].message.content == "hi", cache.stats()
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


# ---------------------------------------------------------------- exceptions

def test_import_star_does_not_shadow_builtin_timeout_error():
    namespace: dict = {}
    exec("from langchain_memcached import *", namespace)
    assert "TimeoutError" not in namespace
    assert "MemcachedCache" in namespace and "IoError" in namespace
    assert issubclass(langchain_memcached.TimeoutError, langchain_memcached.IoError)
    assert issubclass(langchain_memcached.TimeoutError, builtins.TimeoutError)


def test_a_timeout_is_caught_as_the_builtin_timeout_error(memcached):
    client = Client(memcached.spec, timeout=0.2, connect_timeout=0.2)
    client.set("k", "v")
    memcached.pause()  # up, but not answering
    try:
        with pytest.raises(builtins.TimeoutError) as caught:
            client.get("k")
    finally:
        memcached.resume()
    assert isinstance(caught.value, langchain_memcached.TimeoutError)
    assert str(caught.value)  # the library's message, as before


async def test_an_async_timeout_is_caught_as_the_builtin_timeout_error(memcached):
    client = Client(memcached.spec, timeout=0.2, connect_timeout=0.2)
    await client.aset("k", "v")
    memcached.pause()
    try:
        with pytest.raises(builtins.TimeoutError) as caught:
            await client.aget("k")
    finally:
        memcached.resume()
    assert isinstance(caught.value, langchain_memcached.TimeoutError)
