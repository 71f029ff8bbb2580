#pragma once
// Resolving a server and connecting to it, written once for both connection paths. Each
// step is a plain function; the paths differ only in how they wait: the blocking one on
// the caller's thread (getaddrinfo, poll() for the connect), the async one on Asio
// (its resolver thread with the same hints, async_wait for the connect).
#include <llmcache/errors.hpp>
#include <llmcache/options.hpp>

#include <netdb.h>
#include <sys/socket.h>

#include <string>
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

/// The start of one connect attempt on a new non-blocking socket. fd < 0: the attempt
/// failed at once with `error` (an errno value). in_progress: wait until fd is writable,
/// then ask finish_connect(). Otherwise fd is connected.
struct ConnectStart {
  int fd = -1;
  int error = 0;
  bool in_progress = false;
};
ConnectStart start_connect(const Endpoint& endpoint);
/// After the socket became writable: 0 once connected, else the errno it failed with.
int finish_connect(int fd);
/// Settings for a connected socket: no Nagle delay on TCP (requests are whole already).
void tune_connected(int fd, const Endpoint& endpoint);

}  // namespace llmcache::net
