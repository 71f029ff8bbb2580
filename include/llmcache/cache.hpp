#pragma once
/// The LangChain cache interface: lookup, update, clear and their async twins.
///
/// Error policy: lookup() never throws for network, server or decode trouble; it returns
/// a miss and counts why (stats()). update() never drops a value silently: a value the
/// server refuses (too large, server down) is counted and logged, or, with
/// `strict`, thrown. clear() throws if any server could not be flushed. Caller mistakes
/// (invalid UTF-8 in a generation) always throw InvalidArgumentError.
#include <llmcache/cache_core.hpp>
#include <llmcache/client.hpp>
#include <llmcache/detail/completion.hpp>
#include <llmcache/generation.hpp>
#include <llmcache/signing.hpp>

#include <asio/system_executor.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace llmcache {

class Cache {
 public:
  virtual ~Cache() = default;

  /// The generations cached for this prompt and model configuration, or nullopt.
  virtual std::optional<Generations> lookup(std::string_view prompt,
                                            std::string_view llm_string) = 0;
  /// Caches `generations`. Returns whether they were stored (see the error policy).
  virtual bool update(std::string_view prompt, std::string_view llm_string,
                      const Generations& generations) = 0;
  /// Empties the cache. For MemcachedCache this is `flush_all [delay]` on every server:
  /// it wipes each whole server, including data that is not LangChain's.
  virtual void clear(std::chrono::seconds delay = std::chrono::seconds{0},
                     bool noreply = false) = 0;
  virtual CacheStats stats() const = 0;

  /// Async twins, for any asio completion token (use_awaitable, use_future, a callback
  /// taking (std::exception_ptr, T)). The handler runs on its associated executor.
  template <class Token>
  auto async_lookup(std::string_view prompt, std::string_view llm_string, Token&& token) {
    return detail::initiate<std::optional<Generations>>(
        std::forward<Token>(token), completion_executor(),
        [this, p = std::string(prompt), l = std::string(llm_string)](auto callback) mutable {
          start_lookup(std::move(p), std::move(l), std::move(callback));
        });
  }
  template <class Token>
  auto async_update(std::string_view prompt, std::string_view llm_string, Generations generations,
                    Token&& token) {
    return detail::initiate<bool>(std::forward<Token>(token), completion_executor(),
                                  [this, p = std::string(prompt), l = std::string(llm_string),
                                   g = std::move(generations)](auto callback) mutable {
                                    start_update(std::move(p), std::move(l), std::move(g),
                                                 std::move(callback));
                                  });
  }
  template <class Token>
  auto async_clear(std::chrono::seconds delay, bool noreply, Token&& token) {
    return detail::initiate<bool>(std::forward<Token>(token), completion_executor(),
                                  [this, delay, noreply](auto callback) mutable {
                                    start_clear(delay, noreply, std::move(callback));
                                  });
  }

  /// The callback core behind the async twins (for bindings). Each callback fires
  /// exactly once, possibly on another thread; it must not block.
  virtual void start_lookup(std::string prompt, std::string llm_string,
                            Callback<std::optional<Generations>> callback) = 0;
  virtual void start_update(std::string prompt, std::string llm_string, Generations generations,
                            Callback<bool> callback) = 0;
  virtual void start_clear(std::chrono::seconds delay, bool noreply, Callback<bool> callback) = 0;

 protected:
  /// Where completions run when the handler has no executor of its own.
  virtual asio::any_io_executor completion_executor() const = 0;
};

/// LangChain's MemcachedCache, byte-compatible: same keys, same values, same servers.
/// The C++ face of the cache core (cache_core.hpp): it adds only the C++ codec.
class MemcachedCache final : public Cache {
 public:
  explicit MemcachedCache(std::shared_ptr<ClientBase> client, MemcachedCacheOptions options = {});

