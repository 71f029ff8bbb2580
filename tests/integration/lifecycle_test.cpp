// A client's life around fork() and close(), against real memcached processes: a forked
// child gets its own connections and I/O thread and never reads the parent's replies;
// close() while other threads call ends every call cleanly, once.
#include <llmcache/cache.hpp>
#include <llmcache/client.hpp>
#include <llmcache/errors.hpp>
#include <llmcache/log.hpp>

#include "support/forked_child.hpp"
#include "support/memcached_server.hpp"

#include <gtest/gtest.h>
#include <asio/use_future.hpp>

#include <atomic>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace llmcache {
namespace {

using namespace std::chrono_literals;
using testing::await_bounded;
using testing::Child;
using testing::exercise;
using testing::kHangBound;
using testing::MemcachedServer;

ClientOptions fast_options() {
  ClientOptions options;
  options.connect_timeout = 2s;
  options.request_timeout = 2s;
  return options;
}

HashClientOptions fast_hash_options() {
  HashClientOptions options;
  options.client = fast_options();
  return options;
}

std::string describe(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "a non-standard exception";
  }
}

// Parent and child exercise the same client object at the same time, each checking every
// value it reads; then the child destroys its copy (which must neither hang nor disturb
// the parent) and the parent goes on.
void fork_while_both_use(std::unique_ptr<ClientBase> client) {
  // Used before fork on both paths, so the parent has pooled sockets, a connection and an
  // I/O thread for the child to inherit.
  ASSERT_EQ(exercise(*client, "before fork", 5), "");
  Child child([&] {
    std::string report = exercise(*client, "child", 300);
    client.reset();
    return report;
  });
  EXPECT_EQ(exercise(*client, "parent", 300), "");
  EXPECT_EQ(child.finish(), "ok");
  EXPECT_EQ(exercise(*client, "parent after the child", 5), "");
}

TEST(LifecycleFork, ClientUsedBeforeForkServesParentAndChildSeparately) {
  SKIP_UNDER_TSAN();
  MemcachedServer server;
  fork_while_both_use(std::make_unique<Client>(server.address(), fast_options()));
}

TEST(LifecycleFork, HashClientUsedBeforeForkServesParentAndChildSeparately) {
  SKIP_UNDER_TSAN();
  MemcachedServer a;
  MemcachedServer b;
  fork_while_both_use(
      std::make_unique<HashClient>(std::vector{a.address(), b.address()}, fast_hash_options()));
}

TEST(LifecycleFork, ClientOnlyConstructedBeforeForkWorksInTheChild) {
  SKIP_UNDER_TSAN();
  MemcachedServer server;
  auto client = std::make_unique<Client>(server.address(), fast_options());
  Child child([&] {
    // Async first: its completion needs an I/O thread, which the child must start.
    std::string report = exercise(*client, "child", 20);
    client.reset();
    return report;
  });
  EXPECT_EQ(child.finish(), "ok");
  EXPECT_EQ(exercise(*client, "parent", 20), "");
}

TEST(LifecycleFork, ChildThatOnlyDestroysOrClosesItsCopyLeavesTheParentAlone) {
  SKIP_UNDER_TSAN();
  MemcachedServer server;
  auto client = std::make_unique<Client>(server.address(), fast_options());
  ASSERT_EQ(exercise(*client, "before fork", 5), "");
  Child closing([&] {
    client->close();
    client.reset();
    return std::string();
  });
  EXPECT_EQ(closing.finish(), "ok");
  Child destroying([&] {
    client.reset();
    return std::string();
  });
  EXPECT_EQ(destroying.finish(), "ok");
  // The parent's pooled sockets and connection, inherited by both children, still work.
  EXPECT_EQ(exercise(*client, "parent", 20), "");
}

