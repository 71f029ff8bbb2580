#include "protocol/meta_parser.hpp"

#include <llmcache/errors.hpp>

#include "protocol/quote.hpp"
#include "protocol/reply_lines.hpp"

#include <utility>

namespace llmcache::protocol {
namespace {

using detail::for_each_token;
using detail::malformed;
using detail::parse_number;

constexpr std::size_t npos = std::string_view::npos;

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

}  // namespace

MetaParser::MetaParser(ParserLimits limits) : limits_(limits), lines_(limits.max_line_bytes) {}

void MetaParser::feed(std::string_view bytes) {
  lines_.feed(bytes);
  if (!pending_) lines_.check_line();
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
    const std::optional<detail::Line> line = lines_.take_line();
    if (!line) return std::nullopt;
    // Listing lines are absorbed one at a time, so the buffer never holds a whole listing
    // twice; the reply they build is handed out when END arrives.
    if (absorb_listing_line(line->text, line->ended_with_cr)) continue;
    Reply reply = parse_header(line->text);
    if (listing_) {
      if (reply.status != Status::kEnd) malformed("listing interrupted before END", line->text);
      Reply listing = std::move(*listing_);
      listing_.reset();
      listing_bytes_ = 0;
      return listing;
    }
    if (reply.status != Status::kValue) return reply;
    pending_ = std::move(reply);
  }
  const std::optional<std::string_view> data = lines_.take_block(value_bytes_);
  if (!data) return std::nullopt;
  Reply reply = std::move(*pending_);
  pending_.reset();
  reply.value.assign(*data);
  return reply;
}

bool MetaParser::absorb_listing_line(std::string_view line, bool ended_with_cr) {
  const std::optional<Status> kind = detail::listing_kind(line, ended_with_cr);
  if (!kind) return false;
  if (line.find('\r') != npos) malformed("bare \\r inside a line", line);
  detail::add_listing_line(line, *kind, listing_, listing_bytes_, limits_.max_value_bytes);
  return true;
}

}  // namespace llmcache::protocol
