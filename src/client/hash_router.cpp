// pymemcache HashClient's placement and failure rules (DESIGN.md 1.6, 1.7), with one
// deliberate difference: when a server reaches its retry budget, the request that notices
// is routed to the remaining servers instead of being sent to the removed one.
#include "client/rendezvous_hash.hpp"
#include "client/router.hpp"

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
  HashRouter(const std::vector<ServerAddress>& servers, const HashClientOptions& options)
      : options_(options) {
    if (servers.empty()) throw InvalidArgumentError("HashClient needs at least one server");
    for (const auto& address : servers) {
      std::string name = address.name();
      if (index_of_.contains(name)) throw InvalidArgumentError("server listed twice: " + name);
      index_of_[name] = servers_.size();
      ring_.add_node(name);
      servers_.push_back(Server{std::move(name)});
    }
  }

  Route choose(std::string_view key, Clock::time_point now) override {
    std::lock_guard lock(mutex_);
    revive_dead(now);
    for (;;) {
      const std::string* node = ring_.get_node(key);
      if (!node) return {npos, no_server_available(), 0};
      const std::size_t index = index_of_.at(*node);
      Server& server = servers_[index];
      if (server.health != Health::kFailing) return {index, nullptr, server.epoch};
      if (server.attempts >= options_.retry_attempts) {
        mark_dead(server, now);  // its keys move to the remaining servers
        continue;
      }
      const auto waited = now - server.failed_at;
      if (waited > options_.retry_timeout) {
        return {index, nullptr, server.epoch};  // this request retries it
      }
      return {index,
              std::make_exception_ptr(
                  IoError("memcached " + *node + " is failing; skipped without I/O for " +
                              milliseconds(options_.retry_timeout - waited) + " more",
                          {ErrorReason::kServerDown, *node})),
              0};
    }
  }

  void record_success(const Route& route) override {
    std::lock_guard lock(mutex_);
    Server& server = servers_[route.server];
    if (server.epoch != route.ticket || server.health == Health::kDead) return;
    if (server.health == Health::kFailing) {
      server.health = Health::kHealthy;
      server.attempts = 0;
    }
  }

  void record_failure(const Route& route, const std::exception_ptr& error,
                      Clock::time_point now) override {
    if (!is_server_failure(error)) return;
    std::lock_guard lock(mutex_);
    Server& server = servers_[route.server];
    if (server.epoch != route.ticket || server.health == Health::kDead) return;
    ++server.epoch;
    if (server.health == Health::kHealthy) {
      if (options_.retry_attempts <= 0) {
        mark_dead(server, now);
        return;
      }
      server.health = Health::kFailing;
      server.attempts = 0;
    } else {
      ++server.attempts;
    }
    server.failed_at = now;
  }

  bool records_outcomes() const override { return true; }

  std::size_t server_for(std::string_view key) const override {
    std::lock_guard lock(mutex_);
    const std::string* node = ring_.get_node(key);
    if (!node) std::rethrow_exception(no_server_available());
    return index_of_.at(*node);
  }

 private:
  enum class Health { kHealthy, kFailing, kDead };

  struct Server {
    std::string name;
    Health health = Health::kHealthy;
    int attempts = 0;
    Clock::time_point failed_at{};
    Clock::time_point dead_at{};
    // Bumped by every counted failure. Requests that were in flight together fail
    // together; only the first of them counts, as pymemcache (one request at a time) would.
    std::uint64_t epoch = 0;
  };

  void mark_dead(Server& server, Clock::time_point now) {
    server.health = Health::kDead;
    server.dead_at = now;
    ++server.epoch;
    ring_.remove_node(server.name);
  }

  void revive_dead(Clock::time_point now) {
    for (auto& server : servers_) {
      if (server.health == Health::kDead && now - server.dead_at > options_.dead_timeout) {
        server.health = Health::kHealthy;
        server.attempts = 0;
        ring_.add_node(server.name);
      }
    }
  }

  const HashClientOptions options_;
  std::vector<Server> servers_;  // in pool order
  std::unordered_map<std::string, std::size_t> index_of_;
  mutable std::mutex mutex_;  // guards ring_ and servers_
  RendezvousHash ring_;
};

}  // namespace

std::unique_ptr<Router> make_hash_router(const std::vector<ServerAddress>& servers,
                                         const HashClientOptions& options) {
  return std::make_unique<HashRouter>(servers, options);
}

}  // namespace llmcache::detail
