#include "protocol/classic_requests.hpp"

#include <charconv>

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
