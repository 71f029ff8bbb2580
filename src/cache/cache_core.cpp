#include <llmcache/cache_core.hpp>
#include <llmcache/errors.hpp>
#include <llmcache/key.hpp>
#include <llmcache/log.hpp>
#include <llmcache/signing.hpp>

#include "cache/latency_recorder.hpp"
#include "cache/leases.hpp"
#include "cache/namespaces.hpp"
#include "common/wait_for.hpp"

#include <zstd.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <mutex>
#include <set>

namespace llmcache {

// Atomic so that the I/O thread and callers can count at once.
struct CacheCore::Counters {
  std::atomic<std::uint64_t> hits{0}, misses{0}, updates{0}, update_failures{0};
  std::atomic<std::uint64_t> io_errors{0}, timeouts{0}, server_errors{0}, protocol_errors{0};
  std::atomic<std::uint64_t> decode_errors{0}, too_large{0}, bytes_read{0}, bytes_written{0};
  std::atomic<std::uint64_t> signature_failures{0}, unserializable_values{0};
  std::atomic<std::uint64_t> bytes_saved_by_compression{0};
  std::atomic<std::uint64_t> tokens_saved{0};  // metrics: what the faces report per hit
  LatencyRecorder lookup_latency;              // metrics: one observation per fetch
  std::atomic<std::uint64_t> stale_served{0}, leases_won{0}, lease_waits{0};
  std::atomic<std::uint64_t> lease_wait_timeouts{0};

  // Each (operation, cause) is logged the first time only, so a dead server cannot flood
  // the log while a user still learns that writes fail too, not only reads; the counters
  // keep the totals. Failures are rare next to calls, so a mutex is cheap enough here.
  std::mutex logged_mutex;
  std::set<std::string, std::less<>> logged;

