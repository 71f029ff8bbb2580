// The classic text protocol (ClientOptions::protocol) against real memcached, and the
// auto-detection against scripted fakes that answer the probe as twemproxy, memcached 1.5
// and memcached 1.6.9 do.
#include <llmcache/client.hpp>
#include <llmcache/errors.hpp>

#include "support/fake_server.hpp"
#include "support/memcached_server.hpp"

#include <gtest/gtest.h>
#include <asio/use_future.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace llmcache {
namespace {

using namespace std::chrono_literals;
using testing::FakePeer;
using testing::FakeServer;
using testing::MemcachedServer;

ClientOptions with_protocol(Protocol protocol) {
  ClientOptions options;
  options.connect_timeout = 2s;
  options.request_timeout = 2s;
  options.protocol = protocol;
  return options;
}

TEST(ClassicProtocol, EveryOperationAgainstRealMemcached) {
  MemcachedServer server;
  Client client(server.address(), with_protocol(Protocol::kClassic));
  SetOptions options;
  options.flags = 7;
  options.ttl = 60s;
  EXPECT_EQ(client.set("a", "alpha\r\nEND\r\n", options), StoreResult::kStored);
  auto item = client.get("a");
  ASSERT_TRUE(item);
  EXPECT_EQ(item->value, "alpha\r\nEND\r\n");
  EXPECT_EQ(item->flags, 7u);
  EXPECT_FALSE(client.get("missing"));
  EXPECT_EQ(client.async_set("b", "beta", {}, asio::use_future).get(), StoreResult::kStored);
  EXPECT_EQ(client.async_get("b", asio::use_future).get()->value, "beta");
  const std::vector<std::string> keys = {"a", "missing", "b"};
  const auto many = client.get_many(keys);
  ASSERT_EQ(many.size(), 3u);
  EXPECT_EQ(many[0]->value, "alpha\r\nEND\r\n");
  EXPECT_FALSE(many[1]);
  EXPECT_EQ(many[2]->value, "beta");
  SetOptions add;
  add.only_if_absent = true;
  EXPECT_EQ(client.set("a", "other", add), StoreResult::kNotStored);  // classic add
  EXPECT_EQ(client.set("fresh", "new", add), StoreResult::kStored);
  EXPECT_TRUE(client.del("a"));
  EXPECT_FALSE(client.del("a"));
  EXPECT_FALSE(client.version(0).empty());
  EXPECT_FALSE(client.server_stats(0).empty());
  EXPECT_EQ(client.flush_all(), 1u);
  EXPECT_FALSE(client.get("b"));
}

TEST(ClassicProtocol, SharesEntriesWithAMetaClient) {
  MemcachedServer server;
  Client classic(server.address(), with_protocol(Protocol::kClassic));
  Client meta(server.address(), with_protocol(Protocol::kMeta));
  SetOptions options;
  options.flags = 3;
  classic.set("from-classic", "c", options);
  meta.set("from-meta", "m", options);
  EXPECT_EQ(meta.get("from-classic")->value, "c");
  EXPECT_EQ(meta.get("from-classic")->flags, 3u);
  EXPECT_EQ(classic.get("from-meta")->value, "m");
  EXPECT_EQ(classic.get("from-meta")->flags, 3u);
}

TEST(ClassicProtocol, MetaOnlyFeaturesAreRefusedNotFaked) {
  MemcachedServer server;
  Client client(server.address(), with_protocol(Protocol::kClassic));
  SetOptions cas;
  cas.cas = 1;
  EXPECT_THROW(client.set("k", "v", cas), InvalidArgumentError);
  EXPECT_THROW(client.invalidate("k"), InvalidArgumentError);
  MetaGetOptions vivify;
  vivify.vivify_ttl = 30s;
  EXPECT_THROW(client.meta_get("k", vivify), InvalidArgumentError);
}

TEST(ClassicProtocol, ValueOverTheItemLimitIsTheServersRefusal) {
  // Classic mode never asks `stats settings` (proxies hang up on it): the server judges.
  MemcachedServer server({"-I", "1m"});
  Client client(server.address(), with_protocol(Protocol::kClassic));
  try {
    client.set("big", std::string(2u << 20, 'x'));
    FAIL() << "no ValueTooLargeError";
  } catch (const ValueTooLargeError& e) {
    EXPECT_TRUE(e.reached_server());
  }
  EXPECT_EQ(client.set("small", "ok"), StoreResult::kStored);  // still in step
}

TEST(AutoProtocol, RealMemcachedGetsMeta) {
  MemcachedServer server;
  Client client(server.address(), with_protocol(Protocol::kAuto));
  client.set("k", "v");
  EXPECT_EQ(client.get("k")->value, "v");
  EXPECT_TRUE(client.invalidate("k"));  // meta only: the probe chose meta
}

// Connection 0 answers the probe as `probe` does; later connections are the fake's
// well-behaved imitation, which speaks both protocols.
void expect_classic_chosen(FakeServer::Script probe) {
  FakeServer server({std::move(probe)});
  server.store("k", "v:k");
  Client client(server.address(), with_protocol(Protocol::kAuto));
  const auto item = client.get("k");
  ASSERT_TRUE(item);
  EXPECT_EQ(item->value, "v:k");
  EXPECT_EQ(client.async_get("k", asio::use_future).get()->value, "v:k");
  EXPECT_THROW(client.invalidate("k"), InvalidArgumentError);  // classic was chosen
}

TEST(AutoProtocol, ProxyThatHangsUpOnMetaGetsClassic) {
  // twemproxy closes the connection on any command it does not know.
  expect_classic_chosen([](FakePeer& peer) {
    auto probe = peer.read_request();
    EXPECT_TRUE(probe && probe->command == "mn");
    peer.close();
  });
}

TEST(AutoProtocol, ServerWithoutMetaGetsClassic) {
  // memcached 1.5 (and mcrouter, with CLIENT_ERROR) refuses mn.
  expect_classic_chosen([](FakePeer& peer) {
    if (peer.read_request()) peer.send("ERROR\r\n");
    peer.wait_for_client_close(5s);
  });
}

TEST(AutoProtocol, MemcachedBefore1610GetsClassic) {
  // 1.6.0-1.6.9 know mn, but their meta syntax differs from the one the client speaks.
  expect_classic_chosen([](FakePeer& peer) {
    if (peer.read_request()) peer.send("MN\r\n");
    if (peer.read_request()) peer.send("VERSION 1.6.9\r\n");
    peer.wait_for_client_close(5s);
  });
}

TEST(ClassicProtocol, FlushAllAProxyHangsUpOnIsAClearServerError) {
  FakeServer server({[](FakePeer& peer) {
    auto request = peer.read_request();
    EXPECT_TRUE(request && request->command == "flush_all");
    peer.close();
  }});
  Client client(server.address(), with_protocol(Protocol::kClassic));
  try {
    client.flush_all();
    FAIL() << "flush_all reported success";
  } catch (const ServerError& e) {
    EXPECT_EQ(e.reason(), ErrorReason::kNotUnderstood) << e.what();
    EXPECT_EQ(e.server(), server.address().name());
  }
}

}  // namespace
}  // namespace llmcache
