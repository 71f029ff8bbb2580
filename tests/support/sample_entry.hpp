#pragma once
// The sample entry of LangChain's own standard cache tests, and a client with short
// deadlines for it: what the cache suites store and read back.
#include <llmcache/client.hpp>
#include <llmcache/generation.hpp>

#include "support/memcached_server.hpp"

#include <chrono>
#include <memory>

namespace llmcache::testing {

inline constexpr const char* kPrompt = "Sample prompt for testing.";
inline constexpr const char* kLlm = "Sample LLM string configuration.";

inline Generations sample() {
  return {Generation{"Sample generated text.", Json{{"reason", "test"}}}};
}

/// A Client with 300 ms deadlines: enough on loopback, short enough for failure tests.
inline std::shared_ptr<ClientBase> client_for(const MemcachedServer& server) {
  using namespace std::chrono_literals;
  ClientOptions options;
  options.request_timeout = 300ms;
  options.connect_timeout = 300ms;
  return std::make_shared<Client>(server.address(), options);
}

}  // namespace llmcache::testing
