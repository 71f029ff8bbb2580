"""The issue's targets, as ratios measured in one run: met or missed, and by how much."""

from __future__ import annotations

import statistics


def _figure(results: dict, workload: str, contender: str, key: str) -> float | None:
    return results["workloads"].get(workload, {}).get("contenders", {}).get(contender, {}).get(key)


def _ratio_entry(name: str, value: float | None, goal: float, higher_is_better: bool,
                 detail: str) -> dict:
    if value is None:
        return {"target": name, "goal": goal, "value": None, "met": False, "detail": detail,
                "margin": "not measured"}
    met = value >= goal if higher_is_better else value <= goal
    if higher_is_better:
        gap = f"{value / goal - 1:.0%} above the goal" if met else f"{1 - value / goal:.0%} short"
        margin = f"{value:.2f}x (goal >= {goal:g}x): {gap}"
    else:
        gap = f"{1 - value / goal:.0%} under the goal" if met else f"{value / goal - 1:.0%} over"
        margin = f"{value:.2f}x (goal <= {goal:g}x): {gap}"
    return {"target": name, "goal": goal, "value": value, "met": met, "detail": detail,
            "margin": margin}


def _spread(values: list[float]) -> tuple[float | None, str]:
    """The median of per-round ratios and how they spread, for the detail column."""
    if not values:
        return None, "not measured"
    return statistics.median(values), (f"range {min(values):.2f}-{max(values):.2f}x over "
                                       f"{len(values)} rounds")


def coroutines_vs_callbacks(results: dict) -> list[dict]:
    """Issue 16, target 2: async_lookup with use_awaitable against start_lookup with
    callbacks, per concurrency: items/s of the two in the same round, then the median."""
    out = []
    for n in (16, 64, 100):
        rows = results["workloads"].get(f"inflight_{n}", {}).get("contenders", {})
        coro = rows.get("cpp_coro", {}).get("per_round", [])
        callbacks = rows.get("cpp_callbacks", {}).get("per_round", [])
        ratios = [c["items_per_s"] / b["items_per_s"] for c, b in zip(coro, callbacks)
                  if b.get("items_per_s")]
        value, spread = _spread(ratios)
        out.append(_ratio_entry(
            f"C++ async_lookup (coroutines) >= 0.8x the callback path, {n} in flight", value, 0.8,
            True, f"median over rounds of lookups/s with use_awaitable / with callbacks, same "
                  f"round; {spread}"))
    return out


def blocking_cpu(results: dict) -> list[dict]:
    """Issue 16, target 3: CPU per blocking lookup <= 1.25x libmemcached's with the default
    settings, p50 <= 1.1x, both from the same interleaved slices (profiling.blocking_rounds)."""
    rounds = results.get("profile", {}).get("blocking", {}).get("rounds", [])
    cpu, cpu_spread = _spread([r["cpu_ratio"] for r in rounds])
    p50, p50_spread = _spread([r["p50_ratio"] for r in rounds if r.get("p50_ratio")])
    wakeups = [r["wakeup_p50_us"] for r in rounds]
    state = (f"; wake-up probe {min(wakeups):.0f}-{max(wakeups):.0f} µs (see Blocking lookup: "
             "CPU and wake-up state)" if wakeups else "")
    return [
        _ratio_entry(
            "C++ CPU per blocking lookup <= 1.25x libmemcached's (default settings)", cpu, 1.25,
            False, "perf stat task-clock of the worker minus a 1-lookup baseline, per lookup, "
                   f"MemcachedCache::lookup / memcached_get, slices interleaved; {cpu_spread}"),
        _ratio_entry(
            "C++ blocking lookup p50 <= 1.1x libmemcached's, same slices as its CPU", p50, 1.1,
            False, f"median over rounds of p50(lookup) / p50(memcached_get); {p50_spread}{state}"),
    ]


def evaluate(results: dict) -> list[dict]:
    w = results["workloads"]
    out = [
        _ratio_entry(
            "C++ sequential lookup latency within 1.10x of libmemcached's single get",
            w["lookup_hit"]["contenders"]["cpp_sync"].get("p50_ratio_vs_limit"), 1.10, False,
            "median over rounds of p50(llmcache lookup) / p50(memcached_get), 1 KB hits"),
        _ratio_entry(
            "C++ pipelined lookups (decoded) >= libmemcached 100-key mget keys/s",
            max(filter(None, [w["batch_100"]["contenders"][c].get("throughput_ratio_vs_limit")
                              for c in ("cpp_batch", "cpp_get_many", "cpp_lookup_many")
                              if c in w["batch_100"]["contenders"]]), default=None),
            1.0, True,
            "best of 100 start_lookup at once / get_many+decode / lookup_many, prompts/s over "
            "mget keys/s"),
        _ratio_entry(
            "Python lookup >= 3x LangChain MemcachedCache hits/s, memcached -t 1",
            w["lookup_hit_t1"]["contenders"]["py_ours_t1"].get("throughput_ratio_vs_anchor"),
            3.0, True, "langchain_memcached.MemcachedCache.lookup vs LangChain over pymemcache "
            "Client, both against the second server (one worker thread), interleaved"),
        _ratio_entry(
            "Python alookup, 100 in flight >= 20x LangChain's async path",
            w["inflight_100"]["contenders"]["py_ours_async"].get("throughput_ratio_vs_anchor"),
            20.0, True, "asyncio.gather of 100 tasks; LangChain's alookup runs lookup in the "
            "default executor (PooledClient)"),
    ]
    # Classic within 1.2x of meta: the slowest of the three pairs, as meta's throughput
    # over classic's (the time classic takes per item, relative). From fresh processes in
    # interleaved rounds when they ran (profiling.protocol_rounds says why), else from the
    # main loop's side-by-side workloads.
    pairs = results.get("profile", {}).get("protocol", {}).get("pairs")
    if pairs:
        slowdowns = [p["slowdown"] for p in pairs.values()]
        how = ("median over rounds of meta / classic items/s, each slice a fresh worker "
               "process, interleaved; " + ", ".join(
                   f"{name} {p['slowdown']:.2f}x ({p['range'][0]:.2f}-{p['range'][1]:.2f})"
                   for name, p in pairs.items()))
    else:
        slowdowns = []
        for name, workload in w.items():
            if not name.startswith("protocol_"):
                continue
            for contender, row in workload["contenders"].items():
                ratio = row.get("throughput_ratio_vs_anchor")
                if contender != workload["anchor"] and ratio:
                    slowdowns.append(1 / ratio)
        how = "same server, same rounds of the main loop"
    out.append(_ratio_entry(
        "C++ classic protocol within 1.2x of meta on direct memcached",
        max(slowdowns, default=None), 1.2, False,
        "worst of blocking get, get_many of 100 keys and 100 async gets in flight: meta "
        f"throughput / classic throughput; {how}"))
    out += coroutines_vs_callbacks(results)
    out += blocking_cpu(results)
    for check in results.get("memory", []):
        grown_mb = (check["rss_after_kb"] - check["rss_before_kb"]) / 1024
        out.append({"target": f"Memory: {check['label']}, {check['ops']:,} lookups grow RSS < 10 MB",
                    "goal": 10.0, "value": grown_mb, "met": grown_mb < 10.0,
                    "margin": f"{'met' if grown_mb < 10 else 'missed'}: grew {grown_mb:.2f} MB",
                    "detail": f"RSS {check['rss_before_kb'] / 1024:.1f} -> "
                              f"{check['rss_after_kb'] / 1024:.1f} MB"})
    return out
