#pragma once
// A real memcached process on a free loopback port, for tests. Started in the
// constructor, always stopped in the destructor; dies with the test process too.
#include <llmcache/options.hpp>

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace llmcache::testing {

class MemcachedServer {
 public:
  /// `extra_args` go to memcached as given (e.g. {"-I", "2m"}).
  explicit MemcachedServer(std::vector<std::string> extra_args = {});
  ~MemcachedServer();
  MemcachedServer(const MemcachedServer&) = delete;
  MemcachedServer& operator=(const MemcachedServer&) = delete;

  std::uint16_t port() const { return port_; }
  ServerAddress address() const { return {"127.0.0.1", port_}; }
  std::string spec() const { return address().name(); }
  bool running() const { return pid_ > 0; }

  /// SIGKILL, then wait for the process.
  void kill();
  /// SIGTERM, then wait for the process.
  void stop();
  /// Starts again on the same port (after kill or stop). The server dies with the thread
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
  pid_t pid_ = -1;
};

/// A loopback port nobody listens on right now.
std::uint16_t free_loopback_port();

}  // namespace llmcache::testing
