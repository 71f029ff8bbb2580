"""Metrics as an operator sees them: real LangChain traffic through real memcached, then a
real prometheus_client scrape and a real OpenTelemetry reader. Every number published
equals the cache's own stats() (and its core's latency histogram)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage

import langchain_memcached
from langchain_memcached import MemcachedCache
from langchain_memcached.metrics import instrument_opentelemetry, register_prometheus

from streaming_models import ToolCallingChatModel, WordStreamingLLM

prometheus_client = pytest.importorskip("prometheus_client")
otel_sdk_metrics = pytest.importorskip("opentelemetry.sdk.metrics")
otel_export = pytest.importorskip("opentelemetry.sdk.metrics.export")

CAUSES = (
    "io_errors",
    "timeouts",
    "server_errors",
    "protocol_errors",
    "decode_errors",
    "too_large",
    "signature_failures",
    "unserializable_values",
)

# The published counters (docs/metrics.md): metric, its own labels, the stats() key it reads.
# Prometheus names them llmcache_cache_<metric>_total, OpenTelemetry llmcache.cache.<metric>.
SERIES: list[tuple[str, dict[str, str], str]] = [
    ("lookups", {"result": "hit"}, "hits"),
    ("lookups", {"result": "miss"}, "misses"),
    *[("failures", {"cause": cause}, cause) for cause in CAUSES],
    ("updates", {"result": "stored"}, "updates"),
    ("updates", {"result": "failed"}, "update_failures"),
    ("read_bytes", {}, "bytes_read"),
    ("written_bytes", {}, "bytes_written"),
    ("compression_saved_bytes", {}, "bytes_saved_by_compression"),
    ("tokens_saved", {}, "tokens_saved"),
    # The single-flight and stale counters: 0 where the cache does not keep them (yet).
    ("stale_served", {}, "stale_served"),
    ("leases_won", {}, "leases_won"),
    ("lease_waits", {}, "lease_waits"),
    ("lease_wait_timeouts", {}, "lease_wait_timeouts"),
]


def usage(total: int) -> dict[str, int]:
    return {"input_tokens": total - 5, "output_tokens": 5, "total_tokens": total}


def fast_cache(server: Any, **options: Any) -> MemcachedCache:
    client = langchain_memcached.Client(server.spec, timeout=0.3, connect_timeout=0.3)
    return MemcachedCache(client, **options)


class Traffic:
    """Two caches with what a service sees: hits (chat with usage, plain text, sync and
    async), misses, a value too large to store, compression, and a server that hangs and
    then dies. Remembers the tokens the hits' usage metadata says they spared."""

    def __init__(self, memcached: Any, memcached_factory: Any) -> None:
        self.llm = MemcachedCache(memcached.spec, compress=True)
        down_server = memcached_factory()
        self.down = fast_cache(down_server)
        self.down_server = down_server
        self.tokens_of_hits = 0

    def chat(self, total_tokens: int, content: str = "an answer") -> ToolCallingChatModel:
        message = AIMessage(content=content, usage_metadata=usage(total_tokens))
        return ToolCallingChatModel(responses=[message], cache=self.llm)

    async def run(self) -> None:
        small = self.chat(30)
        small.invoke("what is memcached?")  # miss, stored
        small.invoke("what is memcached?")  # hit: 30 tokens
        assert (await small.ainvoke("what is memcached?")).content == "an answer"  # async hit
        self.tokens_of_hits += 2 * 30
        long = self.chat(1200, content="compressible " * 400)
        long.invoke("tell me more")  # miss; stored compressed
        long.invoke("tell me more")  # hit: 1200 tokens
        self.tokens_of_hits += 1200
        assert len(small.calls) == 1 and len(long.calls) == 1  # the hits never reached them

        text = WordStreamingLLM(responses=["plain"], cache=self.llm)
        text.invoke("p")
        text.invoke("p")  # a hit of a plain Generation: no usage, no tokens

        noise = base64.b64encode(os.urandom(3 << 20)).decode()  # no compression fits 1 MB
        self.chat(10, content=noise).invoke("huge")  # miss; too large, reported

        down_model = ToolCallingChatModel(
            responses=[AIMessage(content="x", usage_metadata=usage(7))], cache=self.down
        )
        self.down_server.pause()
        down_model.invoke("q")  # lookup and update time out
        self.down_server.kill()
        down_model.invoke("q")  # connection refused: io errors
        await down_model.ainvoke("q")

    def check_traffic(self) -> None:
        """What the traffic must have produced, so the comparisons below compare numbers
        that mean something."""
        llm, down = self.llm.stats(), self.down.stats()
        assert (llm["hits"], llm["misses"]) == (4, 4)
        assert llm["tokens_saved"] == self.tokens_of_hits == 1260
        assert llm["too_large"] == 1 and llm["update_failures"] == 1
        assert llm["bytes_saved_by_compression"] > 0
        assert (down["hits"], down["misses"]) == (0, 3)
        assert down["timeouts"] >= 1 and down["io_errors"] >= 2

    def caches(self) -> dict[str, MemcachedCache]:
        return {"llm": self.llm, "down": self.down}


