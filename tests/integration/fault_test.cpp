// Faults with real memcached processes: killed, hung, restarted, full, silent, unreachable,
// partitioned. For each the tests check what a user would notice: no exception escapes
// MemcachedCache::lookup, no call outlives its deadline (plus a generous margin: this is
// a correctness bound, not a benchmark), no reply is ever matched to the wrong request
// (every value names its key), the client recovers without help, and the counters say
// what happened.
#include <llmcache/cache.hpp>
#include <llmcache/client.hpp>
#include <llmcache/codec.hpp>
#include <llmcache/errors.hpp>
#include <llmcache/key.hpp>
#include <llmcache/log.hpp>

#include "client/rendezvous_hash.hpp"
#include "support/fake_server.hpp"
#include "support/log_and_errors.hpp"
#include "support/memcached_server.hpp"
#include "support/netns.hpp"

#include <gtest/gtest.h>
#include <asio/use_future.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <iostream>
#include <mutex>
#include <random>
#include <semaphore>
#include <thread>

namespace llmcache {
namespace {

using testing::describe;
using testing::details_of;
using testing::holds;
using testing::QuietLog;
using testing::reason_of;
using testing::thrown_by;

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::FakePeer;
using testing::FakeServer;
using testing::MemcachedServer;

// Added to every deadline before a call counts as having outlived it. Generous because
// the machine is shared and loaded; a hang would exceed any margin.
constexpr auto kMargin = 2s;

/// Runs `f`, returning the exception it threw (if any) and how long it took.
template <class F>
std::pair<std::exception_ptr, Clock::duration> timed(F f) {
  const auto start = Clock::now();
  std::exception_ptr error;
  try {
    f();
  } catch (...) {
    error = std::current_exception();
  }
  return {error, Clock::now() - start};
}

/// lookup and async_lookup of an entry the fault keeps out of reach: a miss, never an
/// exception, and back within `bound`.
void expect_lookups_miss_within(MemcachedCache& cache, Clock::duration bound) {
  for (const bool async : {false, true}) {
    std::optional<Generations> hit;
    const auto [error, elapsed] = timed([&] {
      hit = async ? cache.async_lookup("p", "l", asio::use_future).get() : cache.lookup("p", "l");
    });
    EXPECT_FALSE(error) << (async ? "async_lookup: " : "lookup: ") << describe(error);
    EXPECT_FALSE(hit);
    EXPECT_LT(elapsed, bound);
  }
}

Generations text(const std::string& s) {
  return {Generation{s, {}}};
}

std::string text_of_hit(const std::optional<Generations>& hit) {
  return hit && !hit->empty() ? text_of(hit->front()) : "";
}

// ============================================================ 100,000 requests, servers dying

// Every value names its key, so a reply handed to the wrong request shows as a mismatch.
std::string value_for(const std::string& key, std::uint64_t counter) {
  return "v1:" + key + ":" + std::to_string(counter);
}
bool belongs_to(const std::string& value, const std::string& key) {
  return value.starts_with("v1:" + key + ":");
}

struct Tally {
  std::atomic<std::uint64_t> requests{0}, hits{0}, misses{0}, stored{0}, errors{0};
  std::atomic<std::uint64_t> timeouts{0}, mismatches{0}, late{0};

