// Signed entries against a real memcached: only entries written with the secret read back.
#include <llmcache/cache.hpp>
#include <llmcache/codec.hpp>
#include <llmcache/errors.hpp>
#include <llmcache/key.hpp>
#include <llmcache/log.hpp>

#include "support/log_and_errors.hpp"
#include "support/memcached_server.hpp"
#include "support/sample_entry.hpp"

#include <gtest/gtest.h>
#include <asio/use_future.hpp>

#include <mutex>

namespace llmcache {
namespace {

using testing::CapturedLog;

using namespace std::chrono_literals;
using testing::MemcachedServer;

using testing::client_for;
using testing::kLlm;
using testing::kPrompt;
using testing::sample;

MemcachedCacheOptions signed_with(std::string secret) {
  MemcachedCacheOptions options;
  options.signing_secret = std::move(secret);
  return options;
}

TEST(SignedCache, RoundTripStoresAnEnvelopeAroundLangchainBytes) {
  MemcachedServer server;
  auto client = client_for(server);
  MemcachedCache cache(client, signed_with("s3cret"));
  EXPECT_TRUE(cache.update(kPrompt, kLlm, sample()));
  const auto hit = cache.lookup(kPrompt, kLlm);
  ASSERT_TRUE(hit);
  EXPECT_EQ(*hit, sample());
  const std::string key = langchain_key(kPrompt, kLlm);
  const auto raw = client->get(key);
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->value, Signer("s3cret").seal(key, encode_generations(sample())));
  EXPECT_EQ(cache.stats().signature_failures, 0u);
  EXPECT_EQ(cache.stats().hits, 1u);
}

TEST(SignedCache, AsyncLookupChecksTheSignatureToo) {
  MemcachedServer server;
  auto client = client_for(server);
  MemcachedCache cache(client, signed_with("s3cret"));
  EXPECT_TRUE(cache.async_update(kPrompt, kLlm, sample(), asio::use_future).get());
  EXPECT_EQ(cache.async_lookup(kPrompt, kLlm, asio::use_future).get(), sample());
  MemcachedCache(client).update(kPrompt, kLlm, sample());  // an unsigned writer
  EXPECT_FALSE(cache.async_lookup(kPrompt, kLlm, asio::use_future).get());
  EXPECT_EQ(cache.stats().signature_failures, 1u);
}

TEST(SignedCache, UnsignedEntryIsACountedMissLoggedOnce) {
  MemcachedServer server;
  auto client = client_for(server);
  MemcachedCache plain(client);  // writes exactly LangChain's bytes
  MemcachedCache cache(client, signed_with("s3cret"));
  CapturedLog log;
  plain.update(kPrompt, kLlm, sample());
  plain.update("other", kLlm, sample());
  EXPECT_FALSE(cache.lookup(kPrompt, kLlm));
  EXPECT_FALSE(cache.lookup("other", kLlm));
  const auto stats = cache.stats();
  EXPECT_EQ(stats.signature_failures, 2u);
  EXPECT_EQ(stats.misses, 2u);
  EXPECT_EQ(stats.decode_errors, 0u);
  const auto lines = log.snapshot();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("unsigned"), std::string::npos) << lines[0];
}

TEST(SignedCache, EntrySignedWithAnotherSecretMisses) {
  MemcachedServer server;
  auto client = client_for(server);
  MemcachedCache(client, signed_with("another secret")).update(kPrompt, kLlm, sample());
  MemcachedCache cache(client, signed_with("s3cret"));
  CapturedLog log;
  EXPECT_FALSE(cache.lookup(kPrompt, kLlm));
  EXPECT_EQ(cache.stats().signature_failures, 1u);
  ASSERT_EQ(log.snapshot().size(), 1u);
  EXPECT_NE(log.snapshot()[0].find("mismatch"), std::string::npos);
}

