"""BENCHMARKS.md and results.json from the aggregated results."""

from __future__ import annotations

import json
from pathlib import Path

from harness import stampede, streams


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    if digits == 0 and abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _x(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}x"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [""]


def _workload_table(w: dict) -> list[str]:
    unit = "prompts/s" if w["kind"] == "batch" else "ops/s"
    per = "per batch" if w["kind"] == "batch" else "per op"
    rows = []
    for name, c in w["contenders"].items():
        spread = f"{_num(c['items_per_s_min'])}–{_num(c['items_per_s_max'])}"
        flag = "" if c["hit_rate_ok"] else f" (hit rate {c['hit_rate']:.2f}!)"
        rows.append([f"{c['label']}{flag}", c["group"], _num(c["items_per_s"]), spread,
                     _num(c["p50_us"], 1), _num(c["p99_us"], 1),
                     _x(c.get("throughput_ratio_vs_anchor")), _x(c.get("throughput_ratio_vs_limit")),
                     _x(c.get("p50_ratio_vs_limit"))])
    return _table(["contender", "group", f"{unit} (median)", "range over rounds",
                   f"p50 µs {per}", f"p99 µs {per}", "throughput vs anchor",
                   "throughput vs limit", "p50 vs limit"], rows)


def _headline(results: dict) -> list[str]:
    w = results["workloads"]
    picks = [("lookup_hit", "cpp_sync", "lmc_get"), ("lookup_hit", "py_ours", "lc_client"),
             ("inflight_100", "py_ours_async", "lc_async"), ("inflight_100", "cpp_callbacks", "lmc_mget"),
             ("batch_100", "cpp_batch", "lmc_mget"), ("batch_100", "py_ours", "lc_client")]
    rows = []
    for workload, ours, base in picks:
        o, b = w[workload]["contenders"][ours], w[workload]["contenders"][base]
        tag = "anchor" if b["group"] == "anchor" else "limit"
        rows.append([w[workload]["title"], o["label"], _num(o["items_per_s"]), _num(o["p50_us"], 1),
                     _num(o["p99_us"], 1), b["label"], _num(b["items_per_s"]), _num(b["p50_us"], 1),
                     _num(b["p99_us"], 1), _x(o.get(f"throughput_ratio_vs_{tag}")),
                     _x(o.get(f"p50_ratio_vs_{tag}"))])
    return _table(["workload", "ours", "ours/s", "p50 µs", "p99 µs", "against", "its /s",
                   "p50 µs", "p99 µs", "throughput ratio", "p50 ratio"], rows)


def _pair_rows(results: dict, prefix: str, title_prefix: str) -> list[list[str]]:
    """Side-by-side pairs: each `prefix` workload's other contender over its anchor,
    measured in the same rounds."""
    rows = []
    for name, w in results["workloads"].items():
        if not name.startswith(prefix):
            continue
        anchor = w["contenders"][w["anchor"]]
        other = next(c for n, c in w["contenders"].items() if n != w["anchor"])
        rows.append([w["title"].removeprefix(title_prefix), _num(anchor["items_per_s"]),
                     _num(other["items_per_s"]), _x(other.get("throughput_ratio_vs_anchor")),
                     _num(anchor["p50_us"], 1), _num(other["p50_us"], 1),
                     _x(other.get("p50_ratio_vs_anchor"))])
    return rows


