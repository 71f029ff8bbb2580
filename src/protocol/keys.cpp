#include "protocol/keys.hpp"

#include <llmcache/errors.hpp>

#include "protocol/quote.hpp"

#include <string>

namespace llmcache::protocol {

void validate_key(std::string_view key) {
  if (key.empty()) throw InvalidArgumentError("memcached key is empty");
  if (key.size() > kMaxKeyBytes) {
    throw InvalidArgumentError("memcached key is " + std::to_string(key.size()) +
                               " bytes; the limit is " + std::to_string(kMaxKeyBytes));
  }
  for (std::size_t i = 0; i < key.size(); ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    if (c <= 0x20 || c == 0x7f) {
      throw InvalidArgumentError("memcached key " + quote(key) +
                                 " has a space or control byte at offset " + std::to_string(i));
    }
  }
}

}  // namespace llmcache::protocol
