"""The Google Benchmark suite (CPU-only parts), run and read back."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path


def run(build: Path, repetitions: int = 5) -> list[dict]:
    binary = build.resolve() / "bench" / "llmcache_micro_bench"
    done = subprocess.run(
        [str(binary), "--benchmark_format=json", f"--benchmark_repetitions={repetitions}",
         "--benchmark_report_aggregates_only=true", "--benchmark_min_time=0.1"],
        capture_output=True, text=True, timeout=300, check=True)
    report = json.loads(done.stdout)
    rows = []
    for b in report["benchmarks"]:
        if b.get("aggregate_name") != "median":
            continue
        scale = {"ns": 1, "us": 1e3, "ms": 1e6}[b.get("time_unit", "ns")]
        rows.append({"name": b["run_name"], "real_time_ns": b["real_time"] * scale,
                     "cpu_time_ns": b["cpu_time"] * scale,
                     "bytes_per_second": b.get("bytes_per_second"),
                     "items_per_second": b.get("items_per_second"),
                     "value_bytes": b.get("value_bytes")})
    return rows