def _protocols(results: dict) -> list[str]:
    """Classic against meta: each protocol_* workload's classic contender over its meta
    anchor."""
    rows = _pair_rows(results, "protocol_", "Classic vs meta: ")
    if not rows:
        return []
    unit = "items/s (keys/s for get_many)"
    return ["## Classic vs meta protocol", "",
            "The same C++ loops through a client with `protocol = classic` and one with "
            "`protocol = meta`, on the same memcached in the same rounds. Ratios are classic over "
            "meta: throughput < 1 and p50 > 1 mean classic is slower. get_many in classic mode "
            "sends one multi-key `get` per server; meta sends one `mg` per key, pipelined.", "",
            "What changed (issue 16, target 5):", "",
            "- Classic async gets queued behind a write in progress join one multi-key `get` "
            "line (under the proxies' 16 KB limit, no key twice), and the reply is split per key: "
            "memcached 1.6.18 answers every classic `get` with a `sendmsg` of its own (1.0 per "
            "get against 0.07 per pipelined `mg`; 5.9-6.5 µs of its CPU per get against "
            "1.8-2.8 µs per `mg`), which held 100 in flight to 0.55x of meta (0.47-0.57x over 6 "
            "interleaved rounds); with it, 0.95x (0.81-1.03x, same run), 0.03 `sendmsg` and "
            "1.9 µs of memcached CPU per get. Blocking get and get_many are unchanged.",
            "- Session 9: a merged line holds at most 32 keys (`kClassicMergedGetKeys`). Every "
            "get on a line waits for its last item, so one line holding all 100 gets in flight "
            "made client and server take turns: 1.27-1.34x slower than meta (fresh interleaved "
            "processes, 8-10 rounds), with 12 times the client's context switches. Lines of at "
            "most 4 to 64 keys ran 0.96-1.14x in the same runs; of 8, 16 and 32, 32 cost "
            "memcached the least CPU per key (2.0, 1.75 and 1.5 µs). Through twemproxy, 100 in "
            "flight went from 0.71x to 0.93x of direct.", ""] + \
        _table(["workload", f"meta {unit}", "classic", "throughput classic/meta", "meta p50 µs",
                "classic p50 µs", "p50 classic/meta"], rows)


def _proxy(results: dict) -> list[str]:
    """Through twemproxy against direct: each proxy_* workload's proxied classic contender
    over the same loop straight to the server."""
    rows = _pair_rows(results, "proxy_", "Through twemproxy vs direct: ")
    if not rows:
        return []
    unit = "items/s (keys/s for get_many)"
    return ["## Through twemproxy vs direct", "",
            "The same classic-protocol C++ loops, once through twemproxy (`nutcracker`, one "
            "pool whose only server is the benchmark's memcached) and once straight to that "
            "memcached, in the same rounds (twemproxy speaks only the classic protocol). Ratios are proxy over direct: what the proxy's extra network hop and its "
            "parse of every request and reply cost; throughput < 1 and p50 > 1 mean slower "
            "through the proxy.", ""] + \
        _table(["workload", f"direct {unit}", "through twemproxy", "throughput proxy/direct",
                "direct p50 µs", "proxy p50 µs", "p50 proxy/direct"], rows)


def _sweep(results: dict) -> list[str]:
    sweeps = [w for name, w in results["workloads"].items() if name.startswith("sweep_")]
    if not sweeps:
        return []
    names = list(sweeps[0]["contenders"])
    header = ["contender"] + [f"{w['params']['text_bytes']:,} B text ({w['value_bytes']:,} B value)"
                              for w in sweeps]
    rows = [[sweeps[0]["contenders"][n]["label"]] + [
        f"{_num(w['contenders'][n]['p50_us'], 1)} / {_num(w['contenders'][n]['p99_us'], 1)}"
        for w in sweeps] for n in names]
    return _table(header, rows)


def _micro(micro: list[dict]) -> list[str]:
    rows = [[m["name"], _num(m["real_time_ns"], 0), _num(m.get("value_bytes"), 0),
             _num(m["bytes_per_second"] / 1e6, 0) if m.get("bytes_per_second") else "–"]
            for m in micro]
    return _table(["benchmark", "ns (median of 5)", "value bytes", "MB/s"], rows)


def _profile(profile: dict) -> list[str]:
    if not profile:
        return ["Profiling was skipped in this run.", ""]
    lines = []
    stat = profile.get("perf_stat", {})
    if stat:
        lines += ["`perf stat` (software events; this VM has no hardware counters), whole worker "
                  "process, minus a one-operation baseline:", ""]
        lines += _table(["contender, workload", "CPU µs per op (all threads)", "context switches per op"],
                        [[k, _num(v["cpu_us_per_op"], 1), _num(v["context_switches_per_op"], 2)]
                         for k, v in stat.items()])
    for title, rows in profile.get("perf_top", {}).items():
        lines += [f"`perf record` top symbols, {title}:", ""]
        lines += _table(["%", "thread", "dso", "symbol"],
                        [[_num(r["pct"], 1), r["thread"], r["dso"], f"`{r['symbol']}`"] for r in rows])
    for title, rows in profile.get("cprofile", {}).items():
        lines += [f"cProfile, {title} (own time):", ""]
        lines += _table(["% own time", "calls", "function"],
                        [[_num(r["own_pct"], 1), str(r["calls"]), f"`{r['function'][-90:]}`"]
                         for r in rows[:8]])
    lines += profile.get("findings", [])
    return lines + [""]


