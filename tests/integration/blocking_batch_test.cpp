// The blocking pipelined batch (ClientBase::get_many and get_each, CacheCore::fetch_each,
// MemcachedCache::lookup_many): one write per server on the calling thread, replies read
// in order. Against real memcached (one server, a HashClient of three, one of them dead),
// both protocols, and a scripted fake that hangs up in the middle of a batch.
#include <llmcache/cache.hpp>
#include <llmcache/client.hpp>
#include <llmcache/codec.hpp>
#include <llmcache/errors.hpp>
#include <llmcache/key.hpp>
#include <llmcache/log.hpp>

#include "support/fake_server.hpp"
#include "support/log_and_errors.hpp"
#include "support/memcached_server.hpp"

#include <gtest/gtest.h>

#include <array>
#include <map>
#include <set>

namespace llmcache {
namespace {

using namespace std::chrono_literals;
using testing::describe;
using testing::FakePeer;
using testing::FakeServer;
using testing::holds;
using testing::MemcachedServer;

ClientOptions options_for(Protocol protocol) {
  ClientOptions options;
  options.protocol = protocol;
  options.request_timeout = 10s;
  return options;
}

/// What get_each handed over: one outcome per key, each exactly once.
struct Outcomes {
  std::vector<std::optional<Item>> items;
  std::vector<std::exception_ptr> errors;
  std::vector<int> arrivals;

