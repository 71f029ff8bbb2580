"""Turns soak samples into a verdict (flat or not) and writes report.md and report.json.

Flat means, per worker, comparing the samples taken after the warm-up:

- memory: the median resident set size of the last few samples is at most
  ``MAX_GROWTH_MB`` or ``MAX_GROWTH_FRACTION`` (whichever is larger) above the median of
  the first few. Medians, because one sample can land in the middle of a 100 KB value's
  round trip or an allocator's trim;
- file descriptors: the last count is at most ``FD_SLACK`` above the largest of the
  first few (a reconnect in progress holds one more socket for a moment).

A run also fails when any hit held another key's value (a mismatch), or a worker
crashed, made no requests, or did not stop when asked.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MAX_GROWTH_MB = 5.0
MAX_GROWTH_FRACTION = 0.10
FD_SLACK = 4
EDGE_SAMPLES = 3  # how many samples make "the first" and "the last"


@dataclass
class Sample:
    t: float  # seconds since the workers started
    rss_kb: int
    fds: int
    counters: dict[str, Any]  # the worker's latest JSON line

    @property
    def rss_mb(self) -> float:
        return self.rss_kb / 1024

    @property
    def heap_mb(self) -> float:
        """Bytes malloc has handed out and not got back (the worker reports it)."""
        return self.counters.get("heap", {}).get("in_use_bytes", 0) / (1 << 20)


@dataclass
class Fault:
    t: float
    kind: str  # kill9, stop, restart, flush
    server: str
    seconds: float  # how long the server was down, paused or restarting
    note: str = ""


@dataclass
class WorkerVerdict:
    worker: str
    samples_used: int
    rss_start_mb: float
    rss_end_mb: float
    rss_growth_mb: float
    rss_allowed_mb: float
    rss_slope_mb_per_min: float
    heap_start_mb: float  # malloc's bytes in use: tells a leak from fragmentation
    heap_end_mb: float
    fds_start: int
    fds_end: int
    fds_allowed: int
    requests: int
    errors: int
    hits: int
    mismatches: int
    exit: str  # "ok", or how the worker ended badly
    memory_flat: bool
    fds_flat: bool

    @property
    def correct(self) -> bool:
        """It worked, every hit was its own key's, and it stopped when asked."""
        return self.requests > 0 and self.mismatches == 0 and self.exit == "ok"

    @property
    def ok(self) -> bool:
        return self.correct and self.memory_flat and self.fds_flat


@dataclass
class Run:
    settings: dict[str, Any]
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    exits: dict[str, str] = field(default_factory=dict)
    finals: dict[str, dict[str, Any]] = field(default_factory=dict)  # last counters
    interrupted: bool = False
    duration_s: float = 0.0


