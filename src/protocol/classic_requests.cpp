#include "protocol/classic_requests.hpp"

#include "protocol/reply_lines.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <functional>
#include <optional>
#include <utility>

namespace llmcache::protocol {
namespace {

constexpr std::string_view kGet = "get";
constexpr std::string_view kLineEnd = "\r\n";

void append_number(std::string& out, std::uint64_t value) {
  char buf[1 + 20];
  buf[0] = ' ';
  const auto result = std::to_chars(buf + 1, buf + sizeof buf, value);
  out.append(buf, result.ptr);
}

}  // namespace

void append_classic_get(std::string& out, std::span<const std::string_view> keys, bool cas) {
  out += cas ? "gets" : "get";
  for (const std::string_view key : keys) {
    out += ' ';
    out += key;
  }
  out += kLineEnd;
}

std::vector<std::size_t> split_classic_get(std::span<const std::string_view> keys,
                                           std::size_t max_line_bytes) {
  std::vector<std::size_t> counts;
  // "gets" is one byte longer than "get": counting it keeps both under the limit.
  const std::size_t empty_line = kGet.size() + 1 + kLineEnd.size();
  std::size_t line = empty_line;
  std::size_t count = 0;
  for (const std::string_view key : keys) {
    const std::size_t grow = 1 + key.size();
    if (count > 0 && line + grow > max_line_bytes) {
      counts.push_back(count);
      line = empty_line;
      count = 0;
    }
    line += grow;
    ++count;
  }
  if (count > 0) counts.push_back(count);
  return counts;
}

namespace {

// Which of a request's keys have been answered: a bit each, on the stack for the usual
// batch and in a vector past 64 keys.
class AnsweredKeys {
 public:
  bool test(std::size_t index) const {
    if (index < 64) return (small_ >> index & 1u) != 0;
    return index - 64 < large_.size() && large_[index - 64];
  }
  void set(std::size_t index) {
    if (index < 64) {
      small_ |= std::uint64_t{1} << index;
      return;
    }
    if (large_.size() <= index - 64) large_.resize(index - 64 + 1);
    large_[index - 64] = true;
  }