  void check(const std::optional<Item>& item, const std::string& key) {
    if (!item) {
      ++misses;
    } else if (belongs_to(item->value, key)) {
      ++hits;
    } else {
      ++mismatches;
    }
  }
  void error(const std::exception_ptr& e) {
    ++errors;
    if (holds<TimeoutError>(e)) ++timeouts;
  }
  std::string line() const {
    return "requests=" + std::to_string(requests) + " hits=" + std::to_string(hits) +
           " misses=" + std::to_string(misses) + " stored=" + std::to_string(stored) +
           " errors=" + std::to_string(errors) + " (timeouts=" + std::to_string(timeouts) +
           ") mismatches=" + std::to_string(mismatches) + " late=" + std::to_string(late);
  }
};

// kill -9 and restart random servers when the burst reaches random points (seeded, so a
// failure can be replayed), from its own thread so the burst never waits for a restart.
// The servers it restarts die with that thread (MemcachedServer sets PR_SET_PDEATHSIG,
// which follows the thread that forked), so it must outlive every use of them.
class Killer {
 public:
  Killer(std::vector<MemcachedServer*> servers, std::uint32_t seed)
      : servers_(std::move(servers)), random_(seed), thread_([this] { run(); }) {}
  ~Killer() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  /// Waits until the kills asked for so far are done and their servers restarted.
  void drain() {
    std::unique_lock lock(mutex_);
    wake_.wait(lock, [&] { return queued_ == 0 && !busy_; });
  }
  void trigger() {
    {
      std::lock_guard lock(mutex_);
      ++queued_;
    }
    wake_.notify_all();
  }
  int kills() const { return kills_.load(); }
  std::string failure() {
    std::lock_guard lock(mutex_);
    return failure_;
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return stopping_ || queued_ > 0; });
      if (queued_ == 0) return;
      --queued_;
      busy_ = true;
      auto* server = servers_[random_() % servers_.size()];
      const auto down_for = std::chrono::milliseconds(20 + random_() % 150);
      lock.unlock();
      server->kill();
      ++kills_;
      std::this_thread::sleep_for(down_for);
      // A restart can lose its port to a client socket that happened to pick it as its
      // own ephemeral port while the server was down; such sockets go away at once.
      std::string failed = "not restarted";
      for (int attempt = 0; attempt < 5 && !failed.empty(); ++attempt) {
        try {
          server->start();
          failed.clear();
        } catch (const std::exception& e) {
          failed = e.what();
          std::this_thread::sleep_for(50ms);
        }
      }
      lock.lock();
      if (!failed.empty()) failure_ = failed;
      busy_ = false;
      wake_.notify_all();
    }
  }

  std::vector<MemcachedServer*> servers_;
  std::mt19937 random_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  int queued_ = 0;
  bool busy_ = false;
  std::atomic<int> kills_{0};
  std::string failure_;
  std::thread thread_;
};

constexpr std::uint64_t kBurstRequests = 100'000;
constexpr int kKills = 6;

