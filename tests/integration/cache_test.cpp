// MemcachedCache and InMemoryCache as a LangChain user would use them.
#include <llmcache/cache.hpp>
#include <llmcache/codec.hpp>
#include <llmcache/errors.hpp>
#include <llmcache/key.hpp>
#include <llmcache/log.hpp>

#include "support/log_and_errors.hpp"
#include "support/memcached_server.hpp"
#include "support/sample_entry.hpp"

#include <gtest/gtest.h>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

#include <mutex>
#include <thread>

namespace llmcache {
namespace {

using testing::CapturedLog;

using namespace std::chrono_literals;
using testing::MemcachedServer;

using testing::client_for;
using testing::kLlm;
using testing::kPrompt;
using testing::sample;

TEST(MemcachedCache, MissUpdateHitClear) {
  MemcachedServer server;
  MemcachedCache cache(client_for(server));
  EXPECT_FALSE(cache.lookup(kPrompt, kLlm));
  EXPECT_TRUE(cache.update(kPrompt, kLlm, sample()));
  auto hit = cache.lookup(kPrompt, kLlm);
  ASSERT_TRUE(hit);
  EXPECT_EQ(*hit, sample());
  EXPECT_FALSE(cache.lookup("Nonexistent prompt", kLlm));
  cache.clear();
  EXPECT_FALSE(cache.lookup(kPrompt, kLlm));
  const auto stats = cache.stats();
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.misses, 3u);
  EXPECT_EQ(stats.updates, 1u);
  EXPECT_GT(stats.bytes_read, 0u);
}

TEST(MemcachedCache, StoresLangchainKeysAndValuesWithFlagsZeroAndNoExpiry) {
  MemcachedServer server;
  auto client = client_for(server);
  MemcachedCache cache(client);
  cache.update(kPrompt, kLlm, sample());
  auto raw = client->meta_get("e9d5056781cb5de7386f768fd2eaa106", {.ttl = true});
  ASSERT_TRUE(raw.item);
  EXPECT_EQ(raw.item->value, encode_generations(sample()));
  EXPECT_EQ(raw.item->flags, 0u);
  EXPECT_EQ(raw.ttl, -1);
}

TEST(MemcachedCache, TtlOptionSetsExpiry) {
  MemcachedServer server;
  auto client = client_for(server);
  MemcachedCache cache(client, {.ttl = 3600s});
  cache.update(kPrompt, kLlm, sample());
  auto raw = client->meta_get(langchain_key(kPrompt, kLlm), {.ttl = true});
  ASSERT_TRUE(raw.ttl);
  EXPECT_GT(*raw.ttl, 3500);
}

TEST(MemcachedCache, ACorruptEntryIsACountedMissLoggedOnce) {
  MemcachedServer server;
  auto client = client_for(server);
  MemcachedCache cache(client);
  CapturedLog log;
  client->set(langchain_key(kPrompt, kLlm), "{not json");
  client->set(langchain_key("other", kLlm), "[\"also not a generation\"]");
  EXPECT_FALSE(cache.lookup(kPrompt, kLlm));
  EXPECT_FALSE(cache.lookup("other", kLlm));
  EXPECT_FALSE(cache.lookup(kPrompt, kLlm));
  EXPECT_EQ(cache.stats().decode_errors, 3u);
  EXPECT_EQ(cache.stats().misses, 3u);
  EXPECT_EQ(log.size(), 1u);
}

TEST(MemcachedCache, ServerTroubleIsAMissNeverAnException) {
  MemcachedServer server;
  MemcachedCache cache(client_for(server));
  cache.update(kPrompt, kLlm, sample());
  CapturedLog log;
  server.pause();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(cache.lookup(kPrompt, kLlm));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_EQ(cache.stats().timeouts, 1u);
  server.kill();
  EXPECT_FALSE(cache.lookup(kPrompt, kLlm));
  EXPECT_FALSE(cache.update(kPrompt, kLlm, sample()));  // not stored, reported, not thrown
  EXPECT_GE(cache.stats().io_errors, 2u);
  EXPECT_EQ(cache.stats().update_failures, 1u);
  EXPECT_THROW(cache.clear(), IoError);  // a wipe that did not happen is not hidden
}

TEST(CacheCore, LogsEachCauseOncePerOperationSoFailedWritesAreNotHidden) {
  MemcachedServer server;
  MemcachedCache cache(client_for(server));
  CapturedLog log;
  server.kill();
  EXPECT_FALSE(cache.lookup(kPrompt, kLlm));
  EXPECT_FALSE(cache.lookup(kPrompt, kLlm));
  EXPECT_EQ(log.size(), 1u);  // the second read failure is only counted
  EXPECT_FALSE(cache.update(kPrompt, kLlm, sample()));
  EXPECT_FALSE(cache.update(kPrompt, kLlm, sample()));
  const auto lines = log.snapshot();
  ASSERT_EQ(lines.size(), 2u);  // the first write failure is news of its own
  EXPECT_NE(lines[1].find("update failed"), std::string::npos) << lines[1];
}

TEST(CacheCore, ARefusedUpdateIsCountedLoggedAndThrownWhenStrict) {
  MemcachedServer server;
  auto client = client_for(server);
  auto core = std::make_shared<CacheCore>(client);
  const std::string key = core->key(kPrompt, kLlm);
  ASSERT_TRUE(core->store(key, encode_generations(sample())));
  CapturedLog log;
  const auto why = std::make_exception_ptr(InvalidArgumentError("not representable"));
  EXPECT_FALSE(core->refuse_update(why));
  EXPECT_EQ(core->stats().update_failures, 1u);
  EXPECT_EQ(core->stats().unserializable_values, 1u);
  EXPECT_EQ(log.size(), 1u);
  // Nothing was sent: the previous entry is still there.
  EXPECT_EQ(core->fetch(key), encode_generations(sample()));

  auto strict = std::make_shared<CacheCore>(client, MemcachedCacheOptions{.strict = true});
  EXPECT_THROW(strict->refuse_update(why), InvalidArgumentError);
  EXPECT_EQ(strict->stats().unserializable_values, 1u);
}

TEST(CacheCore, FetchHandsBackVerifiedBytesAndTheFaceEndsTheLookup) {
  MemcachedServer server;
  auto client = client_for(server);
  auto signed_core =
      std::make_shared<CacheCore>(client, MemcachedCacheOptions{.signing_secret = "s3cret"});
  const std::string key = signed_core->key(kPrompt, kLlm);
  ASSERT_TRUE(signed_core->store(key, "value bytes"));
  EXPECT_NE(client->get(key)->value, "value bytes");  // sealed on the server
  EXPECT_EQ(signed_core->fetch(key), "value bytes");  // opened for the face
  signed_core->finish_lookup(true, 11);
  client->set(key, "planted");
  EXPECT_FALSE(signed_core->fetch(key));
  signed_core->finish_lookup(false);
  const auto stats = signed_core->stats();
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.signature_failures, 1u);
}

