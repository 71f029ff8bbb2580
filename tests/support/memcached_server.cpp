#include "support/memcached_server.hpp"

#include "support/spawn.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace llmcache::testing {

using namespace std::chrono_literals;

std::uint16_t free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot bind a loopback port");
  }
  socklen_t length = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length);
  ::close(fd);
  return ntohs(addr.sin_port);
}

MemcachedServer::MemcachedServer(std::vector<std::string> extra_args)
    : extra_args_(std::move(extra_args)) {
  // Another process may grab the port between our probe and memcached's bind: retry.
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = free_loopback_port();
    if (launch()) return;
  }
  throw std::runtime_error("memcached did not start (is it installed? run `make deps`)");
}

MemcachedServer::MemcachedServer(UnixSocket, std::vector<std::string> extra_args)
    : extra_args_(std::move(extra_args)) {
  std::string dir = "/tmp/llmcache-test-XXXXXX";
  if (!::mkdtemp(dir.data())) throw std::runtime_error("cannot make a temporary directory");
  socket_dir_ = dir;
  socket_path_ = dir + "/memcached.sock";
  if (!launch()) {
    ::rmdir(socket_dir_.c_str());
    throw std::runtime_error("memcached did not start on " + socket_path_);
  }
}

MemcachedServer::~MemcachedServer() {
  if (pid_ > 0) kill();
  if (!socket_dir_.empty()) {
    ::unlink(socket_path_.c_str());
    ::rmdir(socket_dir_.c_str());
  }
}

bool MemcachedServer::launch() {
  std::vector<std::string> args = {"memcached", "-U", "0", "-m", "64", "-t", "2", "-c", "1024"};
  if (socket_path_.empty()) {
    args.insert(args.end(), {"-l", "127.0.0.1", "-p", std::to_string(port_)});
  } else {
    // A socket file left by a killed server makes memcached's bind fail.
    ::unlink(socket_path_.c_str());
    args.insert(args.end(), {"-s", socket_path_});
  }
  if (::geteuid() == 0) {
    args.push_back("-u");
    args.push_back("root");
  }
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  pid_ = spawn_until_listening(std::move(args), [this] {
    return socket_path_.empty() ? accepts_connections(port_) : accepts_connections(socket_path_);
  });
  return pid_ > 0;
}

void MemcachedServer::wait_exit() {
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

void MemcachedServer::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  wait_exit();
}

void MemcachedServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGCONT);
  ::kill(pid_, SIGTERM);
  wait_exit();
}

void MemcachedServer::start() {
  if (pid_ > 0) return;
  // Same port as before, since the test's clients must find it again. On a loaded machine
  // (sanitizer builds, -j2) one launch now and then neither binds nor accepts within its
  // deadline (CI saw it once); a few more tries make that a slow restart, not a failure.
  for (int attempt = 0; attempt < 4; ++attempt) {
    if (launch()) return;
    std::this_thread::sleep_for(250ms);
  }
  throw std::runtime_error("memcached did not restart on " + spec());
}

void MemcachedServer::pause() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGSTOP);
  // Signals are delivered asynchronously: wait until the kernel reports it stopped.
  int status = 0;
  ::waitpid(pid_, &status, WUNTRACED);
}

void MemcachedServer::resume() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGCONT);
  int status = 0;
  ::waitpid(pid_, &status, WCONTINUED);
}

}  // namespace llmcache::testing