  std::optional<Generations> lookup(std::string_view prompt, std::string_view llm_string) override;
  bool update(std::string_view prompt, std::string_view llm_string,
              const Generations& generations) override;
  /// Per call: what this lookup or update does differently (CacheControl: refresh,
  /// no_store, no_cache, ttl), as Python's `cache_control` block does.
  std::optional<Generations> lookup(std::string_view prompt, std::string_view llm_string,
                                    const CacheControl& control);
  bool update(std::string_view prompt, std::string_view llm_string, const Generations& generations,
              const CacheControl& control);
  /// Several lookups at once, blocking, on the calling thread: result i is what
  /// lookup(prompts[i].first, prompts[i].second, control) would return, and each counts
  /// as that lookup in stats() and the latency histogram. One write per server (a batch
  /// of N prompts costs one round trip per server, not N), and each value is decoded as
  /// soon as its reply arrives, while the server still works on the rest. With
  /// single_flight or stale_ttl, the prompts are looked up one after another.
  std::vector<std::optional<Generations>> lookup_many(
      std::span<const std::pair<std::string, std::string>> prompts,
      const CacheControl& control = {});
  /// With single_flight: gives back the lease a lookup of this prompt won, for a caller
  /// that will not update (its model call failed), so that waiters need not wait
  /// lease_ttl (CacheCore::release_lease). A failed update gives it back by itself.
  void release_lease(std::string_view prompt, std::string_view llm_string);
  void clear(std::chrono::seconds delay = std::chrono::seconds{0}, bool noreply = false) override;
  CacheStats stats() const override;

  void start_lookup(std::string prompt, std::string llm_string,
                    Callback<std::optional<Generations>> callback) override;
  void start_update(std::string prompt, std::string llm_string, Generations generations,
                    Callback<bool> callback) override;
  void start_clear(std::chrono::seconds delay, bool noreply, Callback<bool> callback) override;

  ClientBase& client() { return core_->client(); }
  /// The core this cache is a face of (shared with the completions in flight).
  const std::shared_ptr<CacheCore>& core() const { return core_; }

 protected:
  asio::any_io_executor completion_executor() const override { return core_->client().executor(); }

 private:
  std::shared_ptr<CacheCore> core_;
};

/// LangChain's InMemoryCache: entries in this process only. With a maxsize, inserting a
/// new entry into a full cache first evicts the oldest one. Thread-safe.
class InMemoryCache final : public Cache {
 public:
  /// Throws InvalidArgumentError if maxsize <= 0 (as LangChain raises ValueError).
  explicit InMemoryCache(std::optional<std::int64_t> maxsize = std::nullopt);

  std::optional<Generations> lookup(std::string_view prompt, std::string_view llm_string) override;
  bool update(std::string_view prompt, std::string_view llm_string,
              const Generations& generations) override;
  /// Removes every entry (delay and noreply are accepted and ignored).
  void clear(std::chrono::seconds delay = std::chrono::seconds{0}, bool noreply = false) override;
  CacheStats stats() const override;
  std::size_t size() const;

  void start_lookup(std::string prompt, std::string llm_string,
                    Callback<std::optional<Generations>> callback) override;
  void start_update(std::string prompt, std::string llm_string, Generations generations,
                    Callback<bool> callback) override;
  void start_clear(std::chrono::seconds delay, bool noreply, Callback<bool> callback) override;

 protected:
  asio::any_io_executor completion_executor() const override { return asio::system_executor(); }

 private:
  using EntryKey = std::pair<std::string, std::string>;
  std::optional<std::int64_t> maxsize_;
  mutable std::mutex mutex_;
  std::list<EntryKey> insertion_order_;
  std::map<EntryKey, std::pair<Generations, std::list<EntryKey>::iterator>> entries_;
  CacheStats stats_;
};

/// A Client for one server, a HashClient for several ("h1:11211,h2:11211").
std::shared_ptr<ClientBase> make_client(std::string_view servers, HashClientOptions options = {});

}  // namespace llmcache