TEST(LifecycleFork, GrandchildGetsItsOwnClientToo) {
  SKIP_UNDER_TSAN();
  MemcachedServer server;
  auto client = std::make_unique<Client>(server.address(), fast_options());
  ASSERT_EQ(exercise(*client, "before fork", 5), "");
  Child child([&] {
    std::string report = exercise(*client, "child", 20);
    if (!report.empty()) return report;
    Child grandchild([&] { return exercise(*client, "grandchild", 100); });
    report = exercise(*client, "child with a grandchild", 100);
    const std::string grandchild_report = grandchild.finish();
    if (grandchild_report != "ok") return grandchild_report;
    return report;
  });
  EXPECT_EQ(exercise(*client, "parent", 100), "");
  EXPECT_EQ(child.finish(), "ok");
}

// A process forked while another thread logs (an I/O thread reporting a failure) can log in
// the child: the handler's lock is never inherited held.
TEST(LifecycleFork, ChildForkedWhileAnotherThreadLogsCanLog) {
  SKIP_UNDER_TSAN();
  std::atomic<bool> stop{false};
  // kDebug: the default handler drops it, nothing is printed.
  std::thread logger([&] {
    while (!stop.load()) log(LogLevel::kDebug, "from the parent's other thread");
  });
  std::string failures;
  for (int i = 0; i < 100 && failures.empty(); ++i) {
    Child child([] {
      log(LogLevel::kDebug, "from the child");
      return std::string{};
    });
    if (std::string report = child.finish(); report != "ok") failures = report;
  }
  stop.store(true);
  logger.join();
  EXPECT_EQ(failures, "");
}

TEST(LifecycleFork, MemcachedCacheUsedBeforeForkWorksInTheChild) {
  SKIP_UNDER_TSAN();
  MemcachedServer server;
  auto cache =
      std::make_unique<MemcachedCache>(std::make_shared<Client>(server.address(), fast_options()));
  auto generations = [](const std::string& text) { return Generations{Generation{text, {}}}; };
  auto check = [&](const std::string& who, int rounds) -> std::string {
    for (int i = 0; i < rounds; ++i) {
      const std::string prompt = who + " prompt " + std::to_string(i % 10);
      const std::string text = who + " answer " + std::to_string(i);
      if (!cache->update(prompt, "llm", generations(text))) return who + ": update failed";
      // A lookup never throws: trouble reads as a miss.
      auto hit = cache->lookup(prompt, "llm");
      if (!hit || *hit != generations(text)) return who + ": lookup did not read its update";
      auto async_hit =
          await_bounded(cache->async_lookup(prompt, "llm", asio::use_future), "async_lookup");
      if (!async_hit || *async_hit != generations(text)) {
        return who + ": async_lookup did not read its update";
      }
    }
    return {};
  };
  ASSERT_EQ(check("before fork", 3), "");
  Child child([&] {
    std::string report = check("child", 200);
    cache.reset();
    return report;
  });
  EXPECT_EQ(check("parent", 200), "");
  EXPECT_EQ(child.finish(), "ok");
}

// ============================================================ close()

bool is_closed(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const ClosedError&) {
    return true;
  } catch (...) {
    return false;
  }
}

std::string expected_value(int i) {
  return "stored before the race " + std::to_string(i);
}

