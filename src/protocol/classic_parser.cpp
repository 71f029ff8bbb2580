#include "protocol/classic_parser.hpp"

#include <llmcache/errors.hpp>

#include "protocol/keys.hpp"
#include "protocol/reply_lines.hpp"

#include <utility>

namespace llmcache::protocol {
namespace {

using detail::malformed;
using detail::parse_number;

constexpr std::size_t npos = std::string_view::npos;
constexpr std::string_view kValuePrefix = "VALUE ";

// Codes that are the whole line, and the status each means.
struct Code {
  std::string_view text;
  Status status;
};
constexpr Code kBareCodes[] = {
    {"STORED", Status::kHeaderOnly},
    {"DELETED", Status::kHeaderOnly},
    {"TOUCHED", Status::kHeaderOnly},
    {"NOT_STORED", Status::kNotStored},
    {"EXISTS", Status::kExists},
    {"NOT_FOUND", Status::kNotFound},
    {"OK", Status::kOk},
    {"END", Status::kEnd},
    {"ERROR", Status::kError},
};
// Codes followed by a message.
constexpr Code kMessageCodes[] = {
    {"VERSION", Status::kVersion},
    {"CLIENT_ERROR", Status::kClientError},
    {"SERVER_ERROR", Status::kServerError},
    {"BUSY", Status::kBusy},
    {"ERROR", Status::kError},  // some servers and proxies add a reason
};

}  // namespace

ClassicParser::ClassicParser(ParserLimits limits)
    : limits_(limits), lines_(limits.max_line_bytes) {}

void ClassicParser::feed(std::string_view bytes) {
  lines_.feed(bytes);
  if (!in_data_) lines_.check_line();
}

void ClassicParser::start_value(std::string_view line) {
  // VALUE <key> <flags> <bytes> [<cas>]
  std::string_view fields[5];
  std::size_t count = 0;
  detail::for_each_token(line.substr(kValuePrefix.size()), [&](std::string_view token) {
    if (count == 4) malformed("VALUE line with too many fields", line);
    fields[count++] = token;
  });
  if (count < 3) malformed("VALUE line with too few fields", line);
  ClassicValue value;
  if (fields[0].size() > kMaxKeyBytes) malformed("VALUE key longer than 250 bytes", line);
  for (const char c : fields[0]) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) malformed("bad VALUE key", line);
  }
  value.key.assign(fields[0]);
  value.client_flags = parse_number<std::uint32_t>(fields[1], "bad VALUE flags", line);
  value_bytes_ = parse_number<std::size_t>(fields[2], "bad VALUE length", line);
  if (count == 4) value.cas = parse_number<std::uint64_t>(fields[3], "bad VALUE CAS", line);
  if (value_bytes_ > limits_.max_value_bytes - get_bytes_) {
    malformed(
        "get reply larger than the limit of " + std::to_string(limits_.max_value_bytes) + " bytes",
        line);
  }
  get_bytes_ += value_bytes_;
  if (!get_) {
    get_.emplace();
    get_->status = Status::kValue;
  }
  get_->values.push_back(std::move(value));
  in_data_ = true;
}

std::optional<Reply> ClassicParser::parse_line(std::string_view line, bool ended_with_cr) {
  if (line.find('\r') != npos) malformed("bare \\r inside a line", line);
  if (const std::optional<Status> kind = detail::listing_kind(line, ended_with_cr)) {
    if (get_) malformed("listing line inside a get reply", line);
    detail::add_listing_line(line, *kind, listing_, listing_bytes_, limits_.max_value_bytes);
    return std::nullopt;
  }
  if (line.starts_with(kValuePrefix)) {
    if (listing_) malformed("VALUE inside a listing", line);
    start_value(line);
    return std::nullopt;
  }

  Reply reply;
  const std::size_t space = line.find(' ');
  const std::string_view code = line.substr(0, space);
  bool known = false;
  if (space == npos) {
    for (const Code& bare : kBareCodes) {
      if (code == bare.text) {
        reply.status = bare.status;
        known = true;
        break;
      }
    }
  }
  if (!known) {
    for (const Code& with_message : kMessageCodes) {
      if (code == with_message.text) {
        reply.status = with_message.status;
        if (space != npos) reply.message.assign(line.substr(space + 1));
        known = true;
        break;
      }
    }
  }
  if (!known) malformed("unknown reply code", line);

  if (get_ || listing_) {
    // Only END closes a get or a listing: anything else leaves the stream's position
    // uncertain (a server that gave up halfway, or a reply to something else).
    if (reply.status != Status::kEnd) {
      malformed(get_ ? "get reply interrupted before END" : "listing interrupted before END", line);
    }
    std::optional<Reply> whole = get_ ? std::move(get_) : std::move(listing_);
    get_.reset();
    listing_.reset();
    get_bytes_ = 0;
    listing_bytes_ = 0;
    return whole;
  }
  return reply;
}

std::optional<Reply> ClassicParser::next() {
  while (true) {
    if (in_data_) {
      const std::optional<std::string_view> data = lines_.take_block(value_bytes_);
      if (!data) return std::nullopt;
      get_->values.back().data.assign(*data);
      in_data_ = false;
      continue;
    }
    const std::optional<detail::Line> line = lines_.take_line();
    if (!line) return std::nullopt;
    if (std::optional<Reply> reply = parse_line(line->text, line->ended_with_cr)) return reply;
  }
}

}  // namespace llmcache::protocol
