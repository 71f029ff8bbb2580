#pragma once
// single_flight and stale_ttl (docs/single-flight.md): how a lease-aware lookup reads what
// memcached answers, and the leases this process holds. CacheCore's lookups and updates use
// it in src/cache/leases.cpp; nothing here does I/O.
#include <llmcache/cache_core.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace llmcache {

/// What one read of a lease-aware lookup found.
struct LeaseReading {
  enum class Kind : std::uint8_t {
    kValue,   // a value: a hit
    kStale,   // a value past its ttl that another caller is refreshing: a hit (stale_served)
    kWon,     // this caller computes: a miss (a placeholder or lease key is held when `leased`)
    kTaken,   // another caller computes, nothing to read yet: wait (single_flight)
    kAbsent,  // nothing, and no lease to wait for: a miss
  };
  Kind kind = Kind::kAbsent;
  std::optional<Item> item;          // kValue, kStale
  bool leased = false;               // kWon: a lease to give back if no value comes
  std::optional<std::uint64_t> cas;  // meta: the placeholder's CAS
};

/// An `mg` answer (flags v f c, N when single_flight, R when stale_ttl) as a reading. A
/// placeholder's empty value is never a value: LangChain values are never empty.
LeaseReading read_meta_answer(MetaGetResult answer);

/// The key of the classic-mode lease next to the entry under `stored`.
std::string classic_lease_key(std::string_view stored);
/// A classic-mode lease's value: unique, so that giving a lease back (without CAS, which
/// classic proxies lack) removes it only while it is still this one.
std::string classic_lease_token();

/// The leases this process holds, by lookup key, until their value is stored or they are
/// given back. A winner that does neither (LangChain calls nothing when a model call
/// raises) leaves its entry behind; entries older than the lease's TTL are dropped.
class CacheCore::Leases {
 public:
  using Clock = std::chrono::steady_clock;

  struct Lease {
    std::string stored;  // the entry's memcached key
    Protocol protocol = Protocol::kMeta;
    std::optional<std::uint64_t> cas;  // meta: the placeholder's CAS
    std::string token;                 // classic: the lease key's value, unique to this lease
    Clock::time_point taken;
  };

  explicit Leases(std::chrono::seconds lease_ttl) : lease_ttl_(lease_ttl) {}

  void remember(std::string_view key, Lease lease);
  std::optional<Lease> take(std::string_view key);

 private:
  const Clock::duration lease_ttl_;
  std::mutex mutex_;
  std::map<std::string, Lease, std::less<>> held_;
};

/// How long a waiter sleeps before its next read: short at first (a fast model answers
/// soon), growing so that many waiters do not hammer the server.
class LeaseBackoff {
 public:
  std::chrono::milliseconds next() {
    const auto now = delay_;
    delay_ = std::min(kMax, delay_ * 3 / 2);
    return now;
  }

 private:
  static constexpr std::chrono::milliseconds kMax{250};
  std::chrono::milliseconds delay_{20};
};

}  // namespace llmcache
