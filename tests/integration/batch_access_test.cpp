// Access by key against a real memcached: sub-namespaces (each cleared alone, all cleared
// with the namespace), batches (fetch_many, store_many with per-item TTLs, remove_many)
// counted as single calls are, long and binary keys, values above the item limit, and
// list_stored() over every server of a pool.
#include <llmcache/cache_core.hpp>
#include <llmcache/errors.hpp>

#include "support/memcached_server.hpp"
#include "support/sample_entry.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>
#include <future>
#include <map>
#include <thread>

namespace llmcache {
namespace {

using namespace std::chrono_literals;
using testing::client_for;
using testing::MemcachedServer;

std::shared_ptr<CacheCore> core(std::shared_ptr<ClientBase> client, std::string name = "graph",
                                std::chrono::milliseconds refresh = 1000ms) {
  MemcachedCacheOptions options;
  options.namespace_ = std::move(name);
  options.namespace_refresh = refresh;
  return std::make_shared<CacheCore>(std::move(client), std::move(options));
}

using Values = std::vector<std::optional<std::string>>;
using Batch = std::vector<CacheCore::BatchItem>;

TEST(BatchAccess, StoreManyThenFetchManyInOrder) {
  MemcachedServer server;
  auto cache = core(client_for(server));
  const Batch items{{"a", "1", {}}, {"b", "2", {}}, {"c", "3", {}}};
  EXPECT_EQ(cache->store_many(items, "node"), (std::vector<bool>{true, true, true}));
  const std::vector<std::string> keys{"c", "missing", "a", "b"};
  EXPECT_EQ(cache->fetch_many(keys, "node"), (Values{"3", std::nullopt, "1", "2"}));
  // Another sub-namespace, and the namespace itself, hold none of them.
  EXPECT_EQ(cache->fetch_many(keys, "other"), Values(4));
  EXPECT_EQ(cache->fetch_many(keys), Values(4));
  const CacheStats stats = cache->stats();
  EXPECT_EQ(stats.updates, 3u);
  EXPECT_EQ(stats.bytes_written, 3u);
}

TEST(BatchAccess, AnotherCacheOnTheSameNamespaceReadsTheSameEntries) {
  MemcachedServer server;
  ASSERT_EQ(core(client_for(server))->store_many(Batch{{"k", "v", {}}}, "node"),
            std::vector<bool>{true});
  const std::vector<std::string> keys{"k"};
  EXPECT_EQ(core(client_for(server))->fetch_many(keys, "node"), Values{"v"});
  EXPECT_EQ(core(client_for(server), "another")->fetch_many(keys, "node"), Values(1));
}

TEST(BatchAccess, ClearSubNamespacesEmptiesOnlyThose) {
  MemcachedServer server;
  auto client = client_for(server);
  auto cache = core(client);
  const Batch items{{"k", "v", {}}};
  for (const char* sub : {"a", "b", "c"}) ASSERT_TRUE(cache->store_many(items, sub)[0]);
  ASSERT_TRUE(cache->store_many(items)[0]);
  ASSERT_EQ(client->set("someone-elses-key", "data"), StoreResult::kStored);

  const std::vector<std::string> cleared{"a", "c"};
  cache->clear_sub_namespaces(cleared);

  const std::vector<std::string> keys{"k"};
  EXPECT_EQ(cache->fetch_many(keys, "a"), Values(1));
  EXPECT_EQ(cache->fetch_many(keys, "b"), Values{"v"});
  EXPECT_EQ(cache->fetch_many(keys, "c"), Values(1));
  EXPECT_EQ(cache->fetch_many(keys), Values{"v"});
  EXPECT_TRUE(client->get("someone-elses-key"));
  // Another process (cache) sees the clear once it reads the generation again.
  EXPECT_EQ(core(client_for(server))->fetch_many(keys, "a"), Values(1));
}

TEST(BatchAccess, ClearTheNamespaceEmptiesEverySubNamespace) {
  MemcachedServer server;
  auto cache = core(client_for(server));
  const Batch items{{"k", "v", {}}};
  ASSERT_TRUE(cache->store_many(items, "a")[0]);
  ASSERT_TRUE(cache->store_many(items, "b")[0]);
  cache->clear();
  const std::vector<std::string> keys{"k"};
  EXPECT_EQ(cache->fetch_many(keys, "a"), Values(1));
  EXPECT_EQ(cache->fetch_many(keys, "b"), Values(1));
  // And the sub-namespaces work afterwards.
  ASSERT_TRUE(cache->store_many(items, "a")[0]);
  EXPECT_EQ(cache->fetch_many(keys, "a"), Values{"v"});
}

TEST(BatchAccess, EvictedSubNamespaceGenerationStartsAfresh) {
  MemcachedServer server;
  auto client = client_for(server);
  auto cache = core(client, "graph", 1ms);
  ASSERT_TRUE(cache->store_many(Batch{{"k", "v", {}}}, "a")[0]);
  // The generation keys are the only keys besides the entry that end in ":generation".
  std::vector<std::string> generation_keys;
  for (const auto& entry : client->metadump(0)) {
    if (entry.key.ends_with(":generation")) generation_keys.push_back(entry.key);
  }
  ASSERT_EQ(generation_keys.size(), 2u);  // the namespace's and the sub-namespace's
  for (const auto& key : generation_keys) {
    if (key.find(":s:") != std::string::npos) {
      ASSERT_TRUE(client->del(key));
    }
  }
  std::this_thread::sleep_for(5ms);  // past namespace_refresh
  const std::vector<std::string> keys{"k"};
  EXPECT_EQ(cache->fetch_many(keys, "a"), Values(1));  // a new generation: the old entry is gone
  ASSERT_TRUE(cache->store_many(Batch{{"k", "w", {}}}, "a")[0]);
  EXPECT_EQ(cache->fetch_many(keys, "a"), Values{"w"});
}

TEST(BatchAccess, LongAndBinaryKeysAreHashedUnderTheKeyLimit) {
  MemcachedServer server;
  auto client = client_for(server);
  auto cache = core(client);
  const std::string long_key(1000, 'x');
  const std::string binary_key("a b\n\0\xff", 6);
  const std::string spaced = "a key with spaces";
  const Batch items{{long_key, "long", {}}, {binary_key, "binary", {}}, {spaced, "spaced", {}}};
  EXPECT_EQ(cache->store_many(items, "node"), (std::vector<bool>{true, true, true}));
  EXPECT_EQ(cache->store_many(items), (std::vector<bool>{true, true, true}));
  const std::vector<std::string> keys{long_key, binary_key, spaced};
  EXPECT_EQ(cache->fetch_many(keys, "node"), (Values{"long", "binary", "spaced"}));
  EXPECT_EQ(cache->fetch_many(keys), (Values{"long", "binary", "spaced"}));
  for (const auto& entry : client->metadump(0)) EXPECT_LE(entry.key.size(), 192u) << entry.key;
}

TEST(BatchAccess, PerItemTtlAndForever) {
  MemcachedServer server;
  auto client = client_for(server);
  MemcachedCacheOptions options;
  options.namespace_ = "graph";
  options.ttl = 3600s;
  auto cache = std::make_shared<CacheCore>(client, options);
  const Batch items{{"short", "v", 1s},
                    {"forever", "v", 0s},
                    {"default", "v", {}},
                    {"long", "v", std::chrono::seconds(40 * 24 * 3600)}};
  ASSERT_EQ(cache->store_many(items, "node"), std::vector<bool>(4, true));
  std::map<std::string, std::int64_t> exptimes;
  for (const auto& entry : client->metadump(0)) {
    if (entry.key.ends_with(":generation")) continue;
    exptimes[entry.key.substr(entry.key.rfind(':') + 1)] = entry.exptime;
  }
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  EXPECT_EQ(exptimes.at("forever"), -1);
  EXPECT_GT(exptimes.at("default"), now + 3000);
  // Longer than memcached's 30 days of relative TTL: sent as an absolute time, so it still
  // lives (a relative 40 days would be read as a time in 1970: gone at once).
  EXPECT_GT(exptimes.at("long"), now + 39 * 24 * 3600);
  EXPECT_LE(exptimes.at("short"), now + 2);
  const std::vector<std::string> keys{"long", "short"};
  EXPECT_EQ(cache->fetch_many(keys, "node"), (Values{"v", "v"}));
  std::this_thread::sleep_for(2100ms);
  EXPECT_EQ(cache->fetch_many(keys, "node"), (Values{"v", std::nullopt}));
  const std::vector<CacheCore::BatchItem> negative{{"k", "v", -1s}};
  EXPECT_THROW(cache->store_many(negative), InvalidArgumentError);
}

TEST(BatchAccess, TooLargeValueIsRefusedAndCountedOthersStored) {
  MemcachedServer server({"-I", "1m"});
  auto cache = core(client_for(server));
  const Batch items{{"small", "v", {}}, {"big", std::string(2 << 20, 'x'), {}}};
  EXPECT_EQ(cache->store_many(items, "node"), (std::vector<bool>{true, false}));
  const CacheStats stats = cache->stats();
  EXPECT_EQ(stats.too_large, 1u);
  EXPECT_EQ(stats.update_failures, 1u);
  EXPECT_EQ(stats.updates, 1u);
}

TEST(BatchAccess, StrictStoreManyThrowsAfterTryingEveryItem) {
  MemcachedServer server({"-I", "1m"});
  MemcachedCacheOptions options;
  options.namespace_ = "graph";
  options.strict = true;
  auto cache = std::make_shared<CacheCore>(client_for(server), options);
  const Batch items{{"big", std::string(2 << 20, 'x'), {}}, {"small", "v", {}}};
  EXPECT_THROW(cache->store_many(items, "node"), ValueTooLargeError);
  EXPECT_EQ(cache->fetch_many(std::vector<std::string>{"small"}, "node"), Values{"v"});
}

TEST(BatchAccess, SigningAndCompressionApply) {
  MemcachedServer server;
  auto client = client_for(server);
  MemcachedCacheOptions options;
  options.namespace_ = "graph";
  options.signing_secret = "secret";
  options.compress = true;
  auto cache = std::make_shared<CacheCore>(client, options);
  const std::string value(10000, 'a');
  ASSERT_TRUE(cache->store_many(Batch{{"k", value, {}}}, "node")[0]);
  EXPECT_EQ(cache->fetch_many(std::vector<std::string>{"k"}, "node"), Values{value});
  EXPECT_GT(cache->stats().bytes_saved_by_compression, 0u);
  // Another secret reads nothing, and counts why.
  options.signing_secret = "another";
  auto other = std::make_shared<CacheCore>(client, options);
  EXPECT_EQ(other->fetch_many(std::vector<std::string>{"k"}, "node"), Values(1));
  EXPECT_EQ(other->stats().signature_failures, 1u);
}

TEST(BatchAccess, ServerDownMissesEveryKeyCounted) {
  MemcachedServer server;
  auto cache = core(client_for(server));
  server.kill();
  const std::vector<std::string> keys{"a", "b"};
  EXPECT_EQ(cache->fetch_many(keys, "node"), Values(2));
  EXPECT_EQ(cache->store_many(Batch{{"a", "v", {}}}, "node"), std::vector<bool>{false});
  const CacheStats stats = cache->stats();
  EXPECT_EQ(stats.io_errors + stats.timeouts, 3u);
  EXPECT_EQ(stats.update_failures, 1u);
}

TEST(BatchAccess, RemoveManySaysWhichExisted) {
  MemcachedServer server;
  auto cache = core(client_for(server));
  ASSERT_TRUE(cache->store_many(Batch{{"a", "1", {}}}, "node")[0]);
  const std::vector<std::string> keys{"a", "b"};
  EXPECT_EQ(cache->remove_many(keys, "node"), (std::vector<bool>{true, false}));
  EXPECT_EQ(cache->fetch_many(keys, "node"), Values(2));
}

TEST(BatchAccess, AsyncFormsCompleteOnce) {
  MemcachedServer server;
  auto cache = core(client_for(server));
  std::promise<std::vector<bool>> stored;
  cache->start_store_many(
      Batch{{"a", "1", {}}, {"b", "2", 0s}},
      [&](std::exception_ptr, std::vector<bool> r) { stored.set_value(r); }, "node");
  EXPECT_EQ(stored.get_future().get(), (std::vector<bool>{true, true}));
  std::promise<Values> fetched;
  cache->start_fetch_many(
      {"b", "a", "z"}, [&](std::exception_ptr, Values v) { fetched.set_value(v); }, "node");
  EXPECT_EQ(fetched.get_future().get(), (Values{"2", "1", std::nullopt}));
  std::promise<bool> cleared;
  cache->start_clear_sub_namespaces(
      {"node"}, [&](std::exception_ptr e, bool ok) { cleared.set_value(!e && ok); });
  EXPECT_TRUE(cleared.get_future().get());
  std::promise<std::vector<bool>> removed;
  cache->start_remove_many(
      {"a"}, [&](std::exception_ptr, std::vector<bool> r) { removed.set_value(r); }, "node");
  EXPECT_EQ(removed.get_future().get(), std::vector<bool>{false});  // cleared already
}

TEST(BatchAccess, NeedsANamespace) {
  MemcachedServer server;
  auto cache = std::make_shared<CacheCore>(client_for(server));
  const std::vector<std::string> keys{"a"};
  EXPECT_THROW(cache->fetch_many(keys), InvalidArgumentError);
  EXPECT_THROW(cache->list_stored(), InvalidArgumentError);
}

TEST(ListStored, EveryServersEntriesOfTheCurrentGenerationOnly) {
  MemcachedServer one, two;
  ClientOptions client_options;
  client_options.request_timeout = 2s;
  HashClientOptions options;
  options.client = client_options;
  auto pool = std::make_shared<HashClient>(std::vector<ServerAddress>{one.address(), two.address()},
                                           options);
  auto cache = core(pool);
  Batch items;
  for (int i = 0; i < 40; ++i)
    items.push_back({"key-" + std::to_string(i), "v" + std::to_string(i), {}});
  ASSERT_EQ(cache->store_many(items), std::vector<bool>(40, true));
  ASSERT_TRUE(cache->store_many(Batch{{"k", "in a sub-namespace", {}}}, "node")[0]);
  ASSERT_TRUE(core(pool, "another")->store_many(Batch{{"k", "elsewhere", {}}})[0]);
  ASSERT_EQ(pool->set("someone-elses-key", "data"), StoreResult::kStored);

  auto listed = cache->list_stored();
  std::sort(listed.begin(), listed.end());
  std::vector<std::string> expected;
  for (const auto& item : items) expected.push_back(item.value);
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(listed, expected);

  cache->clear();
  EXPECT_TRUE(cache->list_stored().empty());
}

TEST(ListStored, AServerWithoutItsCrawlerSaysSo) {
  MemcachedServer server({"-o", "no_lru_crawler"});
  auto cache = core(client_for(server));
  ASSERT_TRUE(cache->store_many(Batch{{"k", "v", {}}})[0]);
  try {
    cache->list_stored();
    FAIL() << "list_stored() listed a server whose crawler is off";
  } catch (const ServerError& e) {
    EXPECT_EQ(e.reason(), ErrorReason::kClientErrorReply);
    EXPECT_EQ(e.server(), server.spec());
  }
}

}  // namespace
}  // namespace llmcache
