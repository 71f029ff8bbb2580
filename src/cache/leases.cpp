// single_flight and stale_ttl: the lease-aware lookup (blocking and async) and giving
// leases back after an update. How it works, and why: docs/single-flight.md.
#include "cache/leases.hpp"

#include <llmcache/errors.hpp>

#include <asio/steady_timer.hpp>

#include <algorithm>
#include <random>
#include <thread>

namespace llmcache {

LeaseReading read_meta_answer(MetaGetResult answer) {
  using Kind = LeaseReading::Kind;
  LeaseReading reading;
  if (!answer.item) return reading;  // EN: no N asked for, nothing stored
  // LangChain values (and sealed or compressed ones) are never empty: an empty value is a
  // placeholder made by N, whoever asked for it.
  const bool placeholder = answer.item->value.empty();
  if (answer.won) {
    reading.kind = Kind::kWon;
    // Won on a placeholder: ours to remove if no value comes. Won on a value (its stale
    // window, R): the old value stays for the others, nothing to give back.
    reading.leased = placeholder;
    reading.cas = answer.item->cas;
    return reading;
  }
  if (placeholder) {
    reading.kind = answer.already_won ? Kind::kTaken : Kind::kAbsent;
    return reading;
  }
  reading.kind = answer.already_won ? Kind::kStale : Kind::kValue;
  reading.item = std::move(answer.item);
  return reading;
}

std::string classic_lease_key(std::string_view stored) {
  return std::string(stored) + ":lease";
}

std::string classic_lease_token() {
  std::random_device device;  // the kernel's generator: unique across processes and forks
  return std::to_string((std::uint64_t{device()} << 32) ^ device());
}

void CacheCore::Leases::remember(std::string_view key, Lease lease) {
  std::lock_guard lock(mutex_);
  // Leases whose winner never came back have ended in memcached by now: forget them, so
  // that a face that never stores cannot grow this map without bound.
  std::erase_if(held_,
                [&](const auto& held) { return lease.taken - held.second.taken > lease_ttl_; });
  held_.insert_or_assign(std::string(key), std::move(lease));
}

std::optional<CacheCore::Leases::Lease> CacheCore::Leases::take(std::string_view key) {
  std::lock_guard lock(mutex_);
  auto found = held_.find(key);
  if (found == held_.end()) return std::nullopt;
  Lease lease = std::move(found->second);
  held_.erase(found);
  return lease;
}

std::chrono::seconds CacheCore::stored_ttl(std::chrono::seconds ttl, Protocol protocol) {
  if (options_.stale_ttl.count() == 0 || ttl.count() == 0) return ttl;
  if (protocol == Protocol::kClassic) {
    note_classic_stale();
    return ttl;
  }
  return ttl + options_.stale_ttl;
}

// ---------------------------------------------------------------- one lookup

// A lease-aware lookup, in both forms: read, judge the reading, and either end or read
// again after a pause (a waiter). The blocking form sleeps between reads; the async form
// waits on a timer on the client's I/O thread.
struct CacheCore::Flight : std::enable_shared_from_this<Flight> {
  using Clock = std::chrono::steady_clock;

  std::shared_ptr<CacheCore> core;
  std::string key;     // the lookup's key (the leases are remembered under it)
  std::string stored;  // the entry's memcached key
  Protocol protocol = Protocol::kMeta;
  Clock::time_point deadline;
  LeaseBackoff backoff;
  bool waited = false;
  std::string token;  // classic: the value of the lease key this lookup adds
  // The async form only.
  Callback<std::optional<std::string>> callback;
  std::unique_ptr<asio::steady_timer> timer;

  Flight(std::shared_ptr<CacheCore> core, std::string key, std::string stored, Protocol protocol)
      : core(std::move(core)),
        key(std::move(key)),
        stored(std::move(stored)),
        protocol(protocol),
        deadline(Clock::now() + this->core->options_.single_flight_wait),
        token(protocol == Protocol::kClassic ? classic_lease_token() : std::string()) {}

  const MemcachedCacheOptions& options() const { return core->options_; }

  MetaGetOptions meta_options() const {
    MetaGetOptions asked;
    asked.cas = true;  // a won placeholder is removed only while its CAS is still ours
    if (options().single_flight) asked.vivify_ttl = options().lease_ttl;
    if (options().stale_ttl.count() > 0) asked.recache_ttl = options().stale_ttl;
    return asked;
  }

  SetOptions lease_options() const {
    SetOptions lease;
    lease.only_if_absent = true;
    lease.ttl = options().lease_ttl;
    return lease;
  }

