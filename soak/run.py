"""`make soak`: mixed load with faults for a while; memory and file descriptors must stay flat.

Starts three private memcached servers, the C++ soak worker (HashClient + MemcachedCache)
and the Python one (langchain_memcached.MemcachedCache), then until time is up:
- injects a fault every few seconds (seeded): kill -9 and restart on the same port,
  SIGSTOP for a couple of seconds then SIGCONT, a graceful restart (comes back empty), or
  flush_all; one server at a time, so at least two always serve;
- samples each worker's VmRSS and open fds every --interval seconds, with its counters.
Prints a table as it goes, writes build/soak/report.md and report.json, and exits
non-zero if memory or fds grew, a hit held another key's value, or a worker crashed.

Usage: python soak/run.py [--seconds 600] [--interval 10] [--seed 1] [--build build/default]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from collections.abc import Callable
from typing import Any, TextIO

SOAK_DIR = Path(__file__).resolve().parent
REPO = SOAK_DIR.parent
sys.path.insert(0, str(SOAK_DIR))

from verdict import (  # noqa: E402
    TABLE_HEADER, Fault, Run, Sample, run_ok, table_row, verdict_lines, write)

from langchain_memcached.testing import MemcachedProcess  # noqa: E402

SERVERS = 3
# glibc raises its mmap threshold each time a large block is freed, after which the ~100 KB
# values land in the heap and RSS creeps up for many minutes toward the (flat) heap size
# while malloc's bytes in use stay flat. Pinning the threshold at glibc's own starting value
# takes that drift out of the RSS, so what remains is a leak; --glibc-default turns it off.
PINNED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(128 * 1024)}
# A worker that has not exited this long after its stdin closed hangs. Generous: on a
# loaded machine the Python worker can still be importing LangChain when asked to stop.
STOP_TIMEOUT_S = 60.0


def _die_with_parent() -> None:
    # A worker must not outlive a driver killed without cleanup (kill -9, a crash).
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Worker:
    """A worker process: counters arrive as JSON lines on its stdout; closing its stdin
    asks it to stop."""

    def __init__(self, name: str, argv: list[str], log_dir: Path, env: dict[str, str]) -> None:
        self.name = name
        self.latest: dict[str, Any] = {}
        self.final: dict[str, Any] | None = None
        self.stderr_path = log_dir / f"{name}.stderr.log"
        self._stderr: TextIO = self.stderr_path.open("w")
        # Its own session: Ctrl-C on the terminal reaches the driver only, which then
        # stops the workers in order instead of having them die mid-write.
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            text=True, bufsize=1, start_new_session=True, preexec_fn=_die_with_parent,
            env={**os.environ, **env},
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout
        for line in self.process.stdout:
            try:
                counters = json.loads(line)
            except json.JSONDecodeError:
                continue  # not ours; the worker's own messages go to stderr
            self.latest = counters
            if counters.get("final"):
                self.final = counters

    @property
    def pid(self) -> int:
        return self.process.pid

    def crashed(self) -> str | None:
        code = self.process.poll()
        if code is None:
            return None
        return f"exited {code}" if code >= 0 else f"killed by {signal.Signals(-code).name}"

    def sample(self, t: float) -> Sample | None:
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
            fds = len(os.listdir(f"/proc/{self.pid}/fd"))
        except (FileNotFoundError, ProcessLookupError):
            return None
        rss_kb = next(int(line.split()[1]) for line in status.splitlines()
                      if line.startswith("VmRSS:"))
        return Sample(t=t, rss_kb=rss_kb, fds=fds, counters=dict(self.latest))

    def stop(self) -> str:
        """Closes stdin and waits. Returns "ok", or how the worker ended badly."""
        if self.process.stdin and not self.process.stdin.closed:
            try:
                self.process.stdin.close()
            except BrokenPipeError:
                pass
        try:
            code = self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return f"hung (killed after {STOP_TIMEOUT_S:.0f} s)"
        finally:
            self._reader.join(timeout=5)
            self._stderr.close()
        if code != 0:
            return f"exited {code}" if code > 0 else f"killed by {signal.Signals(-code).name}"
        return "ok" if self.final is not None else "no final counters"


class FaultInjector:
    """One fault at a time, every `min_gap`..`max_gap` seconds, chosen by a seeded RNG.
    Each fault ends (the server is back) before the next starts, so at most one of the
    servers is ever down or paused."""

    KINDS = ("kill9", "stop", "restart", "flush")
    WEIGHTS = (35, 30, 20, 15)

    def __init__(self, servers: list[MemcachedProcess], seed: int, start: float,
                 min_gap: float, max_gap: float) -> None:
        self.servers = servers
        self.rng = random.Random(seed)
        self.start_time = start
        self.min_gap, self.max_gap = min_gap, max_gap
        self.faults: list[Fault] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, name="fault-injector", daemon=True)
        self._actions: dict[str, Callable[[MemcachedProcess], str]] = {
            "kill9": self._kill9, "stop": self._stop, "restart": self._restart,
            "flush": self._flush}

    def _run(self) -> None:
        while not self.done.wait(self.rng.uniform(self.min_gap, self.max_gap)):
            kind = self.rng.choices(self.KINDS, self.WEIGHTS)[0]
            server = self.rng.choice(self.servers)
            t = time.monotonic() - self.start_time
            began = time.monotonic()
            try:
                note = self._actions[kind](server)
            except (OSError, RuntimeError) as error:  # recorded; the soak goes on
                note = f"failed: {error}"
            self.faults.append(Fault(t=t, kind=kind, server=server.spec,
                                     seconds=time.monotonic() - began, note=note))

    def _kill9(self, server: MemcachedProcess) -> str:
        server.kill()
        self.done.wait(self.rng.uniform(0.5, 3.0))  # down for a while, clients notice
        return self._start(server)

    def _stop(self, server: MemcachedProcess) -> str:
        server.pause()
        try:
            # Longer than the clients' 1 s request timeout: in-flight requests expire and
            # the connection must recover with replies still queued in the server.
            self.done.wait(self.rng.uniform(1.0, 3.0))
        finally:
            server.resume()
        return ""

    def _restart(self, server: MemcachedProcess) -> str:
        assert server.process
        server.process.terminate()
        server.process.wait()
        return self._start(server)

    def _flush(self, server: MemcachedProcess) -> str:
        with socket.create_connection(server.address, timeout=2) as s:
            s.sendall(b"flush_all\r\n")
            reply = s.recv(64)
        return "" if reply.startswith(b"OK") else f"reply {reply!r}"

    @staticmethod
    def _start(server: MemcachedProcess) -> str:
        # The port was ours a moment ago; if another process took it meanwhile, keep trying
        # (the clients see a server that stays down, which they must survive too).
        for attempt in range(20):
            try:
                server.start()
                return "" if attempt == 0 else f"restarted after {attempt + 1} attempts"
            except RuntimeError:
                time.sleep(0.5)
        return "could not restart"


class Progress:
    """A one-line status on a terminal, rewritten in place; table rows print above it."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()

    def line(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K" + text)
            self.stream.flush()

    def clear(self) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def _minutes(seconds: float) -> str:
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


def soak(args: argparse.Namespace, run: Run) -> None:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    worker_bin = args.worker or args.build.resolve() / "soak" / "llmcache_soak_worker"
    if not worker_bin.exists():
        raise SystemExit(f"{worker_bin} is missing: build first (make build)")
    progress = Progress(sys.stderr)
    servers: list[MemcachedProcess] = []
    workers: list[Worker] = []
    injector: FaultInjector | None = None
    start = time.monotonic()
    try:
        servers = [MemcachedProcess(threads=2) for _ in range(SERVERS)]
        spec = ",".join(s.spec for s in servers)
        run.settings["server_specs"] = spec
        # Each worker also stops by itself a minute after the run should have ended.
        bound = str(args.seconds + 60)
        common = ["--servers", spec, "--seconds", bound, "--keys", str(args.keys)]
        env = {} if args.glibc_default else PINNED_MALLOC
        workers = [
            Worker("cpp", [str(worker_bin), *common, "--seed", str(args.seed)], out, env),
            Worker("python", [sys.executable, str(SOAK_DIR / "py_worker.py"), *common,
                              "--seed", str(args.seed + 1)], out, env),
        ]
        for worker in workers:
            run.samples[worker.name] = []
        start = time.monotonic()
        injector = FaultInjector(servers, args.seed, start, args.fault_min, args.fault_max)
        if not args.no_faults:
            injector.thread.start()
        print(f"soak: {args.seconds:.0f} s, servers {spec}, samples every {args.interval} s, "
              f"warm-up {run.settings['warmup_s']} s, seed {args.seed}; "
              f"logs and report in {out}", flush=True)
        print(TABLE_HEADER, flush=True)

        next_sample = start  # a first sample at t=0 shows the starting point
        while True:
            now = time.monotonic()
            elapsed = now - start
            crashed = {w.name: c for w in workers if (c := w.crashed())}
            if crashed:
                run.exits.update(crashed)
                progress.clear()
                print(f"soak: worker crashed: {crashed}; see {out}/*.stderr.log", flush=True)
                break
            if now >= next_sample:
                next_sample += args.interval
                progress.clear()
                for worker in workers:
                    sample = worker.sample(elapsed)
                    if sample:
                        run.samples[worker.name].append(sample)
                        print(table_row(worker.name, sample), flush=True)
            if elapsed >= args.seconds:
                break
            status = " | ".join(
                f"{w.name} {s[-1].rss_mb:.1f} MB {s[-1].fds} fds "
                f"{w.latest.get('requests', 0):,} req {w.latest.get('mismatches', 0)} mism."
                for w in workers if (s := run.samples[w.name]))
            progress.line(f"[{_minutes(elapsed)}/{_minutes(args.seconds)}] {status} | "
                          f"faults {len(injector.faults)}")
            time.sleep(min(0.5, max(0.0, next_sample - time.monotonic())))
    finally:
        # A second Ctrl-C must not cut the cleanup short and leave processes behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        progress.clear()
        # Order matters: the injector puts its server back first, then the workers stop
        # (while the servers still answer, so they can finish their last round), then
        # the servers go.
        if injector is not None:
            injector.done.set()
            if injector.thread.is_alive():
                injector.thread.join(timeout=10)
            run.faults = list(injector.faults)
        for worker in workers:
            outcome = worker.stop()
            run.exits.setdefault(worker.name, outcome)
            if worker.final:
                run.finals[worker.name] = worker.final
        for server in servers:
            server.kill()
        run.duration_s = time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float,
                        default=float(os.environ.get("SOAK_SECONDS", 600)))
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=None,
                        help="seconds before the baseline (default: a quarter of the run, "
                             "at most 60)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keys", type=int, default=5000)
    parser.add_argument("--fault-min", type=float, default=3.0, help="least seconds between faults")
    parser.add_argument("--fault-max", type=float, default=8.0, help="most seconds between faults")
    parser.add_argument("--no-faults", action="store_true", help="load only (to compare)")
    parser.add_argument("--glibc-default", action="store_true",
                        help="leave glibc's mmap threshold dynamic (see PINNED_MALLOC)")
    parser.add_argument("--smoke", action="store_true",
                        help="a short run that checks correctness only (mismatches, crashes, "
                             "clean stop): too short to judge memory or fds")
    parser.add_argument("--build", type=Path, default=REPO / "build" / "default")
    parser.add_argument("--worker", type=Path, default=None,
                        help="the C++ soak worker (default: BUILD/soak/llmcache_soak_worker)")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "soak")
    args = parser.parse_args()
    warmup = args.warmup if args.warmup is not None else min(60.0, args.seconds / 4)
    run = Run(settings={
        "seconds": args.seconds, "interval_s": args.interval, "warmup_s": warmup,
        "seed": args.seed, "keys": args.keys, "servers": SERVERS,
        "faults": not args.no_faults, "fault_gap_s": [args.fault_min, args.fault_max],
        "smoke": args.smoke,
        "worker_env": {} if args.glibc_default else PINNED_MALLOC,
    })
    try:
        soak(args, run)
    except KeyboardInterrupt:
        run.interrupted = True
        print("soak: interrupted; servers and workers stopped", file=sys.stderr)
    verdicts = write(run, args.out)
    print()
    for line in verdict_lines(verdicts):
        print(line)
    ok = run_ok(run, verdicts)
    print(f"faults injected: {len(run.faults)}; report: {args.out / 'report.md'}")
    print("soak: INTERRUPTED" if run.interrupted else "soak: PASS" if ok else "soak: FAIL")
    if run.interrupted:
        return 130
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
