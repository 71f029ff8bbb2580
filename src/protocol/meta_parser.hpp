#pragma once
// The memcached meta protocol's replies (and those of the classic commands the client
// sends): a pure, incremental parser. It is fed byte fragments and hands back whole
// replies, so it is tested with fragments and fuzzed (fuzz/meta_parser_fuzzer.cpp).
// Requests are built by protocol/meta_requests.hpp.
#include "protocol/line_buffer.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace llmcache::protocol {

enum class Status {
  kValue,        // VA <size> <flags>*\r\n<data>\r\n
  kHeaderOnly,   // HD <flags>*  (stored, deleted, or a hit without v)
  kMiss,         // EN           (mg miss)
  kNotFound,     // NF <flags>*  (md/ma miss)
  kNotStored,    // NS <flags>*
  kExists,       // EX <flags>*  (CAS mismatch)
  kNoop,         // MN
  kOk,           // OK           (classic flush_all)
  kVersion,      // VERSION <text>
  kError,        // ERROR        (unknown command)
  kClientError,  // CLIENT_ERROR <message>
  kServerError,  // SERVER_ERROR <message>
  kStats,        // STAT <name> <value>\r\n... END  (classic stats)
  kMetadump,     // key=... lines, then END          (lru_crawler metadump)
  kEnd,          // END alone: an empty listing
  kBusy,         // BUSY <message>                  (the LRU crawler is already running)
};

/// One item as `lru_crawler metadump` lists it.
struct MetadumpEntry {
  std::string key;               // decoded from memcached's %XX encoding
  std::int64_t exptime = -1;     // unix time it expires; -1: never
  std::int64_t last_access = 0;  // unix time
  std::uint64_t cas = 0;
  bool fetched = false;
  std::uint32_t slab_class = 0;
  std::uint64_t size = 0;  // bytes the item takes in memory (key, value and header)

  friend bool operator==(const MetadumpEntry&, const MetadumpEntry&) = default;
};

/// One item of a classic `get`/`gets` reply: `VALUE <key> <flags> <bytes> [<cas>]`.
struct ClassicValue {
  std::string key;
  std::uint32_t client_flags = 0;
  std::optional<std::uint64_t> cas;  // only `gets` returns it
  std::string data;

  friend bool operator==(const ClassicValue&, const ClassicValue&) = default;
};

struct Reply {
  Status status = Status::kMiss;
  std::string value;    // kValue: the data block
  std::string message;  // kClientError/kServerError/kVersion: the text after the code
  std::optional<std::uint32_t> opaque;        // O
  std::optional<std::uint32_t> client_flags;  // f
  std::optional<std::uint64_t> cas;           // c
  std::optional<std::int64_t> ttl;            // t (-1: no expiry)
  bool won = false;                           // W: this caller should recompute the value
  bool stale = false;                         // X: the item is stale
  bool already_won = false;                   // Z: someone else already won
  std::vector<std::pair<std::string, std::string>> stats;  // kStats, in server order
  std::vector<MetadumpEntry> metadump;                     // kMetadump
  /// kValue from protocol/classic_parser.hpp only: every VALUE of a classic get, in
  /// server order (the meta parser never fills it).
  std::vector<ClassicValue> values;
};

struct ParserLimits {
  /// Longest header line accepted (without its data block).
  std::size_t max_line_bytes = 4096;
  /// Largest data block accepted; memcached's own limit is set with -I (1 MiB default).
  /// A listing (stats, metadump) is bounded by the same number of line bytes.
  std::size_t max_value_bytes = 64u << 20;
};

/// A pure, incremental reply parser. feed() bytes as they arrive, then call next()
/// until it returns nullopt (more bytes needed). Malformed input or a limit exceeded
/// throws ProtocolError; after that the parser (and its connection) must be discarded.
/// Buffered memory never exceeds max_line_bytes + max_value_bytes + one feed() call.
class MetaParser {
 public:
  explicit MetaParser(ParserLimits limits = {});

  void feed(std::string_view bytes);
  std::optional<Reply> next();
  /// Bytes received but not yet consumed by next().
  std::size_t buffered() const { return lines_.buffered(); }

 private:
  Reply parse_header(std::string_view line);
  // Adds a STAT or key= line to listing_; false if the line is not part of a listing.
  bool absorb_listing_line(std::string_view line, bool ended_with_cr);

  ParserLimits limits_;
  detail::LineBuffer lines_;
  // A VA header already parsed whose data block (value_bytes_ + "\r\n") is incomplete.
  std::optional<Reply> pending_;
  std::size_t value_bytes_ = 0;
  // A stats or metadump listing whose END has not arrived yet, and its line bytes so far.
  std::optional<Reply> listing_;
  std::size_t listing_bytes_ = 0;
};

}  // namespace llmcache::protocol
