// The lookup latency histogram's recorder: which bucket a latency lands in, the sum, and
// that concurrent recording loses nothing.
#include "cache/latency_recorder.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace llmcache {
namespace {

using namespace std::chrono_literals;

TEST(LatencyRecorder, EachLatencyLandsInTheFirstBucketWhoseBoundHoldsIt) {
  LatencyRecorder recorder;
  recorder.record(0ns);    // the first bucket (<= 100 µs)
  recorder.record(100us);  // on a bound: that bucket (Prometheus' `le`)
  recorder.record(101us);  // the next one (<= 250 µs)
  recorder.record(3ms);    // <= 5 ms
  recorder.record(10s);    // the last finite bucket
  recorder.record(11s);    // +Inf
  recorder.record(-5ms);   // a clock that went back counts as 0, never a negative sum

  const LatencyHistogram histogram = recorder.snapshot();
  ASSERT_EQ(histogram.bounds.size(), kLookupLatencyBounds.size());
  ASSERT_EQ(histogram.counts.size(), kLookupLatencyBounds.size() + 1);
  EXPECT_EQ(histogram.bounds.front(), 0.0001);
  EXPECT_EQ(histogram.bounds.back(), 10.0);

  std::vector<std::uint64_t> expected(histogram.counts.size(), 0);
  expected[0] = 3;   // 0, 100 µs, -5 ms
  expected[1] = 1;   // 101 µs
  expected[5] = 1;   // 3 ms (bounds: .1 .25 .5 1 2.5 5 ms)
  expected[15] = 1;  // 10 s
  expected[16] = 1;  // 11 s
  EXPECT_EQ(histogram.counts, expected);
  EXPECT_EQ(histogram.count(), 7u);
  EXPECT_NEAR(histogram.sum_seconds, 0.0001 + 0.000101 + 0.003 + 10 + 11, 1e-9);
}

TEST(LatencyRecorder, ConcurrentRecordsAreAllCounted) {
  LatencyRecorder recorder;
  constexpr int kThreads = 4;
  constexpr int kEach = 10000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&recorder] {
      for (int i = 0; i < kEach; ++i) recorder.record(1ms);
    });
  }
  for (auto& thread : threads) thread.join();
  const LatencyHistogram histogram = recorder.snapshot();
  EXPECT_EQ(histogram.count(), std::uint64_t{kThreads} * kEach);
  EXPECT_EQ(histogram.counts[3], std::uint64_t{kThreads} * kEach);  // <= 1 ms
  EXPECT_NEAR(histogram.sum_seconds, kThreads * kEach * 0.001, 1e-6);
}

}  // namespace
}  // namespace llmcache
