#include "support/netns.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <thread>
#include <vector>

namespace llmcache::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kPrefix = "llmc-faults-";

std::string must_run(const std::vector<std::string>& args) {
  if (run_command(args) != 0) {
    std::string line;
    for (const auto& arg : args) line += arg + " ";
    throw std::runtime_error("command failed: " + line);
  }
  return {};
}

// A test process killed with SIGKILL cannot clean up; the next one removes what it left.
void remove_namespaces_of_dead_processes() {
  DIR* dir = ::opendir("/var/run/netns");
  if (!dir) return;
  std::vector<std::string> stale;
  while (dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (!name.starts_with(kPrefix)) continue;
    const std::string rest = name.substr(std::string(kPrefix).size());
    const pid_t pid = static_cast<pid_t>(std::atol(rest.c_str()));
    if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) stale.push_back(name);
  }
  ::closedir(dir);
  for (const auto& name : stale) run_command({"ip", "netns", "delete", name});
}

bool connects(const char* ip, std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, ip, &addr.sin_addr);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  if (!ok && errno == EINPROGRESS) {
    pollfd pfd{fd, POLLOUT, 0};
    if (::poll(&pfd, 1, 200) == 1) {
      int error = 0;
      socklen_t length = sizeof error;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
      ok = error == 0;
    }
  }
  ::close(fd);
  return ok;
}

}  // namespace

int run_command(const std::vector<std::string>& args) {
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(null, STDERR_FILENO);
    std::vector<char*> argv;
    for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    std::_Exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::optional<std::string> NetnsPair::unavailable() {
  if (::geteuid() != 0) return "network namespaces need root";
  if (run_command({"ip", "netns", "list"}) != 0) return "`ip netns` is not available";
  const std::string probe = kPrefix + std::to_string(::getpid()) + "-probe";
  if (run_command({"ip", "netns", "add", probe}) != 0) {
    return "`ip netns add` failed (no CAP_SYS_ADMIN, or no netns support)";
  }
  run_command({"ip", "netns", "delete", probe});
  return std::nullopt;
}

NetnsPair::NetnsPair() {
  remove_namespaces_of_dead_processes();
  static std::atomic<int> counter{0};
  const std::string id = std::to_string(::getpid()) + "-" + std::to_string(counter++);
  client_ns_ = kPrefix + id + "-client";
  server_ns_ = kPrefix + id + "-server";
  // Interface names are at most 15 bytes, and only have to be unique per namespace.
  client_if_ = "llmc-c";
  server_if_ = "llmc-s";
  try {
    must_run({"ip", "netns", "add", client_ns_});
    must_run({"ip", "netns", "add", server_ns_});
    must_run({"ip", "link", "add", client_if_, "netns", client_ns_, "type", "veth", "peer", "name",
              server_if_, "netns", server_ns_});
    must_run(
        {"ip", "-n", client_ns_, "addr", "add", std::string(kClientIp) + "/30", "dev", client_if_});
    must_run(
        {"ip", "-n", server_ns_, "addr", "add", std::string(kServerIp) + "/30", "dev", server_if_});
    must_run({"ip", "-n", client_ns_, "link", "set", "lo", "up"});
    must_run({"ip", "-n", client_ns_, "link", "set", client_if_, "up"});
    must_run({"ip", "-n", server_ns_, "link", "set", "lo", "up"});
    must_run({"ip", "-n", server_ns_, "link", "set", server_if_, "up"});
  } catch (...) {
    run_command({"ip", "netns", "delete", client_ns_});
    run_command({"ip", "netns", "delete", server_ns_});
    throw;
  }
}

NetnsPair::~NetnsPair() {
  run_command({"ip", "netns", "delete", client_ns_});
  run_command({"ip", "netns", "delete", server_ns_});
}

void NetnsPair::partition() {
  must_run({"ip", "-n", server_ns_, "link", "set", server_if_, "down"});
}

void NetnsPair::heal() {
  must_run({"ip", "-n", server_ns_, "link", "set", server_if_, "up"});
}

void run_in_netns(const std::string& ns, const std::function<void()>& body) {
  std::exception_ptr error;
  std::thread thread([&] {
    try {
      const std::string path = "/var/run/netns/" + ns;
      const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) throw std::runtime_error("cannot open " + path);
      // Per thread: only this thread (and threads it starts) moves to the namespace.
      const int rc = ::setns(fd, CLONE_NEWNET);
      ::close(fd);
      if (rc != 0) throw std::runtime_error("setns into " + ns + " failed");
      body();
    } catch (...) {
      error = std::current_exception();
    }
  });
  thread.join();
  if (error) std::rethrow_exception(error);
}

NetnsMemcached::NetnsMemcached(std::string ns, std::string ip, std::uint16_t port) {
  std::vector<std::string> args = {
      "ip", "netns", "exec", ns,   "memcached", "-l", ip,   "-p",  std::to_string(port),
      "-U", "0",     "-m",   "64", "-t",        "2",  "-u", "root"};
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // `ip netns exec` execs memcached: same process
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    ::execvp("ip", argv.data());
    std::_Exit(127);
  }
  // Wait until it accepts, probing from inside its own namespace.
  bool up = false;
  run_in_netns(ns, [&] {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!up && std::chrono::steady_clock::now() < deadline) {
      up = connects(ip.c_str(), port);
      if (!up) std::this_thread::sleep_for(20ms);
    }
  });
  if (!up) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    throw std::runtime_error("memcached did not start in namespace " + ns);
  }
}

NetnsMemcached::~NetnsMemcached() {
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

}  // namespace llmcache::testing
