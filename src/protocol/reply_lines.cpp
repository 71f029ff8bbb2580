#include "protocol/reply_lines.hpp"

#include "protocol/keys.hpp"
#include "protocol/quote.hpp"

namespace llmcache::protocol::detail {
namespace {

constexpr std::size_t npos = std::string_view::npos;

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// memcached writes metadump keys %XX-encoded (uriencode), so a key with any byte outside
// [A-Za-z0-9-._~] arrives escaped.
std::string uri_decode(std::string_view text, std::string_view line) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) malformed("bad %XX in key", line);
    const int high = hex_digit(text[i + 1]);
    const int low = hex_digit(text[i + 2]);
    if (high < 0 || low < 0) malformed("bad %XX in key", line);
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

}  // namespace

MetadumpEntry parse_metadump_line(std::string_view line) {
  MetadumpEntry entry;
  bool has_key = false;
  for_each_token(line, [&](std::string_view token) {
    const std::size_t eq = token.find('=');
    if (eq == npos || eq == 0) malformed("metadump field without name=value", line);
    const std::string_view name = token.substr(0, eq);
    const std::string_view value = token.substr(eq + 1);
    if (name == "key") {
      entry.key = uri_decode(value, line);
      if (entry.key.empty() || entry.key.size() > kMaxKeyBytes) malformed("bad metadump key", line);
      has_key = true;
    } else if (name == "exp") {
      entry.exptime = parse_number<std::int64_t>(value, "bad metadump exp", line);
    } else if (name == "la") {
      entry.last_access = parse_number<std::int64_t>(value, "bad metadump la", line);
    } else if (name == "cas") {
      entry.cas = parse_number<std::uint64_t>(value, "bad metadump cas", line);
    } else if (name == "fetch") {
      if (value != "yes" && value != "no") malformed("bad metadump fetch", line);
      entry.fetched = value == "yes";
    } else if (name == "cls") {
      entry.slab_class = parse_number<std::uint32_t>(value, "bad metadump cls", line);
    } else if (name == "size") {
      entry.size = parse_number<std::uint64_t>(value, "bad metadump size", line);
    }
    // Fields added by later memcached versions (flags=...) are skipped, not rejected.
  });
  if (!has_key) malformed("metadump line without key", line);
  return entry;
}

void parse_stat_line(std::string_view line, Reply& stats) {
  const std::string_view rest = line.substr(kStatPrefix.size());
  const std::size_t space = rest.find(' ');
  if (space == 0 || rest.empty()) malformed("STAT line without a name", line);
  // A value may itself hold spaces (e.g. some builds' "STAT version 1.6.18 ..."), so
  // everything after the first space is the value.
  stats.stats.emplace_back(std::string(rest.substr(0, space)),
                           space == npos ? std::string() : std::string(rest.substr(space + 1)));
}

std::optional<Status> listing_kind(std::string_view line, bool ended_with_cr) {
  if (line.starts_with(kStatPrefix) && ended_with_cr) return Status::kStats;
  if (line.starts_with(kMetadumpPrefix)) return Status::kMetadump;
  return std::nullopt;
}

void add_listing_line(std::string_view line, Status kind, std::optional<Reply>& listing,
                      std::size_t& listing_bytes, std::size_t max_bytes) {
  if (listing && listing->status != kind) malformed("stats and metadump lines mixed", line);
  listing_bytes += line.size() + 2;
  if (listing_bytes > max_bytes) {
    malformed("listing longer than " + std::to_string(max_bytes) + " bytes", line);
  }
  if (!listing) {
    listing.emplace();
    listing->status = kind;
  }
  if (kind == Status::kStats) {
    parse_stat_line(line, *listing);
  } else {
    listing->metadump.push_back(parse_metadump_line(line));
  }
}

[[noreturn]] void malformed(std::string_view what, std::string_view bytes) {
  throw ProtocolError("malformed memcached reply: " + std::string(what) + " in " + quote(bytes),
                      {ErrorReason::kMalformedReply, {}});
}

void line_too_long(std::size_t max_line_bytes, std::string_view start) {
  throw ProtocolError("malformed memcached reply: no line end within " +
                          std::to_string(max_line_bytes) + " bytes, starting " + quote(start),
                      {ErrorReason::kMalformedReply, {}});
}

}  // namespace llmcache::protocol::detail