// Pipelined async gets, sets and get_many from the calling thread (at most kWindow
// requests in flight), plus one thread doing blocking get/set on the same client, while
// the Killer kills and restarts servers. Prints the totals.
void burst(ClientBase& client, std::vector<MemcachedServer*> servers, const std::string& name,
           std::chrono::milliseconds request_timeout, std::chrono::milliseconds connect_timeout) {
  constexpr std::size_t kKeys = 2000;
  constexpr std::ptrdiff_t kWindow = 512;
  constexpr std::size_t kManyKeys = 8;
  const std::uint32_t seed = 20261125;
  std::cout << "[" << name << "] seed " << seed << std::endl;

  std::mt19937 random(seed);
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < kKeys; ++i) keys.push_back("burst-" + std::to_string(i));
  // The burst points at which a server is killed: random, but inside the burst.
  std::vector<std::uint64_t> kill_at;
  for (int i = 0; i < kKills; ++i) kill_at.push_back(5'000 + random() % 90'000);
  std::sort(kill_at.begin(), kill_at.end());

  Tally async_tally, blocking_tally;
  std::counting_semaphore<kWindow> window(kWindow);
  std::atomic<std::uint64_t> counter{0};
  const auto async_bound = request_timeout + kMargin;
  const auto blocking_bound = connect_timeout + request_timeout + kMargin;

  std::atomic<bool> done{false};
  std::thread blocking([&] {
    std::mt19937 r(seed + 1);
    while (!done) {
      const std::string& key = keys[r() % kKeys];
      const bool write = r() % 2 == 0;
      const auto [error, elapsed] = timed([&] {
        if (write) {
          client.set(key, value_for(key, ++counter));
          ++blocking_tally.stored;
        } else {
          blocking_tally.check(client.get(key), key);
        }
      });
      ++blocking_tally.requests;
      if (error) blocking_tally.error(error);
      if (elapsed > blocking_bound) ++blocking_tally.late;
    }
  });

  const auto start = Clock::now();
  Killer killer(servers, seed + 2);
  {
    std::size_t next_kill = 0;
    std::uint64_t submitted = 0;
    while (submitted < kBurstRequests) {
      while (next_kill < kill_at.size() && submitted >= kill_at[next_kill]) {
        killer.trigger();
        ++next_kill;
      }
      window.acquire();
      const auto sent_at = Clock::now();
      auto finish = [&, sent_at](const std::exception_ptr& error) {
        if (error) async_tally.error(error);
        if (Clock::now() - sent_at > async_bound) ++async_tally.late;
        window.release();
      };
      const unsigned op = random() % 10;
      if (op < 4) {  // set
        const std::string& key = keys[random() % kKeys];
        client.start_set(key, value_for(key, ++counter), {},
                         [&, finish](std::exception_ptr error, StoreResult) {
                           if (!error) ++async_tally.stored;
                           finish(error);
                         });
        submitted += 1;
      } else if (op < 9) {  // get
        const std::string& key = keys[random() % kKeys];
        client.start_get(key, [&, finish, key](std::exception_ptr error, std::optional<Item> item) {
          if (!error) async_tally.check(item, key);
          finish(error);
        });
        submitted += 1;
      } else {  // get_many: kManyKeys pipelined gets, one result
        std::vector<std::string> many;
        for (std::size_t i = 0; i < kManyKeys; ++i) many.push_back(keys[random() % kKeys]);
        client.start_get_many(many, [&, finish, many](std::exception_ptr error,
                                                      std::vector<std::optional<Item>> items) {
          if (!error) {
            if (items.size() != many.size()) {
              async_tally.mismatches += many.size();
            } else {
              for (std::size_t i = 0; i < many.size(); ++i) async_tally.check(items[i], many[i]);
            }
          } else {
            // One failure fails the whole call: count it once per key requested.
            async_tally.errors += many.size() - 1;
          }
          finish(error);
        });
        submitted += kManyKeys;
      }
      async_tally.requests = submitted;
    }
    // Every request completes: take back the whole window.
    for (std::ptrdiff_t i = 0; i < kWindow; ++i) {
      ASSERT_TRUE(window.try_acquire_for(request_timeout + 10s)) << "a request never completed";
    }
    killer.drain();  // waits for the last restart
    EXPECT_EQ(killer.kills(), kKills);
    EXPECT_EQ(killer.failure(), "");
  }
  const auto elapsed = Clock::now() - start;
  done = true;
  blocking.join();

  std::cout << "[" << name << "] async " << async_tally.line() << std::endl;
  std::cout << "[" << name << "] blocking " << blocking_tally.line() << std::endl;
  std::cout << "[" << name << "] " << kKills << " kills in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms"
            << std::endl;
  EXPECT_GE(async_tally.requests.load(), kBurstRequests);
  EXPECT_EQ(async_tally.mismatches.load(), 0u);
  EXPECT_EQ(blocking_tally.mismatches.load(), 0u);
  EXPECT_EQ(async_tally.late.load(), 0u);
  EXPECT_EQ(blocking_tally.late.load(), 0u);
  // The faults really hit the burst, and most of it still got through.
  EXPECT_GT(async_tally.errors.load(), 0u);
  EXPECT_GT(async_tally.hits.load(), kBurstRequests / 10);
  EXPECT_GT(async_tally.stored.load(), kBurstRequests / 10);

  // Recovered by itself: the same client works on every server once they are back (a
  // HashClient may still skip a server for retry_timeout, or bring one back after
  // dead_timeout, so each key gets a bounded while to settle).
  for (std::size_t i = 0; i < 50; ++i) {
    const std::string key = "after-" + std::to_string(i);
    const std::string value = value_for(key, 0);
    bool works = false;
    std::string last;
    const auto recover_by = Clock::now() + 10s;
    while (!works && Clock::now() < recover_by) {
      const auto error =
          timed([&] {
            client.set(key, value);
            auto item = client.get(key);
            auto async_item = client.async_get(key, asio::use_future).get();
            works = item && item->value == value && async_item && async_item->value == value;
            if (!works) {
              last = "read " + (item ? item->value : "a miss") + " and " +
                     (async_item ? async_item->value : "a miss");
            }
          }).first;
      if (error) last = describe(error);
      if (!works) std::this_thread::sleep_for(50ms);
    }
    ASSERT_TRUE(works) << key << ": " << last;
  }
}

TEST(FaultBurst, ClientWithItsServerKilledAndRestarted) {
  QuietLog quiet;
  MemcachedServer server;
  ClientOptions options;
  options.connect_timeout = 500ms;
  options.request_timeout = 1000ms;
  Client client(server.address(), options);
  burst(client, {&server}, "Client", options.request_timeout, options.connect_timeout);
}

TEST(FaultBurst, HashClientWithServersKilledAndRestarted) {
  QuietLog quiet;
  std::array<MemcachedServer, 3> servers;
  HashClientOptions options;
  options.client.connect_timeout = 500ms;
  options.client.request_timeout = 1000ms;
  options.retry_timeout = 100ms;
  options.dead_timeout = 300ms;  // so killed servers come back during the burst
  HashClient client({servers[0].address(), servers[1].address(), servers[2].address()}, options);
  burst(client, {&servers[0], &servers[1], &servers[2]}, "HashClient",
        options.client.request_timeout, options.client.connect_timeout);
}