  void log_once(const std::string& cause, std::string_view message) {
    {
      std::lock_guard lock(logged_mutex);
      if (!logged.insert(cause).second) return;
    }
    log(LogLevel::kWarning, message);
  }
};

namespace {

std::uint64_t load(const std::atomic<std::uint64_t>& value) {
  return value.load(std::memory_order_relaxed);
}

void add(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) {
  counter.fetch_add(n, std::memory_order_relaxed);
}

// ---------------------------------------------------------------- compression

/// The compressed frame for `value`, or nullopt when compressing would not save bytes.
std::optional<std::string> compress(std::string_view value, int level) {
  // One context per thread: making one per value costs more than compressing a small one.
  struct Context {
    ZSTD_CCtx* cctx = ZSTD_createCCtx();
    ~Context() { ZSTD_freeCCtx(cctx); }
  };
  thread_local Context context;
  if (!context.cctx) return std::nullopt;
  std::string frame(ZSTD_compressBound(value.size()), '\0');
  // ZSTD_compressCCtx writes the content size into the frame header, which the reader
  // needs to bound its allocation.
  const std::size_t size = ZSTD_compressCCtx(context.cctx, frame.data(), frame.size(), value.data(),
                                             value.size(), level);
  if (ZSTD_isError(size) || size >= value.size()) return std::nullopt;
  frame.resize(size);
  return frame;
}

/// The bytes inside a compressed entry, or nullopt with `why` set. The frame must declare
/// its size, at most kMaxDecompressedBytes, before anything is allocated, and zstd never
/// writes past the buffer of that size: a bomb costs nothing.
std::optional<std::string> decompress(std::string_view frame, const char*& why) {
  const unsigned long long size = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (size == ZSTD_CONTENTSIZE_ERROR) {
    why = "not a zstd frame";
    return std::nullopt;
  }
  if (size == ZSTD_CONTENTSIZE_UNKNOWN || size > kMaxDecompressedBytes) {
    why = "the frame does not declare a size within the limit";
    return std::nullopt;
  }
  std::string value(static_cast<std::size_t>(size), '\0');
  const std::size_t written =
      ZSTD_decompress(value.data(), value.size(), frame.data(), frame.size());
  if (ZSTD_isError(written) || written != value.size()) {
    why = "the frame is corrupt";
    return std::nullopt;
  }
  return value;
}

}  // namespace

// A value as it goes to memcached: compressed (or not), then sealed under its stored key.
struct CacheCore::Encoded {
  std::string bytes;
  std::uint32_t flags = 0;
  std::size_t saved = 0;  // bytes compression spared
};

CacheCore::CacheCore(std::shared_ptr<ClientBase> client, MemcachedCacheOptions options)
    : client_(std::move(client)),
      options_(std::move(options)),
      counters_(std::make_unique<Counters>()) {
  if (!client_) throw InvalidArgumentError("a cache needs a client");
  if (options_.ttl.count() < 0) throw InvalidArgumentError("ttl cannot be negative");
  if (options_.namespace_) {
    if (options_.namespace_->empty()) throw InvalidArgumentError("a namespace cannot be empty");
    if (options_.namespace_refresh.count() <= 0) {
      throw InvalidArgumentError("namespace_refresh must be positive");
    }
    namespace_ =
        std::make_unique<detail::Namespaces>(*options_.namespace_, options_.namespace_refresh);
  }
  if (options_.compress_level < 1 || options_.compress_level > ZSTD_maxCLevel()) {
    throw InvalidArgumentError("compress_level must be within 1.." +
                               std::to_string(ZSTD_maxCLevel()));
  }
  if (options_.single_flight) {
    if (options_.single_flight_wait.count() <= 0) {
      throw InvalidArgumentError("single_flight_wait must be positive");
    }
    if (options_.lease_ttl.count() <= 0) throw InvalidArgumentError("lease_ttl must be positive");
  }
  if (options_.stale_ttl.count() < 0) throw InvalidArgumentError("stale_ttl cannot be negative");
  if (options_.stale_ttl.count() > 0 && options_.ttl.count() == 0) {
    throw InvalidArgumentError("stale_ttl needs a ttl: entries without expiry are never stale");
  }
  if (options_.single_flight || options_.stale_ttl.count() > 0) {
    leases_ = std::make_unique<Leases>(options_.lease_ttl);
  }
  if (options_.signing_secret) {
    signer_ = std::make_unique<const Signer>(*options_.signing_secret);
    // The Signer keeps what it needs; no second copy of the secret stays around.
    options_.signing_secret.reset();
  }
}

CacheCore::~CacheCore() = default;

std::string CacheCore::key(std::string_view prompt, std::string_view llm_string) const {
  return langchain_key(prompt, llm_string);
}

// ---------------------------------------------------------------- namespace keys

std::string CacheCore::derive_key(std::string_view key, std::string_view generation) const {
  return namespace_->entry_key(generation, key);
}

std::string CacheCore::stored_key(std::string_view key) {
  return namespace_ ? derive_key(key, generation()) : std::string(key);
}

std::optional<CacheCore::NamespaceGeneration> CacheCore::namespace_generation() {
  if (!namespace_) return std::nullopt;
  NamespaceGeneration current;
  current.key = namespace_->root()->key();
  current.value = generation();
  current.entry_key_prefix = namespace_->entry_key_prefix(current.value);
  return current;
}

std::string CacheCore::generation() {
  detail::Generation& ns = *namespace_->root();
  const detail::Generation::Snapshot began = ns.snapshot();
  if (began.fresh) return *began.fresh;
  for (int attempt = 0;; ++attempt) {
    const auto item = client_->get(ns.key());
    if (item && detail::is_generation(item->value)) return ns.install(item->value, began);
    // None yet, or evicted: a new one. `add`, so that processes starting together agree on
    // one; garbage under the key, or a third try, is overwritten.
    SetOptions options;
    options.only_if_absent = !item && attempt < 2;
    const std::string fresh = detail::random_generation();
    if (client_->set(ns.key(), fresh, options) == StoreResult::kStored) {
      return ns.install(fresh, began);
    }
  }
}

void CacheCore::start_generation(Callback<std::string> callback) {
  start_generations({namespace_->root()},
                    [callback = std::move(callback)](std::exception_ptr error,
                                                     std::vector<std::string> generations) {
                      if (error) return callback(error, std::string());
                      callback(nullptr, std::move(generations.front()));
                    });
}

void CacheCore::start_generations(std::vector<std::shared_ptr<detail::Generation>> slots,
                                  Callback<std::vector<std::string>> callback) {
  // The same steps as generation(), for several generations at once, as a chain of
  // callbacks on the I/O thread: read the stale ones (one get_many), make the missing
  // ones, read again those another process made first.
  struct Read : std::enable_shared_from_this<Read> {
    std::shared_ptr<CacheCore> self;
    std::vector<std::shared_ptr<detail::Generation>> slots;
    std::vector<detail::Generation::Snapshot> began;
    std::vector<std::string> generations;
    Callback<std::vector<std::string>> callback;
    int attempt = 0;
    // The sets of one round, which complete on the I/O thread (or at once when refused).
    std::mutex mutex;
    std::size_t sets_left = 0;
    std::exception_ptr set_error;
    std::vector<std::size_t> read_again;

    void fail(std::exception_ptr error) { callback(std::move(error), {}); }

    void read(std::vector<std::size_t> stale) {
      std::vector<std::string> keys;
      for (const std::size_t i : stale) keys.push_back(slots[i]->key());
      auto me = shared_from_this();
      try {
        self->client_->start_get_many(
            std::move(keys),
            [me, stale](std::exception_ptr error, std::vector<std::optional<Item>> items) {
              if (error) return me->fail(error);
              me->got(stale, std::move(items));
            });
      } catch (const Error&) {
        fail(std::current_exception());
      }
    }

    void got(const std::vector<std::size_t>& stale, std::vector<std::optional<Item>> items) {
      std::vector<std::pair<std::size_t, bool>> missing;  // slot, whether absent
      for (std::size_t n = 0; n < stale.size(); ++n) {
        const std::size_t i = stale[n];
        const auto& item = items[n];
        if (item && detail::is_generation(item->value)) {
          generations[i] = slots[i]->install(item->value, began[i]);
        } else {
          missing.emplace_back(i, !item);
        }
      }
      if (missing.empty()) return callback(nullptr, std::move(generations));
      {
        std::lock_guard lock(mutex);
        sets_left = missing.size();
        set_error = nullptr;
        read_again.clear();
      }
      auto me = shared_from_this();
      for (const auto& [i, absent] : missing) {
        // None yet, or evicted: a new one. `add`, so that processes starting together agree
        // on one; garbage under the key, or a third try, is overwritten.
        SetOptions options;
        options.only_if_absent = absent && attempt < 2;
        std::string fresh = detail::random_generation();
        auto done = [me, i, fresh](std::exception_ptr error, StoreResult result) {
          if (!error && result == StoreResult::kStored) {
            me->generations[i] = me->slots[i]->install(fresh, me->began[i]);
          }
          me->set_done(i, error, result);
        };
        try {
          self->client_->start_set(slots[i]->key(), fresh, options, done);
        } catch (const Error&) {
          done(std::current_exception(), StoreResult::kNotStored);
        }
      }
    }

    void set_done(std::size_t i, std::exception_ptr error, StoreResult result) {
      std::vector<std::size_t> again;
      std::exception_ptr failed;
      {
        std::lock_guard lock(mutex);
        if (error && !set_error) set_error = error;
        if (!error && result != StoreResult::kStored) read_again.push_back(i);
        if (--sets_left > 0) return;
        failed = set_error;
        again.swap(read_again);
      }
      if (failed) return fail(failed);
      if (again.empty()) return callback(nullptr, std::move(generations));
      ++attempt;
      read(std::move(again));
    }
  };
  auto read = std::make_shared<Read>();
  read->self = shared_from_this();
  read->slots = std::move(slots);
  read->callback = std::move(callback);
  read->generations.resize(read->slots.size());
  std::vector<std::size_t> stale;
  for (std::size_t i = 0; i < read->slots.size(); ++i) {
    read->began.push_back(read->slots[i]->snapshot());
    if (read->began[i].fresh) {
      read->generations[i] = *read->began[i].fresh;
    } else {
      stale.push_back(i);
    }
  }
  if (stale.empty()) return read->callback(nullptr, std::move(read->generations));
  read->read(std::move(stale));
}

// ---------------------------------------------------------------- lookup

std::optional<std::string> CacheCore::open(std::string_view key, std::optional<Item> item) {
  if (!item) return std::nullopt;
  std::string value;
  if (!signer_) {
    value = std::move(item->value);
  } else {
    const OpenedValue opened = signer_->open(key, item->value);
    if (!opened) {
      add(counters_->signature_failures);
      counters_->log_once(std::string("signature: ") + to_string(opened.failure),
                          std::string("lookup: an entry failed its signature check (") +
                              to_string(opened.failure) +
                              ") and reads as a miss; it was not written by a cache holding "
                              "this signing secret (further entries of this kind are only "
                              "counted)");
      return std::nullopt;
    }
    value = std::string(*opened.value);
  }
  // Verified first, decompressed after: with signing on, unauthenticated bytes never reach
  // zstd. Read whatever this cache's own `compress` setting.
  if (!(item->flags & kZstdCompressedFlag)) return value;
  const char* why = "";
  if (auto plain = decompress(value, why)) return plain;
  add(counters_->decode_errors);
  counters_->log_once("lookup: decompress",
                      std::string("lookup: a compressed entry does not decompress (") + why +
                          ") and reads as a miss; further failures of this kind are only "
                          "counted");
  return std::nullopt;
}

// A lookup's steps: decide whether to read at all (cache control), resolve the stored key
// (the namespace's generation), read, open (verify, decompress). A step that waits (for
// another process's value, say) belongs between resolving and opening, in both forms.

std::optional<std::string> CacheCore::fetch(std::string_view key, const CacheControl& control) {
  // metrics: the time to this call's result, whichever return it takes.
  const ScopedLatency timed(counters_->lookup_latency);
  if (control.refresh || control.no_cache) return std::nullopt;
  std::optional<Item> item;
  std::string derived;
  try {
    if (namespace_) derived = derive_key(key, generation());
    if (leases_) return leased_fetch(key, namespace_ ? derived : std::string(key));
    item = client_->get(namespace_ ? std::string_view(derived) : key);
  } catch (const Error&) {
    count(std::current_exception(), "lookup");
    return std::nullopt;
  }
  return open(namespace_ ? std::string_view(derived) : key, std::move(item));
}

void CacheCore::start_fetch(std::string key, Callback<std::optional<std::string>> callback,
                            const CacheControl& control) {
  // metrics: the time to the result, whichever path delivers it; recorded before the
  // caller sees the result, so that its stats already count this lookup.
  callback = [self = shared_from_this(), started = LatencyRecorder::Clock::now(),
              callback = std::move(callback)](std::exception_ptr error,
                                              std::optional<std::string> value) {
    self->counters_->lookup_latency.record(LatencyRecorder::Clock::now() - started);
    callback(std::move(error), std::move(value));
  };
  if (control.refresh || control.no_cache) return callback(nullptr, std::nullopt);
  auto self = shared_from_this();
  auto read = [self, key, callback](std::string stored) {
    if (self->leases_) return self->start_leased_fetch(key, std::move(stored), callback);
    try {
      self->client_->start_get(
          stored, [self, stored, callback](std::exception_ptr error, std::optional<Item> item) {
            if (error) {
              self->count(error, "lookup");
              return callback(nullptr, std::nullopt);
            }
            callback(nullptr, self->open(stored, std::move(item)));
          });
    } catch (const Error&) {
      // Refused before anything was queued (a closed client): the same miss, counted.
      self->count(std::current_exception(), "lookup");
      callback(nullptr, std::nullopt);
    }
  };
  if (!namespace_) return read(std::move(key));
  start_generation([self, key = std::move(key), read, callback](std::exception_ptr error,
                                                                std::string generation) {
    if (error) {
      self->count(error, "lookup");
      return callback(nullptr, std::nullopt);
    }
    read(self->derive_key(key, generation));
  });
}

void CacheCore::fetch_each(std::span<const std::string> keys, const FetchEach& on_value,
                           const CacheControl& control) {
  if (leases_) {
    for (std::size_t i = 0; i < keys.size(); ++i) on_value(i, fetch(keys[i], control));
    return;
  }
  // metrics: one observation per key, from the batch's start to that key's value.
  const auto started = LatencyRecorder::Clock::now();
  const auto deliver = [&](std::size_t i, std::optional<std::string> value) {
    counters_->lookup_latency.record(LatencyRecorder::Clock::now() - started);
    on_value(i, std::move(value));
  };
  if (control.refresh || control.no_cache) {
    for (std::size_t i = 0; i < keys.size(); ++i) deliver(i, std::nullopt);
    return;
  }
  std::vector<std::string> derived;
  if (namespace_) {
    try {
      const std::string current = generation();
      derived.reserve(keys.size());
      for (const auto& key : keys) derived.push_back(derive_key(key, current));
    } catch (const Error&) {
      // The generation could not be read: every key misses, each counted as its fetch().
      for (std::size_t i = 0; i < keys.size(); ++i) {
        count(std::current_exception(), "lookup");
        deliver(i, std::nullopt);
      }
      return;
    }
  }
  const std::span<const std::string> stored = namespace_ ? derived : keys;
  client_->get_each(stored, [&](std::size_t i, std::exception_ptr error, std::optional<Item> item) {
    if (error) {
      count(error, "lookup");
      return deliver(i, std::nullopt);
    }
    deliver(i, open(stored[i], std::move(item)));
  });
}

void CacheCore::finish_lookup(bool decoded, std::size_t value_bytes, std::uint64_t tokens_saved) {
  if (decoded) {
    add(counters_->hits);
    add(counters_->bytes_read, value_bytes);
    add(counters_->tokens_saved, tokens_saved);
  } else {
    add(counters_->misses);
  }
}

void CacheCore::record_decode_failure(std::string_view why) {
  add(counters_->decode_errors);
  // The face says what it expected (LangChain generations, a node cache or store entry).
  counters_->log_once("lookup: decode", std::string("lookup: a stored value does not decode "
                                                    "and reads as a miss (") +
                                            std::string(why) +
                                            "); further failures of this kind are only counted");
}

// ---------------------------------------------------------------- update

CacheCore::Encoded CacheCore::encode(std::string_view key, std::string_view value) const {
  Encoded encoded;
  std::optional<std::string> compressed;
  if (options_.compress && value.size() >= options_.compress_min_bytes) {
    compressed = compress(value, options_.compress_level);
  }
  if (compressed) {
    encoded.flags = kZstdCompressedFlag;
    encoded.saved = value.size() - compressed->size();
    value = *compressed;
  }
  // Sealed after compressing, so a reader verifies before it decompresses.
  encoded.bytes = signer_ ? signer_->seal(key, value) : std::string(value);
  return encoded;
}

namespace {

/// A time to live as memcached reads it: up to 30 days relative, longer ones as the unix
/// time they end at (memcached would read a longer relative one as a time long past).
std::chrono::seconds memcached_expiry(std::chrono::seconds ttl) {
  constexpr std::chrono::seconds kMaxRelative{60 * 60 * 24 * 30};
  if (ttl <= kMaxRelative) return ttl;
  return std::chrono::seconds(static_cast<std::int64_t>(std::time(nullptr))) + ttl;
}

}  // namespace

SetOptions CacheCore::set_options(const CacheControl& control) const {
  SetOptions options;
  options.ttl = options_.ttl;
  if (control.ttl) {
    if (control.ttl->count() < 0) throw InvalidArgumentError("ttl cannot be negative");
    options.ttl = *control.ttl;
  }
  options.ttl = memcached_expiry(options.ttl);
  return options;
}

bool CacheCore::finish_store(const std::exception_ptr& error, StoreResult result, std::size_t size,
                             std::size_t saved) {
  if (!error && result == StoreResult::kStored) {
    add(counters_->updates);
    add(counters_->bytes_written, size);
    add(counters_->bytes_saved_by_compression, saved);
    return true;
  }
  add(counters_->update_failures);
  if (error) count(error, "update");
  return false;
}

bool CacheCore::store(std::string_view key, std::string_view value, const CacheControl& control) {
  if (control.no_store || control.no_cache) {
    settle_lease(key, false);
    return false;
  }
  SetOptions options = set_options(control);
  Encoded encoded;
  std::exception_ptr error;
  StoreResult result = StoreResult::kNotStored;
  try {
    std::string derived;
    if (namespace_) derived = derive_key(key, generation());
    const std::string_view stored = namespace_ ? std::string_view(derived) : key;
    if (options_.stale_ttl.count() > 0) {
      options.ttl = stored_ttl(options.ttl, client_->protocol(stored));
    }
    encoded = encode(stored, value);
    options.flags = encoded.flags;
    result = client_->set(stored, encoded.bytes, options);
  } catch (const InvalidArgumentError&) {
    settle_lease(key, false);
    throw;  // the caller's mistake (a key memcached cannot store), not the server's
  } catch (const Error&) {
    error = std::current_exception();
  }
  const bool done = finish_store(error, result, encoded.bytes.size(), encoded.saved);
  // Whatever happened, waiters for this key must not be held for lease_ttl.
  settle_lease(key, done);
  if (!done && error && options_.strict) std::rethrow_exception(error);
  return done;
}

void CacheCore::start_store(std::string key, std::string_view value, Callback<bool> callback,
                            const CacheControl& control) {
  if (control.no_store || control.no_cache) {
    return start_settle_lease(key, false,
                              [callback](std::exception_ptr, bool) { callback(nullptr, false); });
  }
  const SetOptions options = set_options(control);
  auto self = shared_from_this();
  // The caller hears of the update once the lease it held (if any) is settled too, so
  // that its waiters are not held for lease_ttl.
  auto settled = [self, key, callback](std::exception_ptr error, bool ok) {
    self->start_settle_lease(
        key, ok, [callback, error, ok](std::exception_ptr, bool) { callback(error, ok); });
  };
  // Encoded and sent once the stored key is known (sealing signs the stored key).
  auto encode_and_send = [self, key, options, settled](std::string stored, std::string_view value,
                                                       bool on_caller_thread, Protocol protocol) {
    Encoded encoded = self->encode(stored, value);
    auto done = [self, size = encoded.bytes.size(), saved = encoded.saved, settled](
                    std::exception_ptr error, StoreResult result) {
      const bool ok = self->finish_store(error, result, size, saved);
      settled(self->options_.strict && !ok ? error : nullptr, ok);
    };
    SetOptions with_flags = options;
    with_flags.ttl = self->stored_ttl(options.ttl, protocol);
    with_flags.flags = encoded.flags;
    try {
      self->client_->start_set(std::move(stored), std::move(encoded.bytes), with_flags, done);
    } catch (const InvalidArgumentError&) {
      if (on_caller_thread) {
        self->settle_lease(key, false);
        throw;
      }
      done(std::current_exception(), StoreResult::kNotStored);
    } catch (const Error&) {
      done(std::current_exception(), StoreResult::kNotStored);
    }
  };
  // stale_ttl lengthens the TTL only where the protocol serves stale entries: ask which
  // (at once when known; an auto client that has not probed yet probes on the I/O thread).
  auto send = [self, encode_and_send, settled](std::string stored, std::string_view value,
                                               bool on_caller_thread) {
    if (self->options_.stale_ttl.count() == 0) {
      return encode_and_send(std::move(stored), value, on_caller_thread, Protocol::kMeta);
    }
    std::string routing = stored;
    self->client_->start_protocol(
        std::move(routing),
        [self, encode_and_send, settled, stored = std::move(stored), value = std::string(value)](
            std::exception_ptr error, Protocol protocol) mutable {
          if (error) {
            const bool ok = self->finish_store(error, StoreResult::kNotStored, 0, 0);
            return settled(self->options_.strict ? error : nullptr, ok);
          }
          encode_and_send(std::move(stored), value, false, protocol);
        });
  };
  if (!namespace_) return send(key, value, true);
  start_generation([self, key, value = std::string(value), send, settled](std::exception_ptr error,
                                                                          std::string generation) {
    if (error) {
      const bool ok = self->finish_store(error, StoreResult::kNotStored, 0, 0);
      return settled(self->options_.strict ? error : nullptr, ok);
    }
    send(self->derive_key(key, generation), value, false);
  });
}

bool CacheCore::refuse_update(const std::exception_ptr& why, std::string_view key) {
  settle_lease(key, false);
  add(counters_->update_failures);
  add(counters_->unserializable_values);
  std::string message = "unknown reason";
  try {
    std::rethrow_exception(why);
  } catch (const std::exception& e) {
    message = e.what();
  } catch (...) {
  }
  counters_->log_once("update: unserializable_values",
                      "update refused, nothing stored: " + message +
                          " (further refusals of this kind are only counted)");
  if (options_.strict) std::rethrow_exception(why);
  return false;
}

// ---------------------------------------------------------------- batches, by key

namespace {

void require_namespace(bool has_namespace) {
  if (!has_namespace) {
    throw InvalidArgumentError("access by key needs a cache with a namespace");
  }
}

/// Waits for `start(callback)` on a caller's thread; refused on the client's I/O thread,
/// whose completions it would wait for.
template <class T, class Start>
T blocking(const ClientBase& client, Start&& start) {
  if (client.on_io_thread()) {
    throw InvalidArgumentError("blocking llmcache call from the client's own I/O thread");
  }
  return detail::wait_for<T>(std::forward<Start>(start));
}

/// The per-item completions of one batch, which arrive on the I/O thread (or at once, when
/// an item is refused before sending): `done` runs once, after the last.
template <class T>
class BatchJoin {
 public:
  BatchJoin(std::size_t items, std::function<void(std::vector<T>, std::exception_ptr)> done)
      : results_(items), left_(items), done_(std::move(done)) {}

