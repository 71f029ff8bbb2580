"""A worker process for one family of Python contenders, speaking the same protocol as
the C++ workers (bench/cpp/worker.hpp): one JSON request per stdin line, one JSON answer
per stdout line. With "profile": true the answer adds the top functions by own time.

Usage: python -m harness.py_worker --family langchain|pylibmc|ours --server H:P --data M.json
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import traceback

from harness import contenders


def _profiled(run, request: dict) -> dict:
    profiler = cProfile.Profile()
    answer = profiler.runcall(run, request)
    stats = pstats.Stats(profiler)
    total = sum(entry[2] for entry in stats.stats.values()) or 1.0
    top = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:12]
    answer["profile"] = [
        {"function": f"{pstats.func_std_string(func)}", "own_pct": round(100 * s[2] / total, 1),
         "calls": s[1]} for func, s in top]
    answer.pop("latencies_us", None)  # timings under a profiler mean nothing
    return answer


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--family", required=True)
    parser.add_argument("--server", required=True)
    parser.add_argument("--data", required=True)
    args = parser.parse_args()
    with open(args.data) as f:
        manifest = json.load(f)
    hosted = contenders.family(args.family, args.server, manifest)
    for line in sys.stdin:
        try:
            request = json.loads(line)
            run = hosted[request["contender"]][request["workload"]]
            request.setdefault("inflight", 1)
            request.setdefault("batch", 100)
            answer = _profiled(run, request) if request.get("profile") else run(request)
        except Exception as error:  # noqa: BLE001 - reported to the harness, which stops
            answer = {"error": f"{type(error).__name__}: {error}",
                      "trace": traceback.format_exc(limit=3)}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
