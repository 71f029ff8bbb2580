#include "protocol/meta_requests.hpp"

#include <charconv>

namespace llmcache::protocol {
namespace {

void append_flag(std::string& out, char letter) {
  const char flag[2] = {' ', letter};
  out.append(flag, 2);
}

template <typename T>
void append_flag(std::string& out, char letter, T value) {
  char buf[2 + 20];
  buf[0] = ' ';
  buf[1] = letter;
  const auto result = std::to_chars(buf + 2, buf + sizeof buf, value);
  out.append(buf, result.ptr);
}

void append_number(std::string& out, std::size_t value) {
  char buf[1 + 20];
  buf[0] = ' ';
  const auto result = std::to_chars(buf + 1, buf + sizeof buf, value);
  out.append(buf, result.ptr);
}

void append_command(std::string& out, std::string_view command, std::string_view key) {
  out += command;
  out += ' ';
  out += key;
}

void append_opaque_and_end(std::string& out, std::uint32_t opaque) {
  append_flag(out, 'O', opaque);
  out += "\r\n";
}

}  // namespace

void append_meta_get(std::string& out, std::string_view key, const MetaGetFlags& flags,
                     std::uint32_t opaque) {
  append_command(out, "mg", key);
  if (flags.value) append_flag(out, 'v');
  if (flags.client_flags) append_flag(out, 'f');
  if (flags.cas) append_flag(out, 'c');
  if (flags.ttl) append_flag(out, 't');
  if (flags.vivify_ttl) append_flag(out, 'N', *flags.vivify_ttl);
  if (flags.recache_ttl) append_flag(out, 'R', *flags.recache_ttl);
  if (flags.touch_ttl) append_flag(out, 'T', *flags.touch_ttl);
  append_opaque_and_end(out, opaque);
}

void append_meta_set(std::string& out, std::string_view key, std::string_view value,
                     const MetaSetFlags& flags, std::uint32_t opaque) {
  out.reserve(out.size() + key.size() + value.size() + 96);
  append_command(out, "ms", key);
  append_number(out, value.size());
  // F0 and T0 are memcached's defaults, so they are left out.
  if (flags.client_flags != 0) append_flag(out, 'F', flags.client_flags);
  if (flags.ttl != 0) append_flag(out, 'T', flags.ttl);
  if (flags.cas) append_flag(out, 'C', *flags.cas);
  if (flags.invalidate) append_flag(out, 'I');
  if (flags.return_cas) append_flag(out, 'c');
  switch (flags.mode) {
    case SetMode::kSet:
      break;  // S is the default
    case SetMode::kAdd:
      out += " ME";
      break;
    case SetMode::kReplace:
      out += " MR";
      break;
    case SetMode::kAppend:
      out += " MA";
      break;
    case SetMode::kPrepend:
      out += " MP";
      break;
  }
  append_opaque_and_end(out, opaque);
  out += value;
  out += "\r\n";
}

void append_meta_delete(std::string& out, std::string_view key, const MetaDeleteFlags& flags,
                        std::uint32_t opaque) {
  append_command(out, "md", key);
  if (flags.cas) append_flag(out, 'C', *flags.cas);
  if (flags.invalidate) append_flag(out, 'I');
  append_opaque_and_end(out, opaque);
}

void append_meta_noop(std::string& out) {
  out += "mn\r\n";
}

void append_flush_all(std::string& out, std::uint32_t delay_seconds) {
  out += "flush_all";
  append_number(out, delay_seconds);
  out += "\r\n";
}

void append_version(std::string& out) {
  out += "version\r\n";
}

void append_stats(std::string& out) {
  out += "stats\r\n";
}

void append_stats_settings(std::string& out) {
  out += "stats settings\r\n";
}

void append_metadump_all(std::string& out) {
  out += "lru_crawler metadump hash\r\n";
}

}  // namespace llmcache::protocol
