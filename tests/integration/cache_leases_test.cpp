// CacheCore's single_flight and stale_ttl against real memcached, in both protocols: each
// cache is its own client (its own connections), as separate processes would be.
#include <llmcache/cache.hpp>
#include <llmcache/cache_core.hpp>
#include <llmcache/errors.hpp>

#include "support/memcached_server.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <thread>

namespace llmcache {
namespace {

using namespace std::chrono_literals;
using testing::MemcachedServer;

constexpr std::string_view kKey = "e9d5056781cb5de7386f768fd2eaa106";
constexpr std::string_view kValue = R"([{"text": "the answer"}])";

struct Mode {
  const char* name;
  Protocol protocol;
  friend void PrintTo(const Mode& mode, std::ostream* out) { *out << mode.name; }
};

MemcachedCacheOptions single_flight(std::chrono::milliseconds wait = 30s,
                                    std::chrono::seconds lease_ttl = 30s) {
  MemcachedCacheOptions options;
  options.single_flight = true;
  options.single_flight_wait = wait;
  options.lease_ttl = lease_ttl;
  return options;
}

class Leases : public ::testing::TestWithParam<Mode> {
 protected:
  std::shared_ptr<ClientBase> client() const {
    ClientOptions options;
    options.connect_timeout = 2s;
    options.request_timeout = 2s;
    options.protocol = GetParam().protocol;
    return std::make_shared<Client>(server_.address(), options);
  }

  std::shared_ptr<CacheCore> cache(MemcachedCacheOptions options = single_flight()) const {
    return std::make_shared<CacheCore>(client(), std::move(options));
  }

  /// A blocking lookup on its own thread, as another process's caller.
  static std::future<std::optional<std::string>> fetch_later(std::shared_ptr<CacheCore> core) {
    return std::async(std::launch::async, [core] { return core->fetch(kKey); });
  }

  /// Lets a waiter started just before reach its first read, so that it waits rather than
  /// reads what comes next. Only orders the test's steps: nothing asserts a duration.
  static void let_waiter_start() { std::this_thread::sleep_for(300ms); }