def _blocking(profile: dict) -> list[str]:
    """Issue 16, target 3, round by round: CPU and p50 of a blocking lookup against
    libmemcached's, each round's slices interleaved, with the machine's wake-up state."""
    blocking = (profile or {}).get("blocking")
    if not blocking:
        return []
    lines = [
        "## Blocking lookup: CPU and wake-up state",
        "",
        f"llmcache's `MemcachedCache::lookup` (default options) against libmemcached's "
        f"`memcached_get`, {blocking['ops_per_slice']:,} 1 KB hits per slice, each slice a fresh "
        "worker process under `perf stat` (CPU: task-clock minus a 1-lookup run, all threads, "
        "per lookup; p50 from the same lookups); the slices of a round run back to back, "
        "in an order that turns and flips every round. This VM's wake-up latency comes and goes, and "
        "where the scheduler puts memcached's thread (on the client's CPU or the other one) "
        "changes with each new connection: the wake-up column (median round trip of a byte "
        "between two processes pinned to different CPUs, over pipes, measured at the start "
        "of the round) and the context switches say which state a row comes from. "
        "libmemcached's p50 near 20 µs is the fast state, near 50 µs the slow one. The "
        "steal column is the CPU time the hypervisor took from this VM during the round "
        "(/proc/stat): where it grows, the host was busy and the round's CPU figures are "
        "inflated, unevenly between contenders.",
        "",
    ]
    rows = []
    for number, r in enumerate(blocking["rounds"], 1):
        lmc, ours, client = r["lmc_get"], r["cpp_sync"], r.get("cpp_get")
        steal = r.get("steal_ms")
        rows.append([str(number), _num(r["wakeup_p50_us"], 1),
                     "not measured" if steal is None else _num(steal, 0),
                     _num(lmc["cpu_us_per_op"], 1), _num(ours["cpu_us_per_op"], 1),
                     _x(r["cpu_ratio"]), _num(lmc["p50_us"], 1), _num(ours["p50_us"], 1),
                     _x(r["p50_ratio"]),
                     f"{lmc['context_switches_per_op']:.2f} / {ours['context_switches_per_op']:.2f}",
                     (f"{_num(client['cpu_us_per_op'], 1)} ({_x(r['client_cpu_ratio'])}), p50 "
                      f"{_num(client['p50_us'], 1)} ({_x(r['client_p50_ratio'])})")
                     if client else "not measured"])
    lines += _table(["round", "wake-up µs", "steal ms", "libmemcached CPU µs", "llmcache CPU µs", "CPU ratio",
                     "libmemcached p50 µs", "llmcache p50 µs", "p50 ratio",
                     "context switches per lookup (lmc / ours)",
                     "client alone: CPU µs (ratio), p50 µs (ratio)"], rows)
    lines += [
        "What changed (issue 16, target 3), measured by this method (interleaved slices, "
        "median of per-round ratios against libmemcached, 16 rounds of 3,000 lookups, on the "
        "2-core VM shared with other work):",
        "",
        "- Before: every wait spun up to `blocking_spin` (50 µs) before poll(): CPU 1.40x "
        "(0.81-2.74x), p50 1.10x. A profile of the spin showed why it rarely paid: when the "
        "client sleeps, memcached's thread mostly runs on the client's CPU and the reply is "
        "there when the client wakes (about 20 µs a lookup, one context switch, for both "
        "clients); when the client spins, memcached's thread has to wake on the other CPU, "
        "slowly, and the reply takes about 25-30 µs, all of it burnt CPU. Only where that "
        "thread sits on the other CPU anyway (libmemcached's p50 near 45 µs) does a spin "
        "halve the latency.",
        "- `SpinPolicy`: each connection keeps the typical wait of spinning and of sleeping "
        "and spins (for twice its caught wait, at most the cap) only when that halves the "
        "wait, trying the other way now and then. After, in the helper's shared-machine run: "
        "CPU 1.29x (0.71-2.85x), p50 1.08x; never spinning (`blocking_spin = 0`), for "
        "reference: CPU 1.22-1.31x, p50 1.08-1.11x, and up to 2.1x libmemcached's p50 in "
        "rounds where a sleeping client wakes slowly. (Asking the kernel whether an idle "
        "socket was closed only after 1 ms idle saved one `poll()` per lookup, 1.31x -> 1.25x "
        "CPU, and was dropped: it let bytes a server sent after its last reply be read as the "
        "next request's answer, which the hostile-reply suite catches.)",
        "- Tried this round: a CPU-first default (`blocking_spin` 0, never spin). Pooled "
        "over a helper's interleaved runs on the busy 2-core machine (median of per-round "
        "ratios, 5,000 lookups a slice, wake-up probe 24-49 µs): the halving rule CPU "
        "1.28x, p50 1.08x (66 rounds); never spinning CPU 1.25x, p50 1.09x (50 rounds); a "
        "CPU-aware rule (spin only where a spin's wait is under the CPU a sleep costs the "
        "thread, read from its CPU clock) CPU 1.26x, p50 1.09x (44 rounds), dropped: no "
        "gain for more code and a clock system call. Then a `make bench` on the quiet "
        "machine with never spinning as the default: CPU 1.39x, p50 1.13x, the C++ "
        "sequential lookup 1.17x libmemcached's p50 and Python lookup on `-t 1` 2.04x "
        "LangChain's. And both defaults side by side against libmemcached in the same 10 "
        "rounds (quiet machine, wake-up probe 33-64 µs, 5,000 lookups a slice): never "
        "spinning CPU 1.43x (0.94-1.59), p50 1.10x (0.89-1.34); the halving rule CPU 1.37x "
        "(1.19-1.83), p50 0.85x (0.62-1.01). In this VM's slow state a sleep costs as much "
        "CPU as the spin it saves (the wake-up is CPU too), so never spinning buys no CPU "
        "and loses latency: the default stayed the halving rule with a 50 µs cap (until "
        "session 8, below).",
        "- Allocations per blocking lookup 19 -> 16 (valgrind, 1,000 lookups: no copy of "
        "the key without a key prefix, the request line reserved at once); system calls "
        "per lookup 3.1-3.2 (send, recv, the poll() asking whether the idle socket is "
        "readable) against libmemcached's 2.9-3.0 (send, recv, and in about half its "
        "lookups an empty recv and a poll). That poll() stays (bytes a server sent after "
        "its last reply must never be read as the next answer); it costs ~0.45 µs, about "
        "what libmemcached's empty reads cost it.",
        "- What remains in the fast state (12.5-15 µs against 10-10.5 µs): LangChain's key "
        "(MD5, ~0.6 µs) and decoding the 1 KB entry (~1.1 µs, see the micro benchmarks), "
        "which libmemcached's loop does not do (its keys are hashed before the clock starts), "
        "and about 2 µs of client work (request building, reply parsing, the Item and "
        "Generations allocations).",
        "- Session 8: the bar lowered from halving the wait to cutting it by a fifth. In the "
        "slow state a spin's wait is about half a sleep's, so the halving rule kept flipping "
        "between the two ways, and every sleep paid a second slow wake-up. Side by side "
        "against libmemcached (interleaved slices, 5,000 lookups each, 8-12 rounds a run, "
        "quiet machine, probe 35-60 µs): the halving rule CPU 1.52-1.60x, p50 0.74-0.80x; "
        "this bar (bars of 1.0 and 1.2 gave the same) CPU 1.49-1.79x, p50 0.51-0.56x. With "
        "the other CPU kept busy by a `nice 19` loop (fast wake-ups, libmemcached's p50 "
        "20-24 µs) both rules sleep in most rounds, one context switch per lookup: CPU "
        "1.33x and 1.38x, p50 1.10x and 1.26x, within the rounds' spread. Python lookups on "
        "`-t 1` against LangChain, each setting in its own process, interleaved: halving "
        "2.39-2.40x, bars of 1.0-1.25 3.06-3.58x (medians of 8-12 rounds). LangChain's key "
        "now reuses one MD5 context per thread: one allocation and free less per key "
        "(micro benchmark 382 -> 338-358 ns).",
        "- Where the CPU goes: the client-alone column (`Client::get` of prehashed keys, no "
        "decoding) is the same raw round trip libmemcached's loop makes. The whole lookup's "
        "CPU over it is LangChain's key and decoding the entry, which run cold after every "
        "wait (a profile of 20,000 lookups while sleeping: 12 µs a lookup in user space "
        "against libmemcached's 4 µs, 1.9 µs of it in libcrypto and 2 µs in simdjson, "
        "where the micro benchmarks give 0.4 and 1.1 µs warm). The rest is the spin: it "
        "burns its wait, about what a sleep's wake-up costs on this VM.",
        "- Session 9, the same split in instructions (valgrind callgrind, user space, 2,001 "
        "lookups minus a 1-lookup run; the raw gets hash their whole key set either way, so "
        "their keys cancel out): libmemcached's get 6.1k instructions, the client alone "
        "5.9k, the whole lookup 28k. Of the difference, the decode is 15k (simdjson's two "
        "parses, the outer list and the inner generation, 9.5k; the walk refusing "
        "LangChain's secret and not-implemented nodes 1.7k; `generation_info` into nlohmann "
        "2.4k) and LangChain's key about 4k. Run cold after each wait, those extra "
        "instructions are the gap between the client alone and the whole lookup in the CPU "
        "column: target 3's 1.25x cannot hold while a lookup decodes what libmemcached only "
        "copies.",
        "",
    ]
    low, high = blocking["cpu_ratio_range"]
    lines += [f"Median over rounds: CPU {_x(blocking['cpu_ratio'])} (range {low:.2f}-{high:.2f}x), "
              f"p50 {_x(blocking['p50_ratio'])} (range {blocking['p50_ratio_range'][0]:.2f}-"
              f"{blocking['p50_ratio_range'][1]:.2f}x).", ""]
    if blocking.get("client_cpu_ratio") is not None:
        low, high = blocking["client_cpu_ratio_range"]
        lines += [
            "The client alone (`Client::get` of keys hashed before the clock starts, the value "
            "not decoded: the same raw round trip as libmemcached's loop), in the same rounds: "
            f"CPU {_x(blocking['client_cpu_ratio'])} (range {low:.2f}-{high:.2f}x), p50 "
            f"{_x(blocking['client_p50_ratio'])}. The gap between that and the whole lookup is "
            "the cache's own work, LangChain's key and decoding the entry, which no raw get "
            "does.", ""]
    return lines


