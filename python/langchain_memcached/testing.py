"""A real memcached process for tests and benchmarks (yours and ours).

    with MemcachedProcess() as server:
        cache = MemcachedCache(server.spec)

Starts ``memcached`` on a free loopback port (retrying if another process takes the port
first), waits until it accepts connections, and always stops it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from types import TracebackType

__all__ = ["MemcachedProcess", "free_port"]


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


class MemcachedProcess:
    """One memcached; ``extra`` arguments go to it as given (e.g. ``"-I", "2m"``)."""

    def __init__(self, *extra: str, memory_mb: int = 64, threads: int = 4) -> None:
        self.extra = extra
        self.memory_mb = memory_mb
        self.threads = threads
        self.process: subprocess.Popen[bytes] | None = None
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
        return f"127.0.0.1:{self.port}"

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    @property
    def args(self) -> list[str]:
        args = ["memcached", "-l", "127.0.0.1", "-p", str(self.port), "-U", "0",
                "-m", str(self.memory_mb), "-t", str(self.threads), "-c", "1024"]
        if os.geteuid() == 0:
            args += ["-u", "root"]  # memcached refuses to run as root without it
        return [*args, *self.extra]

    def start(self) -> None:
        """Starts (again, on the same port after kill) and waits until it accepts."""
        self.process = subprocess.Popen(
            self.args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"memcached exited ({' '.join(self.args)}): {error}")
            if _accepts(self.port):
                return
            time.sleep(0.01)
        self.kill()
        raise RuntimeError(f"memcached did not start ({' '.join(self.args)})")

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
