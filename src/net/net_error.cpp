#include "net/net_error.hpp"

#include <cerrno>

namespace llmcache::net {

ProtocolError with_server(const ProtocolError& error, const ServerAddress& address) {
  const ErrorReason reason =
      error.reason() == ErrorReason::kUnspecified ? ErrorReason::kMalformedReply : error.reason();
  // Errors built here already name the server; the parser's do not.
  if (!error.server().empty()) return ProtocolError(error.what(), {reason, error.server()});
  return net_error<ProtocolError>(address, reason, error.what());
}

IoError connect_error(const ServerAddress& address, std::error_code error) {
  const bool refused = error == std::errc::connection_refused;
  const ErrorReason reason =
      refused ? ErrorReason::kConnectionRefused : ErrorReason::kConnectFailed;
  if (address.is_unix()) {
    // A local connect fails with EAGAIN (rather than waiting, as TCP does) when the
    // server's listen backlog is full.
    const std::string failure = error == std::errc::resource_unavailable_try_again
                                    ? std::string("the server's listen backlog is full")
                                    : error.message();
    return net_error<IoError>(address, reason,
                              "cannot connect: " + failure +
                                  " (is memcached listening on this socket, started with -s " +
                                  address.unix_path + "?)");
  }
  return net_error<IoError>(
      address, reason,
      "cannot connect: " + error.message() +
          (refused ? " (is memcached running there? check the server list)" : ""));
}

}  // namespace llmcache::net
