// How a lease-aware lookup reads memcached's mg answers (src/cache/leases.hpp): which
// answers are values, which are leases to compute, which mean waiting.
#include "cache/leases.hpp"

#include <gtest/gtest.h>

namespace llmcache {
namespace {

using Kind = LeaseReading::Kind;

MetaGetResult answer(std::optional<std::string> value, bool won, bool already_won) {
  MetaGetResult result;
  if (value) result.item = Item{*value, 0, 42};
  result.won = won;
  result.already_won = already_won;
  return result;
}

TEST(LeaseReading, AValueIsAHit) {
  const auto reading = read_meta_answer(answer("[]", false, false));
  EXPECT_EQ(reading.kind, Kind::kValue);
  EXPECT_EQ(reading.item->value, "[]");
}

TEST(LeaseReading, NothingStoredIsAbsent) {
  EXPECT_EQ(read_meta_answer(answer(std::nullopt, false, false)).kind, Kind::kAbsent);
}

TEST(LeaseReading, WinningAPlaceholderHoldsALeaseWithItsCas) {
  const auto reading = read_meta_answer(answer("", true, false));
  EXPECT_EQ(reading.kind, Kind::kWon);
  EXPECT_TRUE(reading.leased);
  EXPECT_EQ(reading.cas, 42u);
  EXPECT_FALSE(reading.item);
}

TEST(LeaseReading, WinningAStaleValueRefreshesItWithoutALeaseToGiveBack) {
  const auto reading = read_meta_answer(answer("[old]", true, false));
  EXPECT_EQ(reading.kind, Kind::kWon);
  EXPECT_FALSE(reading.leased);
}

TEST(LeaseReading, AnotherCallersPlaceholderMeansWaitNeverAnEmptyHit) {
  const auto reading = read_meta_answer(answer("", false, true));
  EXPECT_EQ(reading.kind, Kind::kTaken);
  EXPECT_FALSE(reading.item);
}

TEST(LeaseReading, AStaleValueAnotherCallerRefreshesIsServed) {
  const auto reading = read_meta_answer(answer("[old]", false, true));
  EXPECT_EQ(reading.kind, Kind::kStale);
  EXPECT_EQ(reading.item->value, "[old]");
}

TEST(LeaseReading, AnEmptyValueWithoutFlagsIsNotAHit) {
  EXPECT_EQ(read_meta_answer(answer("", false, false)).kind, Kind::kAbsent);
}

TEST(LeaseBackoff, GrowsToItsCap) {
  LeaseBackoff backoff;
  EXPECT_EQ(backoff.next(), std::chrono::milliseconds(20));
  EXPECT_EQ(backoff.next(), std::chrono::milliseconds(30));
  std::chrono::milliseconds last{0};
  for (int i = 0; i < 20; ++i) last = backoff.next();
  EXPECT_EQ(last, std::chrono::milliseconds(250));
}

}  // namespace
}  // namespace llmcache
