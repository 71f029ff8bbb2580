#include "protocol/meta_parser.hpp"

#include <llmcache/errors.hpp>

#include "protocol/keys.hpp"
#include "protocol/quote.hpp"

#include <charconv>
#include <cstring>
#include <system_error>
#include <utility>

namespace llmcache::protocol {
namespace {

constexpr std::size_t npos = std::string_view::npos;
constexpr std::string_view kMetadumpPrefix = "key=";
constexpr std::string_view kStatPrefix = "STAT ";

// A buffer that once held a huge value should not pin that memory for the life of the
// connection; below this it is kept to avoid reallocating for every ordinary value.
constexpr std::size_t kRetainedCapacity = 1u << 20;

[[noreturn]] void malformed(std::string_view what, std::string_view bytes) {
  throw ProtocolError("malformed memcached reply: " + std::string(what) + " in " + quote(bytes),
                      {ErrorReason::kMalformedReply, {}});
}

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
    if (space == npos) space = text.size();
    const std::string_view token = text.substr(pos, space - pos);
    pos = space + 1;
    if (!token.empty()) f(token);
  }
}

void parse_flags(std::string_view flags, std::string_view line, Reply& reply) {
  for_each_token(flags, [&](std::string_view token) {
    const std::string_view arg = token.substr(1);
    switch (token[0]) {
      case 'O':
        reply.opaque = parse_number<std::uint32_t>(arg, "bad O (opaque) flag", line);
        break;
      case 'f':
        reply.client_flags = parse_number<std::uint32_t>(arg, "bad f (client flags) flag", line);
        break;
      case 'c':
        reply.cas = parse_number<std::uint64_t>(arg, "bad c (CAS) flag", line);
        break;
      case 't':
        reply.ttl = parse_number<std::int64_t>(arg, "bad t (TTL) flag", line);
        break;
      case 'W':
      case 'X':
      case 'Z':
        if (!arg.empty()) malformed("W/X/Z flag with a token", line);
        (token[0] == 'W' ? reply.won : token[0] == 'X' ? reply.stale : reply.already_won) = true;
        break;
      default: {
        // Other flags (k, s, b, h, l, ...) carry nothing the client uses, but a token that
        // does not even start with a letter means the stream is out of sync.
        const char c = token[0];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) malformed("bad flag", line);
      }
    }
  });
}

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

}  // namespace

MetaParser::MetaParser(ParserLimits limits) : limits_(limits) {}

void MetaParser::compact() {
  if (consumed_ == 0) return;
  if (consumed_ == buffer_.size()) {
    if (buffer_.capacity() > kRetainedCapacity) {
      std::string().swap(buffer_);
    } else {
      buffer_.clear();
    }
  } else {
    // Only the unfinished reply is moved, and each byte at most once or twice: cheaper
    // than letting consumed replies pile up in front of it.
    buffer_.erase(0, consumed_);
    if (buffer_.capacity() > kRetainedCapacity && buffer_.capacity() > 4 * buffer_.size()) {
      buffer_.shrink_to_fit();
    }
  }
  consumed_ = 0;
}

void MetaParser::feed(std::string_view bytes) {
  compact();
  buffer_.append(bytes);
  // Checked here and not only in next(), so a peer sending an endless line is cut off
  // even by a caller that feeds several times before draining.
  if (!pending_) find_line_end();
}

std::size_t MetaParser::find_line_end() {
  const std::size_t start = consumed_;
  const std::size_t from = start + scanned_;
  const char* base = buffer_.data();
  const void* hit =
      from < buffer_.size() ? std::memchr(base + from, '\n', buffer_.size() - from) : nullptr;
  if (hit == nullptr) {
    scanned_ = buffer_.size() - start;
    // A trailing '\r' may still become the line end, so it does not count yet.
    const std::size_t line_bytes = scanned_ - (scanned_ > 0 && buffer_.back() == '\r' ? 1 : 0);
    if (line_bytes > limits_.max_line_bytes) {
      throw ProtocolError("malformed memcached reply: no line end within " +
                              std::to_string(limits_.max_line_bytes) + " bytes, starting " +
                              quote(std::string_view(base + start, line_bytes)),
                          {ErrorReason::kMalformedReply, {}});
    }
    return npos;
  }
  const std::size_t end = static_cast<std::size_t>(static_cast<const char*>(hit) - base);
  const std::string_view line(base + start, end - start);
  // memcached 1.6 ends metadump lines with a bare \n; nothing else may.
  const bool crlf = end > start && base[end - 1] == '\r';
  if (!crlf && !line.starts_with(kMetadumpPrefix)) malformed("line ends with a bare \\n", line);
  if (end - (crlf ? 1 : 0) - start > limits_.max_line_bytes) {
    malformed("line longer than " + std::to_string(limits_.max_line_bytes) + " bytes", line);
  }
  return end;
}

