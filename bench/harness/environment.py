"""The machine and the versions a result belongs to."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import subprocess
from pathlib import Path


def _run(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _compiler(build: Path) -> str:
    cache = build / "CMakeCache.txt"
    match = re.search(r"^CMAKE_CXX_COMPILER:\w+=(.+)$", cache.read_text(), re.M) if cache.exists() else None
    compiler = match[1] if match else "c++"
    return _run([compiler, "--version"]).splitlines()[0] if _run([compiler, "--version"]) else compiler


def _package(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _twemproxy() -> str:
    """nutcracker's version, for the "through twemproxy" section; it prints "This is
    nutcracker-0.5.0" on stderr."""
    try:
        done = subprocess.run(["nutcracker", "--version"], capture_output=True, text=True,
                              timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    match = re.search(r"nutcracker-(\S+)", done.stdout + done.stderr)
    return match[1] if match else "unknown"


def describe(build: Path) -> dict:
    lscpu = _run(["lscpu"])
    model = re.search(r"^Model name:\s+(.+)$", lscpu, re.M)
    return {
        "machine": {
            "cpu": model[1].strip() if model else platform.processor(),
            "cores": os.cpu_count(),
            "kernel": platform.release(),
            "load_average_at_start": os.getloadavg(),
        },
        "versions": {
            "memcached": _run(["memcached", "-V"]).strip() or "unknown",
            "libmemcached": _run(["pkg-config", "--modversion", "libmemcached"]).strip(),
            "twemproxy": _twemproxy(),
            "compiler": _compiler(build),
            "python": platform.python_version(),
            **{name: _package(name) for name in (
                "langchain-memcached", "langchain-core", "langchain-community", "pymemcache", "pylibmc")},
        },
    }
