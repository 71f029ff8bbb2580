// Clients over Unix domain sockets (memcached -s), alone and mixed with TCP servers,
// against real memcached processes.
#include <llmcache/client.hpp>
#include <llmcache/errors.hpp>

#include "client/rendezvous_hash.hpp"
#include "support/memcached_server.hpp"

#include <gtest/gtest.h>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

#include <array>
#include <string>
#include <vector>

namespace llmcache {
namespace {

using namespace std::chrono_literals;
using testing::MemcachedServer;
using testing::UnixSocket;

ClientOptions fast_options() {
  ClientOptions options;
  options.connect_timeout = 500ms;
  options.request_timeout = 500ms;
  return options;
}

std::string message_of(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  }
}

TEST(UnixSocket, BlockingSetGetDeleteAndMiss) {
  MemcachedServer server(UnixSocket{});
  // Both spellings pymemcache accepts.
  for (const std::string& spec : {server.socket_path(), "unix:" + server.socket_path()}) {
    Client client(spec, fast_options());
    EXPECT_EQ(client.servers().front().name(), server.socket_path());
    EXPECT_FALSE(client.get("absent"));
    EXPECT_EQ(client.set("k", "over a socket\r\n", {.flags = 3}), StoreResult::kStored);
    auto item = client.get("k");
    ASSERT_TRUE(item);
    EXPECT_EQ(item->value, "over a socket\r\n");
    EXPECT_EQ(item->flags, 3u);
    const std::vector<std::string> keys = {"k", "absent"};
    auto many = client.get_many(keys);
    ASSERT_EQ(many.size(), 2u);
    EXPECT_EQ(many[0]->value, "over a socket\r\n");
    EXPECT_FALSE(many[1]);
    EXPECT_TRUE(client.del("k"));
    EXPECT_FALSE(client.get("k"));
  }
}

TEST(UnixSocket, AsyncSetGetWithFuturesAndCoroutines) {
  MemcachedServer server(UnixSocket{});
  Client client(server.address(), fast_options());
  EXPECT_EQ(client.async_set("a", "1", {}, asio::use_future).get(), StoreResult::kStored);
  EXPECT_EQ(client.async_get("a", asio::use_future).get()->value, "1");
  EXPECT_FALSE(client.async_get("b", asio::use_future).get());

  asio::io_context io;
  std::optional<Item> seen;
  std::exception_ptr failure;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await client.async_set("b", "2", {}, asio::use_awaitable);
        seen = co_await client.async_get("b", asio::use_awaitable);
      },
      [&](std::exception_ptr e) { failure = e; });
  io.run();
  ASSERT_FALSE(failure) << message_of(failure);
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->value, "2");
}

TEST(UnixSocket, ReconnectsAfterTheServerRestarts) {
  MemcachedServer server(UnixSocket{});
  Client client(server.address(), fast_options());
  client.set("k", "v");
  server.kill();
  EXPECT_THROW(client.get("k"), IoError);
  server.start();
  EXPECT_EQ(client.set("k", "again"), StoreResult::kStored);
  EXPECT_EQ(client.get("k")->value, "again");
  EXPECT_EQ(client.async_get("k", asio::use_future).get()->value, "again");
}

TEST(UnixSocket, AMissingSocketIsAnIoErrorNamingThePath) {
  const std::string path = "/tmp/llmcache-no-such-dir/memcached.sock";
  Client client(path, fast_options());
  for (int async = 0; async < 2; ++async) {
    try {
      if (async) {
        client.async_get("k", asio::use_future).get();
      } else {
        client.get("k");
      }
      ADD_FAILURE() << "connected to a socket that does not exist";
    } catch (const IoError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(path), std::string::npos) << what;
      EXPECT_NE(what.find("No such file"), std::string::npos) << what;
      EXPECT_NE(what.find("-s " + path), std::string::npos) << what;
    }
  }
}

// memcached 1.6 started with -Z and -s answers plaintext on its socket, and a socket
// path is no name a certificate can vouch for: asking for TLS there is a mistake to
// report, not to downgrade silently.
TEST(UnixSocket, TlsOverAUnixSocketIsRefusedAtConstruction) {
  ClientOptions options = fast_options();
  options.tls.enabled = true;
  options.tls.verify = false;
  try {
    Client client("/tmp/mc.sock", options);
    ADD_FAILURE() << "TLS over a Unix socket was accepted";
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("TLS is not available over a Unix socket"),
              std::string::npos)
        << e.what();
  }
  HashClientOptions hash_options;
  hash_options.client = options;
  EXPECT_THROW(HashClient("127.0.0.1:11211,/tmp/mc.sock", hash_options), InvalidArgumentError);
}

// pymemcache's HashClient names a socket node by its path: placement over a pool mixing
// TCP and Unix servers must hash the same names.
TEST(UnixSocket, HashClientMixingTcpAndUnixPlacesKeysByPymemcacheNames) {
  std::array<MemcachedServer, 3> servers{MemcachedServer(UnixSocket{}), MemcachedServer(),
                                         MemcachedServer(UnixSocket{})};
  std::vector<ServerAddress> addresses;
  std::vector<std::string> names;
  for (auto& server : servers) {
    addresses.push_back(server.address());
    names.push_back(server.spec());
  }
  EXPECT_EQ(names[0], servers[0].socket_path());
  HashClientOptions options;
  options.client = fast_options();
  HashClient client(addresses, options);
  detail::RendezvousHash ring(names);
  std::array<int, 3> per_server{};
  for (int i = 0; i < 60; ++i) {
    const std::string key = "key" + std::to_string(i);
    ASSERT_EQ(client.set(key, "v"), StoreResult::kStored);
    const std::string expected = *ring.get_node(key);
    EXPECT_EQ(client.server_for(key).name(), expected);
    for (std::size_t s = 0; s < servers.size(); ++s) {
      Client direct(servers[s].address(), fast_options());
      EXPECT_EQ(direct.get(key).has_value(), names[s] == expected) << key;
      if (names[s] == expected) ++per_server[s];
    }
  }
  for (int count : per_server) EXPECT_GT(count, 5);  // every server, socket or TCP, takes keys
}

}  // namespace
}  // namespace llmcache
