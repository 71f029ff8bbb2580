// Whether and how long the blocking round trip spins, as the policy decides it from the
// waits it is told about (made-up times; no clock).
#include "net/spin_policy.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace llmcache::net {
namespace {

using namespace std::chrono_literals;
using Duration = SpinPolicy::Duration;

// One wait the way the connection does it: spin for the budget (caught when the reply
// comes within it), else sleep; the reply comes `spinning` after the first empty read
// when the caller spins, `sleeping` after it when it sleeps. Returns whether it spun.
bool wait(SpinPolicy& policy, Duration spinning, Duration sleeping) {
  const Duration budget = policy.budget();
  if (budget > Duration::zero() && spinning <= budget) {
    policy.caught(spinning);
    return true;
  }
  if (budget > Duration::zero()) {
    policy.slept(std::max(spinning, budget), true);  // ran out, then slept
    return true;
  }
  policy.slept(sleeping, false);
  return false;
}

// The most probes `n` waits may hold: one per kMaxProbeEvery waits, and the few while the
// interval grows to it.
int max_probes(int n) {
  return n / static_cast<int>(SpinPolicy::kMaxProbeEvery) + 6;
}

// How many of `n` waits spun.
int spins_over(SpinPolicy& policy, int n, Duration spinning, Duration sleeping) {
  int spun = 0;
  for (int i = 0; i < n; ++i) spun += wait(policy, spinning, sleeping);
  return spun;
}

TEST(SpinPolicy, ANewConnectionSpinsTheWholeCapThenSleepsOnceToCompare) {
  SpinPolicy policy(50us);
  EXPECT_EQ(policy.budget(), 50us);
  policy.caught(10us);
  EXPECT_EQ(policy.budget(), Duration::zero());
}

TEST(SpinPolicy, AZeroCapNeverSpins) {
  SpinPolicy policy(0us);
  EXPECT_FALSE(policy.enabled());
  EXPECT_EQ(spins_over(policy, 2000, 5us, 60us), 0);
  SpinPolicy negative(-5us);
  EXPECT_EQ(spins_over(negative, 100, 5us, 60us), 0);
}

// A slow wake-up (the server on the other CPU, a sleeping caller woken across CPUs):
// spinning catches the reply in a fraction of sleeping's wait.
TEST(SpinPolicy, SpinsForTwiceTheCaughtWaitWhenSleepingWakesSlowly) {
  SpinPolicy policy(50us);
  spins_over(policy, 2, 10us, 45us);  // learn both ways
  EXPECT_TRUE(policy.spinning());
  EXPECT_EQ(policy.budget(), 20us);
  // Sleeps only to probe, rarely.
  EXPECT_GE(spins_over(policy, 2000, 10us, 45us), 2000 - max_probes(2000));
}

// The server's thread runs on the caller's CPU while it sleeps: sleeping is as quick, a
// spin would only burn the CPU the server needs.
TEST(SpinPolicy, SleepsWhenSpinningDoesNotShortenTheWait) {
  SpinPolicy policy(50us);
  spins_over(policy, 2, 25us, 8us);
  EXPECT_FALSE(policy.spinning());
  // Spins only to probe, ever rarer.
  EXPECT_LE(spins_over(policy, 2000, 25us, 8us), max_probes(2000));
}

TEST(SpinPolicy, SpinningMustCutTheWaitByAFifth) {
  SpinPolicy close(50us);
  spins_over(close, 50, 9us, 10us);
  EXPECT_FALSE(close.spinning());
  SpinPolicy clear(50us);
  spins_over(clear, 50, 7us, 10us);
  EXPECT_TRUE(clear.spinning());
  // The slow state: spinning's wait about half of sleeping's spins, every time but probes.
  SpinPolicy slow(50us);
  EXPECT_GE(spins_over(slow, 2000, 45us, 90us), 2000 - max_probes(2000));
}

TEST(SpinPolicy, RepliesSlowerThanTheCapMakeItSleep) {
  SpinPolicy policy(50us);
  // The server takes 300 µs to answer (a busy server, a large value): no spin catches it.
  EXPECT_LE(spins_over(policy, 1000, 300us, 305us), max_probes(1000));
  EXPECT_FALSE(policy.spinning());
}

TEST(SpinPolicy, TheBudgetNeverExceedsTheCap) {
  SpinPolicy policy(20us);
  spins_over(policy, 2, 15us, 200us);
  EXPECT_TRUE(policy.spinning());
  EXPECT_EQ(policy.budget(), 20us);
}

TEST(SpinPolicy, ProbesNoticeWhenTheStateChanges) {
  SpinPolicy policy(50us);
  spins_over(policy, 500, 25us, 8us);  // sleeping is better...
  EXPECT_FALSE(policy.spinning());
  // ...until wake-ups turn slow: a probe notices within its interval, at most
  // kMaxProbeEvery waits, and the waits after it spin.
  int waits = 0;
  while (!policy.spinning() && waits < 1000) {
    wait(policy, 10us, 50us);
    ++waits;
  }
  EXPECT_LE(waits, static_cast<int>(SpinPolicy::kMaxProbeEvery) + 16);
  EXPECT_GE(spins_over(policy, 100, 10us, 50us), 90);
  // And back.
  waits = 0;
  while (policy.spinning() && waits < 1000) {
    wait(policy, 25us, 8us);
    ++waits;
  }
  EXPECT_LT(waits, 1000);
  EXPECT_LE(spins_over(policy, 100, 25us, 8us), 10);
}

}  // namespace
}  // namespace llmcache::net
