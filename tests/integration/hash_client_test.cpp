// HashClient over three real memcached servers: placement and pymemcache's failure rules.
#include <llmcache/client.hpp>
#include <llmcache/errors.hpp>

#include "client/rendezvous_hash.hpp"
#include "support/memcached_server.hpp"

#include <gtest/gtest.h>
#include <asio/use_future.hpp>

#include <array>
#include <functional>
#include <thread>

namespace llmcache {
namespace {

using namespace std::chrono_literals;
using testing::MemcachedServer;

struct ThreeServers {
  std::array<MemcachedServer, 3> servers;
  std::vector<ServerAddress> addresses() const {
    return {servers[0].address(), servers[1].address(), servers[2].address()};
  }
  std::size_t index_of(const ServerAddress& address) const {
    for (std::size_t i = 0; i < servers.size(); ++i) {
      if (servers[i].address() == address) return i;
    }
    throw std::runtime_error("unknown server " + address.name());
  }
};

HashClientOptions fast_failover() {
  HashClientOptions options;
  options.client.connect_timeout = 300ms;
  options.client.request_timeout = 300ms;
  options.retry_attempts = 2;
  options.retry_timeout = 200ms;
  options.dead_timeout = 1500ms;
  return options;
}

TEST(HashClient, PlacesKeysWhereRendezvousHashingSays) {
  ThreeServers pool;
  HashClient client(pool.addresses(), fast_failover());
  detail::RendezvousHash ring(
      {pool.servers[0].spec(), pool.servers[1].spec(), pool.servers[2].spec()});
  std::array<int, 3> per_server{};
  for (int i = 0; i < 90; ++i) {
    const std::string key = "key" + std::to_string(i);
    client.set(key, "v" + std::to_string(i));
    const std::string expected = *ring.get_node(key);
    EXPECT_EQ(client.server_for(key).name(), expected);
    // The value really sits on that server and only there.
    for (auto& server : pool.servers) {
      Client direct(server.address());
      EXPECT_EQ(direct.get(key).has_value(), server.spec() == expected) << key;
    }
    ++per_server[pool.index_of(client.server_for(key))];
  }
  for (int count : per_server) EXPECT_GT(count, 10);  // all three servers take keys
}

TEST(HashClient, LosingAServerMissesFastThenMovesItsKeysThenTakesItBack) {
  ThreeServers pool;
  const auto options = fast_failover();
  HashClient client(pool.addresses(), options);
  std::vector<std::string> keys;
  for (int i = 0; i < 60; ++i) keys.push_back("key" + std::to_string(i));
  for (const auto& key : keys) client.set(key, "v");

  const std::size_t victim = pool.index_of(client.server_for(keys[0]));
  const auto victim_name = pool.servers[victim].spec();
  pool.servers[victim].kill();

  // First failure: the error reaches the caller, within the deadline.
  auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(client.get(keys[0]), IoError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  // Inside retry_timeout the server is skipped without I/O: still an IoError, at once,
  // which says which server was skipped.
  try {
    client.get(keys[0]);
    FAIL() << "no IoError";
  } catch (const IoError& e) {
    EXPECT_EQ(e.reason(), ErrorReason::kServerDown) << e.what();
    EXPECT_EQ(e.server(), victim_name);
  }
  EXPECT_EQ(client.server_for(keys[0]).name(), victim_name);

  // Each retry after retry_timeout fails and counts; after retry_attempts the server is
  // removed and its keys move to the survivors.
  for (int attempt = 0; attempt < options.retry_attempts; ++attempt) {
    std::this_thread::sleep_for(options.retry_timeout + 50ms);
    EXPECT_THROW(client.get(keys[0]), IoError);
  }
  std::this_thread::sleep_for(options.retry_timeout + 50ms);
  EXPECT_FALSE(client.get(keys[0]));  // a miss on its new server, not an error
  EXPECT_NE(client.server_for(keys[0]).name(), victim_name);
  for (const auto& key : keys) EXPECT_NO_THROW(client.get(key)) << key;
  client.set(keys[0], "moved");
  EXPECT_EQ(client.get(keys[0])->value, "moved");

  // After dead_timeout the server is tried again and its keys come home.
  pool.servers[victim].start();
  std::this_thread::sleep_for(options.dead_timeout + 200ms);
  EXPECT_FALSE(client.get(keys[0]));  // restarted empty, but back in rotation
  EXPECT_EQ(client.server_for(keys[0]).name(), victim_name);
}

TEST(HashClient, AsyncCallsFollowTheSameFailureRules) {
  ThreeServers pool;
  const auto options = fast_failover();
  HashClient client(pool.addresses(), options);
  const std::string key = "async-key";
  client.set(key, "v");
  const auto victim = pool.index_of(client.server_for(key));
  pool.servers[victim].kill();
  auto async_get = [&] { return client.async_get(key, asio::use_future).get(); };
  EXPECT_THROW(async_get(), IoError);  // the failure that starts the count
  try {
    async_get();  // skipped without I/O
    FAIL() << "no IoError";
  } catch (const IoError& e) {
    EXPECT_EQ(e.reason(), ErrorReason::kServerDown) << e.what();
    EXPECT_EQ(e.server(), pool.servers[victim].spec());
  }
  for (int attempt = 0; attempt < options.retry_attempts; ++attempt) {
    std::this_thread::sleep_for(options.retry_timeout + 50ms);
    EXPECT_THROW(async_get(), IoError);
  }
  std::this_thread::sleep_for(options.retry_timeout + 50ms);
  EXPECT_FALSE(async_get());  // moved to a survivor
  EXPECT_NE(client.server_for(key), pool.servers[victim].address());
}

TEST(HashClient, AllServersDownIsAnIoErrorNotAHang) {
  ThreeServers pool;
  HashClientOptions options = fast_failover();
  options.retry_attempts = 0;  // remove at first failure
  HashClient client(pool.addresses(), options);
  for (auto& server : pool.servers) server.kill();
  for (int i = 0; i < 10; ++i) {
    EXPECT_THROW(client.get("key" + std::to_string(i)), IoError);
  }
  // By now each server failed once and was removed: none is left to ask.
  for (auto call :
       {std::function<void()>([&] { client.server_for("anything"); }),
        std::function<void()>([&] { client.get("anything"); }),
        std::function<void()>([&] { client.async_get("anything", asio::use_future).get(); })}) {
    try {
      call();
      FAIL() << "no IoError";
    } catch (const IoError& e) {
      EXPECT_EQ(e.reason(), ErrorReason::kNoServerAvailable) << e.what();
      EXPECT_EQ(e.server(), "");
    }
  }
}

TEST(HashClient, FlushAllReachesEveryServerAndNamesTheOnesThatFailed) {
  ThreeServers pool;
  HashClient client(pool.addresses(), fast_failover());
  for (int i = 0; i < 30; ++i) client.set("key" + std::to_string(i), "v");
  EXPECT_EQ(client.flush_all(), 3u);
  for (int i = 0; i < 30; ++i) EXPECT_FALSE(client.get("key" + std::to_string(i)));
  pool.servers[1].kill();
  try {
    client.flush_all();
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find(pool.servers[1].spec()), std::string::npos) << e.what();
  }
}

TEST(HashClient, RejectsAnEmptyOrDuplicatedServerList) {
  EXPECT_THROW(HashClient(std::vector<ServerAddress>{}), InvalidArgumentError);
  EXPECT_THROW(HashClient("127.0.0.1:1,127.0.0.1:1"), InvalidArgumentError);
}

}  // namespace
}  // namespace llmcache
