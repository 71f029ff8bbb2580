#pragma once
// Resolving a server and connecting to it, written once for both connection paths, which
// differ only in how they wait: the blocking one on the caller's thread (getaddrinfo,
// poll() for the connect), the async one on Asio (its resolver thread with the same
// hints, async_wait for the connect). Why a connect failed is judged by connect_error
// (net/net_error.hpp), for both.
#include <llmcache/errors.hpp>
#include <llmcache/options.hpp>

#include <netdb.h>
#include <sys/socket.h>

#include <cstddef>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace llmcache::net {

/// One address to try, as connect() takes it.
struct Endpoint {
  sockaddr_storage address{};
  socklen_t length = 0;
  int family = AF_UNSPEC;
  int protocol = 0;
};

/// The getaddrinfo hints of every resolve: any address family, stream sockets, no flags.
addrinfo resolver_hints();

/// The endpoints to try for `address`, in order: its socket path, or what its host
/// resolves to. Blocks while the name resolves. Throws IoError kResolveFailed.
std::vector<Endpoint> resolve(const ServerAddress& address);
/// One resolved address (from getaddrinfo, or an Asio resolver using resolver_hints()).
Endpoint endpoint_of(const sockaddr* address, socklen_t length, int protocol);
/// The error for a name that did not resolve, `cause` saying why.
IoError resolve_error(const ServerAddress& address, const std::string& cause);

/// The connect sequence of one server, without waiting: its endpoints tried in turn on new
/// non-blocking sockets, remembering why the last one failed. Each path runs it the same
/// way and waits its own way when an attempt is in progress.
class Connector {
 public:
  Connector(const ServerAddress& address, std::vector<Endpoint> endpoints);

  struct Attempt {
    int fd = -1;               // the caller owns it from here
    bool in_progress = false;  // wait until fd is writable, then call connected()
    const Endpoint* endpoint = nullptr;
  };
  /// Starts a connect to the next endpoint that does not fail at once; nullopt when none
  /// is left (then error() says why). A socket that is not in progress is connected.
  std::optional<Attempt> next();
  /// After an in-progress socket became writable: true once connected; false when the
  /// connect failed (recorded; the caller closes the socket and calls next()).
  bool connected(const Attempt& attempt);
  /// Records a failure of the wait itself (an errno value).
  void failed(std::error_code error) { last_error_ = error; }
  /// Why no endpoint connected: IoError kConnectionRefused or kConnectFailed.
  IoError error() const;

 private:
  const ServerAddress* address_;
  std::vector<Endpoint> endpoints_;
  std::size_t next_ = 0;
  // getaddrinfo never answers an empty list; this stands for "no address" all the same.
  std::error_code last_error_ = std::make_error_code(std::errc::address_not_available);
};

}  // namespace llmcache::net
