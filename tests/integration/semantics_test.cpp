// Cache semantics against a real memcached: namespaces (scoped O(1) clear, isolation,
// bounded visibility across caches, eviction of the generation key), zstd compression
// (byte-exact, readable whatever the reader's setting, corrupt frames are misses) and
// per-call cache control.
#include <llmcache/cache.hpp>
#include <llmcache/codec.hpp>
#include <llmcache/errors.hpp>
#include <llmcache/key.hpp>

#include "support/memcached_server.hpp"
#include "support/sample_entry.hpp"

#include <gtest/gtest.h>
#include <asio/use_future.hpp>

#include <future>
#include <thread>

namespace llmcache {
namespace {

using namespace std::chrono_literals;
using testing::client_for;
using testing::kLlm;
using testing::kPrompt;
using testing::MemcachedServer;
using testing::sample;

MemcachedCacheOptions in_namespace(std::string name, std::chrono::milliseconds refresh = 1000ms) {
  MemcachedCacheOptions options;
  options.namespace_ = std::move(name);
  options.namespace_refresh = refresh;
  return options;
}

MemcachedCacheOptions compressed() {
  MemcachedCacheOptions options;
  options.compress = true;
  return options;
}

/// Generations long and repetitive enough to compress well: a realistic answer.
Generations long_answer() {
  std::string text;
  for (int i = 0; i < 200; ++i) {
    text += "Paragraph " + std::to_string(i) + ": the cache stores model answers. ";
  }
  return {Generation{text, Json{{"finish_reason", "stop"}}}};
}

// ---------------------------------------------------------------- namespaces

TEST(Namespace, EntriesLiveUnderTheNamespaceNotLangchainsKey) {
  MemcachedServer server;
  auto client = client_for(server);
  MemcachedCache cache(client, in_namespace("tenant-a"));
  ASSERT_TRUE(cache.update(kPrompt, kLlm, sample()));
  EXPECT_EQ(cache.lookup(kPrompt, kLlm), sample());
  EXPECT_FALSE(client->get(langchain_key(kPrompt, kLlm)));  // not under LangChain's key
  EXPECT_FALSE(MemcachedCache(client).lookup(kPrompt, kLlm));
  const std::string stored = cache.core()->stored_key(langchain_key(kPrompt, kLlm));
  EXPECT_LE(stored.size(), 250u);
  const auto raw = client->get(stored);
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->value, encode_generations(sample()));  // the value is still LangChain's bytes
}

TEST(Namespace, ClearEmptiesOnlyItsNamespace) {
  MemcachedServer server;
  auto client = client_for(server);
  MemcachedCache a(client, in_namespace("a"));
  MemcachedCache b(client, in_namespace("b"));
  MemcachedCache plain(client);
  ASSERT_TRUE(a.update(kPrompt, kLlm, sample()));
  ASSERT_TRUE(b.update(kPrompt, kLlm, sample()));
  ASSERT_TRUE(plain.update(kPrompt, kLlm, sample()));
  ASSERT_EQ(client->set("someone-elses-key", "data"), StoreResult::kStored);

  a.clear();

  EXPECT_FALSE(a.lookup(kPrompt, kLlm));
  EXPECT_EQ(b.lookup(kPrompt, kLlm), sample());
  EXPECT_EQ(plain.lookup(kPrompt, kLlm), sample());
  const auto other = client->get("someone-elses-key");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->value, "data");
  // The namespace works on after a clear.
  ASSERT_TRUE(a.update(kPrompt, kLlm, sample()));
  EXPECT_EQ(a.lookup(kPrompt, kLlm), sample());
}

TEST(Namespace, NamespacesNeverReadEachOthersEntries) {
  MemcachedServer server;
  auto client = client_for(server);
  MemcachedCache a(client, in_namespace("a"));
  MemcachedCache b(client, in_namespace("b"));
  ASSERT_TRUE(a.update(kPrompt, kLlm, sample()));
  EXPECT_FALSE(b.lookup(kPrompt, kLlm));
  Generations other = {Generation{"b's answer", std::nullopt}};
  ASSERT_TRUE(b.update(kPrompt, kLlm, other));
  EXPECT_EQ(a.lookup(kPrompt, kLlm), sample());
  EXPECT_EQ(b.lookup(kPrompt, kLlm), other);
}

