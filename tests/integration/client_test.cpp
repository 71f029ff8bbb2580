// The memcached client against real memcached processes.
#include <llmcache/client.hpp>
#include <llmcache/errors.hpp>

#include "support/fake_server.hpp"
#include "support/memcached_server.hpp"

#include <gtest/gtest.h>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <thread>

namespace llmcache {
namespace {

using namespace std::chrono_literals;
using testing::FakePeer;
using testing::FakeServer;
using testing::MemcachedServer;

// The protocol is fixed: the fakes below script meta replies, not the auto-detection probe.
ClientOptions fast_options() {
  ClientOptions options;
  options.protocol = Protocol::kMeta;
  options.connect_timeout = 500ms;
  options.request_timeout = 500ms;
  return options;
}

TEST(Client, SetGetDeleteAndMiss) {
  MemcachedServer server;
  Client client(server.address(), fast_options());
  EXPECT_FALSE(client.get("absent"));
  EXPECT_EQ(client.set("k", "value\r\nwith CRLF", {.flags = 7}), StoreResult::kStored);
  auto item = client.get("k");
  ASSERT_TRUE(item);
  EXPECT_EQ(item->value, "value\r\nwith CRLF");
  EXPECT_EQ(item->flags, 7u);
  EXPECT_TRUE(client.del("k"));
  EXPECT_FALSE(client.del("k"));
  EXPECT_FALSE(client.get("k"));
}

TEST(Client, EmptyValueIsAHitNotAMiss) {
  MemcachedServer server;
  Client client(server.spec(), fast_options());
  client.set("empty", "");
  auto item = client.get("empty");
  ASSERT_TRUE(item);
  EXPECT_EQ(item->value, "");
}

TEST(Client, TtlIsStoredAndCasGuardsWrites) {
  MemcachedServer server;
  Client client(server.address(), fast_options());
  client.set("ttl", "v", {.ttl = 100s});
  auto result = client.meta_get("ttl", {.cas = true, .ttl = true});
  ASSERT_TRUE(result.item);
  ASSERT_TRUE(result.ttl);
  EXPECT_GT(*result.ttl, 90);
  EXPECT_LE(*result.ttl, 100);
  ASSERT_TRUE(result.item->cas);
  const auto cas = *result.item->cas;
  EXPECT_EQ(client.set("ttl", "second", {.cas = cas}), StoreResult::kStored);
  EXPECT_EQ(client.set("ttl", "third", {.cas = cas}), StoreResult::kExists);
  EXPECT_EQ(client.get("ttl")->value, "second");
}

TEST(Client, VivifyOnMissElectsExactlyOneWinner) {
  MemcachedServer server;
  Client client(server.address(), fast_options());
  auto first = client.meta_get("hot", {.vivify_ttl = 30s});
  auto second = client.meta_get("hot", {.vivify_ttl = 30s});
  EXPECT_TRUE(first.won);
  EXPECT_FALSE(second.won);
  EXPECT_TRUE(second.already_won);
  EXPECT_TRUE(client.invalidate("hot"));
}

TEST(Client, RejectsKeysMemcachedCannotStore) {
  MemcachedServer server;
  Client client(server.address(), fast_options());
  EXPECT_THROW(client.get("has space"), InvalidArgumentError);
  EXPECT_THROW(client.get(std::string(251, 'k')), InvalidArgumentError);
  EXPECT_THROW(client.set("", "v"), InvalidArgumentError);
  EXPECT_NO_THROW(client.get(std::string(250, 'k')));
}

TEST(Client, GetManyKeepsOrder) {
  MemcachedServer server;
  Client client(server.address(), fast_options());
  std::vector<std::string> keys;
  for (int i = 0; i < 50; ++i) {
    keys.push_back("key" + std::to_string(i));
    if (i % 3 != 0) client.set(keys.back(), "value" + std::to_string(i));
  }
  auto items = client.get_many(keys);
  ASSERT_EQ(items.size(), keys.size());
  for (int i = 0; i < 50; ++i) {
    if (i % 3 == 0) {
      EXPECT_FALSE(items[i]) << i;
    } else {
      ASSERT_TRUE(items[i]) << i;
      EXPECT_EQ(items[i]->value, "value" + std::to_string(i));
    }
  }
}

TEST(Client, ManyConcurrentCallbacksOnOneConnectionEachGetTheirOwnReply) {
  MemcachedServer server;
  Client client(server.address(), fast_options());
  constexpr int kRequests = 200;
  for (int i = 0; i < kRequests; ++i) {
    client.set("c" + std::to_string(i),
               std::string(i * 37 % 500, 'a' + i % 26) + std::to_string(i));
  }
  std::atomic<int> matched{0}, done{0};
  std::promise<void> all_done;
  for (int i = 0; i < kRequests; ++i) {
    client.start_get(
        "c" + std::to_string(i), [&, i](std::exception_ptr error, std::optional<Item> item) {
          const std::string expected = std::string(i * 37 % 500, 'a' + i % 26) + std::to_string(i);
          if (!error && item && item->value == expected) ++matched;
          if (++done == kRequests) all_done.set_value();
        });
  }
  ASSERT_EQ(all_done.get_future().wait_for(10s), std::future_status::ready);
  EXPECT_EQ(matched.load(), kRequests);
}

TEST(Client, ManyThreadsShareOneClient) {
  MemcachedServer server;
  Client client(server.address(), fast_options());
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const std::string key = "t" + std::to_string(t) + "-" + std::to_string(i);
        client.set(key, key + "-value");
        auto item = client.get(key);
        if (!item || item->value != key + "-value") ++wrong;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(Client, AwaitableAndFutureForms) {
  MemcachedServer server;
  // Declared before the client so it is destroyed after it: the client's I/O thread posts
  // completions into `io`, and may still be inside that post (signalling io's condition
  // variable) when io.run() has already returned. TSan caught the test destroying it then.
  asio::io_context io;
  Client client(server.address(), fast_options());
  client.set("a", "1");
  EXPECT_EQ(client.async_get("a", asio::use_future).get()->value, "1");

  std::optional<Item> seen;
  bool threw = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        seen = co_await client.async_get("a", asio::use_awaitable);
        try {
          co_await client.async_get("bad key", asio::use_awaitable);
        } catch (const InvalidArgumentError&) {
          threw = true;
        }
      },
      asio::detached);
  io.run();
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->value, "1");
  EXPECT_TRUE(threw);
}

