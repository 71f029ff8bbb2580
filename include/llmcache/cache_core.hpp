#pragma once
/// The one cache core: everything between a cache request and memcached that does not
/// depend on how a face represents generations. The C++ MemcachedCache, the Python
/// MemcachedCache (langchain_memcached) and the llmcache command all go through it, so
/// key derivation, TTL, sealing and opening signed entries, the classification of
/// failures into counters and logging once per cause are written once.
///
/// A lookup is two steps: fetch() hands back the stored value's verified bytes (the
/// signature checked when signing is on), the face decodes them into its own objects, and
/// then calls finish_lookup() exactly once, saying whether they decoded. So every lookup
/// ends as exactly one hit or one miss, and stats() says the same in every language.
///
/// Thread-safe: any number of threads may call any method at once. Always held by
/// std::shared_ptr (make_shared), so that completions in flight keep it alive.
#include <llmcache/client.hpp>
#include <llmcache/detail/completion.hpp>
#include <llmcache/signing.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace llmcache {

class Signer;

/// Counters since the cache was made. Every lookup is exactly one of hit or miss;
/// the error counters say why a miss or a failed update happened.
struct CacheStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;                 // includes the lookups that failed below
  std::uint64_t updates = 0;                // values stored
  std::uint64_t update_failures = 0;        // values not stored, whatever the cause
  std::uint64_t io_errors = 0;              // connect/read/write failures and skipped servers
  std::uint64_t timeouts = 0;               // deadlines passed
  std::uint64_t server_errors = 0;          // error replies (other than too large)
  std::uint64_t protocol_errors = 0;        // replies we could not parse
  std::uint64_t decode_errors = 0;          // stored values that are not LangChain generations
  std::uint64_t too_large = 0;              // values larger than the server's item size limit
  std::uint64_t signature_failures = 0;     // signed cache: unsigned, forged or foreign entries
  std::uint64_t unserializable_values = 0;  // updates refused: values LangChain cannot write
  std::uint64_t bytes_read = 0;             // value bytes of hits
  std::uint64_t bytes_written = 0;          // value bytes stored
};

struct MemcachedCacheOptions {
  /// Time to live of stored entries; 0 means no expiry, as LangChain stores them.
  std::chrono::seconds ttl{0};
  /// When true, update() throws the failure (ValueTooLargeError, IoError...) instead of
  /// counting and logging it and returning false.
  bool strict = false;
  /// When set, entries are signed with HMAC-SHA256 under this secret (see signing.hpp)
  /// and only entries signed with it read back: anything else (LangChain's own entries,
  /// forgeries, another secret) is a miss counted in `signature_failures`. Off by default,
  /// because signed values are no longer LangChain's bytes: every process sharing the pool
  /// must then use llmcache with the same secret. An empty secret throws
  /// InvalidArgumentError.
  std::optional<std::string> signing_secret;
};

class CacheCore : public std::enable_shared_from_this<CacheCore> {
 public:
  /// Throws InvalidArgumentError for a null client, a negative ttl or an empty secret.
  CacheCore(std::shared_ptr<ClientBase> client, MemcachedCacheOptions options = {});
  ~CacheCore();
  CacheCore(const CacheCore&) = delete;
  CacheCore& operator=(const CacheCore&) = delete;

  /// The key an entry for this prompt and model configuration is stored under:
  /// LangChain's (hex MD5 of prompt + llm_string).
  std::string key(std::string_view prompt, std::string_view llm_string) const;

  // ------------------------------------------------------------ lookup
  /// Blocking: the verified value bytes under `key`, or nullopt. Never throws for server
  /// trouble or an entry that fails its signature check: those are counted, logged once
  /// per cause and read as nullopt. Call finish_lookup() afterwards, once.
  std::optional<std::string> fetch(std::string_view key);
  /// Async fetch: `callback` runs once, on the client's I/O thread, with a null error.
  void start_fetch(std::string key, Callback<std::optional<std::string>> callback);
  /// Ends one lookup: `decoded` says whether the fetched value became generations (a hit);
  /// `value_bytes` is the size of that value.
  void finish_lookup(bool decoded, std::size_t value_bytes = 0);
  /// A fetched value did not decode (`why`, for the log): counted in decode_errors and
  /// logged once. The lookup then ends with finish_lookup(false).
  void record_decode_failure(std::string_view why);

