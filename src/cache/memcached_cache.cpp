#include <llmcache/cache.hpp>
#include <llmcache/codec.hpp>
#include <llmcache/errors.hpp>

namespace llmcache {
namespace {

/// The C++ face's half of a lookup: decode the verified bytes, and end the lookup in the
/// core as a hit or a miss.
std::optional<Generations> decode(CacheCore& core, const std::optional<std::string>& value) {
  std::optional<Generations> result;
  if (value) {
    try {
      result = decode_generations(*value);
    } catch (const DecodeError& e) {
      core.record_decode_failure(std::string("not LangChain generations: ") + e.what());
    }
  }
  core.finish_lookup(result.has_value(), result ? value->size() : 0);
  return result;
}

}  // namespace

MemcachedCache::MemcachedCache(std::shared_ptr<ClientBase> client, MemcachedCacheOptions options)
    : core_(std::make_shared<CacheCore>(std::move(client), std::move(options))) {}

void MemcachedCache::start_lookup(std::string prompt, std::string llm_string,
                                  Callback<std::optional<Generations>> callback) {
  core_->start_fetch(core_->key(prompt, llm_string),
                     [core = core_, callback = std::move(callback)](
                         std::exception_ptr, std::optional<std::string> value) {
                       callback(nullptr, decode(*core, value));
                     });
}

void MemcachedCache::start_update(std::string prompt, std::string llm_string,
                                  Generations generations, Callback<bool> callback) {
  // A caller's mistake (invalid UTF-8) throws here, before anything is sent.
  const std::string value = encode_generations(generations);
  core_->start_store(core_->key(prompt, llm_string), value, std::move(callback));
}

void MemcachedCache::start_clear(std::chrono::seconds delay, bool noreply,
                                 Callback<bool> callback) {
  core_->start_clear(delay, noreply, std::move(callback));
}

// The blocking forms do their I/O on the calling thread (the client's fast path).

std::optional<Generations> MemcachedCache::lookup(std::string_view prompt,
                                                  std::string_view llm_string) {
  return lookup(prompt, llm_string, CacheControl{});
}

bool MemcachedCache::update(std::string_view prompt, std::string_view llm_string,
                            const Generations& generations) {
  return update(prompt, llm_string, generations, CacheControl{});
}

std::optional<Generations> MemcachedCache::lookup(std::string_view prompt,
                                                  std::string_view llm_string,
                                                  const CacheControl& control) {
  return decode(*core_, core_->fetch(core_->key(prompt, llm_string), control));
}

std::vector<std::optional<Generations>> MemcachedCache::lookup_many(
    std::span<const std::pair<std::string, std::string>> prompts, const CacheControl& control) {
  std::vector<std::string> keys;
  keys.reserve(prompts.size());
  for (const auto& [prompt, llm_string] : prompts) keys.push_back(core_->key(prompt, llm_string));
  std::vector<std::optional<Generations>> results(prompts.size());
  // Decoded here, as each value arrives: the next replies are read after it.
  core_->fetch_each(
      keys,
      [&](std::size_t i, std::optional<std::string> value) { results[i] = decode(*core_, value); },
      control);
  return results;
}

bool MemcachedCache::update(std::string_view prompt, std::string_view llm_string,
                            const Generations& generations, const CacheControl& control) {
  const std::string key = core_->key(prompt, llm_string);
  std::string value;
  try {
    value = encode_generations(generations);
  } catch (...) {
    core_->release_lease(key);  // nothing will be stored: waiters need not wait lease_ttl
    throw;
  }
  return core_->store(key, value, control);
}

void MemcachedCache::release_lease(std::string_view prompt, std::string_view llm_string) {
  core_->release_lease(core_->key(prompt, llm_string));
}

void MemcachedCache::clear(std::chrono::seconds delay, bool noreply) {
  core_->clear(delay, noreply);
}

CacheStats MemcachedCache::stats() const {
  return core_->stats();
}

std::shared_ptr<ClientBase> make_client(std::string_view servers, HashClientOptions options) {
  auto addresses = parse_servers(servers);
  if (addresses.size() == 1) return std::make_shared<Client>(addresses.front(), options.client);
  return std::make_shared<HashClient>(std::move(addresses), options);
}

}  // namespace llmcache
