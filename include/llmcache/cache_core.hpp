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
#include <llmcache/latency_histogram.hpp>
#include <llmcache/signing.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace llmcache {

class Signer;
namespace detail {
class Namespaces;
class Generation;
}  // namespace detail

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
  std::uint64_t bytes_read = 0;             // value bytes of hits (as LangChain's, uncompressed)
  std::uint64_t bytes_written = 0;          // value bytes stored (as sent: compressed, sealed)
  std::uint64_t bytes_saved_by_compression = 0;  // stored bytes compression spared (compress)
  std::uint64_t tokens_saved = 0;  // model tokens the hits spared (the face reads their usage)
  std::uint64_t stale_served = 0;  // hits on an entry past its ttl (stale_ttl)
  std::uint64_t leases_won = 0;    // misses that were told to compute (single_flight,
                                   // or the refresh of a stale entry)
  std::uint64_t lease_waits = 0;   // hits that waited for another caller's value
  std::uint64_t lease_wait_timeouts = 0;  // waits that ran out: misses (single_flight_wait)
};

/// Client flag bit that marks an entry's value as one zstd frame (MemcachedCacheOptions::
/// compress). Bits 0-4 are taken by pymemcache's and pylibmc's serializers (1 << 3 is their
/// zlib flag), so llmcache uses bit 12. Read whatever the reader's own setting.
inline constexpr std::uint32_t kZstdCompressedFlag = 1u << 12;

/// Per-call cache control: what one lookup or update should do differently (Python:
/// `langchain_memcached.cache_control`, carried by contextvars). The default changes
/// nothing. It is a struct so that later per-call choices join it without new overloads.
struct CacheControl {
  /// Lookup misses without reading (the caller recomputes now); the update stores.
  bool refresh = false;
  /// The update is skipped: nothing is sent, the old entry stays. The lookup reads.
  bool no_store = false;
  /// Neither read nor written: the lookup misses without reading, the update is skipped.
  bool no_cache = false;
  /// This update's time to live instead of the cache's (0: no expiry). Negative throws
  /// InvalidArgumentError.
  std::optional<std::chrono::seconds> ttl;
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

  /// When set, entries live under this namespace (Python: `namespace=`; the trailing
  /// underscore because `namespace` is a C++ keyword). Their memcached keys are then no
  /// longer LangChain's (see docs/namespaces.md for the layout), and clear() invalidates
  /// only this namespace, in O(1), without flush_all: it stores a new random generation
  /// under the namespace's generation key, and entry keys are derived from (namespace,
  /// generation, LangChain's key). After clear() returns, this process never reads an
  /// older entry; other processes re-read the generation at least every
  /// `namespace_refresh`, so they stop reading older entries within that bound (plus one
  /// request's deadline). If the generation key is evicted, the next reader makes a new
  /// random one: old entries never come back. Isolation between tenants, not access
  /// control (signing gives integrity). Empty throws InvalidArgumentError.
  std::optional<std::string> namespace_;
  /// How long a namespace's generation is trusted before it is read again (see above).
  /// Must be positive.
  std::chrono::milliseconds namespace_refresh{1000};

  /// When true, values of at least `compress_min_bytes` are stored as one zstd frame,
  /// marked with kZstdCompressedFlag in the item's client flags (only when that is
  /// smaller). The cache reads compressed and plain entries whatever this setting;
  /// LangChain's own reader cannot read compressed entries. A compressed entry that does
  /// not decompress (corrupt, or declaring more than kMaxDecompressedBytes) is a miss
  /// counted in decode_errors.
  bool compress = false;
  std::size_t compress_min_bytes = 1024;
  /// zstd's level (1 fastest .. 19 smallest); 3 is zstd's own default.
  int compress_level = 3;