TEST(Namespace, AnotherCacheStopsReadingClearedEntriesWithinTheRefreshBound) {
  MemcachedServer server;
  // Two caches with their own clients and cores: two processes, as far as the namespace
  // is concerned.
  MemcachedCache writer(client_for(server), in_namespace("shared", 200ms));
  MemcachedCache reader(client_for(server), in_namespace("shared", 200ms));
  ASSERT_TRUE(writer.update(kPrompt, kLlm, sample()));
  ASSERT_EQ(reader.lookup(kPrompt, kLlm), sample());  // the reader now trusts the generation

  writer.clear();
  EXPECT_FALSE(writer.lookup(kPrompt, kLlm));  // at once in the clearing cache

  // The other cache stops within its refresh bound: polled with a generous timeout.
  const auto give_up = std::chrono::steady_clock::now() + 20s;
  while (reader.lookup(kPrompt, kLlm) && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_FALSE(reader.lookup(kPrompt, kLlm));
}

TEST(Namespace, EvictedGenerationKeyNeverBringsOldEntriesBack) {
  MemcachedServer server;
  auto client = client_for(server);
  MemcachedCache cache(client, in_namespace("evicted", 1ms));
  ASSERT_TRUE(cache.update(kPrompt, kLlm, sample()));
  const auto generation = cache.core()->namespace_generation();
  ASSERT_TRUE(generation);
  const std::string old_key = cache.core()->stored_key(langchain_key(kPrompt, kLlm));

  // Eviction, as memcached's LRU would do it: the generation key disappears, the entries
  // stay.
  ASSERT_TRUE(client->del(generation->key));
  std::this_thread::sleep_for(5ms);  // past the 1 ms refresh: the next lookup re-reads

  EXPECT_FALSE(cache.lookup(kPrompt, kLlm));
  EXPECT_TRUE(client->get(old_key));  // the old entry is still there, out of reach
  const auto fresh = cache.core()->namespace_generation();
  ASSERT_TRUE(fresh);
  EXPECT_NE(fresh->value, generation->value);
  // A fresh cache (a process started later) does not see it either.
  EXPECT_FALSE(MemcachedCache(client_for(server), in_namespace("evicted")).lookup(kPrompt, kLlm));
}

TEST(Namespace, AsyncLookupUpdateAndClear) {
  MemcachedServer server;
  auto client = client_for(server);
  MemcachedCache cache(client, in_namespace("async", 1ms));
  EXPECT_TRUE(cache.async_update(kPrompt, kLlm, sample(), asio::use_future).get());
  EXPECT_EQ(cache.async_lookup(kPrompt, kLlm, asio::use_future).get(), sample());
  EXPECT_TRUE(cache.async_clear(0s, false, asio::use_future).get());
  EXPECT_FALSE(cache.async_lookup(kPrompt, kLlm, asio::use_future).get());
  EXPECT_EQ(MemcachedCache(client).lookup(kPrompt, kLlm), std::nullopt);
}

TEST(Namespace, LongKeysAreHashedUnderTheKeyLimit) {
  MemcachedServer server;
  auto core = std::make_shared<CacheCore>(client_for(server), in_namespace("n"));
  const std::string long_key(200, 'k');
  const std::string stored = core->stored_key(long_key);
  EXPECT_LE(stored.size(), 250u);
  ASSERT_TRUE(core->store(long_key, encode_generations(sample())));
  EXPECT_EQ(core->fetch(long_key), encode_generations(sample()));
  EXPECT_NE(core->stored_key(std::string(201, 'k')), stored);
}

TEST(Namespace, BadOptionsAreRefused) {
  MemcachedServer server;
  EXPECT_THROW(CacheCore(client_for(server), in_namespace("")), InvalidArgumentError);
  EXPECT_THROW(CacheCore(client_for(server), in_namespace("n", 0ms)), InvalidArgumentError);
  MemcachedCache cache(client_for(server), in_namespace("n"));
  EXPECT_THROW(cache.clear(5s), InvalidArgumentError);
}

TEST(Namespace, ServerTroubleIsACountedMissNotAnException) {
  MemcachedServer server;
  MemcachedCache cache(client_for(server), in_namespace("down"));
  server.kill();
  EXPECT_FALSE(cache.lookup(kPrompt, kLlm));
  EXPECT_FALSE(cache.update(kPrompt, kLlm, sample()));
  const auto stats = cache.stats();
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.update_failures, 1u);
  EXPECT_GE(stats.io_errors + stats.timeouts, 2u);
}

