// protocol=auto decides per server: a HashClient over a real memcached (meta) and a real
// twemproxy in front of another memcached (classic) speaks each its own protocol; and
// flush_all is checked, so that a proxy answering it locally (memcached's built-in proxy,
// replayed by the scripted fake) is an error, not a silent success.
#include <llmcache/client.hpp>
#include <llmcache/errors.hpp>

#include "support/fake_server.hpp"
#include "support/memcached_server.hpp"
#include "support/twemproxy_server.hpp"

#include <gtest/gtest.h>
#include <asio/use_future.hpp>

#include <algorithm>
#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace llmcache {
namespace {

using namespace std::chrono_literals;
using testing::FakeServer;
using testing::MemcachedServer;
using testing::TwemproxyServer;

ClientOptions auto_options() {
  ClientOptions options;
  options.connect_timeout = 2s;
  options.request_timeout = 2s;
  options.protocol = Protocol::kAuto;
  return options;
}

// A memcached, and twemproxy in front of another memcached, in one HashClient.
struct MixedPool {
  MemcachedServer direct;
  MemcachedServer behind;
  TwemproxyServer proxy{{behind.port()}};

  // retry_attempts 0: one failure counted against a server removes it at once, so a probe
  // wrongly counted as a failure would show (its keys would move).
  HashClient client(std::chrono::milliseconds dead_timeout = 60s) {
    HashClientOptions options;
    options.client = auto_options();
    options.retry_attempts = 0;
    options.dead_timeout = dead_timeout;
    return HashClient({direct.address(), proxy.address()}, options);
  }
};

// Keys of `client` that land on `server`, among k0..k199.
std::vector<std::string> keys_on(HashClient& client, const ServerAddress& server,
                                 std::size_t count = 10) {
  std::vector<std::string> keys;
  for (int i = 0; i < 200 && keys.size() < count; ++i) {
    std::string key = "k" + std::to_string(i);
    if (client.server_for(key).name() == server.name()) keys.push_back(std::move(key));
  }
  return keys;
}

Protocol async_protocol(ClientBase& client, const std::string& key) {
  std::promise<Protocol> answer;
  client.start_protocol(key, [&answer](std::exception_ptr error, Protocol protocol) {
    if (error) return answer.set_exception(error);
    answer.set_value(protocol);
  });
  return answer.get_future().get();
}

#define SKIP_WITHOUT_TWEMPROXY() \
  if (!TwemproxyServer::installed()) GTEST_SKIP() << "twemproxy (nutcracker) is not installed"

TEST(MixedPool, EachServerSpeaksItsOwnProtocolAndTheProxyIsNotCountedDead) {
  SKIP_WITHOUT_TWEMPROXY();
  MixedPool pool;
  HashClient client = pool.client();
  const auto on_direct = keys_on(client, pool.direct.address());
  const auto on_proxy = keys_on(client, pool.proxy.address());
  ASSERT_EQ(on_direct.size(), 10u);
  ASSERT_EQ(on_proxy.size(), 10u);

  // The proxy's server is asked first: it hangs up on the probe's mn, which decides it
  // classic and counts nothing against it.
  for (const auto& key : on_proxy) EXPECT_EQ(client.set(key, "p:" + key), StoreResult::kStored);
  for (const auto& key : on_direct) EXPECT_EQ(client.set(key, "d:" + key), StoreResult::kStored);
  EXPECT_EQ(client.protocol(on_proxy[0]), Protocol::kClassic);
  EXPECT_EQ(client.protocol(on_direct[0]), Protocol::kMeta);
  EXPECT_EQ(client.server_for(on_proxy[0]).name(), pool.proxy.address().name());

  for (const auto& key : on_proxy) EXPECT_EQ(client.get(key)->value, "p:" + key);
  for (const auto& key : on_direct) EXPECT_EQ(client.get(key)->value, "d:" + key);
  EXPECT_EQ(client.async_get(on_proxy[1], asio::use_future).get()->value, "p:" + on_proxy[1]);
  EXPECT_EQ(client.async_get(on_direct[1], asio::use_future).get()->value, "d:" + on_direct[1]);

  // One batch over both: mg to the memcached, a multi-key get through the proxy.
  std::vector<std::string> batch;
  for (std::size_t i = 0; i < on_direct.size(); ++i) {
    batch.push_back(on_direct[i]);
    batch.push_back(on_proxy[i]);
  }
  batch.push_back("never-stored");
  for (const auto& items :
       {client.get_many(batch), client.async_get_many(batch, asio::use_future).get()}) {
    ASSERT_EQ(items.size(), batch.size());
    for (std::size_t i = 0; i + 1 < batch.size(); ++i) {
      ASSERT_TRUE(items[i]) << batch[i];
      EXPECT_EQ(items[i]->value, (i % 2 == 0 ? "d:" : "p:") + batch[i]);
    }
    EXPECT_FALSE(items.back());
  }

  // Meta-only features work where the server speaks meta, and are refused where not.
  EXPECT_TRUE(client.invalidate(on_direct[2]));
  EXPECT_THROW(client.invalidate(on_proxy[2]), InvalidArgumentError);

  // Entries landed where placement put them: on the memcached, or behind the proxy.
  Client direct(pool.direct.address(), auto_options());
  Client behind(pool.behind.address(), auto_options());
  EXPECT_EQ(direct.get(on_direct[3])->value, "d:" + on_direct[3]);
  EXPECT_FALSE(direct.get(on_proxy[3]));
  EXPECT_EQ(behind.get(on_proxy[3])->value, "p:" + on_proxy[3]);

  EXPECT_TRUE(client.del(on_proxy[4]));
  EXPECT_TRUE(client.async_del(on_direct[4], asio::use_future).get());
  EXPECT_FALSE(client.get(on_proxy[4]));
  EXPECT_FALSE(behind.get(on_proxy[4]));
  EXPECT_FALSE(client.get(on_direct[4]));
  // Still in placement after all this: nothing was counted against the proxy.
  EXPECT_EQ(client.server_for(on_proxy[0]).name(), pool.proxy.address().name());
}

TEST(MixedPool, AsyncCallsDecideEachServerOnTheIoThread) {
  SKIP_WITHOUT_TWEMPROXY();
  MixedPool pool;
  HashClient client = pool.client();
  const auto on_direct = keys_on(client, pool.direct.address(), 3);
  const auto on_proxy = keys_on(client, pool.proxy.address(), 3);
  // First calls of a fresh client, async: get_many over both servers probes each there.
  std::vector<std::string> batch = {on_proxy[0], on_direct[0]};
  const auto misses = client.async_get_many(batch, asio::use_future).get();
  EXPECT_FALSE(misses[0]);
  EXPECT_FALSE(misses[1]);
  EXPECT_EQ(client.async_set(on_proxy[1], "p", {}, asio::use_future).get(), StoreResult::kStored);
  EXPECT_EQ(client.async_set(on_direct[1], "d", {}, asio::use_future).get(), StoreResult::kStored);
  EXPECT_EQ(async_protocol(client, on_proxy[1]), Protocol::kClassic);
  EXPECT_EQ(async_protocol(client, on_direct[1]), Protocol::kMeta);
  EXPECT_EQ(client.get(on_proxy[1])->value, "p");
  EXPECT_EQ(client.get(on_direct[1])->value, "d");
}

TEST(MixedPool, AServerNeverAskedIsNeverProbed) {
  MemcachedServer memcached;
  FakeServer other;
  HashClientOptions options;
  options.client = auto_options();
  HashClient client({memcached.address(), other.address()}, options);
  const auto on_memcached = keys_on(client, memcached.address(), 5);
  for (const auto& key : on_memcached) client.set(key, "v");
  EXPECT_EQ(client.get_many(on_memcached).size(), on_memcached.size());
  EXPECT_EQ(client.protocol(on_memcached[0]), Protocol::kMeta);
  // Deciding the memcached decided nothing for the other server: no connection reached it.
  EXPECT_EQ(other.accepted(), 0u);
}

TEST(MixedPool, FlushAllFlushesTheMemcachedAndNamesTheProxyThatRefusesIt) {
  SKIP_WITHOUT_TWEMPROXY();
  MixedPool pool;
  HashClient client = pool.client();
  const auto on_direct = keys_on(client, pool.direct.address(), 1);
  const auto on_proxy = keys_on(client, pool.proxy.address(), 1);
  client.set(on_direct[0], "d");
  client.set(on_proxy[0], "p");
  try {
    client.flush_all();
    FAIL() << "flush_all reported success through twemproxy";
  } catch (const ServerError& e) {
    // twemproxy hangs up on flush_all: the one server that failed is named.
    EXPECT_EQ(e.reason(), ErrorReason::kNotUnderstood) << e.what();
    EXPECT_EQ(e.server(), pool.proxy.address().name());
  }
  EXPECT_FALSE(client.get(on_direct[0]));  // the memcached was flushed
  EXPECT_EQ(client.get(on_proxy[0])->value, "p");
  // The hang-up is no failure of the server: it stays in placement.
  EXPECT_EQ(client.server_for(on_proxy[0]).name(), pool.proxy.address().name());
  // Its sentinel did not stay behind the proxy (only the entry set above is there).
  Client behind(pool.behind.address(), auto_options());
  const auto entries = behind.metadump(0);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].key, on_proxy[0]);
}

