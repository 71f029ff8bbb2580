#pragma once
// Bytes from the wire or from a caller, made safe to put in an error message.
#include <string>
#include <string_view>

namespace llmcache::protocol {

/// `bytes` in single quotes, at most 64 of them, anything but printable ASCII as \xNN:
/// a hostile or corrupt stream must not put control characters or megabytes into a log line.
std::string quote(std::string_view bytes);

}  // namespace llmcache::protocol
