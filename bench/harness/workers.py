"""Worker processes, all driven alike: ask(request) -> answer (bench/cpp/worker.hpp).
C++ and Python workers are long-lived processes on pipes; the libmemcached tools are
run once per request."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent.parent


class WorkerError(RuntimeError):
    pass


class Worker:
    def __init__(self, name: str, argv: list[str]) -> None:
        self.name = name
        env = dict(os.environ, PYTHONPATH=str(BENCH_DIR), PYTHONWARNINGS="ignore")
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, bufsize=1, cwd=BENCH_DIR, env=env)

    def ask(self, request: dict) -> dict:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise WorkerError(f"worker {self.name} exited ({self.process.wait()})")
        answer = json.loads(line)
        if "error" in answer:
            raise WorkerError(f"{self.name}: {request}: {answer['error']}\n{answer.get('trace', '')}")
        return answer

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class ToolWorker:
    """memcslap and memcaslap: their own keys and values, so throughput only."""

    name = "tools"

    def __init__(self, server: str) -> None:
        self.server = server

    def _run(self, argv: list[str]) -> str:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise WorkerError(f"{argv[0]} failed: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout + done.stderr

    def ask(self, request: dict) -> dict:
        if request["contender"] == "memcslap":
            ops = max(1000, request["ops"] * 5)
            out = self._run(["memcslap", "-s", self.server, "-t", "get", "-c", "1", "-N",
                             "-e", str(ops)])
            match = re.search(r"Time to get\s+(\d+) keys by\s+\d+ threads:\s+([\d.]+) seconds", out)
            if not match:
                raise WorkerError(f"cannot read memcslap output: {out}")
            return {"ops": int(match[1]), "seconds": float(match[2]), "hits": int(match[1]),
                    "latencies_us": None}
        if request["contender"] == "memcaslap":
            ops = max(20000, request["ops"] * 10)
            out = self._run(["memcaslap", "-s", self.server, "-T", "1",
                             "-c", str(request["inflight"]), "-x", str(ops), "-X", "1100"])
            match = re.search(r"Run time: [\d.]+s Ops: (\d+) TPS: (\d+)", out)
            if not match:
                raise WorkerError(f"cannot read memcaslap output: {out}")
            return {"ops": int(match[1]), "seconds": int(match[1]) / int(match[2]),
                    "hits": int(match[1]), "latencies_us": None}
        raise WorkerError(f"no tool for {request['contender']}")

    def close(self) -> None:
        pass


def start_all(build: Path, server: str, manifest_path: Path, proxy: str | None = None,
              single_thread_server: str | None = None) -> dict:
    """One host per worker named in plan.CONTENDERS; "cpp_proxy" (the C++ worker pointed at
    twemproxy in front of the same server) only when a proxy is given, and "py_*_t1" (the
    Python lookup target's pair pointed at the memcached -t 1) only when that is given."""
    common = ["--server", server, "--data", str(manifest_path.resolve())]
    bench_bin = build.resolve() / "bench"

    def python(family: str, target: str = server, suffix: str = "") -> Worker:
        return Worker(f"py_{family}{suffix}", [
            sys.executable, "-m", "harness.py_worker", "--family", family, "--server", target,
            "--data", str(manifest_path.resolve())])

    hosts: dict = {} if proxy is None else {"cpp_proxy": Worker("cpp_proxy", [
        str(bench_bin / "llmcache_bench_worker"), "--server", proxy,
        "--data", str(manifest_path.resolve())])}
    if single_thread_server is not None:
        hosts |= {f"py_{family}_t1": python(family, single_thread_server, "_t1")
                  for family in ("langchain", "ours")}
    return hosts | {
        "cpp": Worker("cpp", [str(bench_bin / "llmcache_bench_worker"), *common]),
        "lmc": Worker("lmc", [str(bench_bin / "libmemcached_bench_worker"), *common]),
        "py_langchain": python("langchain"),
        "py_pylibmc": python("pylibmc"),
        "py_ours": python("ours"),
        "tools": ToolWorker(server),
    }