  // ------------------------------------------------------------ update
  /// Blocking: stores `value` (LangChain's bytes) under `key`, sealed when signing is on,
  /// with the TTL. Returns whether it was stored; a failure is counted and logged once per
  /// cause, and thrown instead when `strict`.
  bool store(std::string_view key, std::string_view value);
  /// Async store: `callback` runs once on the I/O thread with whether the value was
  /// stored; its error is set only when `strict` and the store failed.
  void start_store(std::string key, std::string_view value, Callback<bool> callback);
  /// An update the face could not encode (a value LangChain's own writer cannot
  /// represent): nothing is sent, the old entry stays; counted in update_failures and
  /// unserializable_values, logged once. Returns false, or throws `why` when `strict`.
  bool refuse_update(const std::exception_ptr& why);

  // ------------------------------------------------------------ the rest
  /// `flush_all [delay]` on every server: wipes each whole server. Throws if any failed.
  void clear(std::chrono::seconds delay = std::chrono::seconds{0}, bool noreply = false);
  void start_clear(std::chrono::seconds delay, bool noreply, Callback<bool> callback);

  CacheStats stats() const;
  const MemcachedCacheOptions& options() const { return options_; }
  ClientBase& client() const { return *client_; }
  const std::shared_ptr<ClientBase>& shared_client() const { return client_; }

 private:
  struct Counters;

  std::optional<std::string> open(std::string_view key, std::optional<Item> item);
  std::string seal(std::string_view key, std::string_view value) const;
  bool finish_store(const std::exception_ptr& error, StoreResult result, std::size_t size);
  void count(const std::exception_ptr& error, const char* operation);
  SetOptions set_options() const;

  std::shared_ptr<ClientBase> client_;
  MemcachedCacheOptions options_;         // without the secret, which only the signer keeps
  std::unique_ptr<const Signer> signer_;  // null when signing is off
  std::unique_ptr<Counters> counters_;

  // ============================================================ inspection, for tools
  // For tools that show and move entries (the llmcache command's get, delete, dump and
  // restore) rather than answer lookups: they must tell an entry that fails its signature
  // check from a miss, and report server trouble rather than read it as a miss. Nothing
  // here is counted or logged; server trouble throws (or reaches the callback) as the
  // client's own call does.
 public:
  /// How an entry reads back through this cache.
  enum class EntryState : std::uint8_t {
    kReadable,         // value() is LangChain's bytes: verified, or unsealed and signing is off
    kSignatureFailed,  // signing is on and the entry fails its check (signature_failure: why)
    kSealedNoSecret,   // signing is off but the entry is sealed: only its secret opens it
  };

  /// One entry as memcached holds it, and how it reads back.
  class StoredEntry {
   public:
    std::string stored;  // the bytes as stored (the envelope, when sealed)
    std::uint32_t flags = 0;
    EntryState state = EntryState::kReadable;
    SignatureFailure signature_failure = SignatureFailure::kUnsigned;  // if kSignatureFailed

    /// LangChain's bytes inside `stored` when kReadable (a view into it); empty otherwise.
    std::string_view value() const {
      return state == EntryState::kReadable ? std::string_view(stored).substr(value_offset_)
                                            : std::string_view();
    }

   private:
    friend class CacheCore;
    std::size_t value_offset_ = 0;  // where value() starts: after the envelope, when sealed
  };

  /// The entry under `key`, or nullopt if there is none. Throws as ClientBase::get.
  std::optional<StoredEntry> inspect(std::string_view key);
  /// One result per key, in order, pipelined. Throws as ClientBase::get_many.
  std::vector<std::optional<StoredEntry>> inspect_many(std::span<const std::string> keys);
  /// Removes the entry under `key`; false if there was none. Throws as ClientBase::del.
  bool remove(std::string_view key);
  /// Puts back an entry exactly as inspect() read it (a line of a dump): not sealed again
  /// (a sealed entry still verifies under the same key), with its own `flags` and expiry
  /// instead of this cache's TTL. `expires_at` is a unix time still to come, or 0 for
  /// never. `callback` runs once on the I/O thread with the client's result and error
  /// (InvalidArgumentError for a key memcached cannot store).
  void start_restore(std::string key, std::string stored, std::uint32_t flags,
                     std::int64_t expires_at, Callback<StoreResult> callback);

 private:
  StoredEntry read_back(std::string_view key, Item item) const;
};

}  // namespace llmcache
