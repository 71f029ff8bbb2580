#pragma once
// Records latencies into the fixed buckets of kLookupLatencyBounds without a lock: one
// relaxed atomic add for the bucket and one for the sum, so every lookup can afford it, on
// any thread (callers and the I/O thread at once).
#include <llmcache/latency_histogram.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace llmcache {

class LatencyRecorder {
 public:
  using Clock = std::chrono::steady_clock;

  void record(Clock::duration elapsed) noexcept {
    const auto nanos = std::max<std::int64_t>(
        0, std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count());
    // The first bucket whose bound is at least the latency; past the last bound, +Inf's.
    const auto* bound = std::lower_bound(kBoundNanos.begin(), kBoundNanos.end(), nanos);
    counts_[static_cast<std::size_t>(bound - kBoundNanos.begin())].fetch_add(
        1, std::memory_order_relaxed);
    sum_nanos_.fetch_add(static_cast<std::uint64_t>(nanos), std::memory_order_relaxed);
  }

  /// The counts and sum now. Taken bucket by bucket while others may record: a lookup
  /// finishing meanwhile may be in the counts and not yet in the sum, never counted twice.
  LatencyHistogram snapshot() const {
    LatencyHistogram histogram;
    histogram.bounds.assign(kLookupLatencyBounds.begin(), kLookupLatencyBounds.end());
    histogram.counts.reserve(counts_.size());
    for (const auto& count : counts_) {
      histogram.counts.push_back(count.load(std::memory_order_relaxed));
    }
    histogram.sum_seconds = static_cast<double>(sum_nanos_.load(std::memory_order_relaxed)) / 1e9;
    return histogram;
  }

 private:
  // The bounds in whole nanoseconds, so that a latency on a bound falls in that bucket
  // exactly rather than by the luck of floating-point rounding.
  static constexpr std::array<std::int64_t, kLookupLatencyBounds.size()> kBoundNanos = [] {
    std::array<std::int64_t, kLookupLatencyBounds.size()> nanos{};
    for (std::size_t i = 0; i < nanos.size(); ++i) {
      nanos[i] = static_cast<std::int64_t>(kLookupLatencyBounds[i] * 1e9 + 0.5);
    }
    return nanos;
  }();

  std::array<std::atomic<std::uint64_t>, kLookupLatencyBounds.size() + 1> counts_{};
  std::atomic<std::uint64_t> sum_nanos_{0};  // whole nanoseconds: exact, and lock-free
};

/// Records the time from its construction to its destruction: every return of a blocking
/// call, whichever path it takes.
class ScopedLatency {
 public:
  explicit ScopedLatency(LatencyRecorder& recorder) noexcept : recorder_(recorder) {}
  ~ScopedLatency() { recorder_.record(LatencyRecorder::Clock::now() - started_); }
  ScopedLatency(const ScopedLatency&) = delete;
  ScopedLatency& operator=(const ScopedLatency&) = delete;

 private:
  LatencyRecorder& recorder_;
  const LatencyRecorder::Clock::time_point started_ = LatencyRecorder::Clock::now();
};

}  // namespace llmcache
