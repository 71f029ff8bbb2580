#include <llmcache/cache.hpp>
#include <llmcache/codec.hpp>
#include <llmcache/errors.hpp>
#include <llmcache/key.hpp>
#include <llmcache/log.hpp>

#include "common/wait_for.hpp"

#include <array>

namespace llmcache {

// Atomic so that the I/O thread and callers can count at once; shared so that callbacks
// still in flight when the cache is destroyed count into live memory.
struct MemcachedCache::Counters {
  std::atomic<std::uint64_t> hits{0}, misses{0}, updates{0}, update_failures{0};
  std::atomic<std::uint64_t> io_errors{0}, timeouts{0}, server_errors{0}, protocol_errors{0};
  std::atomic<std::uint64_t> decode_errors{0}, too_large{0}, bytes_read{0}, bytes_written{0};
  std::atomic<std::uint64_t> signature_failures{0};
  // Each cause is logged the first time only, so a dead server cannot flood the log;
  // the counters keep the totals.
  std::atomic<bool> logged_io{false}, logged_timeout{false}, logged_server{false};
  std::atomic<bool> logged_protocol{false}, logged_decode{false}, logged_too_large{false};
  // A value refused before it was sent (the old one is kept) and one the server refused
  // (memcached then removed the old one) are different news, so each is logged.
  std::atomic<bool> logged_too_large_at_server{false};
  std::array<std::atomic<bool>, 4> logged_signature{};  // by SignatureFailure

  /// Opens a signed entry; nullopt (counted, first of each cause logged) if it is not one.
  std::optional<std::string_view> open(const Signer& signer, std::string_view key,
                                       std::string_view stored) {
    const OpenedValue opened = signer.open(key, stored);
    if (opened) return opened.value;
    signature_failures.fetch_add(1, std::memory_order_relaxed);
    if (!logged_signature.at(static_cast<std::size_t>(opened.failure)).exchange(true)) {
      log(LogLevel::kWarning,
          std::string("cache lookup: an entry failed its signature check (") +
              to_string(opened.failure) +
              ") and reads as a miss; it was not written by a cache holding this signing "
              "secret (further entries of this kind are only counted)");
    }
    return std::nullopt;
  }

  /// The bookkeeping at the end of a lookup: a hit only if the value decodes.
  /// With a signer, the value must also carry a valid signature for `key`.
  std::optional<Generations> finish_lookup(const std::exception_ptr& error,
                                           const std::optional<Item>& item, const Signer* signer,
                                           std::string_view key) {
    std::optional<Generations> result;
    if (error) {
      count(error, "lookup");
    } else if (item) {
      const auto value =
          signer ? open(*signer, key, item->value) : std::optional<std::string_view>(item->value);
      try {
        if (value) {
          result = decode_generations(*value);
          bytes_read.fetch_add(item->value.size(), std::memory_order_relaxed);
        }
      } catch (const DecodeError&) {
        count(std::current_exception(), "lookup");
      }
    }
    (result ? hits : misses).fetch_add(1, std::memory_order_relaxed);
    return result;
  }

  /// The bookkeeping at the end of an update; returns whether the value was stored.
  bool finish_update(const std::exception_ptr& error, StoreResult result, std::size_t size) {
    if (!error && result == StoreResult::kStored) {
      updates.fetch_add(1, std::memory_order_relaxed);
      bytes_written.fetch_add(size, std::memory_order_relaxed);
      return true;
    }
    update_failures.fetch_add(1, std::memory_order_relaxed);
    if (error) count(error, "update");
    return false;
  }