// ---------------------------------------------------------------- compression

TEST(Compression, RoundTripIsByteExactAndSavesBytes) {
  MemcachedServer server;
  auto client = client_for(server);
  auto core = std::make_shared<CacheCore>(client, compressed());
  const std::string value = encode_generations(long_answer());
  const std::string key = langchain_key(kPrompt, kLlm);
  ASSERT_TRUE(core->store(key, value));
  const auto raw = client->get(key);
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->flags & kZstdCompressedFlag, kZstdCompressedFlag);
  EXPECT_LT(raw->value.size(), value.size());
  EXPECT_EQ(core->fetch(key), value);
  const auto stats = core->stats();
  EXPECT_EQ(stats.bytes_saved_by_compression, value.size() - raw->value.size());
  EXPECT_EQ(stats.bytes_written, raw->value.size());
}

TEST(Compression, SmallValuesStayPlainAndLangchainCompatible) {
  MemcachedServer server;
  auto client = client_for(server);
  MemcachedCache cache(client, compressed());
  ASSERT_TRUE(cache.update(kPrompt, kLlm, sample()));
  const auto raw = client->get(langchain_key(kPrompt, kLlm));
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->flags, 0u);
  EXPECT_EQ(raw->value, encode_generations(sample()));
  EXPECT_EQ(cache.stats().bytes_saved_by_compression, 0u);
}

TEST(Compression, ReadableWhateverTheReadersSetting) {
  MemcachedServer server;
  auto client = client_for(server);
  MemcachedCache writer(client, compressed());
  MemcachedCache plain_writer(client);
  MemcachedCache plain_reader(client);
  MemcachedCache compressing_reader(client, compressed());
  ASSERT_TRUE(writer.update(kPrompt, kLlm, long_answer()));
  ASSERT_TRUE(plain_writer.update("plain prompt", kLlm, long_answer()));
  EXPECT_EQ(plain_reader.lookup(kPrompt, kLlm), long_answer());
  EXPECT_EQ(compressing_reader.lookup(kPrompt, kLlm), long_answer());
  EXPECT_EQ(compressing_reader.lookup("plain prompt", kLlm), long_answer());
  EXPECT_EQ(plain_reader.async_lookup(kPrompt, kLlm, asio::use_future).get(), long_answer());
}

TEST(Compression, WithSigningAndNamespaceTogether) {
  MemcachedServer server;
  auto client = client_for(server);
  MemcachedCacheOptions options = in_namespace("both");
  options.compress = true;
  options.signing_secret = "s3cret";
  MemcachedCache cache(client, options);
  ASSERT_TRUE(cache.update(kPrompt, kLlm, long_answer()));
  EXPECT_EQ(cache.lookup(kPrompt, kLlm), long_answer());
  EXPECT_GT(cache.stats().bytes_saved_by_compression, 0u);
}

