#pragma once
// What the client knows of each server's item size limit (memcached -I), so that a value
// that cannot fit is refused before it is sent: memcached 1.6 answers a too-large set by
// removing the previous value under the key, so sending it would cost the caller the old
// entry. Learned lazily from `stats settings` (item_size_max), once per server.
#include "protocol/meta_parser.hpp"

#include <chrono>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace llmcache::detail {

class ItemLimits {
 public:
  using Clock = std::chrono::steady_clock;

  /// `assumed`: the limit taken for a server that does not tell its own
  /// (ClientOptions::item_size_max); 0 assumes none.
  explicit ItemLimits(std::size_t assumed = 0) : assumed_(assumed) {}

  /// The least memcached adds to a value in an item: its 48-byte header, the key and its
  /// terminator, the value's "\r\n", and 4 bytes for non-zero client flags. The 8-byte
  /// CAS is left out (memcached -C drops it), so a value this estimate lets through may
  /// still be refused by the server, never the other way round.
  static std::size_t item_bytes(std::size_t key_size, std::size_t value_size, bool flags) {
    return 48 + key_size + 1 + value_size + 2 + (flags ? 4 : 0);
  }

  enum class Action {
    kSend,   // fits, or the limit is unknown: send the value
    kLearn,  // ask the server for its limit first, then decide
    kRefuse  // cannot fit: refuse without sending (limit() says why)
  };

  /// Thread-safe.
  Action decide(const std::string& server, std::size_t item_bytes, Clock::time_point now) const;
  /// The decision for a server that does not tell its limit: the assumed limit's.
  Action judge_unknown(std::size_t item_bytes) const {
    return assumed_ != 0 && item_bytes > assumed_ ? Action::kRefuse : Action::kSend;
  }
  /// The last limit learned for `server`; the assumed one (or 0) when it did not tell.
  std::size_t limit(const std::string& server) const;
  /// Whether `server` told its limit (false: limit() is the assumed one).
  bool told(const std::string& server) const;
  /// Records a `stats settings` reply (or nullopt: the server would not say).
  void learn(const std::string& server, std::optional<std::size_t> limit, Clock::time_point now);
  /// The server refused a value our limit let through: learn it again next time.
  void forget(const std::string& server);

  /// item_size_max from a `stats settings` reply, if it holds one.
  static std::optional<std::size_t> parse(const protocol::Reply& reply);

 private:
  struct Entry {
    std::optional<std::size_t> limit;  // nullopt: the server did not tell us
    Clock::time_point learned;
  };
  const std::size_t assumed_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
};

/// The item-limit check of one set, the same on the blocking and the async path, which
/// differ only in how they ask the server for its limit (a round trip on the calling
/// thread, or a request on the I/O thread). Copyable, for callbacks.
class LimitCheck {
 public:
  /// `server`: the name of the server the set goes to; empty when none is available (the
  /// check then lets the set through, and the set fails on its own and says why).
  LimitCheck(std::shared_ptr<ItemLimits> limits, std::string server, std::size_t value_size,
             std::size_t item_bytes, ItemLimits::Clock::time_point now);

  /// The server must be asked its limit (`stats settings`, then learned()) before deciding.
  bool needs_limit() const { return action_ == ItemLimits::Action::kLearn; }
  /// Records the server's answer: nullopt when it would not say (or could not be asked).
  void learned(std::optional<std::size_t> limit, ItemLimits::Clock::time_point now);
  /// The server is never asked (classic protocol): judged by the assumed limit.
  void unasked() { action_ = limits_->judge_unknown(item_bytes_); }
  /// Null if the set may be sent; otherwise the ValueTooLargeError (reached_server false)
  /// that refuses it, nothing sent.
  std::exception_ptr refusal() const;
  /// After the set went out: a refusal by the server itself means the limit we knew let
  /// through what the server would not take, so it is learned again next time.
  void after_set(const std::exception_ptr& error) const;

 private:
  std::shared_ptr<ItemLimits> limits_;
  std::string server_;
  std::size_t value_size_;
  std::size_t item_bytes_;
  ItemLimits::Action action_ = ItemLimits::Action::kSend;
};

}  // namespace llmcache::detail