  static bool has_value(const std::optional<Item>& item) { return item && !item->value.empty(); }

  static LeaseReading value_reading(std::optional<Item> item) {
    LeaseReading reading;
    reading.kind = LeaseReading::Kind::kValue;
    reading.item = std::move(item);
    return reading;
  }

  static LeaseReading classic_won() {
    LeaseReading reading;
    reading.kind = LeaseReading::Kind::kWon;
    reading.leased = true;
    return reading;
  }

  /// What the lookup does after `reading`: end (with the item to open; none is a miss),
  /// or read again after `pause`.
  struct Step {
    bool done = true;
    std::optional<Item> item;
    std::chrono::milliseconds pause{0};
  };

  Step judge(LeaseReading reading) {
    using Kind = LeaseReading::Kind;
    switch (reading.kind) {
      case Kind::kValue:
        if (waited) core->count(LeaseEvent::kWaited);
        return {true, std::move(reading.item), {}};
      case Kind::kStale:
        core->count(LeaseEvent::kStaleServed);
        return {true, std::move(reading.item), {}};
      case Kind::kWon:
        core->count(LeaseEvent::kWon);
        if (reading.leased) {
          core->leases_->remember(key, {stored, protocol, reading.cas, token, Clock::now()});
        }
        return {};
      case Kind::kAbsent:
        return {};
      case Kind::kTaken:
        break;
    }
    // Someone else computes. Without single_flight (another process's placeholder, seen
    // by a stale_ttl-only cache) there is nothing to wait for.
    if (!options().single_flight) return {};
    const auto now = Clock::now();
    if (now >= deadline) {
      core->count(LeaseEvent::kWaitTimedOut);
      return {};
    }
    waited = true;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
    return {false, std::nullopt, std::min(backoff.next(), left)};
  }

  // ------------------------------------------------------------ blocking

  /// One read. Classic: the entry; on a miss, the lease key's `add` (won when stored),
  /// then the entry once more, because a value stored just before the `add` (its winner
  /// deletes the lease key after storing) must not be computed twice.
  LeaseReading read() {
    ClientBase& client = *core->client_;
    if (protocol == Protocol::kMeta)
      return read_meta_answer(client.meta_get(stored, meta_options()));
    auto item = client.get(stored);
    if (has_value(item)) return value_reading(std::move(item));
    if (!options().single_flight) return {};
    if (client.set(classic_lease_key(stored), token, lease_options()) != StoreResult::kStored) {
      LeaseReading taken;
      taken.kind = LeaseReading::Kind::kTaken;
      return taken;
    }
    item = client.get(stored);
    if (!has_value(item)) return classic_won();
    client.del(classic_lease_key(stored));
    return value_reading(std::move(item));
  }

  std::optional<std::string> run() {
    for (;;) {
      Step step;
      try {
        step = judge(read());
      } catch (const Error&) {
        core->count(std::current_exception(), "lookup");
        return std::nullopt;
      }
      if (step.done) return core->open(stored, std::move(step.item));
      std::this_thread::sleep_for(step.pause);
    }
  }

  // ------------------------------------------------------------ async

  void fail(std::exception_ptr error) {
    core->count(error, "lookup");
    callback(nullptr, std::nullopt);
  }

  void judged(LeaseReading reading) {
    Step step = judge(std::move(reading));
    if (step.done) return callback(nullptr, core->open(stored, std::move(step.item)));
    if (!timer) timer = std::make_unique<asio::steady_timer>(core->client_->executor());
    timer->expires_after(step.pause);
    timer->async_wait([me = shared_from_this()](std::error_code) { me->start_read(); });
  }

  void start_read() {
    auto me = shared_from_this();
    try {
      if (protocol == Protocol::kMeta) {
        core->client_->start_meta_get(stored, meta_options(),
                                      [me](std::exception_ptr error, MetaGetResult answer) {
                                        if (error) return me->fail(error);
                                        me->judged(read_meta_answer(std::move(answer)));
                                      });
        return;
      }
      core->client_->start_get(stored, [me](std::exception_ptr error, std::optional<Item> item) {
        if (error) return me->fail(error);
        if (has_value(item)) return me->judged(value_reading(std::move(item)));
        if (!me->options().single_flight) return me->judged({});
        me->start_classic_lease();
      });
    } catch (const Error&) {
      fail(std::current_exception());
    }
  }