TEST(SignedCache, TamperedByteMisses) {
  MemcachedServer server;
  auto client = client_for(server);
  MemcachedCache cache(client, signed_with("s3cret"));
  cache.update(kPrompt, kLlm, sample());
  const std::string key = langchain_key(kPrompt, kLlm);
  std::string stored = client->get(key)->value;
  // "Sample generated text." becomes "Sample generated texT.": still valid LangChain JSON.
  const auto at = stored.find("text.");
  ASSERT_NE(at, std::string::npos);
  stored[at + 3] = 'T';
  ASSERT_NO_THROW(decode_generations(stored.substr(Signer::kOverhead)));
  client->set(key, stored);
  EXPECT_FALSE(cache.lookup(kPrompt, kLlm));
  EXPECT_EQ(cache.stats().signature_failures, 1u);
}

TEST(SignedCache, ValueMovedToAnotherKeyMisses) {
  MemcachedServer server;
  auto client = client_for(server);
  MemcachedCache cache(client, signed_with("s3cret"));
  cache.update(kPrompt, kLlm, sample());
  const auto stored = client->get(langchain_key(kPrompt, kLlm));
  client->set(langchain_key("Nonexistent prompt", kLlm), stored->value);
  EXPECT_FALSE(cache.lookup("Nonexistent prompt", kLlm));
  EXPECT_EQ(cache.stats().signature_failures, 1u);
  EXPECT_TRUE(cache.lookup(kPrompt, kLlm));
}

TEST(SignedCache, SignedEntryIsCorruptForAnUnsignedReader) {
  MemcachedServer server;
  auto client = client_for(server);
  MemcachedCache(client, signed_with("s3cret")).update(kPrompt, kLlm, sample());
  MemcachedCache plain(client);
  CapturedLog log;
  EXPECT_FALSE(plain.lookup(kPrompt, kLlm));  // a miss, never an exception
  EXPECT_EQ(plain.stats().decode_errors, 1u);
}

TEST(SignedCache, SigningOffKeepsLangchainBytes) {
  MemcachedServer server;
  auto client = client_for(server);
  MemcachedCache cache(client);
  cache.update(kPrompt, kLlm, sample());
  EXPECT_EQ(client->get(langchain_key(kPrompt, kLlm))->value, encode_generations(sample()));
}

TEST(SignedCache, EmptySecretIsRefused) {
  MemcachedServer server;
  EXPECT_THROW(MemcachedCache(client_for(server), signed_with("")), InvalidArgumentError);
}

// Not about signing, but about the same attacker: an entry planted in the pool claiming
// another class is a counted miss, logged once, whether or not the cache signs.
TEST(HostileEntry, ClaimingAnotherClassIsACountedMissLoggedOnce) {
  MemcachedServer server;
  auto client = client_for(server);
  const std::string llm_class =
      R"(["{\"lc\": 1, \"type\": \"constructor\", \"id\": [\"langchain\", \"llms\", \"openai\", \"OpenAI\"], \"kwargs\": {\"openai_api_key\": {\"lc\": 1, \"type\": \"secret\", \"id\": [\"OPENAI_API_KEY\"]}}}"])";
  const std::string chat_holding_a_prompt =
      R"(["{\"lc\": 1, \"type\": \"constructor\", \"id\": [\"langchain\", \"schema\", \"output\", \"ChatGeneration\"], \"kwargs\": {\"message\": {\"lc\": 1, \"type\": \"constructor\", \"id\": [\"langchain_core\", \"prompts\", \"prompt\", \"PromptTemplate\"], \"kwargs\": {\"template\": \"x\"}}}}"])";
  client->set(langchain_key("a", kLlm), llm_class);
  client->set(langchain_key("b", kLlm), chat_holding_a_prompt);
  client->set(langchain_key("c", kLlm), std::string(200000, '['));
  MemcachedCache cache(client);
  CapturedLog log;
  EXPECT_FALSE(cache.lookup("a", kLlm));
  EXPECT_FALSE(cache.lookup("b", kLlm));
  EXPECT_FALSE(cache.lookup("c", kLlm));
  EXPECT_EQ(cache.stats().decode_errors, 3u);
  EXPECT_EQ(cache.stats().misses, 3u);
  EXPECT_EQ(log.snapshot().size(), 1u);
}

}  // namespace
}  // namespace llmcache