// ============================================================ hung server (SIGSTOP)

TEST(Fault, HungServerFailsEveryCallByItsDeadlineThenServesTheSameClientAgain) {
  QuietLog quiet;
  MemcachedServer server;
  ClientOptions options;
  options.connect_timeout = 300ms;
  options.request_timeout = 300ms;
  auto client = std::make_shared<Client>(server.address(), options);
  MemcachedCache cache(client);
  ASSERT_TRUE(cache.update("p", "l", text("answer")));
  client->set("k", "v:k");

  server.pause();
  const auto bound = options.request_timeout + kMargin;
  auto [error, elapsed] = timed([&] { client->get("k"); });
  EXPECT_TRUE(holds<TimeoutError>(error)) << describe(error);
  EXPECT_LT(elapsed, bound);
  std::tie(error, elapsed) = timed([&] { client->async_get("k", asio::use_future).get(); });
  EXPECT_TRUE(holds<TimeoutError>(error)) << describe(error);
  EXPECT_LT(elapsed, bound);
  std::tie(error, elapsed) = timed([&] {
    client->get_many(std::vector<std::string>{"k", "p", "x"});
  });
  EXPECT_TRUE(holds<TimeoutError>(error)) << describe(error);
  EXPECT_LT(elapsed, bound);
  expect_lookups_miss_within(cache, bound);
  EXPECT_EQ(cache.stats().timeouts, 2u);
  EXPECT_EQ(cache.stats().misses, 2u);

  // SIGCONT: memcached now answers the requests it had queued, on connections the client
  // has closed; the same client must get its own answers, not those.
  server.resume();
  EXPECT_EQ(client->get("k")->value, "v:k");
  EXPECT_EQ(client->async_get("k", asio::use_future).get()->value, "v:k");
  EXPECT_EQ(text_of_hit(cache.lookup("p", "l")), "answer");
  EXPECT_EQ(text_of_hit(cache.async_lookup("p", "l", asio::use_future).get()), "answer");
  EXPECT_EQ(cache.stats().hits, 2u);
}

// ============================================================ restart on the same port

TEST(Fault, RestartOnTheSamePortReconnectsBlockingAndAsyncWithoutHelp) {
  QuietLog quiet;
  MemcachedServer server;
  ClientOptions options;
  options.connect_timeout = 500ms;
  options.request_timeout = 500ms;
  Client client(server.address(), options);
  client.set("k", "v:k");
  EXPECT_EQ(client.get("k")->value, "v:k");
  EXPECT_EQ(client.async_get("k", asio::use_future).get()->value, "v:k");

  server.kill();
  auto [error, elapsed] = timed([&] { client.get("k"); });
  EXPECT_TRUE(holds<IoError>(error)) << describe(error);
  EXPECT_LT(elapsed, options.connect_timeout + options.request_timeout + kMargin);
  std::tie(error, elapsed) = timed([&] { client.async_get("k", asio::use_future).get(); });
  EXPECT_TRUE(holds<IoError>(error)) << describe(error);
  EXPECT_LT(elapsed, options.request_timeout + kMargin);

  server.start();
  EXPECT_FALSE(client.get("k"));  // restarted empty
  EXPECT_FALSE(client.async_get("k", asio::use_future).get());
  client.set("k", "v2:k");
  EXPECT_EQ(client.get("k")->value, "v2:k");
  EXPECT_EQ(client.async_get("k", asio::use_future).get()->value, "v2:k");
}

// A restart while the application is idle (a deploy at night): nothing failed while the
// server was down, so the client's idle connections still look healthy. The first calls
// afterwards must not fail on them.
TEST(Fault, RestartWhileIdleDoesNotFailTheNextCalls) {
  QuietLog quiet;
  MemcachedServer server;
  ClientOptions options;
  options.connect_timeout = 500ms;
  options.request_timeout = 500ms;
  auto client = std::make_shared<Client>(server.address(), options);
  MemcachedCache cache(client);
  // Several idle blocking connections, as after concurrent callers.
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) client->set("k", "v:k");
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(client->async_get("k", asio::use_future).get()->value, "v:k");

  server.kill();
  server.start();
  // Give the async connection time to see its peer go (it reads all the time).
  std::this_thread::sleep_for(100ms);
  for (int i = 0; i < 8; ++i) {
    const auto error = timed([&] { EXPECT_FALSE(client->get("k")); }).first;
    EXPECT_FALSE(error) << "call " << i << ": " << describe(error);
  }
  const auto error =
      timed([&] { EXPECT_FALSE(client->async_get("k", asio::use_future).get()); }).first;
  EXPECT_FALSE(error) << describe(error);
  EXPECT_TRUE(cache.update("p", "l", text("after restart")));
  EXPECT_EQ(text_of_hit(cache.lookup("p", "l")), "after restart");
  const CacheStats stats = cache.stats();
  EXPECT_EQ(stats.io_errors + stats.timeouts + stats.update_failures, 0u);
}

