"""Who runs what: the contenders, the workloads, and how many operations each does."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.dataset import SWEEP_SIZES


@dataclass(frozen=True)
class Contender:
    name: str
    label: str
    group: str  # "limit", "anchor" or "ours"
    worker: str  # which worker process hosts it (workers.py)
    # Fast contenders get more operations per round, so that their rounds last long
    # enough to time, while slow ones still finish within the time budget.
    scale: int = 1
    # The contender the worker runs, when this one is another's loop on another server
    # (the *_proxy contenders run the classic ones' loops through twemproxy).
    runs: str | None = None


CONTENDERS = {c.name: c for c in [
    Contender("lmc_get", "libmemcached memcached_get (C)", "limit", "lmc", 5),
    Contender("lmc_mget", "libmemcached memcached_mget (C)", "limit", "lmc", 5),
    Contender("memcslap", "memcslap (libmemcached tool, own keys)", "limit", "tools"),
    Contender("memcaslap", "memcaslap (own keys, 90% get, 1100 B)", "limit", "tools"),
    Contender("lc_client", "LangChain MemcachedCache + pymemcache Client", "anchor", "py_langchain"),
    Contender("lc_pooled", "LangChain + pymemcache PooledClient, N threads", "anchor",
              "py_langchain"),
    Contender("lc_async", "LangChain default async (alookup in executor)", "anchor",
              "py_langchain"),
    Contender("pylibmc", "pylibmc + LangChain value format", "anchor", "py_pylibmc"),
    Contender("cpp_sync", "llmcache C++ lookup (blocking)", "ours", "cpp", 5),
    Contender("cpp_coro", "llmcache C++ async_lookup (coroutines)", "ours", "cpp", 5),
    Contender("cpp_callbacks", "llmcache C++ start_lookup (callbacks)", "ours", "cpp", 5),
    Contender("cpp_batch", "llmcache C++ 100 start_lookup at once", "ours", "cpp", 5),
    Contender("cpp_get_many", "llmcache C++ get_many + decode", "ours", "cpp", 5),
    Contender("cpp_lookup_many", "llmcache C++ lookup_many (blocking)", "ours", "cpp", 5),
    Contender("cpp_sync_classic", "llmcache C++ lookup (blocking), classic protocol", "ours",
              "cpp", 5),
    Contender("cpp_callbacks_classic", "llmcache C++ start_lookup (callbacks), classic protocol",
              "ours", "cpp", 5),
    Contender("cpp_get_many_classic", "llmcache C++ get_many + decode, classic protocol", "ours",
              "cpp", 5),
    Contender("cpp_sync_proxy", "llmcache C++ lookup (blocking), classic, through twemproxy",
              "ours", "cpp_proxy", 5, runs="cpp_sync_classic"),
    Contender("cpp_callbacks_proxy",
              "llmcache C++ start_lookup (callbacks), classic, through twemproxy", "ours",
              "cpp_proxy", 5, runs="cpp_callbacks_classic"),
    Contender("cpp_get_many_proxy", "llmcache C++ get_many + decode, classic, through twemproxy",
              "ours", "cpp_proxy", 5, runs="cpp_get_many_classic"),
    # The Python lookup target's pair on the second server (memcached -t 1): the same
    # loops as lc_client and py_ours, in worker processes of their own pointed at it.
    Contender("lc_client_t1", "LangChain MemcachedCache + pymemcache Client, memcached -t 1",
              "anchor", "py_langchain_t1", runs="lc_client"),
    Contender("py_ours_t1", "llmcache Python lookup/update, memcached -t 1", "ours", "py_ours_t1",
              runs="py_ours"),
    Contender("py_ours_nospin_t1", "llmcache Python lookup, blocking_spin=0, memcached -t 1",
              "ours", "py_ours_t1", runs="py_ours_nospin"),
    Contender("py_ours", "llmcache Python lookup/update", "ours", "py_ours"),
    Contender("py_ours_async", "llmcache Python alookup, asyncio.gather", "ours", "py_ours"),
]}


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    kind: str  # the worker's workload kind: lookup, update, inflight, batch
    set: str  # the prompt set (dataset.py)
    ops: int  # per round, for a contender of scale 1 (batches for kind "batch")
    contenders: tuple[str, ...]
    anchor: str | None = None  # ratios are against this contender, measured in the same run
    limit: str | None = None
    inflight: int = 1
    batch: int = 100
    params: dict = field(default_factory=dict)

    def request(self, contender: str, scale: float = 1.0) -> dict:
        c = CONTENDERS[contender]
        ops = max(1, int(self.ops * c.scale * scale))
        return {"contender": c.runs or contender, "workload": self.kind, "set": self.set,
                "ops": ops, "inflight": self.inflight, "batch": self.batch}

    @property
    def items_per_op(self) -> int:
        return self.batch if self.kind == "batch" else 1


INFLIGHT = [1, 16, 64, 100, 256]

# Classic against meta (issue 12; issue 16 wants classic within 1.2x of meta): the same
# loops through a classic-protocol client, on the same server in the same rounds, each
# against its meta twin as the anchor. Workloads named "protocol_*" form their own section.
PROTOCOL_PAIRS = [("cpp_sync", "cpp_sync_classic"), ("cpp_get_many", "cpp_get_many_classic"),
                  ("cpp_callbacks", "cpp_callbacks_classic")]
# Through twemproxy against direct (issue 12): the classic loops through a nutcracker in
# front of the same memcached, against the same loops straight to it, in the same rounds.
# twemproxy speaks only the classic protocol, so direct classic is the fair anchor.
# Workloads named "proxy_*" form their own section.
PROXY_PAIRS = [("cpp_sync_classic", "cpp_sync_proxy"),
               ("cpp_get_many_classic", "cpp_get_many_proxy"),
               ("cpp_callbacks_classic", "cpp_callbacks_proxy")]
SEQUENTIAL = ("lmc_get", "cpp_sync", "lc_client", "pylibmc", "py_ours")


def workloads(ops_scale: float = 1.0) -> list[Workload]:
    def ops(n: int) -> int:
        return max(2, int(n * ops_scale))

    plan = [
        Workload("lookup_hit", "Sequential lookup, hits (1 KB answers)", "lookup", "hit",
                 ops(2000), SEQUENTIAL + ("memcslap",), anchor="lc_client", limit="lmc_get"),
        # Issue 16's Python lookup target is set against a memcached with one worker
        # thread: the pair runs on the second server, interleaved like every other pair (and
        # ours again never spinning, blocking_spin=0, so that one run shows both settings).
        Workload("lookup_hit_t1",
                 "Sequential lookup, hits (1 KB answers), memcached with one worker thread (-t 1)",
                 "lookup", "hit", ops(2000), ("lc_client_t1", "py_ours_t1", "py_ours_nospin_t1"),
                 anchor="lc_client_t1"),
        Workload("update", "Sequential update (1 KB answers)", "update", "update", ops(1000),
                 SEQUENTIAL, anchor="lc_client", limit="lmc_get"),
        Workload("miss", "Sequential lookup, misses", "lookup", "miss", ops(2000), SEQUENTIAL,
                 anchor="lc_client", limit="lmc_get"),
    ]
    for n in INFLIGHT:
        plan.append(Workload(
            f"inflight_{n}", f"{n} lookups in flight (hits)", "inflight", "hit", ops(3000),
            ("lmc_mget", "memcaslap", "cpp_callbacks", "cpp_coro", "lc_pooled", "lc_async",
             "py_ours_async"),
            anchor="lc_async", limit="lmc_mget", inflight=n))
    plan.append(Workload(
        "batch_100", "A batch of 100 prompts (LLM.generate over 100 prompts)", "batch", "hit",
        ops(20), ("lmc_mget", "cpp_batch", "cpp_get_many", "cpp_lookup_many", "lc_client",
                  "lc_async", "pylibmc", "py_ours", "py_ours_async"), anchor="lc_client",
        limit="lmc_mget"))
    plan += [
        Workload("protocol_get", "Classic vs meta: sequential lookup, hits (blocking get)",
                 "lookup", "hit", ops(2000), PROTOCOL_PAIRS[0], anchor="cpp_sync"),
        Workload("protocol_get_many", "Classic vs meta: get_many of 100 keys + decode", "batch",
                 "hit", ops(20), PROTOCOL_PAIRS[1], anchor="cpp_get_many"),
        Workload("protocol_inflight_100", "Classic vs meta: 100 async gets in flight (callbacks)",
                 "inflight", "hit", ops(3000), PROTOCOL_PAIRS[2], anchor="cpp_callbacks",
                 inflight=100),
        Workload("proxy_get", "Through twemproxy vs direct: sequential lookup, hits (blocking get)",
                 "lookup", "hit", ops(2000), PROXY_PAIRS[0], anchor="cpp_sync_classic"),
        Workload("proxy_get_many", "Through twemproxy vs direct: get_many of 100 keys + decode",
                 "batch", "hit", ops(20), PROXY_PAIRS[1], anchor="cpp_get_many_classic"),
        Workload("proxy_inflight_100",
                 "Through twemproxy vs direct: 100 async gets in flight (callbacks)", "inflight",
                 "hit", ops(3000), PROXY_PAIRS[2], anchor="cpp_callbacks_classic", inflight=100),
    ]
    for size in SWEEP_SIZES:
        plan.append(Workload(
            f"sweep_{size}", f"Sequential lookup, {size} B answer", "lookup", f"sweep_{size}",
            ops(max(20, min(1000, 1_000_000 // size))), SEQUENTIAL, anchor="lc_client",
            limit="lmc_get", params={"text_bytes": size}))
    return plan


# Memory: lookups through one client, resident set before and after.
MEMORY_CHECKS = [
    {"contender": "cpp_callbacks", "workload": "rss", "set": "hit", "ops": 1_000_000,
     "inflight": 64, "label": "C++ MemcachedCache::start_lookup, 64 in flight",
     "limit_kb": 10 * 1024},
    {"contender": "cpp_sync", "workload": "rss", "set": "hit", "ops": 200_000,
     "label": "C++ MemcachedCache::lookup (blocking)", "limit_kb": 10 * 1024},
    {"contender": "py_ours", "workload": "rss", "set": "hit", "ops": 200_000,
     "label": "Python MemcachedCache.lookup", "limit_kb": 10 * 1024},
]
