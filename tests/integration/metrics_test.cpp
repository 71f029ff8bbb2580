// What the cache core gives metrics exporters: one latency observation per lookup, whatever
// its outcome and form (blocking, async, skipped by cache control, failed), and the tokens
// the faces say their hits saved.
#include <llmcache/cache.hpp>
#include <llmcache/codec.hpp>

#include "support/memcached_server.hpp"
#include "support/sample_entry.hpp"

#include <gtest/gtest.h>
#include <asio/use_future.hpp>

#include <future>

namespace llmcache {
namespace {

using testing::client_for;
using testing::kLlm;
using testing::kPrompt;
using testing::MemcachedServer;
using testing::sample;

std::optional<std::string> fetch_async(CacheCore& core, const std::string& key,
                                       const CacheControl& control = {}) {
  std::promise<std::optional<std::string>> done;
  core.start_fetch(
      key,
      [&done](std::exception_ptr, std::optional<std::string> value) {
        done.set_value(std::move(value));
      },
      control);
  return done.get_future().get();
}

TEST(CacheMetrics, EveryLookupIsOneLatencyObservationAndHitsAddTheirTokens) {
  MemcachedServer server;
  auto core = std::make_shared<CacheCore>(client_for(server));
  const std::string key = core->key(kPrompt, kLlm);
  EXPECT_EQ(core->lookup_latency().count(), 0u);

  EXPECT_FALSE(core->fetch(key));  // a miss
  core->finish_lookup(false);
  ASSERT_TRUE(core->store(key, encode_generations(sample())));
  ASSERT_TRUE(core->fetch(key));  // a hit that saved 42 tokens
  core->finish_lookup(true, 10, 42);
  ASSERT_TRUE(fetch_async(*core, key));  // the async form, 8 more
  core->finish_lookup(true, 10, 8);
  EXPECT_FALSE(core->fetch(key, {.refresh = true}));  // nothing read, still a lookup
  core->finish_lookup(false, 0, 1000);                // a miss saves nothing
  EXPECT_FALSE(fetch_async(*core, key, {.no_cache = true}));
  core->finish_lookup(false);

  server.kill();
  EXPECT_FALSE(core->fetch(key));  // failed reads are lookups too
  core->finish_lookup(false);
  EXPECT_FALSE(fetch_async(*core, key));
  core->finish_lookup(false);

  const CacheStats stats = core->stats();
  const LatencyHistogram latency = core->lookup_latency();
  EXPECT_EQ(stats.hits + stats.misses, 7u);
  EXPECT_EQ(latency.count(), stats.hits + stats.misses);
  EXPECT_GT(latency.sum_seconds, 0.0);
  EXPECT_EQ(stats.tokens_saved, 50u);
}

TEST(CacheMetrics, TheCppFaceRecordsLatencyThroughItsCore) {
  MemcachedServer server;
  MemcachedCache cache(client_for(server));
  EXPECT_FALSE(cache.lookup(kPrompt, kLlm));
  cache.update(kPrompt, kLlm, sample());
  EXPECT_TRUE(cache.lookup(kPrompt, kLlm));
  EXPECT_TRUE(cache.async_lookup(kPrompt, kLlm, asio::use_future).get());
  EXPECT_EQ(cache.core()->lookup_latency().count(), 3u);
  EXPECT_EQ(cache.stats().tokens_saved, 0u);  // the C++ face reads no usage metadata
}

}  // namespace
}  // namespace llmcache