// ============================================================ a full server evicting

TEST(Fault, FullServerEvictsOldEntriesButKeepsStoringAndNeverReturnsAWrongValue) {
  QuietLog quiet;
  // The smallest memory memcached runs with; 12 MB of entries go through it.
  MemcachedServer server({"-m", "2"});
  ClientOptions options;
  options.request_timeout = 2000ms;
  auto client = std::make_shared<Client>(server.address(), options);
  MemcachedCache cache(client);
  constexpr int kEntries = 3000;
  const std::string filler(4000, 'x');
  auto prompt = [](int i) { return "prompt-" + std::to_string(i); };
  int stored = 0;
  for (int i = 0; i < kEntries; ++i)
    stored += cache.update(prompt(i), "l", text(prompt(i) + filler));
  EXPECT_EQ(stored, kEntries) << "updates must keep succeeding on a full server";

  int hits = 0, misses = 0, wrong = 0;
  for (int i = 0; i < kEntries; ++i) {
    std::optional<Generations> hit;
    EXPECT_NO_THROW(hit = cache.lookup(prompt(i), "l"));
    if (!hit) {
      ++misses;
    } else if (text_of_hit(hit) == prompt(i) + filler) {
      ++hits;
    } else {
      ++wrong;
    }
  }
  std::cout << "[evicting] " << kEntries << " entries: " << hits << " hits, " << misses << " misses"
            << std::endl;
  EXPECT_EQ(wrong, 0);
  EXPECT_GT(misses, kEntries / 2);  // 12 MB do not fit in 2 MB: old entries are gone
  // The newest entries are still there.
  for (int i = kEntries - 20; i < kEntries; ++i) {
    EXPECT_EQ(text_of_hit(cache.lookup(prompt(i), "l")), prompt(i) + filler) << i;
  }
  std::uint64_t evictions = 0;
  for (const auto& [name, value] : client->server_stats(0)) {
    if (name == "evictions") evictions = std::stoull(value);
  }
  EXPECT_GT(evictions, 0u);
  const CacheStats stats = cache.stats();
  EXPECT_EQ(stats.update_failures, 0u);
  EXPECT_EQ(stats.io_errors + stats.timeouts + stats.server_errors + stats.protocol_errors +
                stats.decode_errors,
            0u);
  EXPECT_EQ(stats.misses, static_cast<std::uint64_t>(misses));
}

// ============================================================ silent and unaccepting servers

// Connections 0..4 are accepted and read but never answered; later ones are well behaved.
TEST(Fault, SilentServerFailsEachCallByItsDeadlineAndTheClientHangsUp) {
  QuietLog quiet;
  constexpr int kSilent = 5;
  std::array<std::promise<bool>, kSilent> hung_up;
  std::vector<FakeServer::Script> scripts;
  for (int i = 0; i < kSilent; ++i) {
    scripts.push_back([&, i](FakePeer& peer) {
      // Reads (so the client's writes never block) and never writes.
      hung_up[i].set_value(peer.wait_for_client_close(20s));
    });
  }
  FakeServer server(std::move(scripts));
  server.store("k", "v:k");
  server.store(langchain_key("p", "l"), encode_generations(text("answer")));
  ClientOptions options;
  options.connect_timeout = 300ms;
  options.request_timeout = 300ms;
  auto client = std::make_shared<Client>(server.address(), options);
  MemcachedCache cache(client);
  const auto bound = options.request_timeout + kMargin;

  std::vector<std::function<void()>> calls = {
      [&] { client->get("k"); },
      [&] { client->async_get("k", asio::use_future).get(); },
      [&] {
        client->get_many(std::vector<std::string>{"a", "b", "k"});
      },
  };
  for (std::size_t i = 0; i < calls.size(); ++i) {
    auto [error, elapsed] = timed(calls[i]);
    EXPECT_TRUE(holds<TimeoutError>(error)) << i << ": " << describe(error);
    EXPECT_LT(elapsed, bound) << i;
  }
  expect_lookups_miss_within(cache, bound);
  EXPECT_EQ(cache.stats().timeouts, 2u);

  // After each timeout the client closed that connection: a late answer on it could
  // otherwise be read as the reply to a later request.
  for (int i = 0; i < kSilent; ++i) {
    auto closed = hung_up[i].get_future();
    ASSERT_EQ(closed.wait_for(25s), std::future_status::ready) << i;
    EXPECT_TRUE(closed.get()) << i;
  }
  // The server answers again (connections 5 and 6): the same client uses it at once.
  EXPECT_EQ(client->get("k")->value, "v:k");
  EXPECT_EQ(client->async_get("k", asio::use_future).get()->value, "v:k");
  EXPECT_EQ(text_of_hit(cache.lookup("p", "l")), "answer");
  EXPECT_EQ(server.accepted(), static_cast<std::size_t>(kSilent + 2));
}