 private:
  std::uint64_t small_ = 0;
  std::vector<bool> large_;
};

}  // namespace

bool pair_classic_items(std::string_view request, std::span<const ClassicValue> items,
                        std::span<std::size_t> key_of_item) {
  const std::string_view line = request.substr(0, request.find(kLineEnd));
  const std::size_t command_end = line.find(' ');
  if (command_end == std::string_view::npos) return items.empty();
  const std::string_view keys = line.substr(command_end + 1);
  AnsweredKeys answered;
  // The search for each item starts after the key the previous one matched: a server that
  // keeps the request's order (memcached does) is paired in one pass over the keys.
  std::size_t pos = 0;
  std::size_t index = 0;
  for (std::size_t n = 0; n < items.size(); ++n) {
    const std::string_view key = items[n].key;
    bool found = false;
    for (int pass = 0; pass < 2 && !found; ++pass) {
      if (pass == 1) pos = index = 0;  // wrap around once
      while (pos < keys.size()) {
        std::size_t end = keys.find(' ', pos);
        if (end == std::string_view::npos) end = keys.size();
        const std::string_view asked = keys.substr(pos, end - pos);
        const std::size_t asked_index = index++;
        pos = end + 1;
        if (asked == key && !answered.test(asked_index)) {
          answered.set(asked_index);
          if (!key_of_item.empty()) key_of_item[n] = asked_index;
          found = true;
          break;
        }
      }
    }
    if (!found) return false;
  }
  return true;
}

namespace {

// The command ("get" or "gets") and the keys of a one-line get request, or nullopt.
struct GetLine {
  std::string_view command;
  std::string_view keys;
};
std::optional<GetLine> get_line(std::string_view request) {
  if (!request.ends_with(kLineEnd)) return std::nullopt;
  const std::string_view line = request.substr(0, request.size() - kLineEnd.size());
  const std::size_t space = line.find(' ');
  if (space == std::string_view::npos || space + 1 == line.size()) return std::nullopt;
  const std::string_view command = line.substr(0, space);
  if (command != "get" && command != "gets") return std::nullopt;
  const std::string_view keys = line.substr(space + 1);
  if (keys.find('\r') != std::string_view::npos || keys.find('\n') != std::string_view::npos) {
    return std::nullopt;
  }
  return GetLine{command, keys};
}

bool has_key(std::string_view keys, std::string_view key) {
  for (std::size_t pos = keys.find(key); pos != std::string_view::npos;
       pos = keys.find(key, pos + 1)) {
    const std::size_t end = pos + key.size();
    if ((pos == 0 || keys[pos - 1] == ' ') && (end == keys.size() || keys[end] == ' ')) {
      return true;
    }
  }
  return false;
}

}  // namespace

bool ClassicGetMerge::start(std::string_view request) {
  const std::optional<GetLine> line = get_line(request);
  if (!line || line->keys.find(' ') != std::string_view::npos) return false;
  gets_ = line->command.size() == 4;
  keys_ = 1;
  std::fill(std::begin(seen_), std::end(seen_), 0);
  remember(line->keys);
  return true;
}

bool ClassicGetMerge::may_hold(std::string_view key) const {
  const std::size_t hash = std::hash<std::string_view>{}(key);
  return (seen_[hash >> 6 & 3] >> (hash & 63) & 1) != 0;
}

void ClassicGetMerge::remember(std::string_view key) {
  const std::size_t hash = std::hash<std::string_view>{}(key);
  seen_[hash >> 6 & 3] |= std::uint64_t{1} << (hash & 63);
}

std::string_view ClassicGetMerge::merge(std::string& into, std::string_view single,
                                        std::size_t max_line_bytes, std::size_t max_keys) {
  if (keys_ >= max_keys) return {};
  const std::optional<GetLine> add = get_line(single);
  if (!add || add->keys.find(' ') != std::string_view::npos) return {};
  if ((add->command.size() == 4) != gets_) return {};
  if (into.size() + 1 + add->keys.size() > max_line_bytes) return {};
  if (may_hold(add->keys)) {
    const std::size_t command_end = add->command.size() + 1;
    const std::string_view keys =
        std::string_view(into).substr(command_end, into.size() - command_end - kLineEnd.size());
    if (has_key(keys, add->keys)) return {};
  }
  into.insert(into.size() - kLineEnd.size(), 1, ' ');
  into.insert(into.size() - kLineEnd.size(), add->keys);
  remember(add->keys);
  ++keys_;
  return add->keys;
}

std::vector<Reply> split_classic_get_reply(Reply reply, std::string_view request) {
  const std::optional<GetLine> line = get_line(request);
  std::size_t keys = 0;
  if (line) {
    for (std::size_t pos = 0; pos != std::string_view::npos; pos = line->keys.find(' ', pos + 1)) {
      ++keys;
    }
  }
  if (reply.status != Status::kValue && reply.status != Status::kEnd) {
    return std::vector<Reply>(keys, reply);
  }
  std::vector<Reply> replies(keys);
  for (Reply& alone : replies) alone.status = Status::kEnd;
  std::vector<std::size_t> key_of_item(reply.values.size());
  if (!line || !pair_classic_items(request, reply.values, key_of_item)) {
    detail::malformed("get reply that does not answer the merged request", request);
  }
  for (std::size_t n = 0; n < reply.values.size(); ++n) {
    Reply& alone = replies[key_of_item[n]];
    alone.status = Status::kValue;
    alone.values.push_back(std::move(reply.values[n]));
  }
  return replies;
}

void append_classic_store(std::string& out, ClassicStore command, std::string_view key,
                          std::string_view value, std::uint32_t client_flags,
                          std::uint32_t exptime) {
  out.reserve(out.size() + key.size() + value.size() + 64);
  out += command == ClassicStore::kAdd ? "add " : "set ";
  out += key;
  append_number(out, client_flags);
  append_number(out, exptime);
  append_number(out, value.size());
  out += kLineEnd;
  out += value;
  out += kLineEnd;
}

void append_classic_delete(std::string& out, std::string_view key) {
  out += "delete ";
  out += key;
  out += kLineEnd;
}

void append_classic_touch(std::string& out, std::string_view key, std::uint32_t exptime) {
  out += "touch ";
  out += key;
  append_number(out, exptime);
  out += kLineEnd;
}

}  // namespace llmcache::protocol