// Four threads call while the main thread closes the client: blocking get, blocking set
// and get_many, async get (completion token and raw callback), async set. Every call
// either does its job (the right value) or fails with ClosedError; every call that starts
// after close() returned fails with ClosedError; every callback fires exactly once.
void race_close_with_callers(const std::function<std::unique_ptr<ClientBase>()>& make) {
  constexpr int kKeys = 10;
  for (int repeat = 0; repeat < 30; ++repeat) {
    auto client = make();
    for (int i = 0; i < kKeys; ++i) client->set("k" + std::to_string(i), expected_value(i));

    std::atomic<bool> close_returned{false};
    std::atomic<int> calls{0};
    std::atomic<bool> failed{false};
    std::mutex failures_mutex;
    std::vector<std::string> failures;
    struct RawCall {
      std::atomic<int> fired{0};
      std::promise<std::optional<Item>> result;
    };
    std::vector<std::shared_ptr<RawCall>> raw_calls;  // thread 2 only, read after join

    // Runs `call` until it has failed with ClosedError a few times. `call` throws what the
    // operation threw and returns a description of a wrong result ("" if right).
    auto loop = [&](const std::string& name, const std::function<std::string(int)>& call) {
      int closed_seen = 0;
      for (int i = 0; closed_seen < 3; ++i) {
        const bool after_close = close_returned.load();
        std::string wrong;
        try {
          wrong = call(i);
          if (wrong.empty() && after_close) wrong = "succeeded after close() returned";
        } catch (const ClosedError&) {
          ++closed_seen;
          continue;
        } catch (const std::exception& e) {
          wrong = std::string("threw ") + e.what();
        }
        calls.fetch_add(1);
        if (!wrong.empty()) {
          std::lock_guard lock(failures_mutex);
          failures.push_back(name + " call " + std::to_string(i) + ": " + wrong);
          failed = true;
          return;
        }
      }
    };
    auto check_item = [](const std::optional<Item>& item, int i) -> std::string {
      if (!item) return "a miss";
      if (item->value != expected_value(i)) return "read '" + item->value + "'";
      return {};
    };

    std::vector<std::thread> threads;
    threads.emplace_back(loop, "blocking get", [&](int i) {
      return check_item(client->get("k" + std::to_string(i % kKeys)), i % kKeys);
    });
    threads.emplace_back(loop, "blocking set/get_many", [&](int i) -> std::string {
      if (i % 2 == 0) {
        return client->set("set_by_thread_1", "x") == StoreResult::kStored ? "" : "not stored";
      }
      const std::vector<std::string> keys{"k1", "k2"};
      auto items = client->get_many(keys);
      std::string wrong = check_item(items.at(0), 1);
      return wrong.empty() ? check_item(items.at(1), 2) : wrong;
    });
    threads.emplace_back(loop, "async get", [&](int i) -> std::string {
      const int k = i % kKeys;
      if (i % 2 == 0) {
        return check_item(
            await_bounded(client->async_get("k" + std::to_string(k), asio::use_future),
                          "async_get"),
            k);
      }
      auto call = std::make_shared<RawCall>();
      raw_calls.push_back(call);
      client->start_get("k" + std::to_string(k),
                        [call](std::exception_ptr error, std::optional<Item> item) {
                          if (call->fired.fetch_add(1) != 0) return;  // counted, checked later
                          if (error) {
                            call->result.set_exception(error);
                          } else {
                            call->result.set_value(std::move(item));
                          }
                        });
      return check_item(await_bounded(call->result.get_future(), "start_get"), k);
    });
    threads.emplace_back(loop, "async set", [&](int) -> std::string {
      return await_bounded(client->async_set("set_by_thread_3", "y", {}, asio::use_future),
                           "async_set") == StoreResult::kStored
                 ? ""
                 : "not stored";
    });

    // Close once the threads are busy (a close before any call would prove less).
    while (calls.load() < 100 && !failed.load()) std::this_thread::yield();
    client->close();
    close_returned = true;
    for (auto& thread : threads) thread.join();

    EXPECT_TRUE(failures.empty()) << "repeat " << repeat << ": " << failures.front();
    // Closed stays closed, on every path, and close() may be called again.
    client->close();
    EXPECT_THROW(client->get("k1"), ClosedError);
    EXPECT_THROW(client->set("k1", "v"), ClosedError);
    EXPECT_THROW(client->get_many(std::vector<std::string>{}), ClosedError);
    EXPECT_THROW(client->flush_all(), ClosedError);
    EXPECT_THROW(client->async_get("k1", asio::use_future).get(), ClosedError);
    client.reset();
    for (const auto& call : raw_calls) EXPECT_EQ(call->fired.load(), 1);
    if (!failures.empty()) return;
  }
}