  explicit Outcomes(std::size_t keys) : items(keys), errors(keys), arrivals(keys, 0) {}
  ClientBase::GetEach sink() {
    return [this](std::size_t i, std::exception_ptr error, std::optional<Item> item) {
      ++arrivals.at(i);
      errors[i] = error;
      items[i] = std::move(item);
    };
  }
  void expect_each_once() const {
    for (std::size_t i = 0; i < arrivals.size(); ++i) EXPECT_EQ(arrivals[i], 1) << "key " << i;
  }
};

class BlockingBatch : public ::testing::TestWithParam<Protocol> {};

std::string protocol_name(const ::testing::TestParamInfo<Protocol>& info) {
  return info.param == Protocol::kClassic ? "Classic" : "Meta";
}

INSTANTIATE_TEST_SUITE_P(Protocols, BlockingBatch,
                         ::testing::Values(Protocol::kMeta, Protocol::kClassic), protocol_name);

TEST_P(BlockingBatch, HitsMissesAndRepeatedKeysComeBackInKeyOrder) {
  MemcachedServer server;
  Client client(server.address(), options_for(GetParam()));
  std::vector<std::string> keys;
  for (int i = 0; i < 50; ++i) {
    keys.push_back("key" + std::to_string(i));
    if (i % 3 != 0) client.set(keys.back(), "value" + std::to_string(i));
  }
  keys.push_back("key1");  // a repeat of a hit
  keys.push_back("key3");  // a repeat of a miss
  const auto items = client.get_many(keys);
  ASSERT_EQ(items.size(), keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ(items[i].has_value(), client.get(keys[i]).has_value()) << keys[i];
    if (items[i]) {
      EXPECT_EQ(items[i]->value, "value" + keys[i].substr(3)) << keys[i];
    }
  }
  EXPECT_TRUE(items[50]);
  EXPECT_FALSE(items[51]);
  EXPECT_TRUE(client.get_many(std::vector<std::string>{}).empty());
}

TEST_P(BlockingBatch, AnInvalidKeyThrowsBeforeAnythingIsSentButFailsAloneInGetEach) {
  MemcachedServer server;
  Client client(server.address(), options_for(GetParam()));
  client.set("good", "v");
  const std::vector<std::string> keys = {"good", "bad key", "good"};
  EXPECT_THROW(client.get_many(keys), InvalidArgumentError);
  Outcomes got(keys.size());
  client.get_each(keys, got.sink());
  got.expect_each_once();
  EXPECT_TRUE(holds<InvalidArgumentError>(got.errors[1])) << describe(got.errors[1]);
  for (std::size_t i : {0u, 2u}) {
    EXPECT_FALSE(got.errors[i]) << describe(got.errors[i]);
    ASSERT_TRUE(got.items[i]);
    EXPECT_EQ(got.items[i]->value, "v");
  }
}

// Values larger than one read (64 KB), several in one batch: each reply is assembled over
// many reads, and the next one starts where it ends.
TEST_P(BlockingBatch, ValuesOverSeveralReads) {
  MemcachedServer server;
  Client client(server.address(), options_for(GetParam()));
  std::vector<std::string> keys;
  for (int i = 0; i < 8; ++i) {
    keys.push_back("big" + std::to_string(i));
    client.set(keys.back(), std::string(200 * 1024 + i, static_cast<char>('a' + i)));
  }
  keys.push_back("absent");
  const auto items = client.get_many(keys);
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(items[i]);
    EXPECT_EQ(items[i]->value, std::string(200 * 1024 + i, static_cast<char>('a' + i)));
  }
  EXPECT_FALSE(items[8]);
}

// A batch whose requests alone outgrow the socket buffers, with 1 KB answers: written while
// the replies are read (else the server, blocked writing replies nobody reads, would stop
// reading requests, and both sides wait for the deadline). Classic: lines split under
// the 16 KB line limit, many lines in one write.
TEST_P(BlockingBatch, AnOversizedBatchNeitherDeadlocksNorLosesItsPlace) {
  MemcachedServer server({"-m", "256"});
  ClientOptions options = options_for(GetParam());
  Client client(server.address(), options);
  std::vector<std::string> keys;
  // ~6 MB of requests and ~20 MB of replies: more than both sides' socket buffers hold.
  for (int i = 0; i < 30000; ++i) {
    std::string key = std::to_string(i) + std::string(200, 'k');
    if (i % 3 != 0) client.set(key, std::to_string(i) + std::string(1000, 'v'));
    keys.push_back(std::move(key));
  }
  const auto items = client.get_many(keys);
  ASSERT_EQ(items.size(), keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    ASSERT_EQ(items[i].has_value(), i % 3 != 0) << i;
    if (items[i]) {
      EXPECT_EQ(items[i]->value, std::to_string(i) + std::string(1000, 'v'));
    }
  }
}

struct ThreeServers {
  std::array<MemcachedServer, 3> servers;
  std::vector<ServerAddress> addresses() const {
    return {servers[0].address(), servers[1].address(), servers[2].address()};
  }
};

HashClientOptions hash_options(Protocol protocol) {
  HashClientOptions options;
  options.client = options_for(protocol);
  options.client.connect_timeout = 500ms;
  return options;
}

TEST_P(BlockingBatch, SeveralServersEachKeyFromItsOwn) {
  ThreeServers pool;
  HashClient client(pool.addresses(), hash_options(GetParam()));
  std::vector<std::string> keys;
  std::set<std::string> servers_used;
  for (int i = 0; i < 90; ++i) {
    keys.push_back("key" + std::to_string(i));
    if (i % 4 != 0) client.set(keys.back(), "v" + std::to_string(i));
    servers_used.insert(client.server_for(keys.back()).name());
  }
  ASSERT_EQ(servers_used.size(), 3u);
  const auto items = client.get_many(keys);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    ASSERT_EQ(items[i].has_value(), i % 4 != 0) << keys[i];
    if (items[i]) {
      EXPECT_EQ(items[i]->value, "v" + std::to_string(i));
    }
  }
}

// A dead server fails its own keys only: get_each hands the others their values, while
// get_many (one result for the whole call) throws the failure.
TEST_P(BlockingBatch, ADeadServerFailsItsKeysOnly) {
  set_log_handler([](LogLevel, std::string_view) {});
  ThreeServers pool;
  HashClient client(pool.addresses(), hash_options(GetParam()));
  std::vector<std::string> keys;
  for (int i = 0; i < 60; ++i) {
    keys.push_back("key" + std::to_string(i));
    client.set(keys.back(), "v" + std::to_string(i));
  }
  const ServerAddress victim = client.server_for(keys[0]);
  for (auto& server : pool.servers) {
    if (server.address() == victim) server.kill();
  }
  std::vector<bool> on_victim;
  for (const auto& key : keys) on_victim.push_back(client.server_for(key) == victim);

  Outcomes got(keys.size());
  client.get_each(keys, got.sink());
  got.expect_each_once();
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (on_victim[i]) {
      EXPECT_TRUE(holds<IoError>(got.errors[i])) << keys[i] << ": " << describe(got.errors[i]);
      EXPECT_FALSE(got.items[i]);
    } else {
      EXPECT_FALSE(got.errors[i]) << keys[i] << ": " << describe(got.errors[i]);
      ASSERT_TRUE(got.items[i]) << keys[i];
      EXPECT_EQ(got.items[i]->value, "v" + std::to_string(i));
    }
  }
  EXPECT_THROW(client.get_many(keys), IoError);
}

