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
  /// The last limit learned for `server` (0 if none).
  std::size_t limit(const std::string& server) const;
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
