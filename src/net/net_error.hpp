#pragma once
// The one way src/net/ builds its exceptions: "memcached <server>: <text>", with the typed
// details (why, and which server) that callers read instead of the text. Both connection
// paths use it, so the same failure carries the same reason whichever path saw it.
#include <llmcache/errors.hpp>
#include <llmcache/options.hpp>

#include <exception>
#include <string>
#include <string_view>
#include <system_error>

namespace llmcache::net {

template <class E>
[[nodiscard]] E net_error(const ServerAddress& address, ErrorReason reason, std::string_view text) {
  return E("memcached " + address.name() + ": " + std::string(text), {reason, address.name()});
}

template <class E>
[[nodiscard]] std::exception_ptr net_failure(const ServerAddress& address, ErrorReason reason,
                                             std::string_view text) {
  return std::make_exception_ptr(net_error<E>(address, reason, text));
}

/// A ProtocolError the parser raised (it knows no server), given the server and a reason.
[[nodiscard]] ProtocolError with_server(const ProtocolError& error, const ServerAddress& address);

/// Why a connect failed, judged in one place for both paths from the error the socket gave
/// (an errno value, as std::error_code): refused or otherwise, with the hint that fits.
[[nodiscard]] IoError connect_error(const ServerAddress& address, std::error_code error);

}  // namespace llmcache::net
