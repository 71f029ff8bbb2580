"""Numbers from answers: percentiles per round, medians over rounds, ratios."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def round_summary(answer: dict, items_per_op: int) -> dict:
    """One round: items per second, and p50/p99/mean latency per operation (µs)."""
    summary = {"items_per_s": answer["ops"] * items_per_op / answer["seconds"],
               "mean_us": answer["seconds"] * 1e6 / answer["ops"], "hits": answer["hits"],
               "ops": answer["ops"]}
    latencies = answer.get("latencies_us")
    if latencies:
        summary.update(p50_us=percentile(latencies, 50), p99_us=percentile(latencies, 99),
                       mean_us=statistics.fmean(latencies))
    return summary


def over_rounds(rounds: list[dict]) -> dict:
    """Median of each figure over the rounds, with the throughput's range."""
    out: dict = {"rounds": len(rounds)}
    for key in ("items_per_s", "p50_us", "p99_us", "mean_us"):
        values = [r[key] for r in rounds if r.get(key) is not None]
        out[key] = statistics.median(values) if values else None
    throughputs = [r["items_per_s"] for r in rounds]
    out["items_per_s_min"], out["items_per_s_max"] = min(throughputs), max(throughputs)
    return out


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def _median_of(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def aggregate(plan: list, answers: dict, contenders: dict, value_bytes: dict) -> dict:
    """answers[workload][contender] = [answer per round]. Ratios are taken per round
    (against the anchor and the limit of the same round), then their median."""
    out = {}
    for workload in plan:
        per_contender = {c: [round_summary(a, workload.items_per_op) for a in answers[workload.name][c]]
                         for c in workload.contenders}
        rows = {}
        for name, rounds in per_contender.items():
            row = {"label": contenders[name].label, "group": contenders[name].group,
                   **over_rounds(rounds)}
            expected = 0 if workload.set == "miss" else 1
            row["hit_rate"] = _median_of([r["hits"] / (r["ops"] * workload.items_per_op)
                                          for r in rounds])
            row["hit_rate_ok"] = name in ("memcslap", "memcaslap") or abs(row["hit_rate"] - expected) < 1e-9
            for other, tag in ((workload.anchor, "anchor"), (workload.limit, "limit")):
                if other is None or other == name:
                    continue
                base = per_contender[other]
                row[f"throughput_ratio_vs_{tag}"] = _median_of(
                    [ratio(r["items_per_s"], b["items_per_s"]) for r, b in zip(rounds, base)])
                row[f"p50_ratio_vs_{tag}"] = _median_of(
                    [ratio(r.get("p50_us"), b.get("p50_us")) for r, b in zip(rounds, base)])
            row["per_round"] = rounds
            rows[name] = row
        out[workload.name] = {
            "title": workload.title, "kind": workload.kind, "anchor": workload.anchor,
            "limit": workload.limit, "inflight": workload.inflight,
            "batch": workload.batch if workload.kind == "batch" else None,
            "value_bytes": value_bytes.get(workload.set), "params": workload.params,
            "contenders": rows}
    return out
