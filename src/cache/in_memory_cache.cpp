#include <llmcache/cache.hpp>
#include <llmcache/errors.hpp>

#include <asio/post.hpp>

namespace llmcache {

InMemoryCache::InMemoryCache(std::optional<std::int64_t> maxsize) : maxsize_(maxsize) {
  if (maxsize_ && *maxsize_ <= 0) throw InvalidArgumentError("maxsize must be greater than 0");
}

std::optional<Generations> InMemoryCache::lookup(std::string_view prompt,
                                                 std::string_view llm_string) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(EntryKey(prompt, llm_string));
  if (it == entries_.end()) {
    ++stats_.misses;
    return std::nullopt;
  }
  ++stats_.hits;
  return it->second.first;
}

bool InMemoryCache::update(std::string_view prompt, std::string_view llm_string,
                           const Generations& generations) {
  std::lock_guard lock(mutex_);
  EntryKey key(prompt, llm_string);
  if (auto it = entries_.find(key); it != entries_.end()) {
    // Like a Python dict, an existing entry keeps its place in the eviction order.
    it->second.first = generations;
  } else {
    if (maxsize_ && static_cast<std::int64_t>(entries_.size()) >= *maxsize_) {
      entries_.erase(insertion_order_.front());
      insertion_order_.pop_front();
    }
    insertion_order_.push_back(key);
    entries_.emplace(std::move(key),
                     std::make_pair(generations, std::prev(insertion_order_.end())));
  }
  ++stats_.updates;
  return true;
}

void InMemoryCache::clear(std::chrono::seconds, bool) {
  std::lock_guard lock(mutex_);
  entries_.clear();
  insertion_order_.clear();
}

CacheStats InMemoryCache::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

std::size_t InMemoryCache::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

// Nothing here waits, so the async forms do the work at once and complete with it.
void InMemoryCache::start_lookup(std::string prompt, std::string llm_string,
                                 Callback<std::optional<Generations>> callback) {
  callback(nullptr, lookup(prompt, llm_string));
}

void InMemoryCache::start_update(std::string prompt, std::string llm_string,
                                 Generations generations, Callback<bool> callback) {
  callback(nullptr, update(prompt, llm_string, generations));
}

void InMemoryCache::start_clear(std::chrono::seconds delay, bool noreply, Callback<bool> callback) {
  clear(delay, noreply);
  callback(nullptr, true);
}

}  // namespace llmcache