  /// Counts `error` under its cause and logs the first of each cause.
  void count(const std::exception_ptr& error, const char* operation) {
    auto note = [&](std::atomic<std::uint64_t>& counter, std::atomic<bool>& logged,
                    const std::exception& e) {
      counter.fetch_add(1, std::memory_order_relaxed);
      if (!logged.exchange(true)) {
        log(LogLevel::kWarning, std::string("cache ") + operation + " failed: " + e.what() +
                                    " (further failures of this kind are only counted)");
      }
    };
    try {
      std::rethrow_exception(error);
    } catch (const TimeoutError& e) {
      note(timeouts, logged_timeout, e);
    } catch (const IoError& e) {
      note(io_errors, logged_io, e);
    } catch (const ProtocolError& e) {
      note(protocol_errors, logged_protocol, e);
    } catch (const ValueTooLargeError& e) {
      note(too_large, e.reached_server() ? logged_too_large_at_server : logged_too_large, e);
    } catch (const DecodeError& e) {
      note(decode_errors, logged_decode, e);
    } catch (const std::exception& e) {
      note(server_errors, logged_server, e);
    }
  }
};

MemcachedCache::MemcachedCache(std::shared_ptr<ClientBase> client, MemcachedCacheOptions options)
    : client_(std::move(client)),
      options_(std::move(options)),
      counters_(std::make_shared<Counters>()) {
  if (!client_) throw InvalidArgumentError("MemcachedCache needs a client");
  if (options_.ttl.count() < 0) throw InvalidArgumentError("ttl cannot be negative");
  if (options_.signing_secret) {
    signer_ = std::make_shared<const Signer>(*options_.signing_secret);
    // The Signer keeps what it needs; no second copy of the secret stays around.
    options_.signing_secret.reset();
  }
}

std::string MemcachedCache::stored_value(std::string_view key,
                                         const Generations& generations) const {
  // A caller's mistake (invalid UTF-8) throws here, before anything is sent.
  std::string value = encode_generations(generations);
  return signer_ ? signer_->seal(key, value) : value;
}

void MemcachedCache::start_lookup(std::string prompt, std::string llm_string,
                                  Callback<std::optional<Generations>> callback) {
  std::string key = langchain_key(prompt, llm_string);
  client_->start_get(key,
                     [counters = counters_, signer = signer_, key, callback = std::move(callback)](
                         std::exception_ptr error, std::optional<Item> item) {
                       callback(nullptr, counters->finish_lookup(error, item, signer.get(), key));
                     });
}

void MemcachedCache::start_update(std::string prompt, std::string llm_string,
                                  Generations generations, Callback<bool> callback) {
  std::string key = langchain_key(prompt, llm_string);
  std::string value = stored_value(key, generations);
  const std::size_t size = value.size();
  client_->start_set(
      std::move(key), std::move(value), set_options(),
      [counters = counters_, strict = options_.strict, size, callback = std::move(callback)](
          std::exception_ptr error, StoreResult result) {
        const bool stored = counters->finish_update(error, result, size);
        callback(strict && !stored ? error : nullptr, stored);
      });
}

void MemcachedCache::start_clear(std::chrono::seconds delay, bool noreply,
                                 Callback<bool> callback) {
  client_->start_flush_all(delay, noreply,
                           [callback = std::move(callback)](std::exception_ptr error, std::size_t) {
                             callback(error, !error);
                           });
}

// The blocking forms do their I/O on the calling thread (the client's fast path) and
// share the bookkeeping with the async forms.

std::optional<Generations> MemcachedCache::lookup(std::string_view prompt,
                                                  std::string_view llm_string) {
  const std::string key = langchain_key(prompt, llm_string);
  std::exception_ptr error;
  std::optional<Item> item;
  try {
    item = client_->get(key);
  } catch (const Error&) {
    error = std::current_exception();
  }
  return counters_->finish_lookup(error, item, signer_.get(), key);
}

bool MemcachedCache::update(std::string_view prompt, std::string_view llm_string,
                            const Generations& generations) {
  const std::string key = langchain_key(prompt, llm_string);
  const std::string value = stored_value(key, generations);
  std::exception_ptr error;
  StoreResult result = StoreResult::kNotStored;
  try {
    result = client_->set(key, value, set_options());
  } catch (const Error&) {
    error = std::current_exception();
  }
  const bool stored = counters_->finish_update(error, result, value.size());
  if (!stored && error && options_.strict) std::rethrow_exception(error);
  return stored;
}

void MemcachedCache::clear(std::chrono::seconds delay, bool noreply) {
  if (client_->on_io_thread()) {
    throw InvalidArgumentError("blocking cache call from the client's own I/O thread");
  }
  detail::wait_for<bool>([&](auto callback) { start_clear(delay, noreply, std::move(callback)); });
}

SetOptions MemcachedCache::set_options() const {
  SetOptions options;
  options.ttl = options_.ttl;
  return options;
}

CacheStats MemcachedCache::stats() const {
  const auto& c = *counters_;
  auto load = [](const std::atomic<std::uint64_t>& v) { return v.load(std::memory_order_relaxed); };
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
  s.bytes_read = load(c.bytes_read);
  s.bytes_written = load(c.bytes_written);
  return s;
}

std::shared_ptr<ClientBase> make_client(std::string_view servers, HashClientOptions options) {
  auto addresses = parse_servers(servers);
  if (addresses.size() == 1) return std::make_shared<Client>(addresses.front(), options.client);
  return std::make_shared<HashClient>(std::move(addresses), options);
}

}  // namespace llmcache
