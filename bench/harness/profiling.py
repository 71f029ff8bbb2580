"""Where the time goes: perf (software events: this VM exposes no hardware counters) on
the C++ workers and on the Python worker process, and cProfile inside Python."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import environment, stats
from harness.workers import BENCH_DIR

STAT_EVENTS = "task-clock,context-switches,cpu-migrations"


def available() -> bool:
    try:
        done = subprocess.run(["perf", "stat", "-e", "task-clock", "true"], capture_output=True,
                              timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _worker_run(argv: list[str], request: dict, prefix: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, *argv], input=json.dumps(request) + "\n", capture_output=True,
                          text=True, timeout=300, cwd=BENCH_DIR,
                          env={"PYTHONPATH": str(BENCH_DIR), "PYTHONWARNINGS": "ignore",
                               "PATH": "/usr/bin:/bin"})


def _answer(done: subprocess.CompletedProcess, argv: list[str], request: dict) -> dict:
    """A worker's one-line answer to `request` (empty if it printed none); raises its error."""
    answer = json.loads(done.stdout.splitlines()[0]) if done.stdout.strip() else {}
    if "error" in answer:
        raise RuntimeError(f"{argv[0]}: {request}: {answer['error']}")
    return answer


def _stat(argv: list[str], request: dict) -> tuple[dict[str, float], dict]:
    """perf stat's events over a worker answering `request`, and the worker's answer."""
    done = _worker_run(argv, request, ["perf", "stat", "-x", ",", "-e", STAT_EVENTS])
    answer = _answer(done, argv, request)
    events = {}
    for line in done.stderr.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[2] in STAT_EVENTS.split(","):
            try:
                events[fields[2]] = float(fields[0])
            except ValueError:
                pass
    if "task-clock" not in events:
        raise RuntimeError(f"perf stat gave no task-clock for {argv[0]}: {done.stderr[-500:]}")
    return events, answer


def per_operation(argv: list[str], request: dict) -> dict[str, float]:
    """perf stat of a worker answering `request`, minus a 1-operation baseline (startup),
    divided by the operations: CPU µs and context switches per operation, and the p50
    latency of the operations measured (when the worker times them)."""
    full, answer = _stat(argv, request)
    base, _ = _stat(argv, {**request, "ops": 1})
    ops = request["ops"] - 1
    latencies = answer.get("latencies_us")
    return {"cpu_us_per_op": (full["task-clock"] - base["task-clock"]) * 1000 / ops,
            "context_switches_per_op": (full["context-switches"] - base["context-switches"]) / ops,
            "ops": request["ops"],
            "p50_us": stats.percentile(latencies, 50) if latencies else None}


def blocking_rounds(cpp: list[str], lmc: list[str], rounds: int = 8, ops: int = 5000) -> dict:
    """Issue 16, target 3: CPU per blocking lookup (1 KB hits) and its p50, llmcache's
    MemcachedCache::lookup against libmemcached's memcached_get, in slices interleaved
    within each round (the order turns and flips every round, so a drift hits all alike),
    with the machine's wake-up state measured at the start of each round: on this VM it
    comes and goes, and a p50 means little without it. Ratios are per round, then their
    median and range. A third slice, llmcache's client alone (cpp_get: the raw get with
    keys hashed before the clock, no decoding, as libmemcached's loop does), splits the
    lookup's CPU into the client's and the cache's."""
    slices = {"lmc_get": lmc, "cpp_sync": cpp, "cpp_get": cpp}
    ratios = {"cpu_ratio": ("cpp_sync", "cpu_us_per_op"), "p50_ratio": ("cpp_sync", "p50_us"),
              "client_cpu_ratio": ("cpp_get", "cpu_us_per_op"),
              "client_p50_ratio": ("cpp_get", "p50_us")}
    per_round = []
    for number in range(rounds):
        row: dict = {"wakeup_p50_us": environment.wakeup_p50_us()}
        steal_before = environment.steal_ms()
        names = list(slices)
        order = names[number % len(names):] + names[:number % len(names)]
        if number % 2:
            order.reverse()
        for contender in order:
            row[contender] = per_operation(
                slices[contender], {"contender": contender, "workload": "lookup", "set": "hit",
                                    "ops": ops})
        for key, (contender, field) in ratios.items():
            row[key] = stats.ratio(row[contender][field], row["lmc_get"][field])
        steal_after = environment.steal_ms()
        row["steal_ms"] = (steal_after - steal_before
                           if steal_before is not None and steal_after is not None else None)
        per_round.append(row)
    summary: dict = {"rounds": per_round, "ops_per_slice": ops}
    for key in ratios:
        values = [r[key] for r in per_round if r[key] is not None]
        summary[key] = statistics.median(values) if values else None
        summary[f"{key}_range"] = (min(values), max(values)) if values else None
    return summary


