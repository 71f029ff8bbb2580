#pragma once
// The memcached meta protocol's requests as bytes (and the few classic commands the client
// sends). Pure: no sockets, no clocks. Replies are read by protocol/meta_parser.hpp.
#include "protocol/keys.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace llmcache::protocol {

struct MetaGetFlags {
  bool value = true;         // v: return the value
  bool client_flags = true;  // f: return the client flags
  bool cas = false;          // c: return the CAS value
  bool ttl = false;          // t: return the remaining TTL
  /// N<ttl>: on a miss create a placeholder with this TTL; the first caller gets W.
  std::optional<std::uint32_t> vivify_ttl;
  /// R<ttl>: if the remaining TTL is below this, this caller wins the recache (W).
  std::optional<std::uint32_t> recache_ttl;
  /// T<ttl>: update the TTL.
  std::optional<std::uint32_t> touch_ttl;
};

enum class SetMode { kSet, kAdd, kReplace, kAppend, kPrepend };

struct MetaSetFlags {
  std::uint32_t client_flags = 0;    // F
  std::uint32_t ttl = 0;             // T; 0 means no expiry
  std::optional<std::uint64_t> cas;  // C: store only if the CAS matches
  bool invalidate = false;           // I: with C, a stale CAS still stores but marks stale
  bool return_cas = false;           // c
  SetMode mode = SetMode::kSet;      // M
};

struct MetaDeleteFlags {
  bool invalidate = false;           // I: mark stale instead of removing
  std::optional<std::uint64_t> cas;  // C
};

/// Each builder appends exactly one request to `out`, with `O<opaque>` so the reply
/// can be checked against it. No quiet mode: every request gets exactly one reply.
/// The key must already be valid (validate_key); builders do not re-check.
void append_meta_get(std::string& out, std::string_view key, const MetaGetFlags& flags,
                     std::uint32_t opaque);
void append_meta_set(std::string& out, std::string_view key, std::string_view value,
                     const MetaSetFlags& flags, std::uint32_t opaque);
void append_meta_delete(std::string& out, std::string_view key, const MetaDeleteFlags& flags,
                        std::uint32_t opaque);
/// `mn\r\n`; answered with `MN\r\n`.
void append_meta_noop(std::string& out);
/// Classic `flush_all [delay]\r\n` (never noreply, so errors keep the stream in sync);
/// answered with `OK\r\n`.
void append_flush_all(std::string& out, std::uint32_t delay_seconds);
/// Classic `version\r\n`; answered with `VERSION <text>\r\n`.
void append_version(std::string& out);
/// Classic `stats\r\n`; answered with `STAT <name> <value>\r\n`... `END\r\n`.
void append_stats(std::string& out);
/// Classic `stats settings\r\n`; answered like `stats` (item_size_max is the item limit).
void append_stats_settings(std::string& out);
/// `lru_crawler metadump hash\r\n` (memcached 1.6.9+): every item, walking the hash table.
/// Not `metadump all`, which walks the LRUs and skips items the LRU maintainer moves during
/// the crawl (items read shortly before: a listing followed by reads lost most of them).
/// Answered with one `key=<uri-encoded> exp=.. la=.. cas=..
/// fetch=.. cls=.. size=..\n` line per item (a bare \n, as memcached 1.6 writes them), then
/// `END\r\n`; or `BUSY <text>\r\n` while another crawl runs.
void append_metadump_all(std::string& out);

}  // namespace llmcache::protocol