  /// Stampede protection across processes (docs/single-flight.md): of all concurrent
  /// lookups of one missing entry, in every process sharing the pool, one misses (a
  /// "lease": its caller computes the value and stores it) and the others wait for that
  /// value, up to `single_flight_wait`, then read it as a hit. A waiter whose wait runs
  /// out misses (and computes itself). A winner that never stores (its model call failed,
  /// it was killed) holds the others for at most `lease_ttl`: then one of them takes over.
  /// A failed or skipped update, or release_lease(), gives the lease back at once.
  /// Meta protocol: `mg` with N<lease_ttl>, the lease is an empty placeholder item (other
  /// readers, LangChain's own or pymemcache, see it as an empty value). Classic protocol
  /// (proxies): an `add` of a lease key next to the entry. Lookups then cost one request
  /// more only in classic mode, and only on a miss.
  bool single_flight = false;
  /// How long a waiter waits for another caller's value. Must be positive.
  std::chrono::milliseconds single_flight_wait{60000};
  /// How long a lease holds the others back if its winner never stores: choose it above
  /// the model call's usual duration (shorter: a slow call is computed twice; longer: a
  /// crashed winner delays everyone by up to that much). Must be positive.
  std::chrono::seconds lease_ttl{30};
  /// Stale-while-revalidate (meta protocol): entries are kept `stale_ttl` beyond `ttl`;
  /// in that window one lookup misses (and refreshes the entry, counted in leases_won)
  /// while every other lookup still reads the old value at once (stale_served). Needs a
  /// positive `ttl`; 0 turns it off. In classic mode stale serving is impossible (no
  /// remaining-TTL flags): entries expire after `ttl`, which is said once in the log.
  std::chrono::seconds stale_ttl{0};
};

/// The most a compressed entry may decompress to: a frame declaring more (a zstd bomb) is
/// refused before anything is allocated.
inline constexpr std::size_t kMaxDecompressedBytes = std::size_t{64} << 20;

class CacheCore : public std::enable_shared_from_this<CacheCore> {
 public:
  /// Throws InvalidArgumentError for a null client, a negative ttl, an empty secret or
  /// namespace, a non-positive namespace_refresh or a bad compress_level; with
  /// single_flight, a non-positive single_flight_wait or lease_ttl; a negative stale_ttl,
  /// or a positive one with no ttl.
  CacheCore(std::shared_ptr<ClientBase> client, MemcachedCacheOptions options = {});
  ~CacheCore();
  CacheCore(const CacheCore&) = delete;
  CacheCore& operator=(const CacheCore&) = delete;

  /// The key of the entry for this prompt and model configuration: LangChain's (hex MD5
  /// of prompt + llm_string). Lookups and updates take it; with a namespace, the entry is
  /// stored under stored_key(key) instead.
  std::string key(std::string_view prompt, std::string_view llm_string) const;
  /// The memcached key the entry under `key` is stored under now: `key` itself, or with a
  /// namespace the key derived from (namespace, current generation, `key`). Blocking (it
  /// may read the generation); throws as ClientBase::get. For tools.
  std::string stored_key(std::string_view key);
  /// A namespace's current generation, for tools that list or move its entries.
  struct NamespaceGeneration {
    std::string key;               // where the generation is stored
    std::string value;             // the generation itself
    std::string entry_key_prefix;  // what every stored key of this generation starts with
  };
  /// nullopt without a namespace. Blocking, throws as stored_key().
  std::optional<NamespaceGeneration> namespace_generation();

  // ------------------------------------------------------------ lookup
  /// Blocking: the verified value bytes under `key`, or nullopt. Never throws for server
  /// trouble or an entry that fails its signature check: those are counted, logged once
  /// per cause and read as nullopt. Call finish_lookup() afterwards, once.
  /// With `control.refresh` or `control.no_cache`, nothing is read: nullopt.
  /// With single_flight, a lookup may wait (sleeping) for another caller's value, up to
  /// single_flight_wait; a nullopt may then be a lease: the caller should compute the
  /// value and store() it (or release_lease() if it cannot).
  std::optional<std::string> fetch(std::string_view key, const CacheControl& control = {});
  /// Async fetch: `callback` runs once, on the client's I/O thread (or at once, on the
  /// calling thread, when nothing needs reading), with a null error. A single_flight
  /// wait is a timer on the I/O thread: no thread waits.
  void start_fetch(std::string key, Callback<std::optional<std::string>> callback,
                   const CacheControl& control = {});
  /// Blocking lookups of several keys at once, on the calling thread (one write per
  /// server, see ClientBase::get_each): key i's verified bytes, or nullopt, handed to
  /// `on_value(i, value)` as soon as its reply is parsed, so that the face decodes one
  /// value while the others are on their way. Each key is one fetch(): counted, logged,
  /// timed (from the batch's start to its value), verified and decompressed as fetch()
  /// does it; call finish_lookup() once per key. With single_flight or stale_ttl the keys
  /// are fetch()ed one after another (a lease is one key's exchange). `on_value` must not
  /// throw.
  using FetchEach = std::function<void(std::size_t index, std::optional<std::string> value)>;
  void fetch_each(std::span<const std::string> keys, const FetchEach& on_value,
                  const CacheControl& control = {});
  /// Ends one lookup: `decoded` says whether the fetched value became generations (a hit);
  /// `value_bytes` is the size of that value, `tokens_saved` the model tokens the hit
  /// spared (the face reads them from the generations' usage metadata; 0 when none).
  void finish_lookup(bool decoded, std::size_t value_bytes = 0, std::uint64_t tokens_saved = 0);
  /// A fetched value did not decode (`why`, for the log): counted in decode_errors and
  /// logged once. The lookup then ends with finish_lookup(false).
  void record_decode_failure(std::string_view why);

