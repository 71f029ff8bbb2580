// Asks the same question twice: the first answer comes from a (slow, fake) model,
// the second from memcached. Usage: llmcache_example [servers]  (default MEMCACHED_SERVERS
// or 127.0.0.1:11211).
#include <llmcache/llmcache.hpp>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>

namespace {

std::string slow_model(const std::string& prompt) {
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // stands in for a real LLM
  return "An answer to: " + prompt;
}

}  // namespace

int main(int argc, char** argv) {
  const char* env = std::getenv("MEMCACHED_SERVERS");
  std::string servers = argc > 1 ? argv[1] : env ? env : "127.0.0.1:11211";
  llmcache::MemcachedCache cache(llmcache::make_client(servers));

  const std::string prompt = "Which city is the most crowded city in the USA?";
  const std::string llm = "fake-llm(delay=500ms)";
  for (int round = 1; round <= 2; ++round) {
    auto start = std::chrono::steady_clock::now();
    std::string answer;
    if (auto cached = cache.lookup(prompt, llm)) {
      answer = llmcache::text_of(cached->front());
    } else {
      answer = slow_model(prompt);
      cache.update(prompt, llm, {llmcache::Generation{answer, std::nullopt}});
    }
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start);
    std::cout << "call " << round << ": " << ms.count() << " ms: " << answer << "\n";
  }
  auto stats = cache.stats();
  std::cout << "hits " << stats.hits << ", misses " << stats.misses << "\n";
}
