"""A real memcached process for tests and benchmarks (yours and ours).

    with MemcachedProcess() as server:
        cache = MemcachedCache(server.spec)

Starts ``memcached`` on a free loopback port (retrying if another process takes the port
first), or with ``unix_socket=True`` on a Unix socket in a fresh temporary directory,
waits until it accepts connections, and always stops it (removing the directory).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from types import TracebackType

__all__ = ["MemcachedProcess", "TwemproxyProcess", "free_port"]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _die_with_parent() -> None:
    # Linux: the server is killed if the test or benchmark process dies without cleanup.
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _accepts_unix(path: str) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(0.2)
            s.connect(path)
            return True
    except OSError:
        return False


def _spawn_until_accepting(
    args: list[str], accepting: Callable[[], bool]
) -> subprocess.Popen[bytes]:
    """Starts `args` (killed with its parent) and waits up to 5 s until `accepting()`;
    a process that exits or never accepts is a RuntimeError naming the command."""
    process = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, preexec_fn=_die_with_parent,
    )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"{args[0]} exited ({' '.join(args)}): {error}")
        if accepting():
            return process
        time.sleep(0.01)
    process.kill()
    process.wait()
    raise RuntimeError(f"{args[0]} did not start ({' '.join(args)})")


class MemcachedProcess:
    """One memcached; ``extra`` arguments go to it as given (e.g. ``"-I", "2m"``).
    ``unix_socket=True``: on a Unix socket (memcached -s, no TCP); ``spec`` and
    ``address`` are then its path, and ``port`` is 0."""

    def __init__(
        self, *extra: str, memory_mb: int = 64, threads: int = 4, unix_socket: bool = False
    ) -> None:
        self.extra = extra
        self.memory_mb = memory_mb
        self.threads = threads
        self.process: subprocess.Popen[bytes] | None = None
        self.socket_path: str | None = None
        self._socket_dir: str | None = None
        if unix_socket:
            self.port = 0
            self._socket_dir = tempfile.mkdtemp(prefix="llmcache-memcached-")
            self.socket_path = os.path.join(self._socket_dir, "memcached.sock")
            try:
                self.start()
            except BaseException:
                shutil.rmtree(self._socket_dir, ignore_errors=True)
                raise
            return
        for attempt in range(5):
            self.port = free_port()
            try:
                self.start()
                return
            except RuntimeError:
                if attempt == 4:
                    raise

    @property
    def spec(self) -> str:
        return self.socket_path or f"127.0.0.1:{self.port}"

    @property
    def address(self) -> tuple[str, int] | str:
        """What pymemcache's Client takes: (host, port), or the socket's path."""
        return self.socket_path or ("127.0.0.1", self.port)

    @property
    def args(self) -> list[str]:
        listen = ["-s", self.socket_path] if self.socket_path else [
            "-l", "127.0.0.1", "-p", str(self.port)]
        args = ["memcached", *listen, "-U", "0",
                "-m", str(self.memory_mb), "-t", str(self.threads), "-c", "1024"]
        if os.geteuid() == 0:
            args += ["-u", "root"]  # memcached refuses to run as root without it
        return [*args, *self.extra]

    def start(self) -> None:
        """Starts (again, on the same port or socket after kill) and waits until it accepts."""
        if self.socket_path and os.path.exists(self.socket_path):
            os.unlink(self.socket_path)  # left by a killed server; memcached's bind would fail
        socket_path = self.socket_path
        self.process = _spawn_until_accepting(
            self.args,
            lambda: _accepts_unix(socket_path) if socket_path else _accepts(self.port),
        )

    def kill(self) -> None:
        """SIGKILL, and wait for it."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait()

    def pause(self) -> None:
        """SIGSTOP: it keeps its connections and answers nothing."""
        assert self.process
        self.process.send_signal(signal.SIGSTOP)
        os.waitpid(self.process.pid, os.WUNTRACED)

    def resume(self) -> None:
        assert self.process
        self.process.send_signal(signal.SIGCONT)

    def __enter__(self) -> MemcachedProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.kill()
        if self._socket_dir:
            shutil.rmtree(self._socket_dir, ignore_errors=True)


class TwemproxyProcess:
    """twemproxy (Debian's ``nutcracker``) on a free loopback port in front of
    ``backends`` (MemcachedProcess over TCP), placing keys by ketama. ``spec`` is the
    proxy's "host:port". Stopped (SIGKILL) on exit, its config directory removed."""

    def __init__(self, backends: list[MemcachedProcess]) -> None:
        self.backends = backends
        self.process: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.mkdtemp(prefix="llmcache-twemproxy-")
        try:
            for attempt in range(5):
                self.port = free_port()
                try:
                    self._start()
                    return
                except RuntimeError:
                    if attempt == 4:
                        raise
        except BaseException:
            shutil.rmtree(self._dir, ignore_errors=True)
            raise

    @property
    def spec(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _start(self) -> None:
        config = os.path.join(self._dir, "nutcracker.yml")
        servers = "".join(f"   - 127.0.0.1:{b.port}:1\n" for b in self.backends)
        with open(config, "w", encoding="utf-8") as file:
            file.write(
                "pool:\n"
                f"  listen: 127.0.0.1:{self.port}\n"
                "  hash: fnv1a_64\n  distribution: ketama\n  timeout: 2000\n"
                "  auto_eject_hosts: false\n  servers:\n" + servers
            )
        args = ["nutcracker", "-c", config, "-s", str(free_port()),
                "-o", os.path.join(self._dir, "nutcracker.log")]
        self.process = _spawn_until_accepting(args, lambda: _accepts(self.port))

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> TwemproxyProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.kill()
        shutil.rmtree(self._dir, ignore_errors=True)