TEST(Fault, ServerThatNeverAcceptsFailsConnectsByTheConnectDeadline) {
  QuietLog quiet;
  testing::UnacceptingServer server;
  ClientOptions options;
  options.connect_timeout = 300ms;
  options.request_timeout = 1000ms;
  auto client = std::make_shared<Client>(server.address(), options);
  MemcachedCache cache(client);
  auto [error, elapsed] = timed([&] { client->get("k"); });
  EXPECT_TRUE(holds<TimeoutError>(error)) << describe(error);
  EXPECT_NE(describe(error).find("connect"), std::string::npos) << describe(error);
  EXPECT_LT(elapsed, options.connect_timeout + kMargin);
  std::tie(error, elapsed) = timed([&] { client->async_get("k", asio::use_future).get(); });
  EXPECT_TRUE(holds<TimeoutError>(error)) << describe(error);
  EXPECT_LT(elapsed, options.connect_timeout + kMargin);
  expect_lookups_miss_within(cache, options.connect_timeout + kMargin);
  EXPECT_EQ(cache.stats().timeouts, 2u);
  EXPECT_FALSE(cache.update("p", "l", text("x")));
  EXPECT_EQ(cache.stats().update_failures, 1u);
}

// ============================================================ why a call failed, typed

// What a CLI hint or a retry policy reads instead of the message: the reason and the
// server, the same on the blocking and the async path.
TEST(Fault, RefusedPortIsConnectionRefusedNamingTheServer) {
  QuietLog quiet;
  const ServerAddress address{"127.0.0.1", testing::free_loopback_port()};
  Client client(address);
  for (const auto& error : {thrown_by([&] { client.get("k"); }),
                            thrown_by([&] { client.async_get("k", asio::use_future).get(); })}) {
    EXPECT_TRUE(holds<IoError>(error)) << describe(error);
    EXPECT_EQ(reason_of(error), "connection_refused") << describe(error);
    EXPECT_EQ(details_of(error).server, address.name());
  }
}

TEST(Fault, UnresolvableHostIsResolveFailedNamingTheServer) {
  QuietLog quiet;
  // .invalid never resolves (RFC 2606), whatever the resolver.
  const ServerAddress address{"no-such-host.invalid", 11211};
  Client client(address);
  for (const auto& error : {thrown_by([&] { client.get("k"); }),
                            thrown_by([&] { client.async_get("k", asio::use_future).get(); })}) {
    EXPECT_TRUE(holds<IoError>(error)) << describe(error);
    EXPECT_EQ(reason_of(error), "resolve_failed") << describe(error);
    EXPECT_EQ(details_of(error).server, address.name());
  }
}

TEST(Fault, DeadlinesAreTimedOutNamingTheServer) {
  QuietLog quiet;
  ClientOptions options;
  options.connect_timeout = 300ms;
  options.request_timeout = 300ms;
  testing::UnacceptingServer unaccepting;
  Client never_connects(unaccepting.address(), options);
  MemcachedServer hung;
  Client never_answered(hung.address(), options);
  never_answered.set("k", "v");
  hung.pause();
  for (Client* client : {&never_connects, &never_answered}) {
    for (const auto& error : {thrown_by([&] { client->get("k"); }),
                              thrown_by([&] { client->async_get("k", asio::use_future).get(); })}) {
      EXPECT_TRUE(holds<TimeoutError>(error)) << describe(error);
      EXPECT_EQ(reason_of(error), "timed_out") << describe(error);
      EXPECT_EQ(details_of(error).server,
                client == &never_connects ? unaccepting.address().name() : hung.address().name());
    }
  }
  hung.resume();
}