TEST(MemcachedCache, OversizedValueIsReportedNotSilentlyDropped) {
  MemcachedServer server;
  auto client = client_for(server);
  Generations huge = {Generation{std::string(2 << 20, 'x'), std::nullopt}};
  {
    MemcachedCache cache(client);
    CapturedLog log;
    EXPECT_FALSE(cache.update(kPrompt, kLlm, huge));
    EXPECT_EQ(cache.stats().too_large, 1u);
    EXPECT_EQ(log.size(), 1u);
  }
  MemcachedCache strict(client, {.strict = true});
  EXPECT_THROW(strict.update(kPrompt, kLlm, huge), ValueTooLargeError);
}

TEST(MemcachedCache, InvalidUtf8FromTheCallerThrows) {
  MemcachedServer server;
  MemcachedCache cache(client_for(server));
  EXPECT_THROW(cache.update(kPrompt, kLlm, {Generation{"\xff\xfe", std::nullopt}}),
               InvalidArgumentError);
}

TEST(MemcachedCache, AwaitableFutureAndConcurrentForms) {
  MemcachedServer server;
  MemcachedCache cache(client_for(server));
  EXPECT_TRUE(cache.async_update(kPrompt, kLlm, sample(), asio::use_future).get());
  EXPECT_EQ(cache.async_lookup(kPrompt, kLlm, asio::use_future).get(), sample());

  asio::io_context io;
  int hits = 0;
  for (int i = 0; i < 200; ++i) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto found = co_await cache.async_lookup(kPrompt, kLlm, asio::use_awaitable);
          if (found && *found == sample()) ++hits;
        },
        asio::detached);
  }
  io.run();
  EXPECT_EQ(hits, 200);
  cache.async_clear(0s, false, asio::use_future).get();
  EXPECT_FALSE(cache.lookup(kPrompt, kLlm));
}

TEST(MemcachedCache, SharesAPoolAcrossServersWithHashClient) {
  MemcachedServer a, b, c;
  auto pool = make_client(a.spec() + "," + b.spec() + "," + c.spec());
  MemcachedCache cache(pool);
  for (int i = 0; i < 30; ++i) {
    cache.update("prompt " + std::to_string(i), kLlm,
                 {Generation{"answer " + std::to_string(i), std::nullopt}});
  }
  for (int i = 0; i < 30; ++i) {
    auto hit = cache.lookup("prompt " + std::to_string(i), kLlm);
    ASSERT_TRUE(hit);
    EXPECT_EQ(text_of(hit->front()), "answer " + std::to_string(i));
  }
}

TEST(InMemoryCache, LangchainSemantics) {
  EXPECT_THROW(InMemoryCache(0), InvalidArgumentError);
  EXPECT_THROW(InMemoryCache(-1), InvalidArgumentError);
  InMemoryCache cache(2);
  EXPECT_FALSE(cache.lookup("p1", "l"));
  cache.update("p1", "l", sample());
  cache.update("p2", "l", sample());
  cache.update("p1", "l", {Generation{"newer", std::nullopt}});  // keeps its place
  cache.update("p3", "l", sample());                             // evicts the oldest: p1
  EXPECT_FALSE(cache.lookup("p1", "l"));
  EXPECT_TRUE(cache.lookup("p2", "l"));
  EXPECT_TRUE(cache.lookup("p3", "l"));
  EXPECT_EQ(cache.size(), 2u);
  cache.clear();
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.async_lookup("p2", "l", asio::use_future).get(), std::nullopt);
}

TEST(InMemoryCache, UnboundedByDefaultAndAwaitable) {
  InMemoryCache cache;
  for (int i = 0; i < 1000; ++i) cache.update(std::to_string(i), "l", sample());
  EXPECT_EQ(cache.size(), 1000u);
  asio::io_context io;
  std::optional<Generations> found;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        found = co_await cache.async_lookup("7", "l", asio::use_awaitable);
      },
      asio::detached);
  io.run();
  EXPECT_EQ(found, sample());
}

}  // namespace
}  // namespace llmcache