TEST(Compression, CorruptOrPlantedFramesAreCountedMisses) {
  MemcachedServer server;
  auto client = client_for(server);
  MemcachedCache cache(client);
  const std::string key = langchain_key(kPrompt, kLlm);
  SetOptions flagged;
  flagged.flags = kZstdCompressedFlag;

  // Not a zstd frame at all.
  ASSERT_EQ(client->set(key, encode_generations(sample()), flagged), StoreResult::kStored);
  EXPECT_FALSE(cache.lookup(kPrompt, kLlm));

  // A real frame, truncated.
  auto core = std::make_shared<CacheCore>(client, compressed());
  ASSERT_TRUE(core->store(key, encode_generations(long_answer())));
  auto frame = client->get(key);
  ASSERT_TRUE(frame);
  ASSERT_EQ(client->set(key, frame->value.substr(0, frame->value.size() / 2), flagged),
            StoreResult::kStored);
  EXPECT_FALSE(cache.lookup(kPrompt, kLlm));

  // A bomb: a frame header declaring 1 TB (zstd magic, a frame header with an 8-byte
  // content size), then nothing. Refused before any allocation.
  std::string bomb = "\x28\xb5\x2f\xfd";
  bomb += static_cast<char>(0xe0);  // FCS field size 8, single segment
  const std::uint64_t declared = std::uint64_t{1} << 40;
  for (int i = 0; i < 8; ++i) bomb += static_cast<char>((declared >> (8 * i)) & 0xff);
  ASSERT_EQ(client->set(key, bomb, flagged), StoreResult::kStored);
  EXPECT_FALSE(cache.lookup(kPrompt, kLlm));
  EXPECT_FALSE(cache.async_lookup(kPrompt, kLlm, asio::use_future).get());

  const auto stats = cache.stats();
  EXPECT_EQ(stats.decode_errors, 4u);
  EXPECT_EQ(stats.misses, 4u);
  EXPECT_EQ(stats.hits, 0u);
  const auto entry = cache.core()->inspect(key);
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->state, CacheCore::EntryState::kCorruptCompressed);
}

// ---------------------------------------------------------------- cache control

TEST(CacheControlOptions, EachOptionDoesWhatItSays) {
  MemcachedServer server;
  auto client = client_for(server);
  auto core = std::make_shared<CacheCore>(client);
  const std::string key = langchain_key(kPrompt, kLlm);
  const std::string value = encode_generations(sample());
  ASSERT_TRUE(core->store(key, value));

  EXPECT_FALSE(core->fetch(key, {.refresh = true}));
  EXPECT_FALSE(core->fetch(key, {.no_cache = true}));
  EXPECT_EQ(core->fetch(key, {.no_store = true}), value);

  const std::string newer = encode_generations({Generation{"newer", std::nullopt}});
  EXPECT_FALSE(core->store(key, newer, {.no_store = true}));
  EXPECT_FALSE(core->store(key, newer, {.no_cache = true}));
  EXPECT_EQ(client->get(key)->value, value);  // neither reached the server
  EXPECT_EQ(core->stats().update_failures, 0u);
  EXPECT_TRUE(core->store(key, newer, {.refresh = true}));
  EXPECT_EQ(client->get(key)->value, newer);

  const auto ttl = client->meta_get(key, {.value = false, .ttl = true}).ttl;
  EXPECT_EQ(ttl, -1);
  ASSERT_TRUE(core->store(key, newer, {.ttl = 100s}));
  const auto with_ttl = client->meta_get(key, {.value = false, .ttl = true}).ttl;
  ASSERT_TRUE(with_ttl);
  EXPECT_GT(*with_ttl, 0);
  EXPECT_LE(*with_ttl, 100);
  EXPECT_THROW(core->store(key, newer, {.ttl = -1s}), InvalidArgumentError);
}

TEST(CacheControlOptions, AsyncFormsFollowTheSameRules) {
  MemcachedServer server;
  auto client = client_for(server);
  auto core = std::make_shared<CacheCore>(client);
  const std::string key = langchain_key(kPrompt, kLlm);
  const std::string value = encode_generations(sample());
  auto fetch = [&](CacheControl control) {
    std::promise<std::optional<std::string>> done;
    core->start_fetch(
        key, [&](std::exception_ptr, std::optional<std::string> v) { done.set_value(v); }, control);
    return done.get_future().get();
  };
  auto store = [&](CacheControl control) {
    std::promise<bool> done;
    core->start_store(
        key, value, [&](std::exception_ptr, bool stored) { done.set_value(stored); }, control);
    return done.get_future().get();
  };
  EXPECT_FALSE(store({.no_store = true}));
  EXPECT_FALSE(client->get(key));
  EXPECT_TRUE(store({}));
  EXPECT_FALSE(fetch({.refresh = true}));
  EXPECT_FALSE(fetch({.no_cache = true}));
  EXPECT_EQ(fetch({}), value);
}

}  // namespace
}  // namespace llmcache
