"""PNG figures where a curve says more than a table."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

_STYLE = {"limit": "--", "anchor": ":", "ours": "-"}


def _curve(ax, xs, ys, row) -> None:
    points = [(x, y) for x, y in zip(xs, ys) if y is not None]
    if points:
        ax.plot(*zip(*points), _STYLE[row["group"]], marker="o", label=row["label"])


def latency_vs_value_size(results: dict, path: Path) -> None:
    sweeps = [w for name, w in results["workloads"].items() if name.startswith("sweep_")]
    fig, ax = plt.subplots(figsize=(8, 5))
    sizes = [w["value_bytes"] for w in sweeps]
    for name, row in sweeps[0]["contenders"].items():
        _curve(ax, sizes, [w["contenders"][name]["p50_us"] for w in sweeps], row)
    ax.set(xscale="log", yscale="log", xlabel="stored value (bytes)",
           ylabel="p50 latency per lookup (µs, median of rounds)",
           title="Sequential lookup latency against value size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def throughput_vs_concurrency(results: dict, path: Path) -> None:
    runs = sorted((w for name, w in results["workloads"].items() if name.startswith("inflight_")),
                  key=lambda w: w["inflight"])
    fig, ax = plt.subplots(figsize=(8, 5))
    levels = [w["inflight"] for w in runs]
    for name, row in runs[0]["contenders"].items():
        _curve(ax, levels, [w["contenders"][name]["items_per_s"] for w in runs], row)
    ax.set(xscale="log", yscale="log", xlabel="lookups in flight",
           ylabel="lookups per second (median of rounds)",
           title="Throughput against concurrency (1 KB hits)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(results: dict, directory: Path) -> list[Path]:
    paths = [directory / "latency_vs_value_size.png", directory / "throughput_vs_concurrency.png"]
    latency_vs_value_size(results, paths[0])
    throughput_vs_concurrency(results, paths[1])
    return paths
