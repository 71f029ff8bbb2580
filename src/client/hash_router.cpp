// pymemcache HashClient's placement and failure rules (docs/compatibility.md), with one
// deliberate difference: when a server reaches its retry budget, the request that notices
// is routed to the remaining servers instead of being sent to the removed one.
#include "client/rendezvous_hash.hpp"
#include "client/router.hpp"
#include "client/server_health.hpp"

#include <llmcache/errors.hpp>

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace llmcache::detail {
namespace {

using Clock = Router::Clock;

bool is_server_failure(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const ClosedError&) {
    return false;  // the client closed, the server did nothing wrong
  } catch (const IoError&) {
    return true;
  } catch (const ProtocolError&) {
    return true;
  } catch (...) {
    return false;
  }
}

std::exception_ptr no_server_available() {
  return std::make_exception_ptr(
      IoError("all memcached servers are down", {ErrorReason::kNoServerAvailable, {}}));
}

std::string milliseconds(Clock::duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

class HashRouter final : public Router {
 public:
  HashRouter(const std::vector<ServerAddress>& servers, const HashClientOptions& options) {
    if (servers.empty()) throw InvalidArgumentError("HashClient needs at least one server");
    const ServerHealth::Rules rules{options.retry_attempts, options.retry_timeout,
                                    options.dead_timeout};
    for (const auto& address : servers) {
      std::string name = address.name();
      if (index_of_.contains(name)) throw InvalidArgumentError("server listed twice: " + name);
      index_of_[name] = servers_.size();
      ring_.add_node(name);
      servers_.push_back(Server{std::move(name), ServerHealth(rules)});
    }
  }

  Route choose(std::string_view key, Clock::time_point now) override {
    std::lock_guard lock(mutex_);
    for (auto& server : servers_) {
      if (server.health.revive_if_due(now)) ring_.add_node(server.name);
    }
    for (;;) {
      const std::string* node = ring_.get_node(key);
      if (!node) return {npos, no_server_available(), 0};
      const std::size_t index = index_of_.at(*node);
      Server& server = servers_[index];
      switch (server.health.use(now)) {
        case ServerHealth::Use::kSend:
          return {index, nullptr, server.health.ticket()};
        case ServerHealth::Use::kRemove:
          ring_.remove_node(server.name);  // its keys move to the remaining servers
          continue;
        case ServerHealth::Use::kSkip:
          return {index,
                  std::make_exception_ptr(
                      IoError("memcached " + server.name + " is failing; skipped without I/O for " +
                                  milliseconds(server.health.skipped_for(now)) + " more",
                              {ErrorReason::kServerDown, server.name})),
                  0};
      }
    }
  }

  void record_success(const Route& route) override {
    std::lock_guard lock(mutex_);
    servers_[route.server].health.record_success(route.ticket);
  }

  void record_failure(const Route& route, const std::exception_ptr& error,
                      Clock::time_point now) override {
    if (!is_server_failure(error)) return;
    std::lock_guard lock(mutex_);
    Server& server = servers_[route.server];
    if (server.health.record_failure(route.ticket, now)) ring_.remove_node(server.name);
  }

  bool records_outcomes() const override { return true; }

  std::size_t server_for(std::string_view key) const override {
    std::lock_guard lock(mutex_);
    const std::string* node = ring_.get_node(key);
    if (!node) std::rethrow_exception(no_server_available());
    return index_of_.at(*node);
  }

 private:
  struct Server {
    std::string name;
    ServerHealth health;
  };

  std::vector<Server> servers_;  // in pool order
  std::unordered_map<std::string, std::size_t> index_of_;
  mutable std::mutex mutex_;  // guards ring_ and servers_' health
  RendezvousHash ring_;       // the servers not removed
};

}  // namespace

std::unique_ptr<Router> make_hash_router(const std::vector<ServerAddress>& servers,
                                         const HashClientOptions& options) {
  return std::make_unique<HashRouter>(servers, options);
}

}  // namespace llmcache::detail
