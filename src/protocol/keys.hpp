#pragma once
// What memcached accepts as a key.
#include <cstddef>
#include <string_view>

namespace llmcache::protocol {

/// The largest key memcached accepts.
inline constexpr std::size_t kMaxKeyBytes = 250;

/// Throws InvalidArgumentError unless `key` is 1..250 bytes with no space or control
/// character (bytes <= 0x20 and 0x7f).
void validate_key(std::string_view key);

}  // namespace llmcache::protocol
