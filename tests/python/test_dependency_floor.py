"""The oldest langchain-core that pyproject.toml accepts still works.

`make deps` installs that version apart from .venv (.venv/floor/, see
scripts/install-deps.sh); a subprocess puts it first on sys.path and uses the installed
package as a user with that langchain-core would: a chat model's answer cached through
set_llm_cache and served from memcached, and cache_streams refusing with a clear error
(it needs langchain-core 1.4).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from langchain_memcached.testing import MemcachedProcess

ROOT = Path(__file__).resolve().parents[2]

USER_PROGRAM = r"""
import sys
import langchain_core
from langchain_core.caches import InMemoryCache
from langchain_core.globals import set_llm_cache
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from langchain_memcached import MemcachedCache, cache_streams

assert langchain_core.__version__ == sys.argv[2], langchain_core.__version__
cache = MemcachedCache(sys.argv[1])
set_llm_cache(cache)
answers = [AIMessage(content="Paris", tool_calls=[{"name": "f", "args": {"x": 1}, "id": "1"}])]
model = GenericFakeChatModel(messages=iter(answers))
first = model.invoke("capital of France?")
second = model.invoke("capital of France?")  # the model has no second answer: a hit
assert second.content == first.content == "Paris", (first, second)
assert second.tool_calls == first.tool_calls, second.tool_calls
stats = cache.stats()
assert (stats["hits"], stats["misses"], stats["decode_errors"]) == (1, 1, 0), stats
try:
    cache_streams(GenericFakeChatModel(messages=iter(answers)), cache=InMemoryCache())
except RuntimeError as error:
    print("cache_streams:", error)
else:
    raise AssertionError("cache_streams accepted a langchain-core without the replay hook")
"""


def declared_floor() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    found = re.search(r'^dependencies = \["langchain-core>=([0-9.]+)"\]$', text, re.MULTILINE)
    assert found, "pyproject.toml's langchain-core requirement is not the form make deps reads"
    return found.group(1)


def test_the_declared_langchain_core_floor_serves_hits(memcached: MemcachedProcess) -> None:
    floor = declared_floor()
    floor_dir = ROOT / ".venv" / "floor" / f"langchain-core-{floor}"
    if not floor_dir.is_dir():
        pytest.fail(f"{floor_dir} is missing: run make deps")
    environment = dict(os.environ, PYTHONPATH=str(floor_dir))
    done = subprocess.run(
        [sys.executable, "-c", USER_PROGRAM, f"127.0.0.1:{memcached.port}", floor],
        env=environment, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"needs langchain-core 1.4 or later (installed: {floor})" in done.stdout
