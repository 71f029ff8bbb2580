// Fuzzes protocol::ClassicParser (the classic text protocol's replies) with the bytes a server (or
// anything pretending to be one) may send. Input layout:
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
#include <vector>

#include "fuzz_check.hpp"
#include "protocol/classic_parser.hpp"
#include "protocol/keys.hpp"

namespace {

using llmcache::protocol::ClassicParser;
using llmcache::protocol::ParserLimits;
using llmcache::protocol::Reply;
using llmcache::protocol::Status;

struct Outcome {
  std::vector<Reply> replies;
  bool failed = false;
  std::size_t buffered = 0;  // bytes left waiting for the rest of a reply
};

bool same_reply(const Reply& a, const Reply& b) {
  return a.status == b.status && a.value == b.value && a.message == b.message &&
         a.opaque == b.opaque && a.client_flags == b.client_flags && a.cas == b.cas &&
         a.ttl == b.ttl && a.won == b.won && a.stale == b.stale && a.already_won == b.already_won &&
         a.stats == b.stats && a.metadump == b.metadump && a.values == b.values;
}

// What a caller may rely on in any reply the parser hands out, whatever the stream held.
void check_reply(const Reply& reply, const ParserLimits& limits) {
  FUZZ_CHECK(reply.value.size() <= limits.max_value_bytes);
  // Classic replies carry items in `values` only, and never an opaque or meta flags.
  FUZZ_CHECK(reply.value.empty() && !reply.opaque && !reply.ttl && !reply.won);
  FUZZ_CHECK(reply.status == Status::kValue ? !reply.values.empty() : reply.values.empty());
  std::size_t value_bytes = 0;
  for (const auto& item : reply.values) {
    FUZZ_CHECK(!item.key.empty() && item.key.size() <= llmcache::protocol::kMaxKeyBytes);
    value_bytes += item.data.size();
  }
  FUZZ_CHECK(value_bytes <= limits.max_value_bytes);
  FUZZ_CHECK(reply.message.size() <= limits.max_line_bytes);
  std::size_t listing_bytes = 0;
  for (const auto& [name, value] : reply.stats) {
    FUZZ_CHECK(!name.empty());
    listing_bytes += name.size() + value.size();
  }
  for (const auto& entry : reply.metadump) {
    FUZZ_CHECK(!entry.key.empty() && entry.key.size() <= llmcache::protocol::kMaxKeyBytes);
    listing_bytes += entry.key.size();
  }
  FUZZ_CHECK(listing_bytes <= limits.max_value_bytes);
  FUZZ_CHECK(reply.stats.empty() || reply.status == Status::kStats);
  FUZZ_CHECK(reply.metadump.empty() || reply.status == Status::kMetadump);
  FUZZ_CHECK(reply.status != Status::kStats || !reply.stats.empty());
  FUZZ_CHECK(reply.status != Status::kMetadump || !reply.metadump.empty());
}

void drain(ClassicParser& parser, Outcome& outcome, const ParserLimits& limits) {
  while (auto reply = parser.next()) {
    check_reply(*reply, limits);
    outcome.replies.push_back(std::move(*reply));
  }
}

Outcome parse_whole(std::string_view stream, const ParserLimits& limits) {
  Outcome outcome;
  ClassicParser parser(limits);
  try {
    parser.feed(stream);
    drain(parser, outcome, limits);
    outcome.buffered = parser.buffered();
  } catch (const llmcache::ProtocolError&) {
    outcome.failed = true;
  }
  return outcome;
}

Outcome parse_fragments(std::string_view stream, const std::vector<std::size_t>& sizes,
                        const ParserLimits& limits) {
  Outcome outcome;
  ClassicParser parser(limits);
  try {
    std::size_t turn = 0;
    while (!stream.empty()) {
      const std::size_t size = std::min(stream.size(), sizes[turn++ % sizes.size()]);
      parser.feed(stream.substr(0, size));
      stream.remove_prefix(size);
      // The documented bound: what a drained parser keeps (an unfinished line or data
      // block) plus one feed.
      FUZZ_CHECK(parser.buffered() <= limits.max_line_bytes + limits.max_value_bytes + 2 + size);
      drain(parser, outcome, limits);
      // Drained, the parser holds at most one unfinished line or data block.
      FUZZ_CHECK(parser.buffered() <= std::max(limits.max_line_bytes, limits.max_value_bytes) + 2);
    }
    outcome.buffered = parser.buffered();
  } catch (const llmcache::ProtocolError&) {
    outcome.failed = true;
  }
  return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
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

  const Outcome whole = parse_whole(stream, limits);
  const Outcome pieces = parse_fragments(stream, sizes, limits);
  FUZZ_CHECK(whole.failed == pieces.failed);
  FUZZ_CHECK(whole.replies.size() == pieces.replies.size());
  for (std::size_t i = 0; i < whole.replies.size(); ++i) {
    FUZZ_CHECK(same_reply(whole.replies[i], pieces.replies[i]));
  }
  FUZZ_CHECK(whole.buffered == pieces.buffered);
  return 0;
}