// The server answers the first two requests of a batch, then hangs up: those two keys
// have their values, the others fail with the server's close (never with another key's
// value), and the next batch works over a fresh connection.
TEST(BlockingBatchFake, AServerThatClosesMidBatchFailsTheUnansweredKeysOnly) {
  set_log_handler([](LogLevel, std::string_view) {});
  const std::vector<std::string> keys = {"a", "b", "c", "d", "e"};
  FakeServer server({[&](FakePeer& peer) {
    std::vector<testing::FakeRequest> requests;
    // All of them read, so that the hang-up is a clean close, not a reset.
    for (std::size_t i = 0; i < keys.size(); ++i) {
      auto request = peer.read_request();
      if (!request) return;
      requests.push_back(*request);
    }
    for (std::size_t i = 0; i < 2; ++i) {
      peer.send("VA 3 f0 O" + std::to_string(*requests[i].opaque) + "\r\nv:" + requests[i].key +
                "\r\n");
    }
    peer.close();
  }});
  for (const auto& key : keys) server.store(key, "v:" + key);
  Client client(server.address(), options_for(Protocol::kMeta));

  Outcomes got(keys.size());
  client.get_each(keys, got.sink());
  got.expect_each_once();
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (i < 2) {
      EXPECT_FALSE(got.errors[i]) << describe(got.errors[i]);
      ASSERT_TRUE(got.items[i]);
      EXPECT_EQ(got.items[i]->value, "v:" + keys[i]);
    } else {
      EXPECT_TRUE(holds<IoError>(got.errors[i])) << describe(got.errors[i]);
      EXPECT_FALSE(got.items[i]);
    }
  }
  const auto items = client.get_many(keys);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    ASSERT_TRUE(items[i]);
    EXPECT_EQ(items[i]->value, "v:" + keys[i]);
  }
  EXPECT_EQ(server.accepted(), 2u);
}

// ---------------------------------------------------------------- lookup_many

Generations answer(int i) {
  return {Generation{"answer " + std::to_string(i), {}}};
}

using Prompts = std::vector<std::pair<std::string, std::string>>;

Prompts some_prompts(int n) {
  Prompts prompts;
  for (int i = 0; i < n; ++i) prompts.emplace_back("prompt " + std::to_string(i), "llm");
  return prompts;
}

struct LookupManyCase {
  const char* name;
  MemcachedCacheOptions options;
  Protocol protocol;
};

class LookupMany : public ::testing::TestWithParam<LookupManyCase> {};

MemcachedCacheOptions signed_namespaced_compressed() {
  MemcachedCacheOptions options;
  options.signing_secret = "secret";
  options.namespace_ = "tenant";
  options.compress = true;
  options.compress_min_bytes = 16;
  return options;
}

INSTANTIATE_TEST_SUITE_P(
    Options, LookupMany,
    ::testing::Values(LookupManyCase{"Plain", {}, Protocol::kMeta},
                      LookupManyCase{"PlainClassic", {}, Protocol::kClassic},
                      LookupManyCase{"SignedNamespacedCompressed", signed_namespaced_compressed(),
                                     Protocol::kMeta}),
    [](const ::testing::TestParamInfo<LookupManyCase>& info) { return info.param.name; });

