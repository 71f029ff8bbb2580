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