def _target_value(results: dict, starts: str) -> str:
    for t in results["targets"]:
        if t["target"].startswith(starts) and t.get("value") is not None:
            return _x(t["value"])
    return "not measured"


def _changes(results: dict) -> list[str]:
    """Issue 16: which change bought what. The "before" figures are the previous `make
    bench` (same machine); "now" is this run."""
    now = lambda starts: _target_value(results, starts)  # noqa: E731
    return [
        "Which change bought what (issue 16; before: the previous `make bench` on this "
        "machine; now: this run):",
        "",
        "- **Target 1, batched lookups**: a blocking batch on the calling thread "
        "(`MemcachedCache::lookup_many`, and `get_many`/`CacheCore::fetch_each` under it): keys "
        "placed as single gets are, one write per server, replies read and decoded on the "
        "caller's thread as each arrives, no I/O-thread hand-off. Best llmcache batch over "
        f"`mget`: 0.32x before, {now('C++ pipelined')} now. The limit on this 2-core VM: "
        "LangChain's key (MD5) and decoding a 1 KB entry cost about 1.9 µs per key on the "
        "client (profile of `lookup_many`: decode 38 %, key 20 %, socket reads and parsing "
        "17 %, malloc/free 21 % spread across them), more than `mget`'s whole 1.4-1.7 µs per "
        "key; one calling thread tops out near 0.5x, and two cores shared with memcached near "
        "0.75x even with decoding spread over threads.",
        "- **Target 2, coroutines**: no change needed; measured per concurrency in the "
        f"targets table ({now('C++ async_lookup (coroutines) >= 0.8x the callback path, 16')}, "
        f"{now('C++ async_lookup (coroutines) >= 0.8x the callback path, 64')}, "
        f"{now('C++ async_lookup (coroutines) >= 0.8x the callback path, 100')} at 16/64/100).",
        "- **Target 3, CPU per blocking lookup**: the adaptive spin (see Blocking lookup: CPU "
        f"and wake-up state). CPU {now('C++ CPU per blocking')}, p50 "
        f"{now('C++ blocking lookup p50')} of libmemcached's now. Session 8 lowered the spin's "
        "bar (cut the wait by a fifth, not halve it) for latency, at about the same CPU, and "
        "added the client-alone column, which splits the CPU between the client and the "
        "cache's own work.",
        "- **Target 4, Python**: lookups of plain generations finish in C++ (decoded without "
        "the GIL, on the I/O thread for `alookup`; the binding builds the `Generation`s and "
        "counts the hit): the event loop's CPU per `alookup` 15.3 -> 8.8 µs; LangChain's key "
        "fetches OpenSSL's MD5 once instead of per key (key 0.67x the time). `alookup` at 100 "
        f"in flight over LangChain's async path: 15.97x before, {now('Python alookup')} now. "
        "`lookup` is now measured against a memcached with one worker thread (`-t 1`): "
        f"{now('Python lookup')} (3.19x against `-t 2` before); a lookup there waits on the "
        "server's reply and the wake-ups around it more than on the client's work. Session "
        "7: a hit's `Generation`s are built as pydantic's `model_construct` builds them, in C "
        "(used only if a one-time check finds the result identical to the validated object): "
        "2.8-3.4 µs less per hit, 1.10-1.13x the hits/s in interleaved A/B runs on the shared "
        "machine; the `-t 1` ratio moves with the machine's wake-up state more than that "
        "(2.63x last run, probe 40-58 µs; this run's probe: see Setup). With "
        "`blocking_spin=0` (its own row in the `-t 1` table) it is far lower: a sleeping lookup "
        "there waits for the VM's slow wake-up. Session 8: the spin's new bar keeps those "
        "lookups spinning (2.51x last run, with the halving rule; see Blocking lookup: CPU "
        "and wake-up state).",
        "- **Target 5, classic vs meta**: session 9 capped a merged classic get line at 32 "
        "keys (see Classic vs meta protocol); before, 100 callbacks in flight ran 1.41x "
        "slower than meta (session 8's last run). Since session 8 its three pairs are "
        "measured as target 3 is: every slice a fresh worker process, the pair back to back "
        "in flipped order, 12 rounds, median of per-round ratios. In the main loop one long-"
        "lived worker keeps each protocol on its own connection the whole run, and memcached "
        "hands connections to its threads in turn, so a pair there can compare two server "
        "threads as much as two protocols: session 8's two `make bench` runs of the old "
        "method gave 1.23x (blocking get) and 1.54x (100 in flight, classic slower in all 7 "
        "rounds), where fresh interleaved processes gave 0.97x (14 rounds) and 1.13x (10 "
        f"rounds). The main loop's pairs stay in their tables. This run: {now('C++ classic')}.",
        "",
    ]