// lookup_many is N lookups: the same results, and the same counters and latency
// observations, hits, misses and an entry that does not decode alike.
TEST_P(LookupMany, EqualsOneLookupPerPromptResultsAndCounters) {
  set_log_handler([](LogLevel, std::string_view) {});
  MemcachedServer server;
  auto client = std::make_shared<Client>(server.address(), options_for(GetParam().protocol));
  const Prompts prompts = some_prompts(40);
  MemcachedCache writer(client, GetParam().options);
  for (int i = 0; i < 40; ++i) {
    if (i % 3 != 0) writer.update(prompts[i].first, prompts[i].second, answer(i));
  }
  // One entry that is not LangChain's generations (plain cache only: a signed one would
  // fail its signature first, which the signing suite covers).
  if (!GetParam().options.signing_secret) {
    client->set(langchain_key(prompts[1].first, prompts[1].second), "not json");
  }

  MemcachedCache one_by_one(client, GetParam().options);
  MemcachedCache batched(client, GetParam().options);
  std::vector<std::optional<Generations>> expected;
  for (const auto& [prompt, llm] : prompts) expected.push_back(one_by_one.lookup(prompt, llm));
  const auto results = batched.lookup_many(prompts);
  ASSERT_EQ(results.size(), prompts.size());
  std::size_t hits = 0;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(results[i].has_value(), expected[i].has_value()) << i;
    if (results[i] && expected[i]) {
      EXPECT_EQ(*results[i], *expected[i]) << i;
    }
    if (results[i]) {
      ++hits;
      EXPECT_EQ(*results[i], answer(static_cast<int>(i)));
    }
  }
  EXPECT_GT(hits, 20u);
  const CacheStats a = one_by_one.stats(), b = batched.stats();
  EXPECT_EQ(b.hits, a.hits);
  EXPECT_EQ(b.misses, a.misses);
  EXPECT_EQ(b.decode_errors, a.decode_errors);
  EXPECT_EQ(b.bytes_read, a.bytes_read);
  EXPECT_EQ(b.hits + b.misses, prompts.size());
  EXPECT_EQ(batched.core()->lookup_latency().count(), prompts.size());
}

TEST(LookupManyControl, RefreshAndNoCacheReadNothingAndMissEveryPrompt) {
  MemcachedServer server;
  MemcachedCache cache(make_client(server.spec()));
  const Prompts prompts = some_prompts(5);
  for (int i = 0; i < 5; ++i) cache.update(prompts[i].first, prompts[i].second, answer(i));
  for (const CacheControl control :
       {CacheControl{.refresh = true}, CacheControl{.no_cache = true}}) {
    for (const auto& result : cache.lookup_many(prompts, control)) EXPECT_FALSE(result);
  }
  EXPECT_EQ(cache.stats().misses, 10u);
  for (const auto& result : cache.lookup_many(prompts)) EXPECT_TRUE(result);
  EXPECT_EQ(cache.stats().hits, 5u);
}

// A dead server: its prompts miss, each counted as an I/O failure as its lookup would be;
// the others hit.
TEST(LookupManyHash, ADeadServerMissesItsPromptsOnlyEachCounted) {
  set_log_handler([](LogLevel, std::string_view) {});
  ThreeServers pool;
  auto client = std::make_shared<HashClient>(pool.addresses(), hash_options(Protocol::kMeta));
  MemcachedCache cache(client);
  const Prompts prompts = some_prompts(60);
  for (int i = 0; i < 60; ++i) cache.update(prompts[i].first, prompts[i].second, answer(i));
  const ServerAddress victim =
      client->server_for(langchain_key(prompts[0].first, prompts[0].second));
  for (auto& server : pool.servers) {
    if (server.address() == victim) server.kill();
  }
  std::size_t on_victim = 0;
  std::vector<bool> lost;
  for (const auto& [prompt, llm] : prompts) {
    lost.push_back(client->server_for(langchain_key(prompt, llm)) == victim);
    on_victim += lost.back();
  }
  const CacheStats before = cache.stats();
  const auto results = cache.lookup_many(prompts);
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(results[i].has_value(), !lost[i]) << i;
  }
  const CacheStats after = cache.stats();
  EXPECT_EQ(after.hits - before.hits, prompts.size() - on_victim);
  EXPECT_EQ(after.misses - before.misses, on_victim);
  EXPECT_EQ(after.io_errors - before.io_errors, on_victim);
}

}  // namespace
}  // namespace llmcache
