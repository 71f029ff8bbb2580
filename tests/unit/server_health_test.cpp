// HashClient's failure rules, one at a time, on a fake clock: no sockets, no sleeping.
#include "client/server_health.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace llmcache::detail {
namespace {

using namespace std::chrono_literals;
using Health = ServerHealth;
using State = ServerHealth::State;
using Use = ServerHealth::Use;

// pymemcache's defaults: retry_attempts=2, retry_timeout=1 s, dead_timeout=60 s.
constexpr Health::Rules kRules{2, 1s, 60s};
const Health::Clock::time_point t0 = Health::Clock::time_point{} + 1000h;

/// A request routed to `health` at `now` that fails.
void fail_at(Health& health, Health::Clock::time_point now) {
  ASSERT_EQ(health.use(now), Use::kSend);
  health.record_failure(health.ticket(), now);
}

TEST(ServerHealth, HealthyServerTakesEveryRequest) {
  Health health(kRules);
  for (auto t = t0; t < t0 + 10s; t += 1s) EXPECT_EQ(health.use(t), Use::kSend);
  EXPECT_EQ(health.state(), State::kHealthy);
}

TEST(ServerHealth, FailuresBelowRetryAttemptsKeepTheServer) {
  Health health(kRules);
  fail_at(health, t0);  // the first failure: failing, not removed
  EXPECT_EQ(health.state(), State::kFailing);
  EXPECT_EQ(health.use(t0 + 500ms), Use::kSkip);  // kept: skipped, its keys stay
  fail_at(health, t0 + 1001ms);                   // retry 1 fails
  EXPECT_EQ(health.use(t0 + 1501ms), Use::kSkip);
  fail_at(health, t0 + 2002ms);  // retry 2 fails: attempts == retry_attempts
  EXPECT_EQ(health.state(), State::kFailing);
}

TEST(ServerHealth, TheRequestAfterTheLastAttemptRemovesTheServer) {
  Health health(kRules);
  fail_at(health, t0);
  fail_at(health, t0 + 1001ms);
  fail_at(health, t0 + 2002ms);
  // The budget is spent: the next request that picks it, even within retry_timeout,
  // removes it and goes elsewhere.
  EXPECT_EQ(health.use(t0 + 2500ms), Use::kRemove);
  EXPECT_EQ(health.state(), State::kDead);
  EXPECT_EQ(health.use(t0 + 3s), Use::kRemove);
}

TEST(ServerHealth, ZeroRetryAttemptsRemovesAtTheFirstFailure) {
  Health health({0, 1s, 60s});
  ASSERT_EQ(health.use(t0), Use::kSend);
  EXPECT_TRUE(health.record_failure(health.ticket(), t0));
  EXPECT_EQ(health.state(), State::kDead);
  EXPECT_EQ(health.use(t0), Use::kRemove);
}

TEST(ServerHealth, FailingServerIsSkippedUntilRetryTimeoutHasPassed) {
  Health health(kRules);
  fail_at(health, t0);
  EXPECT_EQ(health.use(t0), Use::kSkip);
  EXPECT_EQ(health.skipped_for(t0), 1s);
  EXPECT_EQ(health.use(t0 + 400ms), Use::kSkip);
  EXPECT_EQ(health.skipped_for(t0 + 400ms), 600ms);
  EXPECT_EQ(health.use(t0 + 1s), Use::kSkip);  // not yet: strictly more than retry_timeout
  EXPECT_EQ(health.use(t0 + 1s + 1ns), Use::kSend);
  // Each failed retry starts the spacing again from its own time.
  health.record_failure(health.ticket(), t0 + 1500ms);
  EXPECT_EQ(health.use(t0 + 2400ms), Use::kSkip);
  EXPECT_EQ(health.use(t0 + 2501ms), Use::kSend);
}

TEST(ServerHealth, DeadServerComesBackAfterDeadTimeoutAndIsProbedAgain) {
  Health health(kRules);
  fail_at(health, t0);
  fail_at(health, t0 + 2s);
  fail_at(health, t0 + 4s);
  const auto died = t0 + 6s;
  ASSERT_EQ(health.use(died), Use::kRemove);
  EXPECT_FALSE(health.revive_if_due(died + 30s));
  EXPECT_FALSE(health.revive_if_due(died + 60s));  // strictly more than dead_timeout
  EXPECT_EQ(health.state(), State::kDead);
  EXPECT_TRUE(health.revive_if_due(died + 60s + 1ns));
  EXPECT_EQ(health.state(), State::kHealthy);
  EXPECT_FALSE(health.revive_if_due(died + 61s));  // once
  // Probed with a real request; failing again starts the whole count from zero.
  const auto back = died + 61s;
  fail_at(health, back);
  EXPECT_EQ(health.state(), State::kFailing);
  fail_at(health, back + 2s);
  fail_at(health, back + 4s);
  EXPECT_EQ(health.state(), State::kFailing);
  EXPECT_EQ(health.use(back + 6s), Use::kRemove);
}

TEST(ServerHealth, ReviveLeavesLiveServersAlone) {
  Health health(kRules);
  EXPECT_FALSE(health.revive_if_due(t0 + 1000s));
  fail_at(health, t0);
  EXPECT_FALSE(health.revive_if_due(t0 + 1000s));
  EXPECT_EQ(health.state(), State::kFailing);
}

TEST(ServerHealth, SuccessfulRetryResetsTheCount) {
  Health health(kRules);
  fail_at(health, t0);
  fail_at(health, t0 + 2s);  // one attempt used
  ASSERT_EQ(health.use(t0 + 4s), Use::kSend);
  health.record_success(health.ticket());
  EXPECT_EQ(health.state(), State::kHealthy);
  EXPECT_EQ(health.use(t0 + 4s), Use::kSend);
  // A new streak gets the whole budget again: three failures before removal.
  fail_at(health, t0 + 10s);
  fail_at(health, t0 + 12s);
  fail_at(health, t0 + 14s);
  EXPECT_EQ(health.state(), State::kFailing);
  EXPECT_EQ(health.use(t0 + 16s), Use::kRemove);
}

TEST(ServerHealth, RequestsInFlightTogetherCountAsOneFailure) {
  Health health(kRules);
  // Three requests routed while healthy, all failing when the server goes away.
  ASSERT_EQ(health.use(t0), Use::kSend);
  const auto ticket = health.ticket();
  health.record_failure(ticket, t0);
  health.record_failure(ticket, t0 + 1ms);
  health.record_failure(ticket, t0 + 2ms);
  // Still the first failure only: skipped from t0, two retries left.
  EXPECT_EQ(health.skipped_for(t0 + 500ms), 500ms);
  fail_at(health, t0 + 2s);
  fail_at(health, t0 + 4s);
  EXPECT_EQ(health.state(), State::kFailing);
  EXPECT_EQ(health.use(t0 + 6s), Use::kRemove);
}

TEST(ServerHealth, LateReplyToARequestRoutedBeforeTheFailureDoesNotRevive) {
  Health health(kRules);
  ASSERT_EQ(health.use(t0), Use::kSend);
  const auto before = health.ticket();
  health.record_failure(before, t0);
  health.record_success(before);  // routed before the failure: says nothing of now
  EXPECT_EQ(health.state(), State::kFailing);
}

TEST(ServerHealth, OutcomesOfADeadServerAreIgnored) {
  Health health({0, 1s, 60s});
  ASSERT_EQ(health.use(t0), Use::kSend);
  health.record_failure(health.ticket(), t0);
  ASSERT_EQ(health.state(), State::kDead);
  health.record_success(health.ticket());
  EXPECT_FALSE(health.record_failure(health.ticket(), t0 + 1s));
  EXPECT_EQ(health.state(), State::kDead);
  EXPECT_TRUE(health.revive_if_due(t0 + 60s + 1ns));  // dead_timeout from the removal
}

}  // namespace
}  // namespace llmcache::detail
