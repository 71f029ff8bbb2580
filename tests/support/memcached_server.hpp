#pragma once
// A real memcached process on a free loopback port (or on a Unix socket in a private
// temporary directory), for tests. Started in the constructor, always stopped in the
// destructor; dies with the test process too.
#include <llmcache/options.hpp>

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace llmcache::testing {

/// Tag: listen on a Unix socket (memcached -s) instead of a TCP port.
struct UnixSocket {};

class MemcachedServer {
 public:
  /// `extra_args` go to memcached as given (e.g. {"-I", "2m"}).
  explicit MemcachedServer(std::vector<std::string> extra_args = {});
  /// On a Unix socket `socket_path()` (no TCP: memcached's -s disables it), in a fresh
  /// directory removed with the server.
  explicit MemcachedServer(UnixSocket, std::vector<std::string> extra_args = {});
  ~MemcachedServer();
  MemcachedServer(const MemcachedServer&) = delete;
  MemcachedServer& operator=(const MemcachedServer&) = delete;

  /// 0 on a Unix socket.
  std::uint16_t port() const { return port_; }
  /// Empty over TCP.
  const std::string& socket_path() const { return socket_path_; }
  ServerAddress address() const {
    return socket_path_.empty() ? ServerAddress{"127.0.0.1", port_}
                                : ServerAddress::unix_socket(socket_path_);
  }
  std::string spec() const { return address().name(); }
  bool running() const { return pid_ > 0; }

  /// SIGKILL, then wait for the process.
  void kill();
  /// SIGTERM, then wait for the process.
  void stop();
  /// Starts again on the same port or socket (after kill or stop). The server dies with the thread
  /// that calls this (PR_SET_PDEATHSIG): call it from a thread that outlives the server.
  void start();
  /// SIGSTOP: the server keeps its connections but answers nothing.
  void pause();
  /// SIGCONT.
  void resume();

 private:
  bool launch();
  void wait_exit();

  std::vector<std::string> extra_args_;
  std::uint16_t port_ = 0;
  std::string socket_dir_;
  std::string socket_path_;
  pid_t pid_ = -1;
};

/// A loopback port nobody listens on right now.
std::uint16_t free_loopback_port();

}  // namespace llmcache::testing