  // ------------------------------------------------------------ update
  /// Blocking: stores `value` (LangChain's bytes) under `key`, sealed when signing is on,
  /// with the TTL. Returns whether it was stored; a failure is counted and logged once per
  /// cause, and thrown instead when `strict`.
  /// With `control.no_store` or `control.no_cache` nothing is sent: false, not counted as
  /// a failure. `control.ttl` replaces the cache's TTL for this value.
  bool store(std::string_view key, std::string_view value, const CacheControl& control = {});
  /// Async store: `callback` runs once on the I/O thread with whether the value was
  /// stored; its error is set only when `strict` and the store failed.
  void start_store(std::string key, std::string_view value, Callback<bool> callback,
                   const CacheControl& control = {});
  /// An update the face could not encode (a value LangChain's own writer cannot
  /// represent): nothing is sent, the old entry stays; counted in update_failures and
  /// unserializable_values, logged once. Returns false, or throws `why` when `strict`.
  /// `key`, when given, is the lookup's key: a lease it holds is given back.
  bool refuse_update(const std::exception_ptr& why, std::string_view key = {});

  /// Gives back the lease this cache holds for `key` (single_flight: a lookup of `key`
  /// missed and told this caller to compute), for a caller that will not store, so that
  /// waiters need not wait lease_ttl: its placeholder is removed (only if it is still
  /// this lease's). Does nothing when no lease is held. Never throws for server trouble
  /// (the lease then ends by its lease_ttl). store() and a failed update do this alone.
  void release_lease(std::string_view key);
  /// Async: `callback` runs once, on the I/O thread or at once, with whether a lease
  /// was given back.
  void start_release_lease(std::string_view key, Callback<bool> callback);

  // ------------------------------------------------------------ batches, by key
  // For faces whose keys are their own (LangGraph's node cache, a ByteStore) rather than
  // LangChain's: each takes the face's keys (any bytes, any length: the stored key is
  // derived, hashed when needed, see docs/namespaces.md) and needs a namespace
  // (InvalidArgumentError otherwise). With `sub_namespace`, the entries live in that
  // sub-namespace of the cache's namespace, which clear_sub_namespaces() empties alone.
  // Each batch is pipelined: one round trip per server (plus one to read the generations,
  // at most once per namespace_refresh). Results are in the keys' order. Counting,
  // logging, signing and compression are those of fetch() and store().

  /// One result per key, as fetch() does: nullopt for a miss or any failure (counted and
  /// logged). Call finish_lookup() once per key afterwards.
  std::vector<std::optional<std::string>> fetch_many(
      std::span<const std::string> keys, const std::optional<std::string>& sub_namespace = {});
  /// Async fetch_many: `callback` runs once, on the I/O thread or at once, with a null error.
  void start_fetch_many(std::vector<std::string> keys,
                        Callback<std::vector<std::optional<std::string>>> callback,
                        std::optional<std::string> sub_namespace = {});

  /// As fetch_many, key i in sub-namespace `sub_namespaces[i]` (nullopt: none): a batch
  /// over several sub-namespaces in one round trip per server. InvalidArgumentError unless
  /// there is one per key.
  std::vector<std::optional<std::string>> fetch_many_across(
      std::span<const std::string> keys,
      std::span<const std::optional<std::string>> sub_namespaces);
  void start_fetch_many_across(std::vector<std::string> keys,
                               std::vector<std::optional<std::string>> sub_namespaces,
                               Callback<std::vector<std::optional<std::string>>> callback);

