#include <llmcache/cache_core.hpp>
#include <llmcache/errors.hpp>
#include <llmcache/key.hpp>
#include <llmcache/log.hpp>
#include <llmcache/signing.hpp>

#include "common/wait_for.hpp"

#include <mutex>
#include <set>

namespace llmcache {

// Atomic so that the I/O thread and callers can count at once.
struct CacheCore::Counters {
  std::atomic<std::uint64_t> hits{0}, misses{0}, updates{0}, update_failures{0};
  std::atomic<std::uint64_t> io_errors{0}, timeouts{0}, server_errors{0}, protocol_errors{0};
  std::atomic<std::uint64_t> decode_errors{0}, too_large{0}, bytes_read{0}, bytes_written{0};
  std::atomic<std::uint64_t> signature_failures{0}, unserializable_values{0};

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

}  // namespace

CacheCore::CacheCore(std::shared_ptr<ClientBase> client, MemcachedCacheOptions options)
    : client_(std::move(client)),
      options_(std::move(options)),
      counters_(std::make_unique<Counters>()) {
  if (!client_) throw InvalidArgumentError("a cache needs a client");
  if (options_.ttl.count() < 0) throw InvalidArgumentError("ttl cannot be negative");
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

// ---------------------------------------------------------------- lookup

std::optional<std::string> CacheCore::open(std::string_view key, std::optional<Item> item) {
  if (!item) return std::nullopt;
  if (!signer_) return std::move(item->value);
  const OpenedValue opened = signer_->open(key, item->value);
  if (opened) return std::string(*opened.value);
  add(counters_->signature_failures);
  counters_->log_once(std::string("signature: ") + to_string(opened.failure),
                      std::string("lookup: an entry failed its signature check (") +
                          to_string(opened.failure) +
                          ") and reads as a miss; it was not written by a cache holding this "
                          "signing secret (further entries of this kind are only counted)");
  return std::nullopt;
}

std::optional<std::string> CacheCore::fetch(std::string_view key) {
  std::optional<Item> item;
  try {
    item = client_->get(key);
  } catch (const Error&) {
    count(std::current_exception(), "lookup");
    return std::nullopt;
  }
  return open(key, std::move(item));
}

void CacheCore::start_fetch(std::string key, Callback<std::optional<std::string>> callback) {
  auto self = shared_from_this();
  try {
    client_->start_get(key,
                       [self, key, callback](std::exception_ptr error, std::optional<Item> item) {
                         if (error) {
                           self->count(error, "lookup");
                           return callback(nullptr, std::nullopt);
                         }
                         callback(nullptr, self->open(key, std::move(item)));
                       });
  } catch (const Error&) {
    // Refused before anything was queued (a closed client): the same miss, counted.
    count(std::current_exception(), "lookup");
    callback(nullptr, std::nullopt);
  }
}

void CacheCore::finish_lookup(bool decoded, std::size_t value_bytes) {
  if (decoded) {
    add(counters_->hits);
    add(counters_->bytes_read, value_bytes);
  } else {
    add(counters_->misses);
  }
}

void CacheCore::record_decode_failure(std::string_view why) {
  add(counters_->decode_errors);
  counters_->log_once("lookup: decode", std::string("lookup: a stored value is not "
                                                    "LangChain generations and reads as a "
                                                    "miss (") +
                                            std::string(why) +
                                            "); further failures of this kind are only counted");
}

// ---------------------------------------------------------------- update

std::string CacheCore::seal(std::string_view key, std::string_view value) const {
  return signer_ ? signer_->seal(key, value) : std::string(value);
}

SetOptions CacheCore::set_options() const {
  SetOptions options;
  options.ttl = options_.ttl;
  return options;
}

bool CacheCore::finish_store(const std::exception_ptr& error, StoreResult result,
                             std::size_t size) {
  if (!error && result == StoreResult::kStored) {
    add(counters_->updates);
    add(counters_->bytes_written, size);
    return true;
  }
  add(counters_->update_failures);
  if (error) count(error, "update");
  return false;
}

bool CacheCore::store(std::string_view key, std::string_view value) {
  const std::string stored = seal(key, value);
  std::exception_ptr error;
  StoreResult result = StoreResult::kNotStored;
  try {
    result = client_->set(key, stored, set_options());
  } catch (const InvalidArgumentError&) {
    throw;  // the caller's mistake (a key memcached cannot store), not the server's
  } catch (const Error&) {
    error = std::current_exception();
  }
  const bool done = finish_store(error, result, stored.size());
  if (!done && error && options_.strict) std::rethrow_exception(error);
  return done;
}

void CacheCore::start_store(std::string key, std::string_view value, Callback<bool> callback) {
  std::string stored = seal(key, value);
  const std::size_t size = stored.size();
  auto self = shared_from_this();
  auto done = [self, size, callback](std::exception_ptr error, StoreResult result) {
    const bool ok = self->finish_store(error, result, size);
    callback(self->options_.strict && !ok ? error : nullptr, ok);
  };
  try {
    client_->start_set(std::move(key), std::move(stored), set_options(), done);
  } catch (const InvalidArgumentError&) {
    throw;
  } catch (const Error&) {
    done(std::current_exception(), StoreResult::kNotStored);
  }
}

bool CacheCore::refuse_update(const std::exception_ptr& why) {
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

// ---------------------------------------------------------------- the rest

void CacheCore::clear(std::chrono::seconds delay, bool noreply) {
  client_->flush_all(delay, noreply);
}

void CacheCore::start_clear(std::chrono::seconds delay, bool noreply, Callback<bool> callback) {
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
  return s;
}

}  // namespace llmcache