  MemcachedServer server_;
};

TEST_P(Leases, OneWinnerTheWaiterGetsItsValue) {
  auto winner = cache();
  auto waiter = cache();
  EXPECT_FALSE(winner->fetch(kKey));
  auto waited = fetch_later(waiter);
  let_waiter_start();
  EXPECT_TRUE(winner->store(kKey, kValue));
  EXPECT_EQ(waited.get(), std::string(kValue));
  EXPECT_EQ(winner->stats().leases_won, 1u);
  EXPECT_EQ(waiter->stats().leases_won, 0u);
  EXPECT_EQ(waiter->stats().lease_waits, 1u);
  EXPECT_EQ(waiter->stats().lease_wait_timeouts, 0u);
  // Later lookups are plain hits.
  EXPECT_EQ(waiter->fetch(kKey), std::string(kValue));
  EXPECT_EQ(waiter->stats().lease_waits, 1u);
}

TEST_P(Leases, AsyncWaiterGetsTheValue) {
  auto winner = cache();
  auto waiter = cache();
  EXPECT_FALSE(winner->fetch(kKey));
  std::promise<std::optional<std::string>> got;
  waiter->start_fetch(std::string(kKey),
                      [&got](std::exception_ptr, std::optional<std::string> value) {
                        got.set_value(std::move(value));
                      });
  let_waiter_start();
  EXPECT_TRUE(winner->store(kKey, kValue));
  EXPECT_EQ(got.get_future().get(), std::string(kValue));
  EXPECT_EQ(waiter->stats().lease_waits, 1u);
}

TEST_P(Leases, AWaitThatRunsOutIsAMissNeverThePlaceholder) {
  auto winner = cache();
  auto waiter = cache(single_flight(300ms));
  EXPECT_FALSE(winner->fetch(kKey));
  EXPECT_FALSE(waiter->fetch(kKey));
  std::promise<std::optional<std::string>> got;
  waiter->start_fetch(std::string(kKey),
                      [&got](std::exception_ptr, std::optional<std::string> value) {
                        got.set_value(std::move(value));
                      });
  EXPECT_FALSE(got.get_future().get());
  EXPECT_EQ(waiter->stats().lease_wait_timeouts, 2u);
  EXPECT_EQ(waiter->stats().leases_won, 0u);
  EXPECT_EQ(waiter->stats().decode_errors, 0u);
}

TEST_P(Leases, AWaiterTakesOverWhenTheWinnerNeverStores) {
  auto winner = cache(single_flight(30s, 1s));
  auto waiter = cache(single_flight(30s, 1s));
  EXPECT_FALSE(winner->fetch(kKey));  // and then never stores, as if killed
  EXPECT_FALSE(waiter->fetch(kKey));  // after lease_ttl: its own lease
  EXPECT_EQ(waiter->stats().leases_won, 1u);
  EXPECT_EQ(waiter->stats().lease_wait_timeouts, 0u);
  // The take-over's value reaches the next waiter.
  auto third = cache();
  auto waited = fetch_later(third);
  let_waiter_start();
  EXPECT_TRUE(waiter->store(kKey, kValue));
  EXPECT_EQ(waited.get(), std::string(kValue));
}

TEST_P(Leases, ReleasingALeaseLetsAWaiterTakeOverAtOnce) {
  auto winner = cache();
  auto waiter = cache();
  EXPECT_FALSE(winner->fetch(kKey));
  auto waited = fetch_later(waiter);
  let_waiter_start();
  winner->release_lease(kKey);
  EXPECT_FALSE(waited.get());  // long before lease_ttl (30 s) or the wait (30 s)
  EXPECT_EQ(waiter->stats().leases_won, 1u);
  EXPECT_EQ(waiter->stats().lease_wait_timeouts, 0u);
}

TEST_P(Leases, ASkippedUpdateGivesTheLeaseBack) {
  auto winner = cache();
  auto waiter = cache();
  EXPECT_FALSE(winner->fetch(kKey));
  auto waited = fetch_later(waiter);
  let_waiter_start();
  CacheControl no_store;
  no_store.no_store = true;
  EXPECT_FALSE(winner->store(kKey, kValue, no_store));
  EXPECT_FALSE(waited.get());
  EXPECT_EQ(waiter->stats().leases_won, 1u);
}

TEST_P(Leases, ReleaseRemovesOnlyItsOwnPlaceholder) {
  auto winner = cache(single_flight(30s, 1s));
  auto next = cache(single_flight(30s, 1s));
  EXPECT_FALSE(winner->fetch(kKey));
  EXPECT_FALSE(next->fetch(kKey));  // took over after lease_ttl
  winner->release_lease(kKey);      // the first lease: not the current one
  auto third = cache(single_flight(300ms));
  EXPECT_FALSE(third->fetch(kKey));
  EXPECT_EQ(third->stats().lease_wait_timeouts, 1u);  // still held by `next`
  EXPECT_EQ(third->stats().leases_won, 0u);
}

TEST_P(Leases, ReleaseWithoutALeaseDoesNothing) {
  auto plain = cache();
  ASSERT_TRUE(plain->store(kKey, kValue));
  plain->release_lease(kKey);
  EXPECT_EQ(plain->fetch(kKey), std::string(kValue));
}

TEST_P(Leases, NamespacedAndSignedEntriesWaitTheSameWay) {
  MemcachedCacheOptions options = single_flight();
  options.namespace_ = "tenant-a";
  options.signing_secret = "secret";
  auto winner = cache(options);
  auto waiter = cache(options);
  EXPECT_FALSE(winner->fetch(kKey));
  auto waited = fetch_later(waiter);
  let_waiter_start();
  EXPECT_TRUE(winner->store(kKey, kValue));
  EXPECT_EQ(waited.get(), std::string(kValue));
  EXPECT_EQ(waiter->stats().lease_waits, 1u);
  EXPECT_EQ(waiter->stats().signature_failures, 0u);
}

// The C++ face (MemcachedCache) of the same core: per-call control and the lease's give-back.
TEST_P(Leases, TheCppFaceTakesPerCallControlAndGivesLeasesBack) {
  MemcachedCache winner(client(), single_flight());
  MemcachedCache waiter(client(), single_flight());
  const Generations answer{Generation{"the answer", std::nullopt}};
  EXPECT_FALSE(winner.lookup("prompt", "llm"));  // won the lease
  auto waited = std::async(std::launch::async, [&] { return waiter.lookup("prompt", "llm"); });
  let_waiter_start();
  winner.release_lease("prompt", "llm");  // its model call failed
  EXPECT_FALSE(waited.get());             // the waiter took over, long before lease_ttl
  EXPECT_EQ(waiter.stats().leases_won, 1u);
  EXPECT_EQ(waiter.stats().lease_wait_timeouts, 0u);

  CacheControl no_store;
  no_store.no_store = true;
  EXPECT_FALSE(waiter.update("prompt", "llm", answer, no_store));  // skipped, lease given back
  EXPECT_FALSE(winner.lookup("prompt", "llm"));                    // so this one wins at once
  EXPECT_EQ(winner.stats().leases_won, 2u);
  EXPECT_TRUE(winner.update("prompt", "llm", answer));
  EXPECT_EQ(waiter.lookup("prompt", "llm"), answer);
  CacheControl refresh;
  refresh.refresh = true;
  EXPECT_FALSE(waiter.lookup("prompt", "llm", refresh));  // recompute: not read
  EXPECT_EQ(waiter.stats().lease_waits, 0u);
}

INSTANTIATE_TEST_SUITE_P(Protocols, Leases,
                         ::testing::Values(Mode{"meta", Protocol::kMeta},
                                           Mode{"classic", Protocol::kClassic}),
                         [](const auto& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------- stale_ttl

std::shared_ptr<CacheCore> stale_cache(const MemcachedServer& server, Protocol protocol,
                                       bool single_flight = false) {
  ClientOptions client;
  client.protocol = protocol;
  MemcachedCacheOptions options;
  options.ttl = 1s;
  options.stale_ttl = 60s;
  options.single_flight = single_flight;
  return std::make_shared<CacheCore>(std::make_shared<Client>(server.address(), client), options);
}

/// Past the entry's ttl (1 s), inside its stale window (memcached's clock counts whole
/// seconds, so a little more than 2 of them).
void outlive_ttl() {
  std::this_thread::sleep_for(2500ms);
}

TEST(StaleTtl, OneCallerRefreshesTheOthersAreServedTheOldValue) {
  for (bool single_flight : {false, true}) {
    MemcachedServer server;
    auto writer = stale_cache(server, Protocol::kMeta, single_flight);
    ASSERT_TRUE(writer->store(kKey, kValue));
    EXPECT_EQ(writer->fetch(kKey), std::string(kValue));  // fresh: a plain hit
    outlive_ttl();
    std::vector<std::shared_ptr<CacheCore>> readers;
    std::vector<std::future<std::optional<std::string>>> lookups;
    for (int i = 0; i < 5; ++i) {
      readers.push_back(stale_cache(server, Protocol::kMeta, single_flight));
      auto reader = readers.back();
      lookups.push_back(std::async(std::launch::async, [reader] { return reader->fetch(kKey); }));
    }
    int misses = 0;
    int served = 0;
    for (auto& lookup : lookups) {
      auto value = lookup.get();
      if (!value) {
        ++misses;
      } else {
        EXPECT_EQ(*value, kValue);
        ++served;
      }
    }
    EXPECT_EQ(misses, 1);
    EXPECT_EQ(served, 4);
    CacheStats total;
    for (const auto& reader : readers) {
      total.stale_served += reader->stats().stale_served;
      total.leases_won += reader->stats().leases_won;
    }
    EXPECT_EQ(total.stale_served, 4u);
    EXPECT_EQ(total.leases_won, 1u);
    // The refresh replaces it: a fresh hit again.
    ASSERT_TRUE(writer->store(kKey, "refreshed"));
    EXPECT_EQ(readers[0]->fetch(kKey), std::string("refreshed"));
    EXPECT_EQ(readers[0]->stats().stale_served + readers[0]->stats().leases_won, 1u);
  }
}

TEST(StaleTtl, StoresWithTtlPlusTheStaleWindow) {
  MemcachedServer server;
  auto cache = stale_cache(server, Protocol::kMeta);
  ASSERT_TRUE(cache->store(kKey, kValue));
  Client raw(server.address());
  const auto answer = raw.meta_get(kKey, {.ttl = true});
  ASSERT_TRUE(answer.ttl);
  EXPECT_GT(*answer.ttl, 50);
  EXPECT_LE(*answer.ttl, 61);
}

TEST(StaleTtl, ClassicModeStoresWithThePlainTtlAndServesNothingStale) {
  MemcachedServer server;
  auto cache = stale_cache(server, Protocol::kClassic);
  ASSERT_TRUE(cache->store(kKey, kValue));
  Client raw(server.address());
  const auto answer = raw.meta_get(kKey, {.ttl = true});
  ASSERT_TRUE(answer.ttl);
  EXPECT_LE(*answer.ttl, 1);
  EXPECT_EQ(cache->fetch(kKey), std::string(kValue));
  outlive_ttl();
  EXPECT_FALSE(cache->fetch(kKey));
  EXPECT_EQ(cache->stats().stale_served, 0u);
}

// ---------------------------------------------------------------- options

TEST(LeaseOptions, AreCheckedWhenTheCacheIsMade) {
  MemcachedServer server;
  auto client = std::make_shared<Client>(server.address());
  auto make = [&](MemcachedCacheOptions options) { CacheCore core(client, std::move(options)); };
  MemcachedCacheOptions no_wait;
  no_wait.single_flight = true;
  no_wait.single_flight_wait = 0ms;
  EXPECT_THROW(make(no_wait), InvalidArgumentError);
  MemcachedCacheOptions no_lease;
  no_lease.single_flight = true;
  no_lease.lease_ttl = 0s;
  EXPECT_THROW(make(no_lease), InvalidArgumentError);
  MemcachedCacheOptions negative_stale;
  negative_stale.stale_ttl = -1s;
  EXPECT_THROW(make(negative_stale), InvalidArgumentError);
  MemcachedCacheOptions stale_without_ttl;
  stale_without_ttl.stale_ttl = 10s;
  EXPECT_THROW(make(stale_without_ttl), InvalidArgumentError);
  MemcachedCacheOptions off;  // lease options are not checked when single_flight is off
  off.lease_ttl = 0s;
  EXPECT_NO_THROW(make(off));
}

TEST(LeaseOptions, OffByDefaultAPlainMissLeavesNoPlaceholder) {
  MemcachedServer server;
  auto client = std::make_shared<Client>(server.address());
  auto core = std::make_shared<CacheCore>(client);
  EXPECT_FALSE(core->fetch(kKey));
  EXPECT_FALSE(client->get(kKey));
  EXPECT_EQ(core->stats().leases_won, 0u);
}

}  // namespace
}  // namespace llmcache
