#include "protocol/quote.hpp"

namespace llmcache::protocol {

std::string quote(std::string_view bytes) {
  constexpr std::size_t kMaxQuoted = 64;
  constexpr char kHex[] = "0123456789abcdef";
  std::string out = "'";
  for (std::size_t i = 0; i < bytes.size() && i < kMaxQuoted; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  out += bytes.size() > kMaxQuoted ? "'..." : "'";
  return out;
}

}  // namespace llmcache::protocol
