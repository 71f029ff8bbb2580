"""The README's Python examples run as written.

Every ```python block of README.md that imports something is a complete program (the
quick start); one-line blocks without imports are fragments that continue it and are
left out. Each program runs in a fresh interpreter, as a reader pasting it into a file
would run it, against a real memcached named the way the snippet itself reads it: the
MEMCACHED_SERVERS variable the command (docs/cli.md) reads too.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def python_programs() -> list[str]:
    blocks = re.findall(r"^```python\n(.*?)^```", README.read_text(), re.S | re.M)
    return [b for b in blocks if re.search(r"^(import|from) \w", b, re.M)]


def run_program(code: str, servers: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMCACHED")}
    env["MEMCACHED_SERVERS"] = servers
    # Warnings are errors: what a reader's code triggers should be news to us first.
    return subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True,
                          text=True, env=env, timeout=60)


def test_the_readme_has_a_python_quick_start():
    assert python_programs(), "README.md lost its Python quick start"


@pytest.mark.parametrize("code", python_programs())
def test_readme_python_runs_as_written(memcached, code):
    first = run_program(code, memcached.spec)
    assert first.returncode == 0, first.stderr
    assert first.stderr == ""
    # The quick start prints the cache's counters last: a miss stored, then a hit.
    stats = ast.literal_eval(first.stdout.splitlines()[-1])
    assert (stats["hits"], stats["misses"], stats["updates"]) == (0, 1, 1)
    second = run_program(code, memcached.spec)
    assert second.returncode == 0, second.stderr
    stats = ast.literal_eval(second.stdout.splitlines()[-1])
    assert (stats["hits"], stats["misses"], stats["updates"]) == (1, 0, 0)
