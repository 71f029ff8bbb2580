"""Metrics for every llmcache cache: Prometheus and OpenTelemetry.

Both read what the cache core already counts (``stats()`` and the lookup latency
histogram, ``_core.lookup_latency()``) when they are collected: nothing runs per lookup,
no background thread, and the numbers published are exactly the core's::

    from prometheus_client import start_http_server
    from langchain_memcached.metrics import register_prometheus

    cache = MemcachedCache("127.0.0.1:11211")
    register_prometheus(cache, name="llm")   # the default registry
    start_http_server(9464)                  # scrape http://host:9464/metrics

    from langchain_memcached.metrics import instrument_opentelemetry
    instrument_opentelemetry(cache, name="llm")   # the global MeterProvider

Any cache object with ``stats()`` and ``_core`` works: :class:`MemcachedCache` and the
other caches of this package. Each is published under its ``name`` (the ``name`` label or
attribute); several caches share one registry or meter provider, each name once.

``prometheus-client`` and ``opentelemetry-api`` are optional: install the extra
``langchain-memcached[prometheus]`` or ``langchain-memcached[opentelemetry]``. The metric
names, units and labels are in docs/metrics.md.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import CollectorRegistry

__all__ = [
    "MeteredCache",
    "OpenTelemetryInstruments",
    "PrometheusCollector",
    "instrument_opentelemetry",
    "register_prometheus",
]


class _LatencySource(Protocol):
    def lookup_latency(self) -> tuple[list[float], list[int], float]: ...


class MeteredCache(Protocol):
    """What the exporters read: a cache's counters and its core's latency histogram."""

    @property
    def _core(self) -> _LatencySource: ...

    def stats(self) -> Mapping[str, int]: ...


# ---------------------------------------------------------------- what is published
#
# Written once, for both exporters: each counter's name (Prometheus
# llmcache_cache_<name>_total, OpenTelemetry llmcache.cache.<name>), its series and the
# stats() key each series reads. Keys read with .get(key, 0), so a counter a cache does not
# keep (yet) reads 0 rather than failing the whole scrape.


@dataclass(frozen=True)
class _Counter:
    name: str
    unit: str  # OpenTelemetry's (UCUM); Prometheus' is in the name where it has one
    description: str
    label: str | None  # the label telling the series apart, or None for one series
    series: tuple[tuple[str, str], ...]  # (label value, stats() key)


_FAILURE_CAUSES = (
    "io_errors",
    "timeouts",
    "server_errors",
    "protocol_errors",
    "decode_errors",
    "too_large",
    "signature_failures",
    "unserializable_values",
)

_COUNTERS = (
    _Counter(
        "lookups",
        "{lookup}",
        "Cache lookups by result: every lookup is one hit or one miss (a failed read "
        "is a miss, also counted under failures).",
        "result",
        (("hit", "hits"), ("miss", "misses")),
    ),
    _Counter(
        "failures",
        "{failure}",
        "Failures by cause, in lookups and updates alike (the stats() key of each cause).",
        "cause",
        tuple((cause, cause) for cause in _FAILURE_CAUSES),
    ),
    _Counter(
        "updates",
        "{update}",
        "Cache updates by result: stored, or failed (whatever the cause).",
        "result",
        (("stored", "updates"), ("failed", "update_failures")),
    ),
    _Counter(
        "read_bytes",
        "By",
        "Value bytes of the hits, as LangChain's (uncompressed).",
        None,
        (("", "bytes_read"),),
    ),
    _Counter(
        "written_bytes",
        "By",
        "Value bytes stored, as sent (compressed, signed).",
        None,
        (("", "bytes_written"),),
    ),
    _Counter(
        "compression_saved_bytes",
        "By",
        "Stored bytes that compression spared.",
        None,
        (("", "bytes_saved_by_compression"),),
    ),
    _Counter(
        "tokens_saved",
        "{token}",
        "Model tokens the hits spared: the total_tokens of their usage metadata.",
        None,
        (("", "tokens_saved"),),
    ),
    _Counter(
        "stale_served",
        "{lookup}",
        "Lookups answered with a stale entry while another caller refreshed it.",
        None,
        (("", "stale_served"),),
    ),
    _Counter(
        "leases_won",
        "{lease}",
        "Misses that won the single-flight lease and computed the value.",
        None,
        (("", "leases_won"),),
    ),
    _Counter(
        "lease_waits",
        "{wait}",
        "Misses that waited for another caller's value (single flight).",
        None,
        (("", "lease_waits"),),
    ),
    _Counter(
        "lease_wait_timeouts",
        "{wait}",
        "Single-flight waits that ended without the value.",
        None,
        (("", "lease_wait_timeouts"),),
    ),
)

_LATENCY_NAME = "lookup_duration"
_LATENCY_DESCRIPTION = (
    "Lookup latency in seconds, from the fetch call to its result: one observation "
    "per lookup (hits, misses and failed reads)."
)


def _needs(extra: str, package: str) -> ImportError:
    """The ImportError that names the extra to install."""
    return ImportError(
        f"langchain_memcached.metrics needs {package} for this: "
        f"pip install 'langchain-memcached[{extra}]'"
    )


class _Caches:
    """The caches one exporter publishes, by name; safe to change while it collects."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[str, MeteredCache] = {}

    def add(self, cache: MeteredCache, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("a cache's metrics name must be a non-empty string")
        if not callable(getattr(cache, "stats", None)) or not hasattr(cache, "_core"):
            raise TypeError(
                f"{type(cache).__name__} is not an llmcache cache (it needs stats() and _core)"
            )
        with self._lock:
            if name in self._by_name:
                raise ValueError(f"a cache named {name!r} is published here already")
            self._by_name[name] = cache

    def remove(self, name: str) -> None:
        with self._lock:
            del self._by_name[name]

    @property
    def names(self) -> list[str]:
        with self._lock:
            return list(self._by_name)

    def items(self) -> list[tuple[str, MeteredCache]]:
        with self._lock:
            return list(self._by_name.items())


def _le(bound: float | None) -> str:
    """A bucket's ``le``, as Prometheus writes it (Python's repr of a float is Go's for
    these bounds): "0.0001" ... "10.0", "+Inf" for the last bucket."""
    return "+Inf" if bound is None else repr(float(bound))


def _cumulative(counts: Iterable[int]) -> list[int]:
    total = 0
    out = []
    for count in counts:
        total += count
        out.append(total)
    return out


# ---------------------------------------------------------------- Prometheus


class PrometheusCollector:
    """A ``prometheus_client`` collector for llmcache caches, read at scrape time.

    Made and registered by :func:`register_prometheus` (one per registry); ``add`` and
    ``remove`` change which caches it publishes.
    """

    def __init__(self) -> None:
        self._caches = _Caches()

    def add(self, cache: MeteredCache, name: str) -> None:
        """Publishes ``cache`` under ``name``; ValueError if the name is taken."""
        self._caches.add(cache, name)

    def remove(self, name: str) -> None:
        """Stops publishing the cache named ``name`` (KeyError if there is none)."""
        self._caches.remove(name)

    @property
    def names(self) -> list[str]:
        """The names of the caches published."""
        return self._caches.names

    def describe(self) -> Iterator[Metric]:
        """The metric families, without samples: what the registry checks for clashes
        when it registers the collector, without reading any cache."""
        return self._families([])

    def collect(self) -> Iterator[Metric]:
        """Reads every cache's counters and histogram now."""
        return self._families(self._caches.items())

    @staticmethod
    def _families(caches: list[tuple[str, MeteredCache]]) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        stats = [(name, cache.stats()) for name, cache in caches]
        for counter in _COUNTERS:
            labels = ["name"] if counter.label is None else ["name", counter.label]
            unit = "bytes" if counter.unit == "By" else ""
            family = CounterMetricFamily(
                f"llmcache_cache_{counter.name}", counter.description, labels=labels, unit=unit
            )
            for name, values in stats:
                for label_value, key in counter.series:
                    label_values = [name] if counter.label is None else [name, label_value]
                    family.add_metric(label_values, values.get(key, 0))
            yield family
        histogram = HistogramMetricFamily(
            f"llmcache_cache_{_LATENCY_NAME}",
            _LATENCY_DESCRIPTION,
            labels=["name"],
            unit="seconds",
        )
        for name, cache in caches:
            bounds, counts, total = cache._core.lookup_latency()
            les = [_le(bound) for bound in bounds] + [_le(None)]
            histogram.add_metric([name], list(zip(les, _cumulative(counts))), total)
        yield histogram


_prometheus_lock = threading.Lock()
_prometheus_collectors: weakref.WeakKeyDictionary[CollectorRegistry, PrometheusCollector] = (
    weakref.WeakKeyDictionary()
)


def register_prometheus(
    cache: MeteredCache, name: str = "llm", registry: CollectorRegistry | None = None
) -> PrometheusCollector:
    """Publishes ``cache``'s metrics in a ``prometheus_client`` registry (the default
    ``REGISTRY`` when None), labelled ``name``. One collector serves every cache of a
    registry: call again with another cache and name to add it. Returns that collector.

    Raises ImportError naming the extra when prometheus-client is not installed, and
    ValueError when ``name`` is already published in this registry.
    """
    try:
        from prometheus_client import REGISTRY
    except ImportError as error:
        raise _needs("prometheus", "prometheus-client") from error
    target = REGISTRY if registry is None else registry
    with _prometheus_lock:
        collector = _prometheus_collectors.get(target)
        if collector is None:
            collector = PrometheusCollector()
            collector.add(cache, name)
            target.register(collector)
            _prometheus_collectors[target] = collector
        else:
            collector.add(cache, name)
    return collector


# ---------------------------------------------------------------- OpenTelemetry


class OpenTelemetryInstruments:
    """The llmcache instruments of one OpenTelemetry meter provider: observable counters
    whose callbacks read the caches when the provider's readers collect.

    Made by :func:`instrument_opentelemetry` (one per meter provider); ``add`` and
    ``remove`` change which caches it reports.

    OpenTelemetry's API has no asynchronous histogram, and recording every lookup through
    a synchronous one would cost a Python call per lookup and time lookups a second time.
    So the core's histogram is published as observable counters, Prometheus-style:
    ``llmcache.cache.lookup_duration.bucket`` (attribute ``le``: the bucket's upper bound,
    cumulative, ``+Inf`` last), ``llmcache.cache.lookup_duration.count`` and
    ``llmcache.cache.lookup_duration.sum`` (seconds). Through OpenTelemetry's Prometheus
    exporter, ``histogram_quantile`` reads the bucket series as it reads a histogram's.
    """

    def __init__(self, meter_provider: MeterProvider) -> None:
        from opentelemetry.metrics import Observation

        from langchain_memcached import __version__

        self._caches = _Caches()
        meter = meter_provider.get_meter("langchain_memcached", __version__)

        def observe(counter: _Counter) -> Any:
            def callback(options: CallbackOptions) -> Iterable[Observation]:
                for name, cache in self._caches.items():
                    stats = cache.stats()
                    for label_value, key in counter.series:
                        attributes = {"name": name}
                        if counter.label is not None:
                            attributes[counter.label] = label_value
                        yield Observation(stats.get(key, 0), attributes)

            return callback

        for counter in _COUNTERS:
            meter.create_observable_counter(
                f"llmcache.cache.{counter.name}",
                callbacks=[observe(counter)],
                unit=counter.unit,
                description=counter.description,
            )

        def buckets(options: CallbackOptions) -> Iterable[Observation]:
            for name, cache in self._caches.items():
                bounds, counts, _ = cache._core.lookup_latency()
                les = [_le(bound) for bound in bounds] + [_le(None)]
                for le, count in zip(les, _cumulative(counts)):
                    yield Observation(count, {"name": name, "le": le})

        def count(options: CallbackOptions) -> Iterable[Observation]:
            for name, cache in self._caches.items():
                yield Observation(sum(cache._core.lookup_latency()[1]), {"name": name})

        def total(options: CallbackOptions) -> Iterable[Observation]:
            for name, cache in self._caches.items():
                yield Observation(cache._core.lookup_latency()[2], {"name": name})

        latency = f"llmcache.cache.{_LATENCY_NAME}"
        meter.create_observable_counter(
            f"{latency}.bucket",
            callbacks=[buckets],
            unit="{lookup}",
            description=_LATENCY_DESCRIPTION
            + " Lookups that took at most `le` seconds (cumulative).",
        )
        meter.create_observable_counter(
            f"{latency}.count", callbacks=[count], unit="{lookup}", description=_LATENCY_DESCRIPTION
        )
        meter.create_observable_counter(
            f"{latency}.sum",
            callbacks=[total],
            unit="s",
            description=_LATENCY_DESCRIPTION + " The sum of all.",
        )

    def add(self, cache: MeteredCache, name: str) -> None:
        """Reports ``cache`` under ``name``; ValueError if the name is taken."""
        self._caches.add(cache, name)

    def remove(self, name: str) -> None:
        """Stops reporting the cache named ``name`` (KeyError if there is none)."""
        self._caches.remove(name)

    @property
    def names(self) -> list[str]:
        """The names of the caches reported."""
        return self._caches.names


_otel_lock = threading.Lock()
_otel_instruments: weakref.WeakKeyDictionary[MeterProvider, OpenTelemetryInstruments] = (
    weakref.WeakKeyDictionary()
)


def instrument_opentelemetry(
    cache: MeteredCache, name: str = "llm", meter_provider: MeterProvider | None = None
) -> OpenTelemetryInstruments:
    """Reports ``cache``'s metrics through OpenTelemetry (the global meter provider when
    ``meter_provider`` is None), with the attribute ``name``. The instruments are made once
    per meter provider (meter ``langchain_memcached``): call again with another cache and
    name to add it. Returns those instruments.

    Raises ImportError naming the extra when opentelemetry-api is not installed, and
    ValueError when ``name`` is already reported through this meter provider.
    """
    try:
        from opentelemetry import metrics
    except ImportError as error:
        raise _needs("opentelemetry", "opentelemetry-api") from error
    provider = metrics.get_meter_provider() if meter_provider is None else meter_provider
    with _otel_lock:
        instruments = _otel_instruments.get(provider)
        if instruments is None:
            instruments = OpenTelemetryInstruments(provider)
            _otel_instruments[provider] = instruments
        instruments.add(cache, name)
    return instruments
