"""The machine and the versions a result belongs to."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import statistics
import subprocess
import time
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


def wakeup_p50_us(exchanges: int = 2000) -> float:
    """The machine's wake-up state, now: the median round trip of one byte between two
    processes over pipes, each side asleep in read() until the other writes (two wake-ups
    per exchange, plus a few µs of Python). On this VM it flips between spells (about
    30 µs and about 100 µs) within one run, and a blocking lookup's latency flips with it;
    measured next to a latency figure, it says which spell the figure comes from."""
    ping_read, ping_write = os.pipe()
    pong_read, pong_write = os.pipe()
    # On two different CPUs, as a client and its server mostly are: a wake-up on the
    # same CPU skips the cross-CPU interrupt that makes this VM's wake-ups slow.
    cpus = sorted(os.sched_getaffinity(0))
    child = os.fork()
    if child == 0:  # the echo side: every byte straight back, until the pipe closes
        try:
            if len(cpus) > 1:
                os.sched_setaffinity(0, {cpus[1]})
            os.close(ping_write)
            os.close(pong_read)
            while os.read(ping_read, 1):
                os.write(pong_write, b"x")
        finally:
            os._exit(0)
    os.close(ping_read)
    os.close(pong_write)
    if len(cpus) > 1:
        os.sched_setaffinity(0, {cpus[0]})
    round_trips = []
    try:
        for _ in range(exchanges):
            start = time.perf_counter_ns()
            os.write(ping_write, b"x")
            os.read(pong_read, 1)
            round_trips.append((time.perf_counter_ns() - start) / 1000)
    finally:
        os.close(ping_write)
        os.close(pong_read)
        os.waitpid(child, 0)
        os.sched_setaffinity(0, cpus)
    return statistics.median(round_trips)


def steal_ms() -> float | None:
    """CPU time the hypervisor has taken from this VM's CPUs since boot, in ms (the steal
    column of /proc/stat). Its growth over a round says the host was busy then: every CPU
    figure of such a round is inflated, by amounts that differ between contenders."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
        return int(fields[8]) * 1000 / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None