def _wakeups(results: dict) -> str:
    wakeups = results.get("wakeup_p50_us_by_round")
    if not wakeups:
        return ""
    return (" The machine's wake-up state at the start of each measured round (median round "
            "trip of a byte between two processes on different CPUs, µs): "
            + ", ".join(f"{w:.0f}" for w in wakeups) + "; latency figures of a round come from "
            "its state (see Blocking lookup: CPU and wake-up state).")


# What a workload's table cannot say by itself.
WORKLOAD_NOTES = {
    "update": (
        "LangChain's update over pymemcache's `Client` does not wait for the server's answer "
        "(pymemcache's `default_noreply=True`), so it never learns that a store failed. "
        "llmcache waits for the answer, so that a refused store is counted and logged "
        "(`stats()`); that round trip is what its update rows pay against LangChain's."),
}


def markdown(results: dict) -> str:
    env = results["environment"]
    m, v = env["machine"], env["versions"]
    out = [
        "# Benchmarks",
        "",
        f"Generated by `make bench` ({results['generated']}, {results['duration_s'] / 60:.1f} min). "
        "Rerun it rather than editing this file; the raw numbers are in `bench/results.json`.",
        "",
        "## Setup",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores, Linux {m['kernel']}; "
        f"load average at start {', '.join(f'{x:.2f}' for x in m['load_average_at_start'])}.",
        "- Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".",
        f"- Server: one private `{results['server']}` (started and stopped by the run).",
        f"- Data: {results['items_loaded']:,} items loaded once, read by every contender: "
        f"2,000 prompts with a {results['workloads']['lookup_hit']['value_bytes']:,}-byte value "
        "(one `Generation`, ~1 KB of text and a small `generation_info`, serialized by LangChain's "
        "own `_dumps_generations`), and 50 prompts per size of the sweep.",
        f"- Method: {results['rounds']} measured rounds after a warm-up round; in each round every "
        "workload runs for every contender, one after another, so ratios compare numbers from the "
        "same minutes. Each figure is the median over rounds; p50/p99 are per operation within a "
        "round (per batch for batches); ratios are taken per round, then their median. "
        "Throughput ratios > 1 mean faster than the other side; p50 ratios < 1 mean lower latency."
        + _wakeups(results),
        "- Anchors: what users run today (LangChain over pymemcache, pylibmc). Limit: "
        "libmemcached's C API and tools on the same server (no decoding at all).",
        "",
        "## Targets",
        "",
    ]
    out += _table(["target", "result", "how measured"],
                  [[t["target"], ("**met**" if t["met"] else "**missed**") + f": {t['margin']}",
                    t["detail"]] for t in results["targets"]])
    out += _changes(results)
    out += ["## Headline", ""] + _headline(results)
    out += ["## All workloads", ""]
    for name, w in results["workloads"].items():
        if name.startswith(("sweep_", "protocol_", "proxy_")):
            continue
        size = f" — values of {w['value_bytes']:,} B" if w.get("value_bytes") else ""
        out += [f"### {w['title']}{size}", ""] + _workload_table(w)
        if name in WORKLOAD_NOTES:
            out += [WORKLOAD_NOTES[name], ""]
    out += ["### Value-size sweep: p50 / p99 µs per lookup", ""] + _sweep(results)
    out += ["![latency vs value size](bench/latency_vs_value_size.png)",
            "![throughput vs concurrency](bench/throughput_vs_concurrency.png)", ""]
    out += _protocols(results)
    out += _proxy(results)
    out += ["## Memory", ""]
    out += _table(["what", "lookups", "RSS before MB", "RSS after MB", "growth MB", "seconds"],
                  [[c["label"], f"{c['ops']:,}", _num(c["rss_before_kb"] / 1024, 1),
                    _num(c["rss_after_kb"] / 1024, 1),
                    _num((c["rss_after_kb"] - c["rss_before_kb"]) / 1024, 2), _num(c["seconds"], 1)]
                   for c in results["memory"]])
    if "streams" in results:
        out += streams.markdown(results["streams"])
    if "stampede" in results:
        out += stampede.markdown(results["stampede"])
    out += results.get("compression", [])
    out += ["## CPU-only micro benchmarks (Google Benchmark, no server)", ""]
    out += _micro(results["micro"])
    out += _blocking(results.get("profile", {}))
    out += ["## Profile", ""] + _profile(results.get("profile", {}))
    out += ["## Notes", "",
            "- memcslap and memcaslap use their own keys and values (memcaslap: 1,100-byte values, "
            "90% get / 10% set), so only their throughput is shown, as a reference for the server.",
            "- libmemcached has no asynchronous single get: its \"N in flight\" rows are multi-gets "
            "of N keys, one wave after another.",
            "- LangChain's `alookup` runs `lookup` in asyncio's default executor (min(32, cores + 4) "
            "threads); a plain pymemcache `Client` is not thread-safe there, so the async anchor "
            "uses `PooledClient`.",
            "- A batch of 100 prompts is what `BaseLLM.generate` does: langchain-core's "
            "`get_prompts` looks the prompts up one after another. The async rows gather 100 "
            "`alookup`s at once.",
            ""]
    return "\n".join(out)


def write(results: dict, markdown_path: Path, json_path: Path) -> None:
    json_path.write_text(json.dumps(results, indent=1, default=str) + "\n")
    markdown_path.write_text(markdown(results))


def headline_text(results: dict) -> str:
    lines = ["Targets:"] + [f"  {'MET   ' if t['met'] else 'MISSED'} {t['target']}: {t['margin']}"
                            for t in results["targets"]]
    return "\n".join(lines + [""] + _headline(results))
