// The connect sequence both connection paths run, against loopback sockets made here.
#include <llmcache/errors.hpp>

#include "net/endpoints.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace llmcache::net {
namespace {

// A loopback TCP socket bound to a free port: listening or not.
class LoopbackPort {
 public:
  explicit LoopbackPort(bool listening) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in where{};
    where.sin_family = AF_INET;
    where.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof where;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&where), length) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&where), &length) != 0 ||
        (listening && ::listen(fd_, 4) != 0)) {
      ADD_FAILURE() << "cannot set up a loopback socket";
    }
    port_ = ntohs(where.sin_port);
  }
  ~LoopbackPort() { ::close(fd_); }
  ServerAddress address() const { return {"127.0.0.1", port_}; }

 private:
  int fd_;
  std::uint16_t port_ = 0;
};

// Runs the connect sequence as the blocking path does, returning the connected socket or
// throwing the connector's error.
int connect_blocking(const ServerAddress& address) {
  Connector connector(address, resolve(address));
  while (const auto attempt = connector.next()) {
    if (!attempt->in_progress) return attempt->fd;
    pollfd pfd{attempt->fd, POLLOUT, 0};
    ::poll(&pfd, 1, 5000);
    if (connector.connected(*attempt)) return attempt->fd;
    ::close(attempt->fd);
  }
  throw connector.error();
}

TEST(Connector, ConnectsToAListeningPort) {
  LoopbackPort port(true);
  const int fd = connect_blocking(port.address());
  EXPECT_GE(fd, 0);
  ::close(fd);
}

TEST(Connector, APortNobodyListensOnIsConnectionRefusedNamingTheServer) {
  LoopbackPort port(false);  // bound, so no one else takes it, but not listening
  try {
    ::close(connect_blocking(port.address()));
    FAIL() << "connected";
  } catch (const IoError& e) {
    EXPECT_EQ(e.reason(), ErrorReason::kConnectionRefused) << e.what();
    EXPECT_EQ(e.server(), port.address().name());
    EXPECT_NE(std::string(e.what()).find("is memcached running there?"), std::string::npos)
        << e.what();
  }
}

TEST(Connector, AMissingUnixSocketIsAConnectFailureNamingThePath) {
  const ServerAddress address = ServerAddress::unix_socket("/nonexistent/llmcache.sock");
  ASSERT_EQ(resolve(address).size(), 1u);
  try {
    ::close(connect_blocking(address));
    FAIL() << "connected";
  } catch (const IoError& e) {
    EXPECT_EQ(e.reason(), ErrorReason::kConnectFailed) << e.what();
    EXPECT_NE(std::string(e.what()).find("-s /nonexistent/llmcache.sock"), std::string::npos)
        << e.what();
  }
}

TEST(Resolve, ANumericHostResolvesToItselfWithoutDns) {
  const auto endpoints = resolve(ServerAddress{"127.0.0.1", 11211});
  ASSERT_EQ(endpoints.size(), 1u);
  EXPECT_EQ(endpoints[0].family, AF_INET);
  sockaddr_in resolved{};
  std::memcpy(&resolved, &endpoints[0].address, sizeof resolved);
  EXPECT_EQ(ntohs(resolved.sin_port), 11211);
  EXPECT_EQ(ntohl(resolved.sin_addr.s_addr), INADDR_LOOPBACK);
}

}  // namespace
}  // namespace llmcache::net