  /// One value to store: `ttl` nullopt is the cache's ttl; 0 is no expiry.
  struct BatchItem {
    std::string key;
    std::string value;
    std::optional<std::chrono::seconds> ttl;
  };
  /// Whether each value was stored, as store() says (failures counted and logged once per
  /// cause; with `strict`, the first failure is thrown after every item was tried).
  /// Throws InvalidArgumentError for a negative ttl before anything is sent.
  std::vector<bool> store_many(std::span<const BatchItem> items,
                               const std::optional<std::string>& sub_namespace = {});
  /// Async store_many: `callback` runs once; its error is set only when `strict` and a
  /// store failed.
  void start_store_many(std::vector<BatchItem> items, Callback<std::vector<bool>> callback,
                        std::optional<std::string> sub_namespace = {});
  /// As store_many, item i in sub-namespace `sub_namespaces[i]` (nullopt: none).
  std::vector<bool> store_many_across(std::span<const BatchItem> items,
                                      std::span<const std::optional<std::string>> sub_namespaces);
  void start_store_many_across(std::vector<BatchItem> items,
                               std::vector<std::optional<std::string>> sub_namespaces,
                               Callback<std::vector<bool>> callback);

  /// Removes each key's entry: whether it existed. Failures are thrown (not counted), as
  /// remove() does.
  std::vector<bool> remove_many(std::span<const std::string> keys,
                                const std::optional<std::string>& sub_namespace = {});
  void start_remove_many(std::vector<std::string> keys, Callback<std::vector<bool>> callback,
                         std::optional<std::string> sub_namespace = {});

  /// A new generation for each sub-namespace listed: their entries are out of reach at
  /// once (one set each, pipelined, waited for), in O(1) per sub-namespace, without
  /// flush_all or listing. Other sub-namespaces and the namespace itself stay. Visibility
  /// in other processes as clear()'s (docs/namespaces.md). Needs a namespace; throws if a
  /// set failed.
  void clear_sub_namespaces(std::span<const std::string> sub_namespaces);
  void start_clear_sub_namespaces(std::vector<std::string> sub_namespaces, Callback<bool> callback);

  /// The stored values (verified, decompressed) of every entry of the namespace's current
  /// generation outside sub-namespaces: `lru_crawler metadump` on every server, filtered
  /// by the generation's key prefix, then read pipelined. A full scan of every server:
  /// for tools and small stores, not for lookups. Entries that fail their check, or vanish
  /// between listing and reading, are left out. Needs a namespace. Where a server or proxy
  /// refuses the crawl, throws ServerError with its reason (kNotUnderstood,
  /// kClientErrorReply) and a message saying the listing needs memcached's LRU crawler;
  /// while another crawl runs, ServerError with reason kBusy; otherwise as
  /// ClientBase::metadump.
  std::vector<std::string> list_stored();

  // ------------------------------------------------------------ the rest
  /// Without a namespace: `flush_all [delay]` on every server, wiping each whole server.
  /// With one: a new generation for the namespace (one set, waited for even with
  /// noreply); other entries stay. `delay` then throws InvalidArgumentError (a generation
  /// cannot change later). Throws if any server failed.
  void clear(std::chrono::seconds delay = std::chrono::seconds{0}, bool noreply = false);
  void start_clear(std::chrono::seconds delay, bool noreply, Callback<bool> callback);

  CacheStats stats() const;
  /// How long lookups took, from the fetch call (fetch() or start_fetch()) to its result,
  /// one observation per fetch: hits, misses and failed reads alike.
  LatencyHistogram lookup_latency() const;
  const MemcachedCacheOptions& options() const { return options_; }
  ClientBase& client() const { return *client_; }
  const std::shared_ptr<ClientBase>& shared_client() const { return client_; }

 private:
  struct Counters;
  struct Encoded;
  class Leases;  // src/cache/leases.hpp
  struct Flight;