TEST(Client, DeadServerFailsFastWithIoError) {
  const auto port = testing::free_loopback_port();
  Client client(ServerAddress{"127.0.0.1", port}, fast_options());
  try {
    client.get("k");
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(port)), std::string::npos) << e.what();
  }
}

TEST(Client, HungServerTimesOutWithinTheDeadline) {
  MemcachedServer server;
  ClientOptions options = fast_options();
  options.request_timeout = 300ms;
  Client client(server.address(), options);
  client.set("k", "v");
  server.pause();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(client.get("k"), TimeoutError);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  // Generous bound: the point is that the call ends near its deadline, not forever.
  EXPECT_LT(elapsed, 3s);
  server.resume();
  EXPECT_EQ(client.get("k")->value, "v");  // a new connection, in sync again
}

TEST(Client, ReconnectsAfterServerRestart) {
  MemcachedServer server;
  Client client(server.address(), fast_options());
  client.set("k", "v");
  server.kill();
  EXPECT_THROW(client.get("k"), IoError);
  server.start();
  EXPECT_FALSE(client.get("k"));  // restarted empty, and the client reconnected by itself
  client.set("k", "again");
  EXPECT_EQ(client.get("k")->value, "again");
}

TEST(Client, ValueJustUnderTheItemLimitIsStoredJustOverIsReported) {
  MemcachedServer server;  // default item limit: 1 MiB
  Client client(server.address(), fast_options());
  const std::string key(32, 'k');
  EXPECT_EQ(client.set(key, std::string(1'048'000, 'x')), StoreResult::kStored);
  EXPECT_EQ(client.get(key)->value.size(), 1'048'000u);
  EXPECT_THROW(client.set(key, std::string(1'048'577, 'y')), ValueTooLargeError);
  // The connection stays in sync after the refusal.
  client.set("after", "ok");
  EXPECT_EQ(client.get("after")->value, "ok");
}

TEST(Client, FlushAllWithDelayWipesLater) {
  MemcachedServer server;
  Client client(server.address(), fast_options());
  client.set("k", "v");
  EXPECT_EQ(client.flush_all(2s), 1u);
  EXPECT_TRUE(client.get("k"));
  std::this_thread::sleep_for(3s);
  EXPECT_FALSE(client.get("k"));
  client.set("k2", "v");
  EXPECT_EQ(client.flush_all(0s, /*noreply=*/true), 1u);  // returns without waiting
  // Blocking calls use their own sockets, so the flush lands "soon", not "before".
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  while (client.get("k2") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_FALSE(client.get("k2"));
}

}  // namespace
}  // namespace llmcache

