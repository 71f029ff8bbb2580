#pragma once
// memcached's classic text protocol's replies: a pure, incremental parser with the same
// interface, limits and discipline as protocol/meta_parser.hpp, for servers and proxies
// that do not speak meta (twemproxy, mcrouter, memcached before 1.6.10). Requests are
// built by protocol/classic_requests.hpp; fuzzed by fuzz/classic_parser_fuzzer.cpp.
//
// Replies come out as the same protocol::Reply the meta parser gives, with the status that
// means the same, so one function maps a store or delete reply whichever protocol carried it:
//   VALUE <key> <flags> <bytes> [<cas>]\r\n<data>\r\n ... END   kValue, every item in `values`
//   END (alone)                          kEnd (a get that found nothing; an empty listing)
//   STORED, DELETED, TOUCHED             kHeaderOnly
//   NOT_STORED / EXISTS / NOT_FOUND      kNotStored / kExists / kNotFound
//   OK, VERSION, ERROR, CLIENT_ERROR, SERVER_ERROR, BUSY, STAT listings, metadump listings:
//                                        as the meta parser reads them.
// A classic reply never carries an opaque: pairing is by order alone.
#include "protocol/meta_parser.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace llmcache::protocol {

/// feed() bytes as they arrive, then call next() until it returns nullopt (more bytes
/// needed). Malformed input or a limit exceeded throws ProtocolError kMalformedReply; after
/// that the parser (and its connection) must be discarded. Lines are bounded by
/// max_line_bytes; each data block, and all the data blocks of one get reply together, by
/// max_value_bytes. Buffered memory never exceeds max_line_bytes + max_value_bytes + one
/// feed() call.
class ClassicParser {
 public:
  explicit ClassicParser(ParserLimits limits = {});

  void feed(std::string_view bytes);
  std::optional<Reply> next();
  /// Bytes received but not yet consumed by next().
  std::size_t buffered() const { return lines_.buffered(); }

 private:
  // A whole reply from `line`, or nullopt when the line only advanced a get or a listing.
  std::optional<Reply> parse_line(std::string_view line, bool ended_with_cr);
  void start_value(std::string_view line);

  ParserLimits limits_;
  detail::LineBuffer lines_;
  // A get reply whose END has not arrived yet, and the data bytes it holds so far.
  std::optional<Reply> get_;
  std::size_t get_bytes_ = 0;
  // Set while the data block of get_->values.back() (value_bytes_ + "\r\n") is incomplete.
  bool in_data_ = false;
  std::size_t value_bytes_ = 0;
  // A stats or metadump listing whose END has not arrived yet, and its line bytes so far.
  std::optional<Reply> listing_;
  std::size_t listing_bytes_ = 0;
};

}  // namespace llmcache::protocol