  void arrive(std::size_t index, T result, const std::exception_ptr& error) {
    std::exception_ptr first;
    {
      std::lock_guard lock(mutex_);
      results_[index] = std::move(result);
      if (error && !first_error_) first_error_ = error;
      if (--left_ > 0) return;
      first = first_error_;
    }
    done_(std::move(results_), first);
  }

 private:
  std::mutex mutex_;
  std::vector<T> results_;
  std::size_t left_;
  std::exception_ptr first_error_;
  std::function<void(std::vector<T>, std::exception_ptr)> done_;
};

}  // namespace

void CacheCore::start_batch_keys(std::vector<std::string> keys,
                                 std::vector<std::optional<std::string>> sub_namespaces,
                                 Callback<std::vector<std::string>> callback) {
  require_namespace(namespace_ != nullptr);
  // Slot 0 is the namespace's generation; each distinct sub-namespace adds one, so that
  // every generation of the batch is read in the same round trip.
  std::vector<std::shared_ptr<detail::Generation>> slots{namespace_->root()};
  std::vector<std::string> sub_ids{std::string()};
  std::map<std::string_view, std::size_t> slot_of;
  std::vector<std::size_t> key_slot(sub_namespaces.size(), 0);
  for (std::size_t i = 0; i < sub_namespaces.size(); ++i) {
    if (!sub_namespaces[i]) continue;
    const auto [found, added] = slot_of.try_emplace(*sub_namespaces[i], slots.size());
    if (added) {
      slots.push_back(namespace_->sub(*sub_namespaces[i]));
      sub_ids.push_back(detail::Namespaces::sub_id(*sub_namespaces[i]));
    }
    key_slot[i] = found->second;
  }
  auto self = shared_from_this();
  start_generations(std::move(slots), [self, keys = std::move(keys), key_slot = std::move(key_slot),
                                       sub_ids = std::move(sub_ids),
                                       callback](std::exception_ptr error,
                                                 std::vector<std::string> generations) {
    if (error) return callback(error, {});
    std::vector<std::string> stored;
    stored.reserve(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
      // One sub-namespace entry stands for every key of the batch.
      const std::size_t slot = key_slot.size() == 1 ? key_slot[0] : key_slot[i];
      stored.push_back(slot == 0 ? self->namespace_->entry_key(generations[0], keys[i])
                                 : self->namespace_->sub_entry_key(generations[0], sub_ids[slot],
                                                                   generations[slot], keys[i]));
    }
    callback(nullptr, std::move(stored));
  });
}

namespace {

void check_sub_namespaces(std::size_t keys, std::size_t sub_namespaces) {
  if (keys != sub_namespaces) {
    throw InvalidArgumentError("one sub-namespace (or none) per key: " + std::to_string(keys) +
                               " keys, " + std::to_string(sub_namespaces) + " sub-namespaces");
  }
}

}  // namespace

std::vector<std::optional<std::string>> CacheCore::fetch_many(
    std::span<const std::string> keys, const std::optional<std::string>& sub_namespace) {
  return blocking<std::vector<std::optional<std::string>>>(*client_, [&](auto callback) {
    start_fetch_many(std::vector<std::string>(keys.begin(), keys.end()), std::move(callback),
                     sub_namespace);
  });
}

void CacheCore::start_fetch_many(std::vector<std::string> keys,
                                 Callback<std::vector<std::optional<std::string>>> callback,
                                 std::optional<std::string> sub_namespace) {
  fetch_batch(std::move(keys), {std::move(sub_namespace)}, std::move(callback));
}

std::vector<std::optional<std::string>> CacheCore::fetch_many_across(
    std::span<const std::string> keys, std::span<const std::optional<std::string>> sub_namespaces) {
  check_sub_namespaces(keys.size(), sub_namespaces.size());
  return blocking<std::vector<std::optional<std::string>>>(*client_, [&](auto callback) {
    fetch_batch(
        std::vector<std::string>(keys.begin(), keys.end()),
        std::vector<std::optional<std::string>>(sub_namespaces.begin(), sub_namespaces.end()),
        std::move(callback));
  });
}

void CacheCore::start_fetch_many_across(
    std::vector<std::string> keys, std::vector<std::optional<std::string>> sub_namespaces,
    Callback<std::vector<std::optional<std::string>>> callback) {
  check_sub_namespaces(keys.size(), sub_namespaces.size());
  fetch_batch(std::move(keys), std::move(sub_namespaces), std::move(callback));
}

void CacheCore::fetch_batch(std::vector<std::string> keys,
                            std::vector<std::optional<std::string>> sub_namespaces,
                            Callback<std::vector<std::optional<std::string>>> callback) {
  require_namespace(namespace_ != nullptr);
  const std::size_t count_of_keys = keys.size();
  if (count_of_keys == 0) return callback(nullptr, {});
  // metrics: every key of the batch is one lookup, so the histogram's count stays hits +
  // misses; each observes the batch's time to its result.
  callback = [self = shared_from_this(), started = LatencyRecorder::Clock::now(),
              callback = std::move(callback)](std::exception_ptr error,
                                              std::vector<std::optional<std::string>> values) {
    const auto elapsed = LatencyRecorder::Clock::now() - started;
    for (std::size_t i = 0; i < values.size(); ++i) {
      self->counters_->lookup_latency.record(elapsed);
    }
    callback(std::move(error), std::move(values));
  };
  auto self = shared_from_this();
  // A failure misses every key of the batch, each counted as its own fetch() would be.
  auto miss_all = [self, count_of_keys, callback](const std::exception_ptr& error) {
    for (std::size_t i = 0; i < count_of_keys; ++i) self->count(error, "lookup");
    callback(nullptr, std::vector<std::optional<std::string>>(count_of_keys));
  };
  start_batch_keys(
      std::move(keys), std::move(sub_namespaces),
      [self, callback, miss_all](std::exception_ptr error, std::vector<std::string> stored) {
        if (error) return miss_all(error);
        auto names = std::make_shared<const std::vector<std::string>>(stored);
        try {
          self->client_->start_get_many(
              std::move(stored),
              [self, names, callback, miss_all](std::exception_ptr error,
                                                std::vector<std::optional<Item>> items) {
                if (error) return miss_all(error);
                std::vector<std::optional<std::string>> values;
                values.reserve(items.size());
                for (std::size_t i = 0; i < items.size(); ++i) {
                  values.push_back(self->open((*names)[i], std::move(items[i])));
                }
                callback(nullptr, std::move(values));
              });
        } catch (const Error&) {
          miss_all(std::current_exception());
        }
      });
}

std::vector<bool> CacheCore::store_many(std::span<const BatchItem> items,
                                        const std::optional<std::string>& sub_namespace) {
  return blocking<std::vector<bool>>(*client_, [&](auto callback) {
    start_store_many(std::vector<BatchItem>(items.begin(), items.end()), std::move(callback),
                     sub_namespace);
  });
}

void CacheCore::start_store_many(std::vector<BatchItem> items, Callback<std::vector<bool>> callback,
                                 std::optional<std::string> sub_namespace) {
  store_batch(std::move(items), {std::move(sub_namespace)}, std::move(callback));
}

std::vector<bool> CacheCore::store_many_across(
    std::span<const BatchItem> items, std::span<const std::optional<std::string>> sub_namespaces) {
  check_sub_namespaces(items.size(), sub_namespaces.size());
  return blocking<std::vector<bool>>(*client_, [&](auto callback) {
    store_batch(
        std::vector<BatchItem>(items.begin(), items.end()),
        std::vector<std::optional<std::string>>(sub_namespaces.begin(), sub_namespaces.end()),
        std::move(callback));
  });
}

void CacheCore::start_store_many_across(std::vector<BatchItem> items,
                                        std::vector<std::optional<std::string>> sub_namespaces,
                                        Callback<std::vector<bool>> callback) {
  check_sub_namespaces(items.size(), sub_namespaces.size());
  store_batch(std::move(items), std::move(sub_namespaces), std::move(callback));
}

void CacheCore::store_batch(std::vector<BatchItem> items,
                            std::vector<std::optional<std::string>> sub_namespaces,
                            Callback<std::vector<bool>> callback) {
  require_namespace(namespace_ != nullptr);
  // Every TTL is checked before anything is sent.
  std::vector<SetOptions> options;
  options.reserve(items.size());
  for (const auto& item : items) {
    CacheControl control;
    control.ttl = item.ttl;
    options.push_back(set_options(control));
  }
  if (items.empty()) return callback(nullptr, {});
  std::vector<std::string> keys;
  keys.reserve(items.size());
  for (const auto& item : items) keys.push_back(item.key);
  auto self = shared_from_this();
  auto batch = std::make_shared<std::vector<BatchItem>>(std::move(items));
  auto finish = [self, callback](std::vector<bool> stored, const std::exception_ptr& error) {
    callback(self->options_.strict ? error : nullptr, std::move(stored));
  };
  start_batch_keys(std::move(keys), std::move(sub_namespaces),
                   [self, batch, options = std::move(options), finish](
                       std::exception_ptr error, std::vector<std::string> stored) {
                     if (error) {
                       for (std::size_t i = 0; i < batch->size(); ++i) {
                         self->finish_store(error, StoreResult::kNotStored, 0, 0);
                       }
                       return finish(std::vector<bool>(batch->size(), false), error);
                     }
                     auto join = std::make_shared<BatchJoin<bool>>(batch->size(), finish);
                     for (std::size_t i = 0; i < batch->size(); ++i) {
                       Encoded encoded = self->encode(stored[i], (*batch)[i].value);
                       SetOptions with_flags = options[i];
                       with_flags.flags = encoded.flags;
                       auto done = [self, join, i, size = encoded.bytes.size(),
                                    saved = encoded.saved](std::exception_ptr error,
                                                           StoreResult result) {
                         const bool ok = self->finish_store(error, result, size, saved);
                         join->arrive(i, ok, ok ? nullptr : error);
                       };
                       try {
                         self->client_->start_set(std::move(stored[i]), std::move(encoded.bytes),
                                                  with_flags, done);
                       } catch (const Error&) {
                         done(std::current_exception(), StoreResult::kNotStored);
                       }
                     }
                   });
}

std::vector<bool> CacheCore::remove_many(std::span<const std::string> keys,
                                         const std::optional<std::string>& sub_namespace) {
  return blocking<std::vector<bool>>(*client_, [&](auto callback) {
    start_remove_many(std::vector<std::string>(keys.begin(), keys.end()), std::move(callback),
                      sub_namespace);
  });
}

void CacheCore::start_remove_many(std::vector<std::string> keys,
                                  Callback<std::vector<bool>> callback,
                                  std::optional<std::string> sub_namespace) {
  require_namespace(namespace_ != nullptr);
  if (keys.empty()) return callback(nullptr, {});
  auto self = shared_from_this();
  start_batch_keys(std::move(keys), {std::move(sub_namespace)},
                   [self, callback](std::exception_ptr error, std::vector<std::string> stored) {
                     if (error) return callback(error, {});
                     auto join = std::make_shared<BatchJoin<bool>>(
                         stored.size(),
                         [callback](std::vector<bool> removed, const std::exception_ptr& error) {
                           callback(error, error ? std::vector<bool>() : std::move(removed));
                         });
                     for (std::size_t i = 0; i < stored.size(); ++i) {
                       auto done = [join, i](std::exception_ptr error, bool existed) {
                         join->arrive(i, !error && existed, error);
                       };
                       try {
                         self->client_->start_del(std::move(stored[i]), false, done);
                       } catch (const Error&) {
                         done(std::current_exception(), false);
                       }
                     }
                   });
}

void CacheCore::clear_sub_namespaces(std::span<const std::string> sub_namespaces) {
  blocking<bool>(*client_, [&](auto callback) {
    start_clear_sub_namespaces(
        std::vector<std::string>(sub_namespaces.begin(), sub_namespaces.end()),
        std::move(callback));
  });
}

void CacheCore::start_clear_sub_namespaces(std::vector<std::string> sub_namespaces,
                                           Callback<bool> callback) {
  require_namespace(namespace_ != nullptr);
  if (sub_namespaces.empty()) return callback(nullptr, true);
  auto join = std::make_shared<BatchJoin<bool>>(
      sub_namespaces.size(),
      [callback](std::vector<bool>, const std::exception_ptr& error) { callback(error, !error); });
  // As clear(): one set of a generation never used before per sub-namespace, installed in
  // this process once stored.
  for (std::size_t i = 0; i < sub_namespaces.size(); ++i) {
    auto generation = namespace_->sub(sub_namespaces[i]);
    std::string fresh = detail::random_generation();
    auto done = [join, i, generation, fresh](std::exception_ptr error, StoreResult) {
      if (!error) generation->cleared(fresh);
      join->arrive(i, !error, error);
    };
    try {
      client_->start_set(generation->key(), fresh, {}, done);
    } catch (const Error&) {
      done(std::current_exception(), StoreResult::kNotStored);
    }
  }
}

std::vector<std::string> CacheCore::list_stored() {
  require_namespace(namespace_ != nullptr);
  const std::string current = generation();
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  // Entries are read back with a batch at a time, so that a big server's values need not
  // all be in memory twice.
  constexpr std::size_t kReadBatch = 500;
  std::vector<std::string> values;
  const std::size_t servers = client_->servers().size();
  for (std::size_t server = 0; server < servers; ++server) {
    std::vector<MetadumpEntry> listed;
    try {
      listed = client_->metadump(server);
    } catch (const ServerError& e) {
      const ErrorReason reason = e.reason();
      if (reason != ErrorReason::kNotUnderstood && reason != ErrorReason::kClientErrorReply) {
        throw;
      }
      throw ServerError(
          "listing a namespace's entries needs memcached's LRU crawler (lru_crawler "
          "metadump), which " +
              e.server() + " refuses (a proxy, or a memcached started without it): " + e.what(),
          e.details());
    }
    std::vector<std::string> keys;
    for (auto& entry : listed) {
      if (entry.exptime != -1 && entry.exptime <= now) continue;
      // The listing names keys as memcached holds them, after any client key_prefix.
      const std::size_t start = entry.key.find(namespace_->prefix());
      if (start == std::string::npos) continue;
      std::string stored = entry.key.substr(start);
      if (namespace_->is_plain_entry_key(stored, current)) keys.push_back(std::move(stored));
    }
    for (std::size_t begin = 0; begin < keys.size(); begin += kReadBatch) {
      const std::size_t end = std::min(begin + kReadBatch, keys.size());
      const auto entries =
          inspect_many(std::span<const std::string>(keys.data() + begin, end - begin));
      for (const auto& entry : entries) {
        if (entry && entry->state == EntryState::kReadable) values.emplace_back(entry->value());
      }
    }
  }
  return values;
}

// ---------------------------------------------------------------- the rest

namespace {

void check_namespaced_clear(std::chrono::seconds delay) {
  if (delay.count() != 0) {
    throw InvalidArgumentError("a namespaced clear takes effect at once: delay is not supported");
  }
}

}  // namespace

void CacheCore::clear(std::chrono::seconds delay, bool noreply) {
  if (namespace_) {
    // One set of a generation never used before: every entry of the older ones is out of
    // reach at once, with no listing and no flush_all. Waited for even with noreply, so
    // that when clear() returns this process already reads the new generation.
    check_namespaced_clear(delay);
    const std::string fresh = detail::random_generation();
    client_->set(namespace_->root()->key(), fresh);
    namespace_->root()->cleared(fresh);
    return;
  }
  client_->flush_all(delay, noreply);
}

void CacheCore::start_clear(std::chrono::seconds delay, bool noreply, Callback<bool> callback) {
  if (namespace_) {
    check_namespaced_clear(delay);
    std::string fresh = detail::random_generation();
    auto self = shared_from_this();
    client_->start_set(
        namespace_->root()->key(), fresh, {},
        [self, fresh, callback = std::move(callback)](std::exception_ptr error, StoreResult) {
          if (!error) self->namespace_->root()->cleared(fresh);
          callback(error, !error);
        });
    return;
  }
  client_->start_flush_all(delay, noreply,
                           [callback = std::move(callback)](std::exception_ptr error, std::size_t) {
                             callback(error, !error);
                           });
}

/// The one place a failure becomes a counter (and, the first time, a log line).
void CacheCore::count(const std::exception_ptr& error, const char* operation) {
  auto note = [&](std::atomic<std::uint64_t>& counter, const char* cause, const std::exception& e) {
    add(counter);
    counters_->log_once(std::string(operation) + ": " + cause,
                        std::string(operation) + " failed (" + cause + "): " + e.what() +
                            " (further " + operation + " failures of this kind are only counted)");
  };
  try {
    std::rethrow_exception(error);
  } catch (const TimeoutError& e) {
    note(counters_->timeouts, "timeout", e);
  } catch (const IoError& e) {
    note(counters_->io_errors, "io", e);
  } catch (const ProtocolError& e) {
    note(counters_->protocol_errors, "protocol", e);
  } catch (const ValueTooLargeError& e) {
    // Refused before sending (the old value kept) and refused by the server (which then
    // removed the old value) are different news, so each is logged.
    note(counters_->too_large, e.reached_server() ? "too large at server" : "too large", e);
  } catch (const DecodeError& e) {
    note(counters_->decode_errors, "decode", e);
  } catch (const std::exception& e) {
    note(counters_->server_errors, "server", e);
  }
}

void CacheCore::count(LeaseEvent event) {
  switch (event) {
    case LeaseEvent::kStaleServed:
      return add(counters_->stale_served);
    case LeaseEvent::kWon:
      return add(counters_->leases_won);
    case LeaseEvent::kWaited:
      return add(counters_->lease_waits);
    case LeaseEvent::kWaitTimedOut:
      return add(counters_->lease_wait_timeouts);
  }
}

void CacheCore::note_classic_stale() {
  counters_->log_once("stale_ttl: classic",
                      "stale_ttl: this client speaks the classic protocol, which cannot tell "
                      "an entry's remaining TTL, so entries are not served stale: they "
                      "expire after ttl (docs/single-flight.md)");
}

CacheStats CacheCore::stats() const {
  const auto& c = *counters_;
  CacheStats s;
  s.hits = load(c.hits);
  s.misses = load(c.misses);
  s.updates = load(c.updates);
  s.update_failures = load(c.update_failures);
  s.io_errors = load(c.io_errors);
  s.timeouts = load(c.timeouts);
  s.server_errors = load(c.server_errors);
  s.protocol_errors = load(c.protocol_errors);
  s.decode_errors = load(c.decode_errors);
  s.too_large = load(c.too_large);
  s.signature_failures = load(c.signature_failures);
  s.unserializable_values = load(c.unserializable_values);
  s.bytes_read = load(c.bytes_read);
  s.bytes_written = load(c.bytes_written);
  s.bytes_saved_by_compression = load(c.bytes_saved_by_compression);
  s.tokens_saved = load(c.tokens_saved);
  s.stale_served = load(c.stale_served);
  s.leases_won = load(c.leases_won);
  s.lease_waits = load(c.lease_waits);
  s.lease_wait_timeouts = load(c.lease_wait_timeouts);
  return s;
}

LatencyHistogram CacheCore::lookup_latency() const {
  return counters_->lookup_latency.snapshot();
}

// ================================================================ inspection, for tools

CacheCore::StoredEntry CacheCore::read_back(std::string_view key, Item item) const {
  StoredEntry entry;
  entry.stored = std::move(item.value);
  entry.flags = item.flags;
  if (signer_) {
    const OpenedValue opened = signer_->open(key, entry.stored);
    if (opened) {
      entry.value_offset_ = static_cast<std::size_t>(opened.value->data() - entry.stored.data());
    } else {
      entry.state = EntryState::kSignatureFailed;
      entry.signature_failure = opened.failure;
    }
  } else if (entry.stored.starts_with(Signer::kPrefix)) {
    entry.state = EntryState::kSealedNoSecret;
  }
  if (entry.state == EntryState::kReadable && (entry.flags & kZstdCompressedFlag)) {
    const char* why = "";
    entry.decompressed_ =
        decompress(std::string_view(entry.stored).substr(entry.value_offset_), why);
    if (!entry.decompressed_) entry.state = EntryState::kCorruptCompressed;
  }
  return entry;
}

std::optional<CacheCore::StoredEntry> CacheCore::inspect(std::string_view key) {
  auto item = client_->get(key);
  if (!item) return std::nullopt;
  return read_back(key, std::move(*item));
}

std::vector<std::optional<CacheCore::StoredEntry>> CacheCore::inspect_many(
    std::span<const std::string> keys) {
  auto items = client_->get_many(keys);
  std::vector<std::optional<StoredEntry>> entries;
  entries.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (items[i]) {
      entries.push_back(read_back(keys[i], std::move(*items[i])));
    } else {
      entries.emplace_back();
    }
  }
  return entries;
}

bool CacheCore::remove(std::string_view key) {
  return client_->del(key);
}

void CacheCore::start_restore(std::string key, std::string stored, std::uint32_t flags,
                              std::int64_t expires_at, Callback<StoreResult> callback) {
  SetOptions options;
  options.flags = flags;
  // memcached reads an expiry beyond 30 days as a unix time, and every unix time still to
  // come is beyond 30 days: passed as is, it is absolute.
  options.ttl = std::chrono::seconds(expires_at);
  client_->start_set(std::move(key), std::move(stored), options, std::move(callback));
}

}  // namespace llmcache