namespace llmcache {
namespace {

TEST(Client, CanBeDestroyedFromItsOwnCallback) {
  MemcachedServer server;
  auto client = std::make_shared<Client>(server.address(), fast_options());
  client->set("k", "v");
  std::promise<std::string> seen;
  ClientBase* raw = client.get();
  raw->start_get("k", [client = std::move(client), &seen](std::exception_ptr,
                                                          std::optional<Item> item) mutable {
    client.reset();  // the last reference: the client shuts down on its own I/O thread
    seen.set_value(item ? item->value : "miss");
  });
  ASSERT_EQ(seen.get_future().wait_for(5s), std::future_status::ready);
}

// ---------------------------------------------------------------- typed error details
// A caller (the CLI's hints, a retry policy) tells errors apart by reason() and server(),
// never by the message text.

/// The error of class E that `call` throws.
template <class E, class F>
E error_of(F call) {
  try {
    call();
  } catch (const E& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "another exception: " << e.what();
  }
  ADD_FAILURE() << "no exception";
  return E("no exception");
}

/// A fake server whose first `connections` connections each answer one request with
/// `reply(request)` (memcached's own words).
FakeServer answering(std::function<std::string(const testing::FakeRequest&)> reply,
                     std::size_t connections = 2) {
  std::vector<FakeServer::Script> scripts(connections, [reply](FakePeer& peer) {
    if (auto request = peer.read_request()) peer.send(reply(*request));
    peer.wait_for_client_close(10s);
  });
  return FakeServer(std::move(scripts));
}

FakeServer answering(const std::string& reply, std::size_t connections = 2) {
  return answering([reply](const testing::FakeRequest&) { return reply; }, connections);
}

TEST(ClientErrors, EachErrorReplyHasItsReasonAndServerOnBothPaths) {
  const std::pair<const char*, ErrorReason> cases[] = {
      {"ERROR\r\n", ErrorReason::kNotUnderstood},
      {"CLIENT_ERROR bad command line format\r\n", ErrorReason::kClientErrorReply},
      {"SERVER_ERROR out of memory storing object\r\n", ErrorReason::kServerErrorReply},
  };
  for (const auto& [reply, reason] : cases) {
    FakeServer server = answering(reply);
    Client client(server.address(), fast_options());
    // The blocking call takes the first connection, the async one the second.
    for (const ServerError& e :
         {error_of<ServerError>([&] { client.get("k"); }),
          error_of<ServerError>([&] { client.async_get("k", asio::use_future).get(); })}) {
      EXPECT_EQ(e.reason(), reason) << reply << ": " << e.what();
      EXPECT_EQ(e.server(), server.address().name()) << reply;
    }
  }
}

TEST(ClientErrors, BusyCrawlerIsABusyServerError) {
  FakeServer server = answering("BUSY currently processing crawler request\r\n", 1);
  Client client(server.address(), fast_options());
  try {
    client.metadump(0);
    FAIL() << "no ServerError";
  } catch (const ServerError& e) {
    EXPECT_EQ(e.reason(), ErrorReason::kBusy) << e.what();
    EXPECT_EQ(e.server(), server.address().name());
  }
}

TEST(ClientErrors, UnexpectedReplyIsAProtocolErrorNamingItsServer) {
  // A well-formed reply to this very request (its opaque), but not one a get can have.
  FakeServer server = answering(
      [](const testing::FakeRequest& request) {
        return "NS O" + std::to_string(request.opaque.value_or(0)) + "\r\n";
      },
      1);
  Client client(server.address(), fast_options());
  const auto e = error_of<ProtocolError>([&] { client.get("k"); });
  EXPECT_EQ(e.reason(), ErrorReason::kUnexpectedReply) << e.what();
  EXPECT_EQ(e.server(), server.address().name());
}

TEST(ClientErrors, ServerRequiringAuthenticationSaysUnauthenticated) {
  namespace fs = std::filesystem;
  std::string dir = (fs::temp_directory_path() / "llmcache-auth-XXXXXX").string();
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  const std::string authfile = dir + "/authfile";
  std::ofstream(authfile) << "alice:secret\n";
  {
    MemcachedServer server({"-Y", authfile});
    Client client(server.address(), fast_options());  // no credentials
    const auto e = error_of<ServerError>([&] { client.get("k"); });
    EXPECT_EQ(e.reason(), ErrorReason::kUnauthenticated) << e.what();
    EXPECT_EQ(e.server(), server.spec());
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace llmcache