TEST(LifecycleClose, ClientClosedWhileFourThreadsCallEndsEveryCallCleanly) {
  MemcachedServer server;
  race_close_with_callers(
      [&] { return std::make_unique<Client>(server.address(), fast_options()); });
}

TEST(LifecycleClose, HashClientClosedWhileFourThreadsCallEndsEveryCallCleanly) {
  MemcachedServer a;
  MemcachedServer b;
  race_close_with_callers([&] {
    return std::make_unique<HashClient>(std::vector{a.address(), b.address()}, fast_hash_options());
  });
}

TEST(LifecycleClose, DestroyingTheClientCompletesEveryCallInFlightOnce) {
  MemcachedServer server;
  for (int repeat = 0; repeat < 20; ++repeat) {
    auto client = std::make_unique<Client>(server.address(), fast_options());
    client->set("k", "v");
    // Per call: 1 for a right outcome (the value, or ClosedError), 100 for a wrong one.
    auto outcomes = std::make_shared<std::vector<std::atomic<int>>>(200);
    auto count = [outcomes](std::size_t i) {
      return [outcomes, i](std::exception_ptr error, std::optional<Item> item) {
        const bool right = error ? is_closed(error) : (item && item->value == "v");
        (*outcomes)[i].fetch_add(right ? 1 : 100);
      };
    };
    for (std::size_t i = 0; i < 100; ++i) {
      // A plain callback completes on the client's own executor; start_get's on its I/O
      // thread directly.
      client->async_get("k", count(2 * i));
      client->start_get("k", count(2 * i + 1));
    }
    client.reset();  // returns once every completion has run
    int lost = 0;
    int wrong = 0;
    for (const auto& outcome : *outcomes) {
      lost += outcome.load() == 0;
      wrong += outcome.load() > 1;
    }
    ASSERT_EQ(lost, 0) << "repeat " << repeat << ": completions that never ran";
    ASSERT_EQ(wrong, 0) << "repeat " << repeat << ": wrong outcomes or completions run twice";
  }
}

TEST(LifecycleClose, CloseWakesCallsWaitingOnAHungServer) {
  MemcachedServer server;
  ClientOptions options;
  options.connect_timeout = 2s;
  // Far longer than the test: a call still waiting when this passes was not woken.
  options.request_timeout = 100s;
  Client client(server.address(), options);
  client.set("k", "v");
  server.pause();
  auto async_call = client.async_get("k", asio::use_future);
  std::promise<std::exception_ptr> blocking_error;
  std::thread blocking([&] {
    try {
      client.get("k");
      blocking_error.set_value(nullptr);
    } catch (...) {
      blocking_error.set_value(std::current_exception());
    }
  });
  // Give the blocking call time to reach its wait (if it has not, close() refuses it at
  // once, and the test passes without proving the wake-up).
  std::this_thread::sleep_for(200ms);
  client.close();
  auto error = blocking_error.get_future().get();
  blocking.join();
  EXPECT_TRUE(is_closed(error)) << (error ? describe(error) : "the call succeeded");
  EXPECT_THROW(async_call.get(), ClosedError);
  server.resume();
}

TEST(LifecycleClose, CloseFromManyThreadsAtOnceIsHarmless) {
  MemcachedServer server;
  Client client(server.address(), fast_options());
  client.set("k", "v");
  std::vector<std::thread> closers;
  for (int i = 0; i < 4; ++i) closers.emplace_back([&] { client.close(); });
  for (auto& closer : closers) closer.join();
  EXPECT_THROW(client.get("k"), ClosedError);
  std::promise<std::exception_ptr> done;
  client.start_del("k", false, [&](std::exception_ptr error, bool) { done.set_value(error); });
  EXPECT_TRUE(is_closed(done.get_future().get()));
}

}  // namespace
}  // namespace llmcache
