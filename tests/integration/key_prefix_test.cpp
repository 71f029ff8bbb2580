// ClientOptions::key_prefix, which must do what pymemcache's key_prefix does: every key
// on the wire starts with it, the key limit counts it, and a HashClient places a key by
// the key without it.
#include <llmcache/client.hpp>
#include <llmcache/errors.hpp>

#include "client/rendezvous_hash.hpp"
#include "support/memcached_server.hpp"

#include <gtest/gtest.h>
#include <asio/use_future.hpp>

#include <array>
#include <string>
#include <vector>

namespace llmcache {
namespace {

using namespace std::chrono_literals;
using testing::MemcachedServer;

ClientOptions prefixed(std::string prefix) {
  ClientOptions options;
  options.connect_timeout = 500ms;
  options.request_timeout = 500ms;
  options.key_prefix = std::move(prefix);
  return options;
}

TEST(KeyPrefix, EveryOperationUsesThePrefixedKeyOnTheWire) {
  MemcachedServer server;
  Client plain(server.address(), prefixed(""));
  Client tenant_a(server.address(), prefixed("appA:"));
  Client tenant_b(server.address(), prefixed("appB:"));

  ASSERT_EQ(tenant_a.set("k", "secret of A"), StoreResult::kStored);
  EXPECT_FALSE(tenant_b.get("k"));  // tenants sharing a server stay apart
  EXPECT_FALSE(plain.get("k"));
  EXPECT_EQ(plain.get("appA:k")->value, "secret of A");
  EXPECT_EQ(tenant_a.get("k")->value, "secret of A");

  ASSERT_EQ(tenant_b.async_set("k", "B", {}, asio::use_future).get(), StoreResult::kStored);
  EXPECT_EQ(plain.get("appB:k")->value, "B");
  EXPECT_EQ(tenant_b.async_get("k", asio::use_future).get()->value, "B");
  const std::vector<std::string> keys = {"k", "absent"};
  auto many = tenant_a.get_many(keys);
  EXPECT_EQ(many[0]->value, "secret of A");
  EXPECT_FALSE(many[1]);
  EXPECT_EQ(tenant_a.meta_get("k", {}).item->value, "secret of A");

  EXPECT_TRUE(tenant_a.del("k"));
  EXPECT_FALSE(plain.get("appA:k"));
  EXPECT_TRUE(tenant_b.async_del("k", asio::use_future).get());
  EXPECT_FALSE(plain.get("appB:k"));
}

TEST(KeyPrefix, TheKeyLimitCountsThePrefix) {
  MemcachedServer server;
  Client client(server.address(), prefixed("appA:"));
  EXPECT_EQ(client.set(std::string(245, 'k'), "fits"), StoreResult::kStored);
  EXPECT_THROW(client.set(std::string(246, 'k'), "v"), InvalidArgumentError);
  EXPECT_THROW(client.get(std::string(246, 'k')), InvalidArgumentError);
  EXPECT_THROW(client.async_get(std::string(246, 'k'), asio::use_future).get(),
               InvalidArgumentError);
}

TEST(KeyPrefix, APrefixNoKeyCouldStartWithIsRefusedAtConstruction) {
  MemcachedServer server;
  for (const std::string& bad :
       std::vector<std::string>{"app A:", "app\n", std::string(250, 'p')}) {
    EXPECT_THROW(Client(server.address(), prefixed(bad)), InvalidArgumentError) << bad;
  }
}

// pymemcache's HashClient checks the prefixed key but hashes the plain one
// (HashClient._get_client: hasher.get_node(key)).
TEST(KeyPrefix, HashClientPlacesByTheKeyWithoutThePrefix) {
  std::array<MemcachedServer, 3> servers;
  std::vector<ServerAddress> addresses;
  std::vector<std::string> names;
  for (auto& server : servers) {
    addresses.push_back(server.address());
    names.push_back(server.spec());
  }
  HashClientOptions options;
  options.client = prefixed("appA:");
  HashClient client(addresses, options);
  detail::RendezvousHash ring(names);
  int moved_by_prefix = 0;
  for (int i = 0; i < 30; ++i) {
    const std::string key = "key" + std::to_string(i);
    ASSERT_EQ(client.set(key, "v"), StoreResult::kStored);
    const std::string expected = *ring.get_node(key);
    if (expected != *ring.get_node("appA:" + key)) ++moved_by_prefix;
    EXPECT_EQ(client.server_for(key).name(), expected);
    for (std::size_t s = 0; s < servers.size(); ++s) {
      Client direct(servers[s].address(), prefixed(""));
      EXPECT_EQ(direct.get("appA:" + key).has_value(), names[s] == expected) << key;
    }
  }
  EXPECT_GT(moved_by_prefix, 0);  // else this test could not tell the two rules apart
}

}  // namespace
}  // namespace llmcache
