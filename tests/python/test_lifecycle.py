"""The cache through a production process's life: built before fork (gunicorn --preload,
multiprocessing), closed while other threads use it, alive at interpreter exit, and used
from event loops that close with operations pending.

Everything that could hang or crash runs in a subprocess with a bounded timeout (its whole
process group is killed then), so a regression fails instead of stalling the suite. No
assertion depends on timing.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest
from langchain_core.outputs import Generation

from langchain_memcached import MemcachedCache
from langchain_memcached.testing import free_port

# Set by scripts/sanitize-python.sh: this run's extension is built with ASan+UBSan.
UNDER_ASAN = os.environ.get("LLMCACHE_SANITIZED") == "asan"

APPS = Path(__file__).parent / "apps"
LLM = "lifecycle-test-llm"  # the apps' llm_string
LIMIT = 120  # seconds any subprocess may take on a loaded machine before it counts as hung


def run(*args: str, timeout: float = LIMIT, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    """Runs `python args...`; kills its whole process group (forked children too) and fails
    the test if it is still running after `timeout`."""
    process = subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True, env={**os.environ, **(env or {})},
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"{args} hung (killed after {timeout} s)\nstdout: {out}\nstderr: {err}")
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def run_json(*args: str) -> dict:
    result = run(*args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung server)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1024)
        yield listener.getsockname()[1]


@pytest.fixture
def stored(memcached) -> dict[str, str]:
    """Eight entries the apps look up: prompt -> the text stored for it."""
    cache = MemcachedCache(memcached.spec)
    entries = {f"prompt {i}": f"text of prompt {i}" for i in range(8)}
    for prompt, text in entries.items():
        cache.update(prompt, LLM, [Generation(text=text)])
    cache.client.close()
    return entries


# ---------------------------------------------------------------------------- fork


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=20) as response:
        return json.loads(response.read())


@pytest.mark.parametrize("warm", [False, True], ids=["built-before-fork", "used-before-fork"])
@pytest.mark.parametrize("worker", ["sync", "uvicorn_worker.UvicornWorker"])
def test_gunicorn_preload_workers_answer_from_the_cache(memcached, stored, worker, warm):
    port = free_port()
    app = "cache_app:wsgi_app" if worker == "sync" else "cache_app:asgi_app"
    gunicorn = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--preload", "--workers", "2", "--worker-class",
         worker, "--bind", f"127.0.0.1:{port}", "--chdir", str(APPS), "--graceful-timeout",
         "10", "--no-control-socket", app],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        env={**os.environ, "LLMCACHE_TEST_SERVER": memcached.spec,
             "LLMCACHE_TEST_WARM": "1" if warm else "0"},
    )
    try:
        deadline = time.monotonic() + LIMIT
        while True:  # until the workers listen
            assert gunicorn.poll() is None, gunicorn.communicate()[0]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn never listened"
                time.sleep(0.1)
        # Eight users at once, so both workers serve requests at the same time.
        requests = [prompt for _ in range(4) for prompt in stored]
        with ThreadPoolExecutor(8) as users:
            answers = list(users.map(
                lambda prompt: get_json(f"http://127.0.0.1:{port}/{quote(prompt)}"), requests))
        expected = [[stored[prompt]] for prompt in requests]
        assert [a["texts"] for a in answers] == expected  # lookup
        assert [a["atexts"] for a in answers] == expected  # alookup
        pids = {a["pid"] for a in answers}
        miss = get_json(f"http://127.0.0.1:{port}/{quote('never stored')}")
        assert miss["texts"] is None and miss["atexts"] is None
        assert gunicorn.pid not in pids  # answered by forked workers, not the master
    finally:
        os.killpg(gunicorn.pid, signal.SIGTERM)  # graceful: the workers exit the interpreter
        try:
            log = gunicorn.communicate(timeout=60)[0]
        except subprocess.TimeoutExpired:
            os.killpg(gunicorn.pid, signal.SIGKILL)
            log = gunicorn.communicate()[0]
            pytest.fail(f"gunicorn did not stop\n{log}")
    assert gunicorn.returncode == 0, log
    for sign in ("Traceback", "terminate called", "leaked", "Worker failed", "WORKER TIMEOUT"):
        assert sign not in log, log


def test_forked_children_use_the_parents_cache(memcached, stored):
    # A fork-method multiprocessing pool, and bare forks taken while another thread of the
    # parent has async lookups in flight: every child gets its values, blocking and async.
    result = run_json(str(APPS / "fork_children.py"), memcached.spec)
    assert result["parent"] == [["text of prompt 0"], ["text of prompt 0"]]
    assert result["pool"] == [[[text], [text]] for text in stored.values()]
    if UNDER_ASAN:
        # GCC 12's libasan does not take its allocator's locks around fork(): a child forked
        # while a parent thread is inside malloc waits for ever on a lock held by no one
        # (seen with gdb: the child's new I/O thread in SizeClassAllocator64's region lock,
        # in asan's operator new). The app skips those forks there; the pool's still run.
        assert result["fork_statuses"] is None
    else:
        assert result["fork_statuses"] == [0] * 10


# ---------------------------------------------------------------------------- close()


@pytest.mark.parametrize("mode", ["client", "cache"])
def test_close_while_threads_are_inside_calls(memcached, mode):
    result = run_json(str(APPS / "close_race.py"), memcached.spec, mode, "20")
    assert result["unexpected"] == []
    if mode == "client":  # every thread learns why, later calls too
        assert result["after_close"] == ["ClosedError"]
    else:  # the cache misses instead of raising; its client says ClosedError
        assert result["after_close"] == ["ClosedError", "miss"]


# ---------------------------------------------------------------------------- exit


@pytest.mark.parametrize("mode", ["daemon-threads", "async"])
def test_interpreter_exit_with_calls_in_flight_is_clean(silent_server, mode):
    result = run(str(APPS / "exit_in_flight.py"), str(silent_server), mode)
    assert (result.returncode, result.stderr) == (0, "")


# ---------------------------------------------------------------------------- loops


def test_event_loops_closed_with_operations_pending_leak_nothing(silent_server):
    result = run_json(str(APPS / "closed_loops.py"), str(silent_server), "1000")
    before, after = result["before"], result["after"]
    print(f"1,000 closed loops: fds {before['fds']} -> {after['fds']}, "
          f"RSS {before['rss_kb']} -> {after['rss_kb']} KiB")
    assert after["fds"] - before["fds"] <= 5  # a leak is one eventfd per loop
    if not UNDER_ASAN:  # ASan's quarantine keeps freed memory (256 MB) by design
        assert after["rss_kb"] - before["rss_kb"] < 20 * 1024  # a leak is ~80 KiB per loop
