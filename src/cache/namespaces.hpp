#pragma once
// Namespaces and sub-namespaces: the key layout (docs/namespaces.md), written here once, and
// each generation as this process knows it. Private to the cache core.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace llmcache::detail {

/// Hex SHA-256 of `data` (64 lowercase digits).
std::string sha256_hex(std::string_view data);

/// A generation never used before: random, so that a generation key lost to eviction (or
/// made afresh by any process) can never bring back an older generation's entries.
std::string random_generation();
bool is_generation(std::string_view value);

/// One generation key and its value as this process knows it. A read of the key that
/// began before a clear of this process must not install its (older) answer after the
/// clear: every clear bumps `epoch_`, and a read installs only if the epoch it began in is
/// still current.
class Generation {
 public:
  using Clock = std::chrono::steady_clock;

  Generation(std::string key, std::chrono::milliseconds refresh)
      : key_(std::move(key)), refresh_(refresh) {}

  /// Where the generation is stored.
  const std::string& key() const { return key_; }

  struct Snapshot {
    std::optional<std::string> fresh;  // the generation, if read within `refresh_`
    std::uint64_t epoch = 0;           // what a read starting now must carry to install
    Clock::time_point now;
  };
  Snapshot snapshot() const;
  /// Installs a generation read from the server; returns the one to use (this process's
  /// own clear's, if one happened since the read began).
  std::string install(const std::string& generation, const Snapshot& began);
  /// This process stored `generation` (a clear).
  void cleared(const std::string& generation);

 private:
  const std::string key_;
  const Clock::duration refresh_;
  mutable std::mutex mutex_;
  std::string generation_;  // empty until first read
  Clock::time_point read_at_;
  std::uint64_t epoch_ = 0;
};

/// A namespace: its key layout, its generation and those of its sub-namespaces.
///
///   namespace generation      llmcache:ns:<ns>:generation
///   entry                     llmcache:ns:<ns>:<gen>:k:<key>      (key inline)
///                             llmcache:ns:<ns>:<gen>:h:<hex SHA-256 of key>
///   sub-namespace generation  llmcache:ns:<ns>:s:<sub>:generation
///   entry in a sub-namespace  llmcache:ns:<ns>:<gen>:s:<sub>:<subgen>:k:<key>   (inline)
///                             llmcache:ns:<ns>:<gen>:s:<sub>:<subgen>:h:<hex SHA-256 of key>
///
/// <ns> and <sub> are the first 32 hex digits of SHA-256 of the name; <gen> and <subgen>
/// 16 random hex digits. A key is inline when it is short enough (128 bytes, 76 in a
/// sub-namespace) and only printable ASCII without spaces, else hashed: every entry key is
/// at most 192 bytes, leaving room for a client's key_prefix under memcached's 250.
class Namespaces {
 public:
  Namespaces(std::string_view name, std::chrono::milliseconds refresh);

  /// What every key of this namespace starts with.
  const std::string& prefix() const { return prefix_; }
  const std::shared_ptr<Generation>& root() const { return root_; }
  /// The sub-namespace `name`'s generation, made on first use.
  std::shared_ptr<Generation> sub(std::string_view name);
  /// The <sub> part of a sub-namespace's keys.
  static std::string sub_id(std::string_view name);

  /// What every entry key of generation `generation` starts with (sub-namespaces' included).
  std::string entry_key_prefix(std::string_view generation) const;
  /// Whether `stored` is an entry key of generation `generation` outside sub-namespaces.
  bool is_plain_entry_key(std::string_view stored, std::string_view generation) const;
  std::string entry_key(std::string_view generation, std::string_view key) const;
  /// `sub`: sub_id() of the sub-namespace's name.
  std::string sub_entry_key(std::string_view generation, std::string_view sub,
                            std::string_view sub_generation, std::string_view key) const;

 private:
  const std::string prefix_;
  const std::chrono::milliseconds refresh_;
  const std::shared_ptr<Generation> root_;
  std::mutex subs_mutex_;
  // Only a cache: dropped whole when it grows past a bound, read again from memcached.
  std::map<std::string, std::shared_ptr<Generation>, std::less<>> subs_;
};

}  // namespace llmcache::detail
