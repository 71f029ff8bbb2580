#pragma once
// Network partitions for tests: two private network namespaces joined by a veth pair, a
// memcached inside one of them, and a way to run test code inside the other. Nothing is
// added to the host's own namespace; traffic only flows between the two private ones.
// Needs root and `ip netns` (iproute2); NetnsPair::unavailable() says why not.
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace llmcache::testing {

class NetnsPair {
 public:
  /// Why namespaces cannot be used here (not root, no `ip`, creation refused), or nullopt.
  static std::optional<std::string> unavailable();

  /// Creates both namespaces (unique names) and the link; throws std::runtime_error.
  NetnsPair();
  /// Deletes both namespaces (the veth pair goes with them).
  ~NetnsPair();
  NetnsPair(const NetnsPair&) = delete;
  NetnsPair& operator=(const NetnsPair&) = delete;

  const std::string& client_ns() const { return client_ns_; }
  const std::string& server_ns() const { return server_ns_; }
  /// Addresses on the link: a /30 that exists only inside the two namespaces.
  static constexpr const char* kClientIp = "10.213.0.1";
  static constexpr const char* kServerIp = "10.213.0.2";

  /// Takes the server's end of the link down: packets vanish, nothing is refused.
  void partition();
  /// Brings it back up.
  void heal();

 private:
  std::string client_ns_, server_ns_, client_if_, server_if_;
};

/// Runs `body` on a thread that has entered network namespace `ns` (so every socket it
/// opens, and every thread it starts, lives there), and waits for it. Exceptions from
/// `body` are rethrown here.
void run_in_netns(const std::string& ns, const std::function<void()>& body);

/// memcached started inside a namespace with `ip netns exec`, listening on `ip:port`.
class NetnsMemcached {
 public:
  NetnsMemcached(std::string ns, std::string ip, std::uint16_t port);
  ~NetnsMemcached();
  NetnsMemcached(const NetnsMemcached&) = delete;
  NetnsMemcached& operator=(const NetnsMemcached&) = delete;

 private:
  pid_t pid_ = -1;
};

/// Runs a command (no shell); returns its exit status.
int run_command(const std::vector<std::string>& args);

}  // namespace llmcache::testing