// ============================================================ a HashClient losing servers

TEST(Fault, HashClientLosingOneThenTwoServersMovesKeysAndKeepsServingThenTakesThemBack) {
  QuietLog quiet;
  std::array<MemcachedServer, 3> servers;
  HashClientOptions options;
  options.client.connect_timeout = 300ms;
  options.client.request_timeout = 300ms;
  options.retry_attempts = 2;
  options.retry_timeout = 200ms;
  // Long enough that server 0 is still set aside while server 1's budget is spent, even on
  // a loaded machine (1.5 s once ran out mid-test there); the rules themselves are pinned
  // down on a fake clock in server_health_test.cpp.
  options.dead_timeout = 4s;
  std::vector<ServerAddress> addresses = {servers[0].address(), servers[1].address(),
                                          servers[2].address()};
  auto client = std::make_shared<HashClient>(addresses, options);
  MemcachedCache cache(client);
  const auto bound = options.client.connect_timeout + options.client.request_timeout + kMargin;

  constexpr int kPrompts = 60;
  auto prompt = [](int i) { return "prompt-" + std::to_string(i); };
  auto key = [&](int i) { return langchain_key(prompt(i), "l"); };
  std::array<std::vector<int>, 3> on;  // prompts per server
  for (int i = 0; i < kPrompts; ++i) {
    ASSERT_TRUE(cache.update(prompt(i), "l", text(prompt(i))));
    const auto holder = client->server_for(key(i));
    for (std::size_t s = 0; s < 3; ++s) {
      if (holder == addresses[s]) on[s].push_back(i);
    }
  }
  for (const auto& prompts : on) ASSERT_FALSE(prompts.empty());

  // Lookups of every prompt: the dead servers' ones miss within the deadline, the rest hit.
  auto lookup_all = [&](const std::vector<std::size_t>& dead) {
    for (std::size_t s = 0; s < 3; ++s) {
      const bool is_dead = std::find(dead.begin(), dead.end(), s) != dead.end();
      for (int i : on[s]) {
        std::optional<Generations> hit;
        auto [error, elapsed] = timed([&] { hit = cache.lookup(prompt(i), "l"); });
        EXPECT_FALSE(error) << describe(error);
        EXPECT_LT(elapsed, bound);
        if (is_dead) {
          EXPECT_FALSE(hit) << prompt(i);
        } else {
          EXPECT_EQ(text_of_hit(hit), prompt(i));
        }
      }
    }
  };
  // pymemcache's rules: the first failure and each retry after retry_timeout count;
  // after retry_attempts of them the server is removed and its keys move.
  auto exhaust_retry_budget = [&](std::size_t s) {
    for (int attempt = 0; attempt <= options.retry_attempts; ++attempt) {
      std::this_thread::sleep_for(options.retry_timeout + 50ms);
      cache.lookup(prompt(on[s].front()), "l");
    }
    std::this_thread::sleep_for(options.retry_timeout + 50ms);
    cache.lookup(prompt(on[s].front()), "l");  // notices the budget is spent: removes it
  };

  // ---- lose server 0
  servers[0].kill();
  lookup_all({0});
  EXPECT_GT(cache.stats().io_errors, 0u);
  EXPECT_EQ(cache.stats().timeouts, 0u);  // refused, not hung
  exhaust_retry_budget(0);
  detail::RendezvousHash two({servers[1].spec(), servers[2].spec()});
  for (int i : on[0]) {
    EXPECT_EQ(client->server_for(key(i)).name(), *two.get_node(key(i))) << prompt(i);
  }
  for (int i : on[0]) {
    EXPECT_FALSE(cache.lookup(prompt(i), "l"));  // fresh on its new server
    EXPECT_TRUE(cache.update(prompt(i), "l", text(prompt(i))));
    EXPECT_EQ(text_of_hit(cache.lookup(prompt(i), "l")), prompt(i));
  }

  // ---- lose server 1 too: everything ends up on server 2, which keeps serving
  servers[1].kill();
  for (int i : on[1]) EXPECT_NO_THROW(EXPECT_FALSE(cache.lookup(prompt(i), "l")));
  exhaust_retry_budget(1);
  for (int i = 0; i < kPrompts; ++i) {
    EXPECT_EQ(client->server_for(key(i)), addresses[2]) << prompt(i);
  }
  for (int i : on[2]) EXPECT_EQ(text_of_hit(cache.lookup(prompt(i), "l")), prompt(i));
  for (int i = 0; i < kPrompts; ++i) {
    EXPECT_TRUE(cache.update(prompt(i), "l", text(prompt(i))));
    EXPECT_EQ(text_of_hit(cache.lookup(prompt(i), "l")), prompt(i));
  }

  // ---- both come back; after dead_timeout their keys go home (and miss: restarted empty)
  servers[0].start();
  servers[1].start();
  std::this_thread::sleep_for(options.dead_timeout + 300ms);
  cache.lookup("wake", "l");  // the next request revives them
  for (int i = 0; i < kPrompts; ++i) {
    const auto home =
        std::find_if(on.begin(), on.end(),
                     [&](const auto& p) { return std::find(p.begin(), p.end(), i) != p.end(); }) -
        on.begin();
    EXPECT_EQ(client->server_for(key(i)), addresses[home]) << prompt(i);
    const auto hit = cache.lookup(prompt(i), "l");
    if (home == 2) {
      EXPECT_EQ(text_of_hit(hit), prompt(i));
    } else {
      EXPECT_FALSE(hit) << prompt(i);
    }
  }
  const CacheStats stats = cache.stats();
  EXPECT_EQ(stats.protocol_errors + stats.decode_errors + stats.server_errors, 0u);
  std::cout << "[hash] hits=" << stats.hits << " misses=" << stats.misses
            << " io_errors=" << stats.io_errors << " timeouts=" << stats.timeouts << std::endl;
}

