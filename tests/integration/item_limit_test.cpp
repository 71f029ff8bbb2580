// Values larger than a server's item limit (memcached -I): refused before sending, so the
// old value survives; when the server still refuses, the caller is told the old one is gone.
#include <llmcache/cache.hpp>
#include <llmcache/codec.hpp>
#include <llmcache/errors.hpp>
#include <llmcache/key.hpp>
#include <llmcache/log.hpp>

#include "support/log_and_errors.hpp"
#include "support/memcached_server.hpp"

#include <gtest/gtest.h>
#include <asio/use_future.hpp>

#include <mutex>

namespace llmcache {
namespace {

using testing::CapturedLog;

using namespace std::chrono_literals;
using testing::MemcachedServer;

const char* kPrompt = "Sample prompt for testing.";
const char* kLlm = "Sample LLM string configuration.";

Generations text_of_size(std::size_t bytes) {
  return {Generation{std::string(bytes, 'x'), std::nullopt}};
}

ClientOptions quick() {
  ClientOptions options;
  options.request_timeout = 2000ms;
  options.connect_timeout = 500ms;
  return options;
}

TEST(ItemLimit, TooLargeUpdateKeepsTheOldValueAndSaysSo) {
  MemcachedServer server({"-I", "1m"});
  auto client = std::make_shared<Client>(server.address(), quick());
  MemcachedCache cache(client);
  CapturedLog log;
  ASSERT_TRUE(cache.update(kPrompt, kLlm, text_of_size(1000)));
  EXPECT_FALSE(cache.update(kPrompt, kLlm, text_of_size(1'500'000)));
  EXPECT_FALSE(cache.update(kPrompt, kLlm, text_of_size(1'200'000)));
  EXPECT_EQ(cache.lookup(kPrompt, kLlm), text_of_size(1000));  // the old value survived
  const auto stats = cache.stats();
  EXPECT_EQ(stats.too_large, 2u);
  EXPECT_EQ(stats.update_failures, 2u);
  const auto lines = log.snapshot();
  ASSERT_EQ(lines.size(), 1u);  // once per cause
  EXPECT_NE(lines[0].find("nothing was sent"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("1048576"), std::string::npos) << lines[0];
}

TEST(ItemLimit, StrictCacheThrowsSayingNothingWasSent) {
  MemcachedServer server({"-I", "1m"});
  auto client = std::make_shared<Client>(server.address(), quick());
  MemcachedCache cache(client, {.strict = true});
  cache.update(kPrompt, kLlm, text_of_size(10));
  try {
    cache.update(kPrompt, kLlm, text_of_size(1'500'000));
    FAIL() << "no ValueTooLargeError";
  } catch (const ValueTooLargeError& e) {
    EXPECT_FALSE(e.reached_server());
    EXPECT_NE(std::string(e.what()).find("previous value under the key, if any, is kept"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(cache.lookup(kPrompt, kLlm), text_of_size(10));
}

TEST(ItemLimit, EachServersOwnLimitIsLearned) {
  MemcachedServer small({"-I", "1m"});
  MemcachedServer large({"-I", "2m"});
  HashClientOptions options;
  options.client = quick();
  auto client =
      std::make_shared<HashClient>(std::vector{small.address(), large.address()}, options);
  MemcachedCache cache(client);
  // Prompts whose keys land on each server.
  std::string on_small, on_large;
  for (int i = 0; on_small.empty() || on_large.empty(); ++i) {
    const std::string prompt = "prompt " + std::to_string(i);
    auto& slot =
        client->server_for(langchain_key(prompt, kLlm)) == small.address() ? on_small : on_large;
    if (slot.empty()) slot = prompt;
  }
  const auto value = text_of_size(1'500'000);
  EXPECT_TRUE(cache.update(on_large, kLlm, value));
  EXPECT_EQ(cache.lookup(on_large, kLlm), value);
  ASSERT_TRUE(cache.update(on_small, kLlm, text_of_size(5)));
  EXPECT_FALSE(cache.update(on_small, kLlm, value));
  EXPECT_EQ(cache.lookup(on_small, kLlm), text_of_size(5));
  EXPECT_FALSE(cache.update(on_large, kLlm, text_of_size(2'500'000)));
  EXPECT_EQ(cache.lookup(on_large, kLlm), value);
  EXPECT_EQ(cache.stats().too_large, 2u);
}

TEST(ItemLimit, AsyncUpdateIsRefusedBeforeSendingToo) {
  MemcachedServer server({"-I", "2m"});
  auto client = std::make_shared<Client>(server.address(), quick());
  MemcachedCache cache(client);
  EXPECT_TRUE(cache.async_update(kPrompt, kLlm, text_of_size(1'500'000), asio::use_future).get());
  EXPECT_FALSE(cache.async_update(kPrompt, kLlm, text_of_size(2'500'000), asio::use_future).get());
  EXPECT_EQ(cache.lookup(kPrompt, kLlm), text_of_size(1'500'000));
  EXPECT_EQ(cache.stats().too_large, 1u);
  MemcachedCache strict(client, {.strict = true});
  EXPECT_THROW(strict.async_update(kPrompt, kLlm, text_of_size(2'500'000), asio::use_future).get(),
               ValueTooLargeError);
}

// A value within a few bytes of the limit passes our estimate (which leaves out the CAS
// memcached stores with each item) and is refused by the server itself, which then drops
// the old value: the error must say so.
TEST(ItemLimit, RefusalByTheServerSaysThePreviousValueIsGone) {
  MemcachedServer server({"-I", "1m"});
  Client client(server.address(), quick());
  const std::string key(32, 'k');
  ASSERT_EQ(client.set(key, "old"), StoreResult::kStored);
  const std::size_t limit = 1u << 20;
  // 48-byte header + key + 1 + value + "\r\n" fits, + the 8-byte CAS does not.
  const std::size_t size = limit - 48 - key.size() - 1 - 2 - 4;
  try {
    client.set(key, std::string(size, 'v'));
    FAIL() << "no ValueTooLargeError";
  } catch (const ValueTooLargeError& e) {
    EXPECT_TRUE(e.reached_server());
    EXPECT_EQ(e.reason(), ErrorReason::kTooLarge);
    EXPECT_EQ(e.server(), server.spec());
    EXPECT_NE(std::string(e.what()).find("removed the previous value"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(client.get(key));  // what the message promised
  // Just under the real limit still fits.
  EXPECT_EQ(client.set(key, std::string(limit - 48 - 8 - key.size() - 1 - 2, 'v')),
            StoreResult::kStored);
}

TEST(ItemLimit, ClientRefusesWithoutTouchingTheServer) {
  MemcachedServer server({"-I", "1m"});
  Client client(server.address(), quick());
  ASSERT_EQ(client.set("k", "old"), StoreResult::kStored);
  try {
    client.set("k", std::string(2u << 20, 'v'));
    FAIL() << "no ValueTooLargeError";
  } catch (const ValueTooLargeError& e) {
    EXPECT_FALSE(e.reached_server());
    EXPECT_EQ(e.reason(), ErrorReason::kTooLarge);
    EXPECT_EQ(e.server(), server.spec());
  }
  try {
    client.async_set("k", std::string(2u << 20, 'v'), {}, asio::use_future).get();
    FAIL() << "no ValueTooLargeError";
  } catch (const ValueTooLargeError& e) {
    EXPECT_FALSE(e.reached_server());
    EXPECT_EQ(e.reason(), ErrorReason::kTooLarge);
    EXPECT_EQ(e.server(), server.spec());
  }
  EXPECT_EQ(client.get("k")->value, "old");
}

}  // namespace
}  // namespace llmcache
