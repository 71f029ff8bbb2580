#pragma once
// The reply parser of one connection: meta or classic, chosen when the connection opens.
#include "protocol/classic_parser.hpp"
#include "protocol/meta_parser.hpp"

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string_view>

namespace llmcache::protocol {

/// The protocol one connection speaks (ClientOptions::protocol once auto is decided).
enum class Wire : unsigned char { kMeta, kClassic };

/// The statuses a classic request may be answered with, one bit per Status; 0 accepts any.
/// Classic replies carry no opaque, so a reply of the wrong kind (STORED to a get) is what
/// shows that the stream is out of step. Error replies are always accepted.
using Accepts = std::uint32_t;
constexpr Accepts accepts(std::initializer_list<Status> statuses) {
  Accepts mask = 0;
  for (const Status status : statuses) mask |= Accepts{1} << static_cast<unsigned>(status);
  return mask;
}
constexpr bool accepted(Accepts mask, Status status) {
  return mask == 0 || (mask & (Accepts{1} << static_cast<unsigned>(status))) != 0;
}

/// MetaParser or ClassicParser behind one interface: a connection's only cost is one
/// predictable branch per feed() and next().
class ReplyParser {
 public:
  explicit ReplyParser(ParserLimits limits = {}, Wire wire = Wire::kMeta)
      : wire_(wire), meta_(limits), classic_(limits) {}

  void feed(std::string_view bytes) {
    if (wire_ == Wire::kMeta) {
      meta_.feed(bytes);
    } else {
      classic_.feed(bytes);
    }
  }
  std::optional<Reply> next() { return wire_ == Wire::kMeta ? meta_.next() : classic_.next(); }
  std::size_t buffered() const {
    return wire_ == Wire::kMeta ? meta_.buffered() : classic_.buffered();
  }
  Wire wire() const { return wire_; }

 private:
  Wire wire_;
  MetaParser meta_;
  ClassicParser classic_;
};

}  // namespace llmcache::protocol