Reply MetaParser::parse_header(std::string_view line) {
  if (line.find('\r') != npos) malformed("bare \\r inside a line", line);
  const std::size_t space = line.find(' ');
  const std::string_view code = line.substr(0, space);
  const std::string_view rest = space == npos ? std::string_view() : line.substr(space + 1);

  Reply reply;
  if (code.size() == 2) {
    if (code == "VA") {
      reply.status = Status::kValue;
      const std::size_t end = rest.find(' ');
      value_bytes_ = parse_number<std::size_t>(rest.substr(0, end), "bad VA length", line);
      if (value_bytes_ > limits_.max_value_bytes) {
        malformed(
            "VA length above the limit of " + std::to_string(limits_.max_value_bytes) + " bytes",
            line);
      }
      if (end != npos) parse_flags(rest.substr(end + 1), line, reply);
      return reply;
    }
    if (code == "HD") {
      reply.status = Status::kHeaderOnly;
    } else if (code == "EN") {
      reply.status = Status::kMiss;
    } else if (code == "NF") {
      reply.status = Status::kNotFound;
    } else if (code == "NS") {
      reply.status = Status::kNotStored;
    } else if (code == "EX") {
      reply.status = Status::kExists;
    } else if (code == "MN") {
      reply.status = Status::kNoop;
    } else if (code == "OK" && space == npos) {
      reply.status = Status::kOk;
      return reply;
    } else {
      malformed("unknown reply code", line);
    }
    parse_flags(rest, line, reply);
    return reply;
  }
  if (code == "END" && space == npos) {
    reply.status = Status::kEnd;
    return reply;
  }
  if (code == "VERSION") {
    reply.status = Status::kVersion;
  } else if (code == "BUSY") {
    reply.status = Status::kBusy;
  } else if (code == "SERVER_ERROR") {
    reply.status = Status::kServerError;
  } else if (code == "CLIENT_ERROR") {
    reply.status = Status::kClientError;
  } else if (code == "ERROR") {
    reply.status = Status::kError;
  } else {
    malformed("unknown reply code", line);
  }
  reply.message.assign(rest);
  return reply;
}

std::optional<Reply> MetaParser::next() {
  while (!pending_) {
    const std::size_t end = find_line_end();
    if (end == npos) return std::nullopt;
    const bool crlf = buffer_[end - 1] == '\r';
    const std::string_view line(buffer_.data() + consumed_, end - (crlf ? 1 : 0) - consumed_);
    // Listing lines are absorbed one at a time, so the buffer never holds a whole listing
    // twice; the reply they build is handed out when END arrives.
    if (absorb_listing_line(line, crlf)) {
      consumed_ = end + 1;
      scanned_ = 0;
      continue;
    }
    Reply reply = parse_header(line);
    consumed_ = end + 1;
    scanned_ = 0;
    if (listing_) {
      if (reply.status != Status::kEnd) malformed("listing interrupted before END", line);
      Reply listing = std::move(*listing_);
      listing_.reset();
      listing_bytes_ = 0;
      return listing;
    }
    if (reply.status != Status::kValue) return reply;
    pending_ = std::move(reply);
  }
  const std::size_t available = buffer_.size() - consumed_;
  const char* data = buffer_.data() + consumed_;
  // The terminator is checked as soon as its first byte arrives, not when it is complete.
  if (available > value_bytes_ && data[value_bytes_] != '\r') {
    malformed("data block not followed by \\r\\n", std::string_view(data + value_bytes_, 1));
  }
  if (available < value_bytes_ + 2) return std::nullopt;
  if (data[value_bytes_ + 1] != '\n') {
    malformed("data block not followed by \\r\\n", std::string_view(data + value_bytes_, 2));
  }
  Reply reply = std::move(*pending_);
  pending_.reset();
  reply.value.assign(data, value_bytes_);
  consumed_ += value_bytes_ + 2;
  return reply;
}

bool MetaParser::absorb_listing_line(std::string_view line, bool ended_with_cr) {
  Status kind;
  if (line.starts_with(kStatPrefix) && ended_with_cr) {
    kind = Status::kStats;
  } else if (line.starts_with(kMetadumpPrefix)) {
    kind = Status::kMetadump;
  } else {
    return false;
  }
  if (line.find('\r') != npos) malformed("bare \\r inside a line", line);
  if (listing_ && listing_->status != kind) malformed("stats and metadump lines mixed", line);
  listing_bytes_ += line.size() + 2;
  if (listing_bytes_ > limits_.max_value_bytes) {
    malformed("listing longer than " + std::to_string(limits_.max_value_bytes) + " bytes", line);
  }
  if (!listing_) {
    listing_.emplace();
    listing_->status = kind;
  }
  if (kind == Status::kStats) {
    const std::string_view rest = line.substr(kStatPrefix.size());
    const std::size_t space = rest.find(' ');
    if (space == 0 || rest.empty()) malformed("STAT line without a name", line);
    // A value may itself hold spaces (e.g. some builds' "STAT version 1.6.18 ..."), so
    // everything after the first space is the value.
    listing_->stats.emplace_back(
        std::string(rest.substr(0, space)),
        space == npos ? std::string() : std::string(rest.substr(space + 1)));
  } else {
    listing_->metadump.push_back(parse_metadump_line(line));
  }
  return true;
}

}  // namespace llmcache::protocol