TEST(MixedPool, ARequestBuiltForOneProtocolIsNeverSentToTheOther) {
  SKIP_WITHOUT_TWEMPROXY();
  MixedPool pool;
  HashClient client = pool.client(/*dead_timeout=*/200ms);
  const auto on_direct = keys_on(client, pool.direct.address(), 1);
  const auto on_proxy = keys_on(client, pool.proxy.address(), 1);
  client.set(on_proxy[0], "p");  // both servers decided
  client.set(on_direct[0], "d");
  const std::string key = on_direct[0];
  for (const bool async : {false, true}) {
    // The memcached fails once and is removed (retry_attempts 0): its keys move to the
    // proxy. It comes back after dead_timeout, which placement notices when it next routes
    // a request: a request built meanwhile (classic, for the proxy) then routes to the
    // memcached (meta) and must fail unsent, retryable, naming it.
    pool.direct.kill();
    EXPECT_THROW(client.get(key), IoError);
    EXPECT_EQ(client.server_for(key).name(), pool.proxy.address().name());
    pool.direct.start();
    std::this_thread::sleep_for(400ms);  // past dead_timeout
    try {
      if (async) {
        client.async_get(key, asio::use_future).get();
      } else {
        client.get(key);
      }
      ADD_FAILURE() << "a classic request was sent to a meta server";
    } catch (const IoError& e) {
      EXPECT_EQ(e.reason(), ErrorReason::kRerouted) << e.what();
      EXPECT_EQ(e.server(), pool.direct.address().name());
    }
    // Retried, it is built for the memcached and answered (its entries went with the kill).
    EXPECT_EQ(client.server_for(key).name(), pool.direct.address().name());
    EXPECT_FALSE(client.get(key));
    EXPECT_EQ(client.set(key, "again"), StoreResult::kStored);
    EXPECT_EQ(client.get(key)->value, "again");
  }
}

