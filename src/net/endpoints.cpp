#include "net/endpoints.hpp"

#include "net/net_error.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace llmcache::net {
namespace {

struct AddrInfo {
  addrinfo* list = nullptr;
  ~AddrInfo() {
    if (list) ::freeaddrinfo(list);
  }
};

Endpoint unix_endpoint(const std::string& path) {
  Endpoint endpoint;
  sockaddr_un where{};
  where.sun_family = AF_UNIX;
  // parse_server refused paths that do not fit, with the terminating NUL.
  std::memcpy(where.sun_path, path.c_str(), path.size() + 1);
  std::memcpy(&endpoint.address, &where, sizeof where);
  endpoint.length = sizeof where;
  endpoint.family = AF_UNIX;
  return endpoint;
}

// Settings for a connected socket: no Nagle delay on TCP (requests are whole already).
void tune(int fd, const Endpoint& endpoint) {
  if (endpoint.family == AF_UNIX) return;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace

addrinfo resolver_hints() {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  return hints;
}

IoError resolve_error(const ServerAddress& address, const std::string& cause) {
  return net_error<IoError>(address, ErrorReason::kResolveFailed, "cannot resolve host: " + cause);
}

Endpoint endpoint_of(const sockaddr* address, socklen_t length, int protocol) {
  Endpoint endpoint;
  std::memcpy(&endpoint.address, address, std::min<std::size_t>(length, sizeof endpoint.address));
  endpoint.length = length;
  endpoint.family = address->sa_family;
  endpoint.protocol = protocol;
  return endpoint;
}

std::vector<Endpoint> resolve(const ServerAddress& address) {
  if (address.is_unix()) return {unix_endpoint(address.unix_path)};
  const addrinfo hints = resolver_hints();
  AddrInfo resolved;
  const std::string port = std::to_string(address.port);
  if (int rc = ::getaddrinfo(address.host.c_str(), port.c_str(), &hints, &resolved.list)) {
    throw resolve_error(address, ::gai_strerror(rc));
  }
  std::vector<Endpoint> endpoints;
  for (const addrinfo* ai = resolved.list; ai; ai = ai->ai_next) {
    endpoints.push_back(endpoint_of(ai->ai_addr, ai->ai_addrlen, ai->ai_protocol));
  }
  return endpoints;
}

Connector::Connector(const ServerAddress& address, std::vector<Endpoint> endpoints)
    : address_(&address), endpoints_(std::move(endpoints)) {}

std::optional<Connector::Attempt> Connector::next() {
  while (next_ < endpoints_.size()) {
    const Endpoint& endpoint = endpoints_[next_++];
    const int fd =
        ::socket(endpoint.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, endpoint.protocol);
    if (fd < 0) {
      last_error_ = std::error_code(errno, std::system_category());
      continue;
    }
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&endpoint.address), endpoint.length) == 0) {
      tune(fd, endpoint);
      return Attempt{fd, false, &endpoint};
    }
    // TCP completes later (EINPROGRESS). A local connect completes or fails at once; Linux
    // answers EAGAIN (rather than completing later) when the server's listen backlog is
    // full, which connect_error names.
    if (errno == EINPROGRESS) return Attempt{fd, true, &endpoint};
    last_error_ = std::error_code(errno, std::system_category());
    ::close(fd);
  }
  return std::nullopt;
}

bool Connector::connected(const Attempt& attempt) {
  int error = 0;
  socklen_t length = sizeof error;
  if (::getsockopt(attempt.fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
  if (error != 0) {
    last_error_ = std::error_code(error, std::system_category());
    return false;
  }
  tune(attempt.fd, *attempt.endpoint);
  return true;
}

IoError Connector::error() const {
  return connect_error(*address_, last_error_);
}

}  // namespace llmcache::net