# Issue 16, target 5: meta against classic, each pair in the same three ways the main loop
# runs them (a blocking get, get_many of 100 keys, 100 callbacks in flight).
PROTOCOL_PAIRS = {
    "blocking get": ("cpp_sync", "cpp_sync_classic", {"workload": "lookup", "ops": 4000}),
    "get_many of 100 keys": ("cpp_get_many", "cpp_get_many_classic",
                             {"workload": "batch", "ops": 400, "batch": 100}),
    "100 callbacks in flight": ("cpp_callbacks", "cpp_callbacks_classic",
                                {"workload": "inflight", "ops": 50000, "inflight": 100}),
}


def protocol_rounds(cpp: list[str], rounds: int = 12) -> dict:
    """Target 5 by target 3's method: every slice a fresh worker process, the two
    protocols of a pair back to back in an order that flips every round, the ratio
    (meta's items/s over classic's) per round, then its median and range. In the main loop
    one long-lived worker keeps each protocol on its own connection for the whole run, and
    memcached hands connections to its threads in turn: a pair there can compare two
    server threads, in different wake-up states, as much as two protocols."""
    per_pair: dict = {name: [] for name in PROTOCOL_PAIRS}
    for number in range(rounds):
        for name, (meta, classic, shape) in PROTOCOL_PAIRS.items():
            rates = {}
            for contender in ((meta, classic) if number % 2 == 0 else (classic, meta)):
                request = {"contender": contender, "set": "hit", **shape}
                done = _worker_run(cpp, request, [])
                answer = _answer(done, cpp, request)
                if not answer.get("seconds"):
                    raise RuntimeError(f"{cpp[0]}: {request}: no answer: {done.stderr[-500:]}")
                rates[contender] = answer["ops"] * shape.get("batch", 1) / answer["seconds"]
            per_pair[name].append(rates[meta] / rates[classic])
    return {"rounds": rounds,
            "pairs": {name: {"slowdown": statistics.median(values),
                             "range": (min(values), max(values)), "per_round": values}
                      for name, values in per_pair.items()}}


def hot_symbols(argv: list[str], request: dict, limit: int = 12) -> list[dict]:
    """perf record (cpu-clock samples) of a worker answering `request`: the top symbols."""
    with tempfile.TemporaryDirectory() as tmp:
        data = str(Path(tmp) / "perf.data")
        _worker_run(argv, request, ["perf", "record", "-q", "-e", "cpu-clock", "-F", "4999",
                                    "-o", data, "--"])
        report = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                                 "--sort", "comm,dso,symbol", "--percent-limit", "1"],
                                capture_output=True, text=True, timeout=120).stdout
    rows = []
    for line in report.splitlines():
        match = re.match(r"\s*([\d.]+)%\s+(\S+)\s+(\S+)\s+\[[.k]\]\s+(.+)$", line)
        if match:
            rows.append({"pct": float(match[1]), "thread": match[2], "dso": match[3],
                         "symbol": re.split(r"\s{2,}", match[4].strip())[0][:90]})
    return rows[:limit]


def python_argv(family: str, server: str, manifest: Path) -> list[str]:
    return [sys.executable, "-m", "harness.py_worker", "--family", family, "--server", server,
            "--data", str(manifest)]


