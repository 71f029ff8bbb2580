#pragma once
// The fuzz driver both reply parsers share (meta_parser_fuzzer.cpp, classic_parser_fuzzer.cpp).
// Input layout:
//   byte 0       the parser limits (low nibble: max_line_bytes, next 3 bits: max_value_bytes),
//                kept small so the limit paths are reached, not only the happy ones;
//   byte 1       n = byte % 8, the number of fragment-size bytes that follow;
//   n bytes      fragment sizes (byte + 1), used in a cycle; none means byte-at-a-time;
//   the rest     the reply stream.
// The stream is parsed twice, fed whole and fed in those fragments. A connection feeds
// whatever recv() returned, so both must give the same replies and fail at the same
// reply; ProtocolError is the only exception allowed, and memory stays within the limits.
#include <llmcache/errors.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz_check.hpp"
#include "protocol/keys.hpp"
#include "protocol/meta_parser.hpp"

namespace llmcache::fuzz {

using protocol::ParserLimits;
using protocol::Reply;
using protocol::Status;

inline bool same_reply(const Reply& a, const Reply& b) {
  return a.status == b.status && a.value == b.value && a.message == b.message &&
         a.opaque == b.opaque && a.client_flags == b.client_flags && a.cas == b.cas &&
         a.ttl == b.ttl && a.won == b.won && a.stale == b.stale && a.already_won == b.already_won &&
         a.stats == b.stats && a.metadump == b.metadump && a.values == b.values;
}

// What a caller may rely on in any reply either parser hands out, whatever the stream held.
inline void check_common_reply(const Reply& reply, const ParserLimits& limits) {
  FUZZ_CHECK(reply.value.size() <= limits.max_value_bytes);
  FUZZ_CHECK(reply.message.size() <= limits.max_line_bytes);
  std::size_t listing_bytes = 0;
  for (const auto& [name, value] : reply.stats) {
    FUZZ_CHECK(!name.empty());
    listing_bytes += name.size() + value.size();
  }
  for (const auto& entry : reply.metadump) {
    FUZZ_CHECK(!entry.key.empty() && entry.key.size() <= protocol::kMaxKeyBytes);
    listing_bytes += entry.key.size();
  }
  FUZZ_CHECK(listing_bytes <= limits.max_value_bytes);
  FUZZ_CHECK(reply.stats.empty() || reply.status == Status::kStats);
  FUZZ_CHECK(reply.metadump.empty() || reply.status == Status::kMetadump);
  FUZZ_CHECK(reply.status != Status::kStats || !reply.stats.empty());
  FUZZ_CHECK(reply.status != Status::kMetadump || !reply.metadump.empty());
}

struct Outcome {
  std::vector<Reply> replies;
  bool failed = false;
  std::size_t buffered = 0;  // bytes left waiting for the rest of a reply
};

/// What one parser promises beyond check_common_reply.
using CheckReply = void (*)(const Reply& reply, const ParserLimits& limits);

template <class Parser>
void drain(Parser& parser, Outcome& outcome, const ParserLimits& limits, CheckReply check) {
  while (auto reply = parser.next()) {
    check_common_reply(*reply, limits);
    check(*reply, limits);
    outcome.replies.push_back(std::move(*reply));
  }
}

template <class Parser>
Outcome parse_whole(std::string_view stream, const ParserLimits& limits, CheckReply check) {
  Outcome outcome;
  Parser parser(limits);
  try {
    parser.feed(stream);
    drain(parser, outcome, limits, check);
    outcome.buffered = parser.buffered();
  } catch (const ProtocolError&) {
    outcome.failed = true;
  }
  return outcome;
}

template <class Parser>
Outcome parse_fragments(std::string_view stream, const std::vector<std::size_t>& sizes,
                        const ParserLimits& limits, CheckReply check) {
  Outcome outcome;
  Parser parser(limits);
  try {
    std::size_t turn = 0;
    while (!stream.empty()) {
      const std::size_t size = std::min(stream.size(), sizes[turn++ % sizes.size()]);
      parser.feed(stream.substr(0, size));
      stream.remove_prefix(size);
      // The documented bound: what a drained parser keeps (an unfinished line or data
      // block) plus one feed.
      FUZZ_CHECK(parser.buffered() <= limits.max_line_bytes + limits.max_value_bytes + 2 + size);
      drain(parser, outcome, limits, check);
      // Drained, the parser holds at most one unfinished line or data block.
      FUZZ_CHECK(parser.buffered() <= std::max(limits.max_line_bytes, limits.max_value_bytes) + 2);
    }
    outcome.buffered = parser.buffered();
  } catch (const ProtocolError&) {
    outcome.failed = true;
  }
  return outcome;
}

/// LLVMFuzzerTestOneInput of a reply parser: `Parser` is protocol::MetaParser or
/// protocol::ClassicParser.
template <class Parser>
int fuzz_reply_parser(const std::uint8_t* data, std::size_t size, CheckReply check) {
  if (size < 2) return 0;
  ParserLimits limits;
  limits.max_line_bytes = 24 + 8 * (data[0] & 0x0f);
  limits.max_value_bytes = std::size_t{16} << ((data[0] >> 4) & 0x07);
  const std::size_t count = data[1] % 8;
  if (size < 2 + count) return 0;
  std::vector<std::size_t> sizes;
  for (std::size_t i = 0; i < count; ++i) sizes.push_back(std::size_t{data[2 + i]} + 1);
  if (sizes.empty()) sizes.push_back(1);
  const std::string_view stream(reinterpret_cast<const char*>(data) + 2 + count, size - 2 - count);

  const Outcome whole = parse_whole<Parser>(stream, limits, check);
  const Outcome pieces = parse_fragments<Parser>(stream, sizes, limits, check);
  FUZZ_CHECK(whole.failed == pieces.failed);
  FUZZ_CHECK(whole.replies.size() == pieces.replies.size());
  for (std::size_t i = 0; i < whole.replies.size(); ++i) {
    FUZZ_CHECK(same_reply(whole.replies[i], pieces.replies[i]));
  }
  FUZZ_CHECK(whole.buffered == pieces.buffered);
  return 0;
}

}  // namespace llmcache::fuzz
