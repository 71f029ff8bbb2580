// pymemcache HashClient's placement and failure rules (DESIGN.md 1.6, 1.7), with one
// deliberate difference: when a server reaches its retry budget, the request that notices
// is routed to the remaining servers instead of being sent to the removed one.
#include "client/rendezvous_hash.hpp"
#include "client/transport.hpp"

#include <llmcache/errors.hpp>

#include <chrono>
#include <mutex>
#include <unordered_map>

namespace llmcache::detail {
namespace {

using Clock = std::chrono::steady_clock;

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

class HashTransport final : public Transport {
 public:
  HashTransport(std::vector<ServerAddress> servers, const HashClientOptions& options)
      : options_(options) {
    if (servers.empty()) throw InvalidArgumentError("HashClient needs at least one server");
    // One TLS context (trust store, client certificate) for every server and both paths.
    const auto tls = net::make_tls_context(options.client.tls);
    for (auto& address : servers) {
      const std::string name = address.name();
      if (index_of_.contains(name)) throw InvalidArgumentError("server listed twice: " + name);
      index_of_[name] = servers_.size();
      ring_.add_node(name);
      servers_.push_back(
          std::make_unique<Server>(io_, std::move(address), options.client, tls, close_signal()));
    }
  }
  ~HashTransport() override { shutdown(); }

  Answer round_trip(std::string_view routing_key, std::string_view request,
                    std::optional<std::uint32_t> opaque) override {
    Route route;
    {
      std::lock_guard lock(mutex_);
      route = choose(routing_key, Clock::now());
    }
    if (route.skip) std::rethrow_exception(route.skip);
    try {
      protocol::Reply reply = route.server->blocking.round_trip(request, opaque);
      record(*route.server, route.epoch, nullptr);
      return {std::move(reply), route.server->connections.address()};
    } catch (...) {
      record(*route.server, route.epoch, std::current_exception());
      throw;
    }
  }

  std::vector<ServerAddress> servers() const override {
    std::vector<ServerAddress> result;
    for (const auto& server : servers_) result.push_back(server->connections.address());
    return result;
  }

  ServerAddress server_for(std::string_view key) const override {
    std::lock_guard lock(mutex_);
    const std::string* node = ring_.get_node(key);
    if (!node) std::rethrow_exception(no_server_available());
    return servers_[index_of_.at(*node)]->connections.address();
  }

 private:
  void dispatch(std::vector<RoutedRequest> requests) override {
    const auto now = Clock::now();
    for (auto& routed : requests) send_one(std::move(routed), now);
  }

  void dispatch_to(std::size_t index, Request request) override {
    servers_.at(index)->connections.submit(std::move(request));
  }

  void close_connections() override {
    for (auto& server : servers_) server->connections.close();
  }

  void close_blocking() override {
    for (auto& server : servers_) server->blocking.close();
  }

  enum class Health { kHealthy, kFailing, kDead };

  struct Server {
    Server(asio::io_context& io, const ServerAddress& address, const ClientOptions& options,
           const std::shared_ptr<const net::TlsContext>& tls, const net::CloseSignal& closing)
        : connections(io, address, options, tls), blocking(address, options, tls, &closing) {}
    ServerConnections connections;
    net::BlockingPool blocking;
    Health health = Health::kHealthy;
    int attempts = 0;
    Clock::time_point failed_at{};
    Clock::time_point dead_at{};
    // Bumped by every counted failure. Requests that were in flight together fail
    // together; only the first of them counts, as pymemcache (one request at a time) would.
    std::uint64_t epoch = 0;
  };

  struct Route {
    Server* server = nullptr;  // with `skip`: the server skipped, if any
    std::exception_ptr skip;   // set when the request must fail without I/O
    std::uint64_t epoch = 0;   // the server's epoch when routed (read under the lock)
  };

  void send_one(RoutedRequest routed, Clock::time_point now) {
    Route route;
    {
      std::lock_guard lock(mutex_);
      route = choose(routed.routing_key, now);
    }
    if (route.skip) {
      routed.request.on_reply(route.skip, {},
                              route.server ? &route.server->connections.address() : nullptr);
      return;
    }
    Server* server = route.server;
    const std::uint64_t epoch = route.epoch;
    net::PendingRequest request{
        std::move(routed.request.bytes), routed.request.opaque,
        [this, server, epoch, on_reply = std::move(routed.request.on_reply)](
            std::exception_ptr error, protocol::Reply reply) {
          record(*server, epoch, error);
          on_reply(error, std::move(reply), &server->connections.address());
        }};
    server->connections.submit(std::move(request));
  }

  // Caller holds mutex_.
  Route choose(std::string_view key, Clock::time_point now) {
    revive_dead(now);
    for (;;) {
      const std::string* node = ring_.get_node(key);
      if (!node) return {nullptr, no_server_available()};
      Server* server = servers_[index_of_.at(*node)].get();
      if (server->health != Health::kFailing) return {server, nullptr, server->epoch};
      if (server->attempts >= options_.retry_attempts) {
        mark_dead(*server, now);  // its keys move to the remaining servers
        continue;
      }
      const auto waited = now - server->failed_at;
      if (waited > options_.retry_timeout) {
        return {server, nullptr, server->epoch};  // this request retries it
      }
      return {server,
              std::make_exception_ptr(
                  IoError("memcached " + *node + " is failing; skipped without I/O for " +
                              milliseconds(options_.retry_timeout - waited) + " more",
                          {ErrorReason::kServerDown, *node})),
              0};
    }
  }

  void record(Server& server, std::uint64_t epoch, const std::exception_ptr& error) {
    std::lock_guard lock(mutex_);
    if (server.epoch != epoch || server.health == Health::kDead) return;
    if (!error) {
      if (server.health == Health::kFailing) {
        server.health = Health::kHealthy;
        server.attempts = 0;
      }
      return;
    }
    if (!is_server_failure(error)) return;
    ++server.epoch;
    const auto now = Clock::now();
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

  void mark_dead(Server& server, Clock::time_point now) {
    server.health = Health::kDead;
    server.dead_at = now;
    ++server.epoch;
    ring_.remove_node(server.connections.address().name());
  }

  void revive_dead(Clock::time_point now) {
    for (auto& server : servers_) {
      if (server->health == Health::kDead && now - server->dead_at > options_.dead_timeout) {
        server->health = Health::kHealthy;
        server->attempts = 0;
        ring_.add_node(server->connections.address().name());
      }
    }
  }

  HashClientOptions options_;
  std::vector<std::unique_ptr<Server>> servers_;
  std::unordered_map<std::string, std::size_t> index_of_;
  mutable std::mutex mutex_;  // guards ring_ and each Server's health fields
  RendezvousHash ring_;
};

}  // namespace

std::unique_ptr<Transport> make_hash_transport(std::vector<ServerAddress> servers,
                                               const HashClientOptions& options) {
  return std::make_unique<HashTransport>(std::move(servers), options);
}

}  // namespace llmcache::detail