  void start_classic_lease() {
    auto me = shared_from_this();
    try {
      core->client_->start_set(classic_lease_key(stored), token, lease_options(),
                               [me](std::exception_ptr error, StoreResult result) {
                                 if (error) return me->fail(error);
                                 if (result != StoreResult::kStored) {
                                   LeaseReading taken;
                                   taken.kind = LeaseReading::Kind::kTaken;
                                   return me->judged(taken);
                                 }
                                 me->start_confirm_classic_win();
                               });
    } catch (const Error&) {
      fail(std::current_exception());
    }
  }

  // The second read of read()'s classic steps.
  void start_confirm_classic_win() {
    auto me = shared_from_this();
    try {
      core->client_->start_get(stored, [me](std::exception_ptr error, std::optional<Item> item) {
        if (error) return me->fail(error);
        if (!has_value(item)) return me->judged(classic_won());
        me->core->client_->start_del(classic_lease_key(me->stored), false,
                                     [](std::exception_ptr, bool) {});
        me->judged(value_reading(std::move(item)));
      });
    } catch (const Error&) {
      fail(std::current_exception());
    }
  }
};

std::optional<std::string> CacheCore::leased_fetch(std::string_view key,
                                                   const std::string& stored) {
  const Protocol protocol = client_->protocol(stored);
  if (protocol == Protocol::kClassic && options_.stale_ttl.count() > 0) {
    note_classic_stale();
  }
  Flight flight(shared_from_this(), std::string(key), stored, protocol);
  return flight.run();
}

void CacheCore::start_leased_fetch(std::string key, std::string stored,
                                   Callback<std::optional<std::string>> callback) {
  auto self = shared_from_this();
  std::string routing = stored;
  client_->start_protocol(
      std::move(routing), [self, key = std::move(key), stored = std::move(stored), callback](
                              std::exception_ptr error, Protocol protocol) mutable {
        if (error) {
          self->count(error, "lookup");
          return callback(nullptr, std::nullopt);
        }
        if (protocol == Protocol::kClassic && self->options_.stale_ttl.count() > 0) {
          self->note_classic_stale();
        }
        auto flight = std::make_shared<Flight>(self, std::move(key), std::move(stored), protocol);
        flight->callback = std::move(callback);
        flight->start_read();
      });
}

// ---------------------------------------------------------------- giving leases back

// A lease ends by its own TTL if giving it back fails, so failures here are not the
// caller's concern: they are neither thrown nor counted.
void CacheCore::settle_lease(std::string_view key, bool stored) {
  if (!leases_) return;
  auto lease = leases_->take(key);
  if (!lease) return;
  try {
    if (lease->protocol == Protocol::kClassic) {
      // Without CAS, read first: a lease that expired and was taken over is another's.
      // (One taken over between the read and the delete is lost to the next waiter's add,
      // which then computes once more: a duplicate model call, never a wrong answer.)
      const std::string lease_key = classic_lease_key(lease->stored);
      const auto held = client_->get(lease_key);
      if (held && held->value == lease->token) client_->del(lease_key);
    } else if (!stored && lease->cas) {
      // Only while the placeholder is still this lease's: a value stored since, or a
      // later winner's placeholder, stays.
      client_->del_if_cas(lease->stored, *lease->cas);
    }
  } catch (const Error&) {
  }
}

void CacheCore::start_settle_lease(std::string_view key, bool stored, Callback<bool> callback) {
  auto lease = leases_ ? leases_->take(key) : std::nullopt;
  if (!lease) return callback(nullptr, false);
  auto done = [callback](std::exception_ptr, bool) { callback(nullptr, true); };
  try {
    if (lease->protocol == Protocol::kClassic) {
      std::string lease_key = classic_lease_key(lease->stored);
      auto self = shared_from_this();
      return client_->start_get(lease_key, [self, lease_key, token = lease->token, done](
                                               std::exception_ptr error, std::optional<Item> held) {
        if (error || !held || held->value != token) return done(nullptr, false);
        try {
          self->client_->start_del(lease_key, false, done);
        } catch (const Error&) {
          done(nullptr, false);
        }
      });
    }
    if (!stored && lease->cas) return client_->start_del_if_cas(lease->stored, *lease->cas, done);
  } catch (const Error&) {
  }
  callback(nullptr, true);
}

void CacheCore::release_lease(std::string_view key) {
  settle_lease(key, false);
}

void CacheCore::start_release_lease(std::string_view key, Callback<bool> callback) {
  start_settle_lease(key, false, std::move(callback));
}

}  // namespace llmcache
