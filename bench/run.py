"""`make bench`: llmcache side by side with what users run today and with the machine's
limit, on a private memcached. Writes BENCHMARKS.md, bench/results.json and bench/*.png.

Usage: python bench/run.py --build build/default [--rounds 5] [--quick] [--no-profile]
Progress goes to stderr; the targets and the headline table to stdout.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from harness import (  # noqa: E402
    compression, dataset, environment, micro, plan, plots, profiling, report, server, stats,
    stampede, streams, targets, workers)

REPO = BENCH_DIR.parent


class Progress:
    def __init__(self, total: int) -> None:
        self.start = time.monotonic()
        self.total = total
        self.done = 0

    def say(self, message: str) -> None:
        elapsed = time.monotonic() - self.start
        print(f"[{elapsed / 60:4.1f} min] {message}", file=sys.stderr, flush=True)

    def step(self, message: str) -> None:
        self.done += 1
        if self.done % 10 == 0 or self.done == self.total:
            self.say(f"{self.done}/{self.total} measurements ({message})")


def measure(workloads: list[plan.Workload], hosts: dict, rounds: int, progress: Progress,
            wakeups: list[float]) -> dict:
    answers = {w.name: {c: [] for c in w.contenders} for w in workloads}
    for round_number in range(rounds + 1):  # round 0 warms up and is dropped
        warmup = round_number == 0
        progress.say("warm-up round" if warmup else f"round {round_number}/{rounds}")
        if not warmup:  # which wake-up state this round's latencies come from
            wakeups.append(environment.wakeup_p50_us())
        for workload in workloads:
            for contender in workload.contenders:
                host = hosts[plan.CONTENDERS[contender].worker]
                answer = host.ask(workload.request(contender, 0.2 if warmup else 1.0))
                if not warmup:
                    answers[workload.name][contender].append(answer)
                progress.step(f"{workload.name}, {contender}")
    return answers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path, default=REPO / "build" / "default")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="fewer operations (a smoke test)")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO, help="where BENCHMARKS.md goes")
    args = parser.parse_args()

    workloads = plan.workloads(0.1 if args.quick else 2.0)
    rounds = 2 if args.quick else args.rounds
    progress = Progress((rounds + 1) * sum(len(w.contenders) for w in workloads))
    results: dict = {"generated": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
                     "environment": environment.describe(args.build), "rounds": rounds}

    with (tempfile.TemporaryDirectory(prefix="llmcache-bench-") as tmp,
          server.memcached() as srv, server.twemproxy(srv) as proxy,
          server.memcached(server.SINGLE_THREAD) as srv_t1):
        progress.say(f"started {srv.settings}; {proxy.settings}; {srv_t1.settings}")
        results["server"] = srv.settings
        results["proxy"] = proxy.settings
        results["single_thread_server"] = srv_t1.settings
        manifest = dataset.build(Path(tmp))
        manifest_path = Path(tmp) / "manifest.json"
        results["items_loaded"] = dataset.load(srv.spec, manifest)
        dataset.load(srv_t1.spec, manifest)
        hosts = workers.start_all(args.build, srv.spec, manifest_path, proxy.spec, srv_t1.spec)
        try:
            results["wakeup_p50_us_by_round"] = []
            answers = measure(workloads, hosts, rounds, progress, results["wakeup_p50_us_by_round"])
            results["memory"] = []
            for check in plan.MEMORY_CHECKS:
                request = {**check, "ops": check["ops"] // (10 if args.quick else 1)}
                progress.say(f"memory: {request['ops']:,} lookups, {check['label']}")
                answer = hosts[plan.CONTENDERS[check["contender"]].worker].ask(request)
                results["memory"].append({**answer, "label": check["label"]})
            progress.say("streams through the cache (cache_streams)")
            results["streams"] = streams.measure(srv.spec, quick=args.quick)
            progress.say("stampede: 72 callers, one new prompt (single_flight)")
            results["stampede"] = stampede.measure(srv.spec, quick=args.quick)
            if not args.no_profile:
                progress.say("profiling (perf, cProfile)")
                results["profile"] = profiling.collect(args.build, srv.spec, manifest_path, hosts)
        finally:
            for host in hosts.values():
                host.close()

    progress.say("compression sizes (compress=True)")
    results["compression"] = compression.table()
    progress.say("micro benchmarks (Google Benchmark)")
    results["micro"] = micro.run(args.build)
    results["workloads"] = stats.aggregate(workloads, answers, plan.CONTENDERS,
                                           manifest["value_bytes"])
    results["targets"] = targets.evaluate(results)
    results["duration_s"] = time.monotonic() - progress.start
    args.out.mkdir(parents=True, exist_ok=True)
    report.write(results, args.out / "BENCHMARKS.md", BENCH_DIR / "results.json")
    plots.write(results, BENCH_DIR)
    progress.say(f"wrote {args.out / 'BENCHMARKS.md'} and {BENCH_DIR / 'results.json'}")
    print(report.headline_text(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