// ============================================================ network partition

TEST(Fault, NetworkPartitionTimesOutInsteadOfHangingAndRecoversWhenHealed) {
  if (auto reason = testing::NetnsPair::unavailable()) GTEST_SKIP() << *reason;
  QuietLog quiet;
  testing::NetnsPair net;
  constexpr std::uint16_t kPort = 11211;  // the namespace is private: any port is free
  testing::NetnsMemcached server(net.server_ns(), testing::NetnsPair::kServerIp, kPort);

  // The client lives in the other namespace: its sockets and I/O thread are created there.
  testing::run_in_netns(net.client_ns(), [&] {
    ClientOptions options;
    options.connect_timeout = 300ms;
    options.request_timeout = 300ms;
    auto client =
        std::make_shared<Client>(ServerAddress{testing::NetnsPair::kServerIp, kPort}, options);
    MemcachedCache cache(client);
    ASSERT_TRUE(cache.update("p", "l", text("answer")));
    client->set("k", "v:k");
    ASSERT_EQ(client->async_get("k", asio::use_future).get()->value, "v:k");

    net.partition();
    const auto bound = options.connect_timeout + options.request_timeout + kMargin;
    // On the open connections: requests vanish, so the deadline ends them.
    auto [error, elapsed] = timed([&] { client->get("k"); });
    EXPECT_TRUE(holds<TimeoutError>(error)) << describe(error);
    EXPECT_LT(elapsed, bound);
    std::tie(error, elapsed) = timed([&] { client->async_get("k", asio::use_future).get(); });
    EXPECT_TRUE(holds<TimeoutError>(error)) << describe(error);
    EXPECT_LT(elapsed, bound);
    // New connections: the SYN vanishes too. Still an IoError within the deadline.
    for (int i = 0; i < 3; ++i) {
      std::tie(error, elapsed) = timed([&] { client->get("k"); });
      EXPECT_TRUE(holds<IoError>(error)) << describe(error);
      EXPECT_LT(elapsed, bound);
    }
    expect_lookups_miss_within(cache, bound);
    EXPECT_EQ(cache.stats().misses, 2u);
    EXPECT_GE(cache.stats().timeouts, 1u);

    net.heal();
    // Recovery takes no action from us, only as long as the link needs to come back.
    const auto recover_by = Clock::now() + 10s;
    std::exception_ptr last;
    do {
      last = timed([&] { client->get("k"); }).first;
      if (last) std::this_thread::sleep_for(100ms);
    } while (last && Clock::now() < recover_by);
    ASSERT_FALSE(last) << describe(last);
    EXPECT_EQ(client->get("k")->value, "v:k");
    EXPECT_EQ(client->async_get("k", asio::use_future).get()->value, "v:k");
    EXPECT_EQ(text_of_hit(cache.lookup("p", "l")), "answer");
    EXPECT_EQ(text_of_hit(cache.async_lookup("p", "l", asio::use_future).get()), "answer");
  });
}

}  // namespace
}  // namespace llmcache
