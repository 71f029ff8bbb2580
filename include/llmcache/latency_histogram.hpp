#pragma once
/// A latency histogram as read at one moment (CacheCore::lookup_latency()): what metrics
/// exporters (langchain_memcached.metrics: Prometheus, OpenTelemetry) publish.
#include <array>
#include <cstdint>
#include <numeric>
#include <vector>

namespace llmcache {

/// Upper bounds, in seconds, of the lookup latency buckets (each bound inclusive, as
/// Prometheus' `le`): from 100 µs, a hit on a nearby server, to 10 s, beyond any sensible
/// deadline; one more bucket, +Inf, takes the rest. Fixed, so that the histograms of every
/// process and every cache add up bucket by bucket.
inline constexpr std::array<double, 16> kLookupLatencyBounds = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0,  10.0};

struct LatencyHistogram {
  /// Upper bounds in seconds, ascending; the last bucket (+Inf) has none listed.
  std::vector<double> bounds;
  /// Observations per bucket, not cumulative: bounds.size() + 1 entries, the last +Inf's.
  std::vector<std::uint64_t> counts;
  /// The sum of every observation, in seconds.
  double sum_seconds = 0;

  /// Every observation.
  std::uint64_t count() const {
    return std::accumulate(counts.begin(), counts.end(), std::uint64_t{0});
  }
};

}  // namespace llmcache
