#pragma once
// twemproxy (Debian's `nutcracker`) on a free loopback port in front of real memcached
// backends, for tests of what goes through a proxy. Started in the constructor, always
// stopped (SIGKILL) in the destructor, its config directory removed; dies with the test
// process too.
#include <llmcache/options.hpp>

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace llmcache::testing {

class TwemproxyServer {
 public:
  /// True when `nutcracker` is on the PATH (`make deps` installs it).
  static bool installed();

  /// In front of the memcached listening on `backend_ports` (127.0.0.1), placing keys by
  /// ketama. Throws std::runtime_error when it does not start.
  explicit TwemproxyServer(std::vector<std::uint16_t> backend_ports);
  ~TwemproxyServer();
  TwemproxyServer(const TwemproxyServer&) = delete;
  TwemproxyServer& operator=(const TwemproxyServer&) = delete;

  std::uint16_t port() const { return port_; }
  ServerAddress address() const { return {"127.0.0.1", port_}; }

 private:
  bool launch();

  std::vector<std::uint16_t> backend_ports_;
  std::string dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace llmcache::testing
