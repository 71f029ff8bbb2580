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

ConnectStart start_connect(const Endpoint& endpoint) {
  const int fd =
      ::socket(endpoint.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, endpoint.protocol);
  if (fd < 0) return {-1, errno, false};
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&endpoint.address), endpoint.length) == 0) {
    return {fd, 0, false};
  }
  // TCP completes later (EINPROGRESS). A local connect completes or fails at once; Linux
  // answers EAGAIN (rather than completing later) when the server's listen backlog is full.
  if (errno == EINPROGRESS) return {fd, 0, true};
  const int error = errno;
  ::close(fd);
  return {-1, error, false};
}

int finish_connect(int fd) {
  int error = 0;
  socklen_t length = sizeof error;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return errno;
  return error;
}

void tune_connected(int fd, const Endpoint& endpoint) {
  if (endpoint.family == AF_UNIX) return;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace llmcache::net
