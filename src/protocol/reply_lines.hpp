#pragma once
// What the meta and classic reply parsers share: reporting a malformed reply, numbers and
// tokens of a line, and the lines of the listings (stats, lru_crawler metadump) both read.
// Their buffer of received bytes is protocol/line_buffer.hpp.
#include <llmcache/errors.hpp>

#include "protocol/meta_parser.hpp"

#include <charconv>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace llmcache::protocol::detail {

inline constexpr std::string_view kMetadumpPrefix = "key=";
inline constexpr std::string_view kStatPrefix = "STAT ";

/// Throws ProtocolError kMalformedReply naming `what` and (quoted) `bytes`.
[[noreturn]] void malformed(std::string_view what, std::string_view bytes);

template <typename T>
T parse_number(std::string_view text, std::string_view what, std::string_view line) {
  T value{};
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end) malformed(what, line);
  return value;
}

/// Calls `f` on each space-separated token. memcached separates with one space, but a
/// doubled one loses nothing.
template <class F>
void for_each_token(std::string_view text, F f) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t space = text.find(' ', pos);
    if (space == std::string_view::npos) space = text.size();
    const std::string_view token = text.substr(pos, space - pos);
    pos = space + 1;
    if (!token.empty()) f(token);
  }
}

/// kStats for a `STAT ` line ended with \r\n, kMetadump for a `key=` line (memcached ends
/// those with a bare \n), nullopt for any other line.
std::optional<Status> listing_kind(std::string_view line, bool ended_with_cr);

/// Adds `line`, of listing_kind `kind`, to `listing` (started if empty), counting its bytes
/// in `listing_bytes`. Throws ProtocolError when stats and metadump lines mix or the listing
/// passes `max_bytes`.
void add_listing_line(std::string_view line, Status kind, std::optional<Reply>& listing,
                      std::size_t& listing_bytes, std::size_t max_bytes);

/// One `key=... exp=... ...` line of lru_crawler metadump.
MetadumpEntry parse_metadump_line(std::string_view line);

/// One `STAT <name> <value>` line (without its \r\n), added to `stats`.
void parse_stat_line(std::string_view line, Reply& stats);

/// The error thrown when no line end came within `max_line_bytes`.
[[noreturn]] void line_too_long(std::size_t max_line_bytes, std::string_view start);

}  // namespace llmcache::protocol::detail