def collect(build: Path, server: str, manifest: Path, python_workers: dict) -> dict:
    """The profile BENCHMARKS.md reports: per-op CPU and context switches (ours against the
    limit and the anchor), hot symbols of our C++ paths, cProfile of the Python lookups."""
    bench_bin = build.resolve() / "bench"
    common = ["--server", server, "--data", str(manifest.resolve())]
    cpp = [str(bench_bin / "llmcache_bench_worker"), *common]
    lmc = [str(bench_bin / "libmemcached_bench_worker"), *common]
    hit = {"workload": "lookup", "set": "hit", "ops": 20000}
    out: dict = {"perf_stat": {}, "perf_top": {}, "cprofile": {},
                 "protocol": protocol_rounds(cpp)}
    if available():
        out["blocking"] = blocking_rounds(cpp, lmc)
        cases = {
            "libmemcached memcached_get, sequential": (lmc, {**hit, "contender": "lmc_get"}),
            "llmcache C++ lookup, sequential": (cpp, {**hit, "contender": "cpp_sync"}),
            "llmcache C++ start_lookup, 64 in flight": (
                cpp, {**hit, "contender": "cpp_callbacks", "workload": "inflight",
                      "inflight": 64, "ops": 100000}),
            "LangChain + pymemcache lookup, sequential": (
                python_argv("langchain", server, manifest), {**hit, "contender": "lc_client",
                                                             "ops": 5000}),
            "llmcache Python lookup, sequential": (
                python_argv("ours", server, manifest), {**hit, "contender": "py_ours", "ops": 5000}),
        }
        for title, (argv, request) in cases.items():
            out["perf_stat"][title] = per_operation(argv, request)
        out["perf_top"]["llmcache C++ lookup, sequential (20,000 hits)"] = hot_symbols(
            cpp, {**hit, "contender": "cpp_sync"})
        out["perf_top"]["llmcache C++ start_lookup, 64 in flight (100,000 hits)"] = hot_symbols(
            cpp, {**hit, "contender": "cpp_callbacks", "workload": "inflight", "inflight": 64,
                  "ops": 100000})
    for title, (worker, contender) in {
            "LangChain + pymemcache lookup (3,000 hits)": ("py_langchain", "lc_client"),
            "llmcache Python lookup (3,000 hits)": ("py_ours", "py_ours")}.items():
        answer = python_workers[worker].ask({**hit, "contender": contender, "ops": 3000,
                                             "profile": True})
        out["cprofile"][title] = answer["profile"]
    out["findings"] = findings(out)
    return out


def findings(profile: dict) -> list[str]:
    """What the numbers say, in sentences built from them."""
    stat = profile.get("perf_stat", {})
    lines = []
    lmc = stat.get("libmemcached memcached_get, sequential")
    ours = stat.get("llmcache C++ lookup, sequential")
    if lmc and ours:
        lines.append(
            f"- A blocking C++ lookup costs {ours['cpu_us_per_op']:.1f} µs of CPU and "
            f"{ours['context_switches_per_op']:.1f} context switches, against "
            f"{lmc['cpu_us_per_op']:.1f} µs and {lmc['context_switches_per_op']:.1f} for "
            "libmemcached's memcached_get. Both do the socket I/O on the calling thread; "
            "llmcache also derives LangChain's key (MD5) and decodes the entry, which "
            "libmemcached's loop does not, and spins on the socket before sleeping in poll() "
            "only where each connection has learnt that spinning catches replies in under 4/5 of "
            "the time sleeping takes (ClientOptions::blocking_spin is the cap).")
    pipelined = stat.get("llmcache C++ start_lookup, 64 in flight")
    if pipelined:
        lines.append(
            f"- With 64 lookups in flight a lookup costs {pipelined['cpu_us_per_op']:.1f} µs of "
            f"CPU and {pipelined['context_switches_per_op']:.2f} context switches: pipelining "
            "amortises the hand-offs. What remains runs on the client's single I/O thread: "
            "reply parsing, simdjson decoding (the decode happens inside the completion, on "
            "that thread), malloc/free of replies, strings and std::function callbacks; one "
            "core does it all while libmemcached's mget only copies bytes.")
    lc = stat.get("LangChain + pymemcache lookup, sequential")
    py = stat.get("llmcache Python lookup, sequential")
    if lc and py:
        lines.append(
            f"- In Python, a lookup costs {py['cpu_us_per_op']:.1f} µs of CPU and "
            f"{py['context_switches_per_op']:.1f} context switches with llmcache against "
            f"{lc['cpu_us_per_op']:.1f} µs and {lc['context_switches_per_op']:.1f} with LangChain "
            "over pymemcache. Both read the socket on the calling thread (llmcache with the GIL "
            "released, after a short spin where it pays); llmcache decodes in C++ (simdjson) instead of "
            "LangChain's json.loads + load().")
    return lines