// ------------------------------------------------------------------ flush_all, checked

void expect_flush_not_routed(ClientBase& client, const ServerAddress& server) {
  try {
    client.flush_all();
    ADD_FAILURE() << "flush_all reported success without flushing";
  } catch (const ServerError& e) {
    EXPECT_EQ(e.reason(), ErrorReason::kFlushNotRouted) << e.what();
    EXPECT_EQ(e.server(), server.name());
  }
  try {
    client.async_flush_all(0s, false, asio::use_future).get();
    ADD_FAILURE() << "async flush_all reported success without flushing";
  } catch (const ServerError& e) {
    EXPECT_EQ(e.reason(), ErrorReason::kFlushNotRouted) << e.what();
  }
}

TEST(FlushCheck, AProxyThatAnswersFlushAllLocallyIsCaughtInBothProtocols) {
  for (const Protocol protocol : {Protocol::kAuto, Protocol::kClassic}) {
    // As memcached's built-in proxy does: mg/ms/md reach the data, flush_all gets OK from
    // the proxy's own empty store.
    FakeServer server;
    server.answer_flush_all_locally();
    ClientOptions options = auto_options();
    options.protocol = protocol;
    Client client(server.address(), options);
    client.set("kept", "v");
    expect_flush_not_routed(client, server.address());
    EXPECT_EQ(client.get("kept")->value, "v");
    // The sentinels were removed.
    EXPECT_EQ(server.stored_keys(), std::vector<std::string>{"kept"}) << to_string(protocol);
    // A delayed flush cannot be checked (the entries go later): it is sent as asked.
    EXPECT_EQ(client.flush_all(1s), 1u);
  }
}

TEST(FlushCheck, AServerThatFlushesPassesTheCheck) {
  FakeServer server;
  Client client(server.address(), auto_options());
  client.set("gone", "v");
  EXPECT_EQ(client.flush_all(), 1u);
  EXPECT_TRUE(server.stored_keys().empty());
}

TEST(FlushCheck, RealMemcachedIsFlushedWithoutAFalseAlarmAndNoSentinelLeft) {
  MemcachedServer server;
  for (const Protocol protocol : {Protocol::kMeta, Protocol::kClassic}) {
    ClientOptions options = auto_options();
    options.protocol = protocol;
    Client client(server.address(), options);
    client.set("a", "1");
    client.set("b", "2");
    EXPECT_EQ(client.flush_all(), 1u);
    EXPECT_EQ(client.async_flush_all(0s, false, asio::use_future).get(), 1u);
    EXPECT_FALSE(client.get("a"));
    client.set("after", "3");
    const auto entries = client.metadump(0);
    ASSERT_EQ(entries.size(), 1u) << to_string(protocol);
    EXPECT_EQ(entries[0].key, "after");
    client.del("after");
  }
}

}  // namespace
}  // namespace llmcache