  // single_flight / stale_ttl (src/cache/leases.cpp). `stored` is the memcached key.
  std::optional<std::string> leased_fetch(std::string_view key, const std::string& stored);
  void start_leased_fetch(std::string key, std::string stored,
                          Callback<std::optional<std::string>> callback);
  /// The TTL an entry is stored with: ttl plus stale_ttl where stale serving works.
  std::chrono::seconds stored_ttl(std::chrono::seconds ttl, Protocol protocol);
  /// After an update of `key` (or instead of one): ends the lease held for it, removing
  /// its placeholder unless the value was `stored` over it. Never throws.
  void settle_lease(std::string_view key, bool stored);
  void start_settle_lease(std::string_view key, bool stored, Callback<bool> callback);
  enum class LeaseEvent : std::uint8_t { kStaleServed, kWon, kWaited, kWaitTimedOut };
  void count(LeaseEvent event);
  void note_classic_stale();

  std::optional<std::string> open(std::string_view key, std::optional<Item> item);
  Encoded encode(std::string_view key, std::string_view value) const;
  bool finish_store(const std::exception_ptr& error, StoreResult result, std::size_t size,
                    std::size_t saved);
  void count(const std::exception_ptr& error, const char* operation);
  SetOptions set_options(const CacheControl& control) const;
  // The namespace's generation: blocking (throws as ClientBase::get), and async (the
  // callback runs once, with the generation or the error).
  std::string generation();
  void start_generation(Callback<std::string> callback);
  // Several generations at once (the namespace's and a sub-namespace's): the stale ones
  // are read in one pipelined round trip, missing ones made with `add`. The callback runs
  // once, with one generation per slot, in order, or the error.
  void start_generations(std::vector<std::shared_ptr<detail::Generation>> slots,
                         Callback<std::vector<std::string>> callback);
  // The stored keys of a batch: the callback runs once with them, or with the error.
  // `sub_namespaces`: one per key, or a single one for every key.
  void start_batch_keys(std::vector<std::string> keys,
                        std::vector<std::optional<std::string>> sub_namespaces,
                        Callback<std::vector<std::string>> callback);
  void fetch_batch(std::vector<std::string> keys,
                   std::vector<std::optional<std::string>> sub_namespaces,
                   Callback<std::vector<std::optional<std::string>>> callback);
  void store_batch(std::vector<BatchItem> items,
                   std::vector<std::optional<std::string>> sub_namespaces,
                   Callback<std::vector<bool>> callback);
  std::string derive_key(std::string_view key, std::string_view generation) const;

  std::shared_ptr<ClientBase> client_;
  MemcachedCacheOptions options_;         // without the secret, which only the signer keeps
  std::unique_ptr<const Signer> signer_;  // null when signing is off
  std::unique_ptr<Counters> counters_;
  std::unique_ptr<detail::Namespaces> namespace_;  // null without a namespace
  std::unique_ptr<Leases> leases_;                 // null unless single_flight or stale_ttl

  // ============================================================ inspection, for tools
  // For tools that show and move entries (the llmcache command's get, delete, dump and
  // restore) rather than answer lookups: they must tell an entry that fails its signature
  // check from a miss, and report server trouble rather than read it as a miss. Nothing
  // here is counted or logged; server trouble throws (or reaches the callback) as the
  // client's own call does.
 public:
  /// How an entry reads back through this cache.
  enum class EntryState : std::uint8_t {
    kReadable,           // value() is LangChain's bytes: verified, or unsealed and signing is off
    kSignatureFailed,    // signing is on and the entry fails its check (signature_failure: why)
    kSealedNoSecret,     // signing is off but the entry is sealed: only its secret opens it
    kCorruptCompressed,  // flagged compressed (kZstdCompressedFlag) but does not decompress
  };

  /// One entry as memcached holds it, and how it reads back.
  class StoredEntry {
   public:
    std::string stored;  // the bytes as stored (the envelope, when sealed)
    std::uint32_t flags = 0;
    EntryState state = EntryState::kReadable;
    SignatureFailure signature_failure = SignatureFailure::kUnsigned;  // if kSignatureFailed

    /// LangChain's bytes when kReadable (a view into `stored`, or into the decompressed
    /// copy when the entry is compressed); empty otherwise.
    std::string_view value() const {
      if (state != EntryState::kReadable) return {};
      if (decompressed_) return *decompressed_;
      return std::string_view(stored).substr(value_offset_);
    }

   private:
    friend class CacheCore;
    std::size_t value_offset_ = 0;  // where value() starts: after the envelope, when sealed
    std::optional<std::string> decompressed_;  // set for a compressed entry
  };

  // These take memcached keys as stored (stored_key(), or a listing's keys), not
  // LangChain's: a namespaced entry is named by its stored key.

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
