#include "support/twemproxy_server.hpp"

#include "support/memcached_server.hpp"
#include "support/spawn.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace llmcache::testing {
namespace {

/// The nutcracker binary on the PATH or in /usr/sbin (Debian's place); empty if none.
std::string nutcracker_path() {
  const char* path = std::getenv("PATH");
  std::string dirs = std::string(path ? path : "") + ":/usr/sbin";
  std::size_t begin = 0;
  while (begin < dirs.size()) {
    std::size_t end = dirs.find(':', begin);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(begin, end - begin) + "/nutcracker";
    if (end > begin && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    begin = end + 1;
  }
  return {};
}

}  // namespace

bool TwemproxyServer::installed() {
  return !nutcracker_path().empty();
}

TwemproxyServer::TwemproxyServer(std::vector<std::uint16_t> backend_ports)
    : backend_ports_(std::move(backend_ports)) {
  std::string dir = "/tmp/llmcache-twemproxy-XXXXXX";
  if (!::mkdtemp(dir.data())) throw std::runtime_error("cannot make a temporary directory");
  dir_ = dir;
  // Another process may take the port between our probe and the proxy's bind: retry.
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = free_loopback_port();
    if (launch()) return;
  }
  std::filesystem::remove_all(dir_);
  throw std::runtime_error("twemproxy did not start (is nutcracker installed? run `make deps`)");
}

TwemproxyServer::~TwemproxyServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

bool TwemproxyServer::launch() {
  const std::string config = dir_ + "/nutcracker.yml";
  {
    std::ofstream file(config);
    file << "pool:\n  listen: 127.0.0.1:" << port_
         << "\n  hash: fnv1a_64\n  distribution: ketama\n  timeout: 2000\n"
            "  auto_eject_hosts: false\n  servers:\n";
    for (const std::uint16_t backend : backend_ports_) {
      file << "   - 127.0.0.1:" << backend << ":1\n";
    }
  }
  std::vector<std::string> args = {
      nutcracker_path(),       "-c", config, "-s", std::to_string(free_loopback_port()), "-o",
      dir_ + "/nutcracker.log"};
  pid_ = spawn_until_listening(std::move(args), [this] { return accepts_connections(port_); });
  return pid_ > 0;
}

}  // namespace llmcache::testing