def _slope_per_minute(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB), in MB per minute: a small steady leak shows
    here long before it crosses the threshold."""
    if len(points) < 2:
        return 0.0
    slope, _ = statistics.linear_regression([t for t, _ in points], [v for _, v in points])
    return slope * 60


def judge(worker: str, samples: list[Sample], warmup_s: float, outcome: str,
          final: dict[str, Any]) -> WorkerVerdict:
    after = [s for s in samples if s.t >= warmup_s] or samples[-1:]
    k = max(1, min(EDGE_SAMPLES, len(after) // 3))
    first, last = after[:k], after[-k:]
    rss_start = statistics.median(s.rss_mb for s in first) if first else 0.0
    rss_end = statistics.median(s.rss_mb for s in last) if last else 0.0
    allowed_mb = max(MAX_GROWTH_MB, MAX_GROWTH_FRACTION * rss_start)
    fds_start = max((s.fds for s in first), default=0)
    fds_end = last[-1].fds if last else 0
    counters = final or (samples[-1].counters if samples else {})
    return WorkerVerdict(
        worker=worker,
        samples_used=len(after),
        rss_start_mb=round(rss_start, 2),
        rss_end_mb=round(rss_end, 2),
        rss_growth_mb=round(rss_end - rss_start, 2),
        rss_allowed_mb=round(allowed_mb, 2),
        rss_slope_mb_per_min=round(_slope_per_minute([(s.t, s.rss_mb) for s in after]), 4),
        heap_start_mb=round(statistics.median(s.heap_mb for s in first), 2) if first else 0.0,
        heap_end_mb=round(statistics.median(s.heap_mb for s in last), 2) if last else 0.0,
        fds_start=fds_start,
        fds_end=fds_end,
        fds_allowed=fds_start + FD_SLACK,
        requests=int(counters.get("requests", 0)),
        errors=int(counters.get("errors", 0)),
        hits=int(counters.get("hits", 0)),
        mismatches=int(counters.get("mismatches", 0)),
        exit=outcome,
        memory_flat=bool(samples) and rss_end - rss_start <= allowed_mb,
        fds_flat=bool(samples) and fds_end <= fds_start + FD_SLACK,
    )


def judge_run(run: Run) -> list[WorkerVerdict]:
    warmup = float(run.settings["warmup_s"])
    return [judge(worker, samples, warmup, run.exits.get(worker, "ok"),
                  run.finals.get(worker, {}))
            for worker, samples in run.samples.items()]


def run_ok(run: Run, verdicts: list[WorkerVerdict]) -> bool:
    """The run passes: every worker flat and correct (a smoke run: correct, and faults
    were injected), and nobody pressed Ctrl-C."""
    if run.interrupted or not verdicts:
        return False
    if run.settings.get("smoke"):
        return all(v.correct for v in verdicts) and (bool(run.faults) or not run.settings["faults"])
    return all(v.ok for v in verdicts)


def _fault_summary(faults: list[Fault]) -> str:
    kinds: dict[str, int] = {}
    for fault in faults:
        kinds[fault.kind] = kinds.get(fault.kind, 0) + 1
    detail = ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items()))
    return f"{len(faults)} ({detail})" if faults else "0"


def table_row(worker: str, sample: Sample) -> str:
    c = sample.counters
    return (f"{sample.t:7.0f}  {worker:<7} {sample.rss_mb:8.1f} {sample.heap_mb:8.1f} "
            f"{sample.fds:5d} "
            f"{c.get('requests', 0):>11,} {c.get('errors', 0):>8,} {c.get('hits', 0):>10,} "
            f"{c.get('mismatches', 0):>6}")


TABLE_HEADER = (f"{'t (s)':>7}  {'worker':<7} {'RSS MB':>8} {'heap MB':>8} {'fds':>5} "
                f"{'requests':>11} "
                f"{'errors':>8} {'hits':>10} {'mism.':>6}")


def verdict_lines(verdicts: list[WorkerVerdict]) -> list[str]:
    lines = []
    for v in verdicts:
        memory = "flat" if v.memory_flat else "GROWING"
        fds = "flat" if v.fds_flat else "GROWING"
        lines.append(
            f"{v.worker}: memory {memory} ({v.rss_start_mb:.1f} -> {v.rss_end_mb:.1f} MB, "
            f"{v.rss_growth_mb:+.2f} MB, allowed +{v.rss_allowed_mb:.1f}; "
            f"slope {v.rss_slope_mb_per_min * 60:+.2f} MB/h; malloc in use {v.heap_start_mb:.1f} "
            f"-> {v.heap_end_mb:.1f} MB), fds {fds} ({v.fds_start} -> "
            f"{v.fds_end}, allowed {v.fds_allowed}), {v.requests:,} requests, {v.errors:,} "
            f"errors, {v.hits:,} hits, {v.mismatches} mismatches, exit {v.exit}")
    return lines


def write(run: Run, out: Path) -> list[WorkerVerdict]:
    verdicts = judge_run(run)
    ok = run_ok(run, verdicts)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps({
        "settings": run.settings,
        "duration_s": round(run.duration_s, 1),
        "interrupted": run.interrupted,
        "ok": ok,
        "thresholds": {"max_growth_mb": MAX_GROWTH_MB, "max_growth_fraction": MAX_GROWTH_FRACTION,
                       "fd_slack": FD_SLACK, "edge_samples": EDGE_SAMPLES},
        "verdicts": [{**asdict(v), "ok": v.ok} for v in verdicts],
        "faults": [asdict(f) for f in run.faults],
        "finals": run.finals,
        "samples": {w: [{"t": round(s.t, 1), "rss_kb": s.rss_kb, "fds": s.fds, **s.counters}
                        for s in samples] for w, samples in run.samples.items()},
    }, indent=1) + "\n")

    s = run.settings
    md = [
        "# Soak report",
        "",
        f"{'PASS' if ok else 'FAIL'}{' (interrupted)' if run.interrupted else ''}: "
        f"{run.duration_s:.0f} s of mixed load on {s['servers']} memcached servers, "
        f"faults {_fault_summary(run.faults)}, seed {s['seed']}, samples every "
        f"{s['interval_s']} s, warm-up {s['warmup_s']} s."
        + (" A smoke run: judged on correctness only." if s.get("smoke") else "")
        + (" Workers ran with " + ", ".join(f"`{k}={v}`" for k, v in s["worker_env"].items())
           + " (see soak/run.py)." if s.get("worker_env") else ""),
        "",
        f"Flat memory: the median RSS of the last {EDGE_SAMPLES} samples is at most "
        f"{MAX_GROWTH_MB:g} MB or {MAX_GROWTH_FRACTION:.0%} (whichever is larger) above the "
        f"median of the first {EDGE_SAMPLES} after the warm-up. Flat fds: the last count is "
        f"at most {FD_SLACK} above the largest of those first samples. Any mismatch (a hit "
        "holding another key's value) or a crashed worker fails the run. Heap is what malloc "
        "has handed out and not got back (mallinfo2): flat heap under a growing RSS means "
        "fragmentation, not a leak.",
        "",
        "| worker | RSS start MB | RSS end MB | growth MB (allowed) | slope MB/h | "
        "heap start MB | heap end MB | fds start | fds end | requests | errors | hits | "
        "mismatches | exit | verdict |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|",
    ]
    for v in verdicts:
        md.append(
            f"| {v.worker} | {v.rss_start_mb:.1f} | {v.rss_end_mb:.1f} | "
            f"{v.rss_growth_mb:+.2f} ({v.rss_allowed_mb:.1f}) | {v.rss_slope_mb_per_min * 60:+.2f} "
            f"| {v.heap_start_mb:.1f} | {v.heap_end_mb:.1f} | {v.fds_start} | {v.fds_end} | "
            f"{v.requests:,} | {v.errors:,} | {v.hits:,} | {v.mismatches} | {v.exit} | "
            f"{'ok' if v.ok else 'FAIL'} |")
    md += ["", "## Faults", ""]
    md += ["| t (s) | fault | server | seconds | note |", "|--:|---|---|--:|---|"]
    md += [f"| {f.t:.0f} | {f.kind} | {f.server} | {f.seconds:.1f} | {f.note} |"
           for f in run.faults]
    for worker, samples in run.samples.items():
        md += ["", f"## {worker} over time", "",
               "| t (s) | RSS MB | heap MB | fds | requests | errors | hits | mismatches |",
               "|--:|--:|--:|--:|--:|--:|--:|--:|"]
        for sample in samples:
            c = sample.counters
            md.append(f"| {sample.t:.0f} | {sample.rss_mb:.1f} | {sample.heap_mb:.1f} | "
                      f"{sample.fds} | "
                      f"{c.get('requests', 0):,} | {c.get('errors', 0):,} | "
                      f"{c.get('hits', 0):,} | {c.get('mismatches', 0)} |")
    for worker, final in run.finals.items():
        md += ["", f"{worker} final counters: `{json.dumps(final)}`"]
    (out / "report.md").write_text("\n".join(md) + "\n")
    return verdicts
