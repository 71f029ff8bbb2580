#pragma once
// memcached's classic text protocol's requests as bytes, for servers and proxies that do
// not speak meta. Pure: no sockets, no clocks. Replies are read by
// protocol/classic_parser.hpp. flush_all and version are the same bytes in both protocols:
// protocol/meta_requests.hpp builds them.
#include "protocol/keys.hpp"
#include "protocol/meta_parser.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace llmcache::protocol {

/// twemproxy and mcrouter refuse longer request lines; memcached itself takes 2048 bytes
/// per key and far longer lines. A get of several keys is split to stay under this.
inline constexpr std::size_t kClassicGetLineLimit = 16 * 1024;
/// The most single-key gets ClassicGetMerge joins into one line. A merged line's gets all
/// wait for its last item, so one line holding every get in flight makes client and server
/// take turns: with 100 callbacks in flight against memcached, one line of ~100 keys ran
/// 1.27-1.34x slower than meta, lines of at most 4 to 64 keys 0.96-1.14x (issue 16). Of
/// 8, 16 and 32, 32 cost memcached the least CPU per key (fewest lines to write).
inline constexpr std::size_t kClassicMergedGetKeys = 32;

enum class ClassicStore { kSet, kAdd };

/// Each builder appends exactly one request, never `noreply`: every request gets exactly
/// one reply, so an error cannot shift the stream. Keys must already be valid
/// (validate_key); builders do not re-check.
///
/// `get <key>*\r\n` (`gets` with `cas`): answered with a VALUE block per hit, then END.
/// The caller keeps the line under its limit (split_classic_get).
void append_classic_get(std::string& out, std::span<const std::string_view> keys, bool cas = false);
/// The key counts of consecutive get requests that cover `keys` in order, each request
/// line (`get`, the keys, \r\n) at most `max_line_bytes` long; a key too long to share a
/// line gets a request of its own.
std::vector<std::size_t> split_classic_get(std::span<const std::string_view> keys,
                                           std::size_t max_line_bytes = kClassicGetLineLimit);
/// Pairs the items of a classic get reply with the keys of the request they answer
/// (`request`: the bytes append_classic_get wrote). A server answers hits only, each with
/// its key, in an order a proxy need not keep (twemproxy merges its backends' replies), so
/// items are paired by key. Returns false when an item is for a key the request did not
/// ask for, or one more time than it was asked: the reply answers another request (a
/// stream out of step, or a hostile server). Otherwise, when `key_of_item` is not empty
/// (it then has items.size() entries), writes there the index of each item's key among
/// the request's keys.
bool pair_classic_items(std::string_view request, std::span<const ClassicValue> items,
                        std::span<std::size_t> key_of_item = {});
/// Single-key gets merged into one request line as they are queued. memcached (1.6.18
/// measured) answers every get request with a write of its own, so pipelined single-key
/// gets cost it a sendmsg each, where a multi-key get costs one in all. The line itself
/// is kept by the caller (`into`); this remembers what merging needs without rescanning
/// it, so each merge costs the length of the key merged.
class ClassicGetMerge {
 public:
  /// Starts a new line with `request`: true when it is a get (or gets) of exactly one key
  /// as append_classic_get writes it, so that others may join it.
  bool start(std::string_view request);
  /// Appends the key of `single`, a get of one key like the one start() took, to `into`
  /// (that request's bytes, merged into so far) and returns it; or returns an empty view,
  /// `into` unchanged, when `single` is not such a get, its command differs, the line
  /// already asks for its key (a proxy may fold repeated keys into one answer), the line
  /// would pass `max_line_bytes`, or it already holds `max_keys` keys.
  std::string_view merge(std::string& into, std::string_view single,
                         std::size_t max_line_bytes = kClassicGetLineLimit,
                         std::size_t max_keys = kClassicMergedGetKeys);

 private:
  bool may_hold(std::string_view key) const;
  void remember(std::string_view key);

  bool gets_ = false;
  std::size_t keys_ = 0;  // on the line
  // A filter of the keys on the line (a hit is confirmed on the line itself).
  std::uint64_t seen_[4] = {};
};
/// The replies that the gets merged by ClassicGetMerge into `request` would have had
/// alone, one per key of `request` in its order: kValue with that key's item, or kEnd
/// (a miss). An error reply answers each of them. `reply` must have passed
/// pair_classic_items against `request` (check_answers does that); throws ProtocolError
/// kMalformedReply otherwise.
std::vector<Reply> split_classic_get_reply(Reply reply, std::string_view request);
/// `set|add <key> <flags> <exptime> <bytes>\r\n<data>\r\n`; answered STORED or NOT_STORED.
/// `exptime` as memcached reads it: 0 never expires, up to 30 days is relative, larger is
/// a unix time (the meta T flag reads it the same way).
void append_classic_store(std::string& out, ClassicStore command, std::string_view key,
                          std::string_view value, std::uint32_t client_flags,
                          std::uint32_t exptime);
/// `delete <key>\r\n`; answered DELETED or NOT_FOUND.
void append_classic_delete(std::string& out, std::string_view key);
/// `touch <key> <exptime>\r\n`; answered TOUCHED or NOT_FOUND.
void append_classic_touch(std::string& out, std::string_view key, std::uint32_t exptime);

}  // namespace llmcache::protocol
