#pragma once
// The protocol one server's connections speak, shared by all of them (blocking and async):
// fixed by ClientOptions::protocol, or decided once by that server's own probe
// (ClientOptions kAuto; client/transport.hpp). A connection reads it each time it opens,
// so it picks the matching reply parser. Once decided it never changes.
#include "protocol/reply_parser.hpp"

#include <atomic>
#include <optional>

namespace llmcache::net {

class WireChoice {
 public:
  /// Unknown until set(), or fixed from the start.
  explicit WireChoice(std::optional<protocol::Wire> fixed = std::nullopt)
      : state_(fixed ? encode(*fixed) : kUnknown) {}

  std::optional<protocol::Wire> get() const {
    const unsigned char s = state_.load(std::memory_order_acquire);
    if (s == kUnknown) return std::nullopt;
    return static_cast<protocol::Wire>(s);
  }
  /// Meta until decided: what a connection opened before the probe speaks.
  protocol::Wire get_or_meta() const { return get().value_or(protocol::Wire::kMeta); }
  void set(protocol::Wire wire) { state_.store(encode(wire), std::memory_order_release); }

 private:
  static constexpr unsigned char kUnknown = 0xff;
  static unsigned char encode(protocol::Wire wire) { return static_cast<unsigned char>(wire); }
  std::atomic<unsigned char> state_;
};

}  // namespace llmcache::net