@pytest.fixture
async def traffic(memcached: Any, memcached_factory: Any) -> Traffic:
    traffic = Traffic(memcached, memcached_factory)
    await traffic.run()
    traffic.check_traffic()
    return traffic


def expected_series(name: str, cache: MemcachedCache) -> Iterator[tuple[str, dict[str, str], float]]:
    stats = cache.stats()
    for metric, labels, key in SERIES:
        yield metric, {"name": name, **labels}, stats.get(key, 0)


def latency(cache: MemcachedCache) -> tuple[list[float], list[int], float]:
    bounds, counts, total = cache._core.lookup_latency()
    stats = cache.stats()
    assert sum(counts) == stats["hits"] + stats["misses"]  # one observation per lookup
    assert len(counts) == len(bounds) + 1
    return bounds, counts, total


def cumulative(counts: list[int]) -> list[int]:
    return [sum(counts[: i + 1]) for i in range(len(counts))]


# ---------------------------------------------------------------- Prometheus


def scrape(registry: Any) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """What a Prometheus server reads: the text exposition, parsed."""
    from prometheus_client.parser import text_string_to_metric_families

    text = prometheus_client.generate_latest(registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def assert_prometheus_equals_stats(registry: Any, caches: dict[str, MemcachedCache]) -> None:
    scraped = scrape(registry)
    for name, cache in caches.items():
        for metric, labels, value in expected_series(name, cache):
            key = (f"llmcache_cache_{metric}_total", frozenset(labels.items()))
            assert scraped[key] == value, key
        bounds, counts, total = latency(cache)
        les = [prometheus_client.utils.floatToGoString(b) for b in bounds] + ["+Inf"]
        for le, count in zip(les, cumulative(counts)):
            key = ("llmcache_cache_lookup_duration_seconds_bucket", frozenset({("name", name), ("le", le)}))
            assert scraped[key] == count, key
        labels = frozenset({("name", name)})
        stats = cache.stats()
        assert scraped[("llmcache_cache_lookup_duration_seconds_count", labels)] == (
            stats["hits"] + stats["misses"]
        )
        assert scraped[("llmcache_cache_lookup_duration_seconds_sum", labels)] == pytest.approx(
            total
        )
        # registry.get_sample_value reads the same collector, without the text round trip.
        assert registry.get_sample_value(
            "llmcache_cache_lookups_total", {"name": name, "result": "hit"}
        ) == stats["hits"]


async def test_a_prometheus_scrape_equals_stats(traffic: Traffic) -> None:
    registry = prometheus_client.CollectorRegistry()
    register_prometheus(traffic.llm, name="llm", registry=registry)
    register_prometheus(traffic.down, name="down", registry=registry)
    assert_prometheus_equals_stats(registry, traffic.caches())

    # Read at scrape time: more traffic, and the next scrape says so.
    model = traffic.chat(30)
    model.invoke("what is memcached?")
    traffic.tokens_of_hits += 30
    assert traffic.llm.stats()["tokens_saved"] == traffic.tokens_of_hits
    assert_prometheus_equals_stats(registry, traffic.caches())

    text = prometheus_client.generate_latest(registry).decode()
    assert "# TYPE llmcache_cache_lookup_duration_seconds histogram" in text
    assert "# TYPE llmcache_cache_lookups_total counter" in text


def test_each_name_is_published_once_per_registry(memcached: Any) -> None:
    registry = prometheus_client.CollectorRegistry()
    cache = MemcachedCache(memcached.spec)
    collector = register_prometheus(cache, name="llm", registry=registry)
    with pytest.raises(ValueError, match="'llm'"):
        register_prometheus(MemcachedCache(memcached.spec), name="llm", registry=registry)
    assert collector.names == ["llm"]
    with pytest.raises(TypeError, match="stats"):
        register_prometheus(object(), name="other", registry=registry)  # type: ignore[arg-type]
    collector.remove("llm")
    assert registry.get_sample_value("llmcache_cache_lookups_total", {"name": "llm", "result": "hit"}) is None


# ---------------------------------------------------------------- OpenTelemetry


def read_otel(reader: Any) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    data = reader.get_metrics_data()
    return {
        (metric.name, frozenset(point.attributes.items())): point.value
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        for point in metric.data.data_points
    }


def assert_otel_equals_stats(reader: Any, caches: dict[str, MemcachedCache]) -> None:
    read = read_otel(reader)
    for name, cache in caches.items():
        for metric, labels, value in expected_series(name, cache):
            key = (f"llmcache.cache.{metric}", frozenset(labels.items()))
            assert read[key] == value, key
        bounds, counts, total = latency(cache)
        les = [repr(b) for b in bounds] + ["+Inf"]
        for le, count in zip(les, cumulative(counts)):
            key = ("llmcache.cache.lookup_duration.bucket", frozenset({("name", name), ("le", le)}))
            assert read[key] == count, key
        labels = frozenset({("name", name)})
        assert read[("llmcache.cache.lookup_duration.count", labels)] == sum(counts)
        assert read[("llmcache.cache.lookup_duration.sum", labels)] == pytest.approx(total)


async def test_an_opentelemetry_reader_equals_stats(traffic: Traffic) -> None:
    reader = otel_export.InMemoryMetricReader()
    provider = otel_sdk_metrics.MeterProvider(metric_readers=[reader])
    try:
        instrument_opentelemetry(traffic.llm, name="llm", meter_provider=provider)
        instruments = instrument_opentelemetry(traffic.down, name="down", meter_provider=provider)
        assert instruments.names == ["llm", "down"]
        assert_otel_equals_stats(reader, traffic.caches())

        model = traffic.chat(30)
        await model.ainvoke("what is memcached?")
        traffic.tokens_of_hits += 30
        assert traffic.llm.stats()["tokens_saved"] == traffic.tokens_of_hits
        assert_otel_equals_stats(reader, traffic.caches())
        with pytest.raises(ValueError, match="'llm'"):
            instrument_opentelemetry(traffic.down, name="llm", meter_provider=provider)
    finally:
        provider.shutdown()


# ---------------------------------------------------------------- without the extras


def test_without_the_extras_the_error_names_the_extra() -> None:
    script = """
import sys
sys.modules["prometheus_client"] = None   # as if not installed
sys.modules["opentelemetry"] = None
import langchain_memcached.metrics as metrics   # importable without either
for call, extra in ((metrics.register_prometheus, "prometheus"),
                    (metrics.instrument_opentelemetry, "opentelemetry")):
    try:
        call(None)
    except ImportError as error:
        assert f"langchain-memcached[{extra}]" in str(error), error
    else:
        raise AssertionError("no ImportError")
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_the_prometheus_example_scrapes_what_its_traffic_did(memcached: Any) -> None:
    example = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "prometheus_scrape.py")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMCACHED")}
    env["MEMCACHED_SERVERS"] = memcached.spec
    result = subprocess.run(
        [sys.executable, "-W", "error", example],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert 'llmcache_cache_lookups_total{name="llm",result="hit"} 2.0' in lines
    assert 'llmcache_cache_lookups_total{name="llm",result="miss"} 1.0' in lines
    assert 'llmcache_cache_tokens_saved_total{name="llm"} 1016.0' in lines  # 2 hits x 508
    assert 'llmcache_cache_lookup_duration_seconds_count{name="llm"} 3.0' in lines


# ---------------------------------------------------------------- every cache, not only the LLM's


async def test_the_node_cache_and_the_store_publish_what_their_stats_say(memcached: Any) -> None:
    """LangGraph's node cache and the ByteStore go through the same core: their lookups,
    batch reads included (one latency observation per key), are published as the LLM
    cache's are, by Prometheus and OpenTelemetry alike."""
    from langchain_memcached import MemcachedNodeCache, MemcachedStore

    nodes = MemcachedNodeCache(memcached.spec)
    store = MemcachedStore(memcached.spec)
    ns = ("graph", "node")
    nodes.set({(ns, "a"): ({"answer": 1}, None), (ns, "b"): ({"answer": 2}, 60)})
    assert set(nodes.get([(ns, "a"), (ns, "b"), (ns, "missing")])) == {(ns, "a"), (ns, "b")}
    assert await nodes.aget([(ns, "a")]) == {(ns, "a"): {"answer": 1}}
    store.mset([("k1", b"v1"), ("k2", b"v2")])
    assert store.mget(["k1", "k2", "k3"]) == [b"v1", b"v2", None]
    assert await store.amget(["k1"]) == [b"v1"]
    assert nodes.stats()["hits"] == 3 and nodes.stats()["misses"] == 1
    assert store.stats()["hits"] == 3 and store.stats()["misses"] == 1
    caches: dict[str, Any] = {"nodes": nodes, "store": store}

    registry = prometheus_client.CollectorRegistry()
    register_prometheus(nodes, name="nodes", registry=registry)
    register_prometheus(store, name="store", registry=registry)
    assert_prometheus_equals_stats(registry, caches)

    reader = otel_export.InMemoryMetricReader()
    provider = otel_sdk_metrics.MeterProvider(metric_readers=[reader])
    try:
        instrument_opentelemetry(nodes, name="nodes", meter_provider=provider)
        instrument_opentelemetry(store, name="store", meter_provider=provider)
        assert_otel_equals_stats(reader, caches)
    finally:
        provider.shutdown()
