#include "client/server_pool.hpp"

#include <llmcache/errors.hpp>

#include "net/auth.hpp"

#include <algorithm>
#include <chrono>

namespace llmcache::detail {
namespace {

void validate(const ClientOptions& options) {
  if (options.connect_timeout <= std::chrono::milliseconds::zero() ||
      options.request_timeout <= std::chrono::milliseconds::zero()) {
    throw InvalidArgumentError("connect_timeout and request_timeout must be positive");
  }
  if (options.max_in_flight == 0) throw InvalidArgumentError("max_in_flight must be positive");
  net::validate_credentials(options.credentials);
}

}  // namespace

ServerConnections::ServerConnections(asio::io_context& io, ServerAddress address,
                                     const ClientOptions& options,
                                     std::shared_ptr<const net::TlsContext> tls,
                                     const net::WireChoice& wire)
    : address_(std::move(address)) {
  const std::size_t count = std::max<std::size_t>(options.connections, 1);
  for (std::size_t i = 0; i < count; ++i) {
    connections_.push_back(std::make_shared<net::Connection>(io, address_, options, tls, &wire));
  }
}

void ServerConnections::submit(Request request) {
  submit(net::PendingRequest{std::move(request.bytes), request.opaque,
                             [on_reply = std::move(request.on_reply), server = &address_](
                                 std::exception_ptr error, protocol::Reply reply) {
                               on_reply(error, std::move(reply), server);
                             },
                             request.accepts});
}

void ServerConnections::submit(net::PendingRequest request) {
  auto least_busy = std::min_element(
      connections_.begin(), connections_.end(),
      [](const auto& a, const auto& b) { return a->in_flight() < b->in_flight(); });
  (*least_busy)->submit(std::move(request));
}

void ServerConnections::close() {
  for (auto& connection : connections_) connection->close();
}

PooledServer::PooledServer(asio::io_context& io, const ServerAddress& address,
                           const ClientOptions& options,
                           const std::shared_ptr<const net::TlsContext>& tls,
                           const net::CloseSignal& closing, std::optional<protocol::Wire> fixed)
    : wire(fixed),
      connections(io, address, options, tls, wire),
      blocking(address, options, tls, &closing, &wire) {}

ServerPool::ServerPool(asio::io_context& io, const std::vector<ServerAddress>& servers,
                       const ClientOptions& options, const net::CloseSignal& closing,
                       std::optional<protocol::Wire> fixed) {
  const auto tls = net::make_tls_context(options.tls);
  validate(options);
  for (const auto& address : servers) {
    servers_.push_back(std::make_unique<PooledServer>(io, address, options, tls, closing, fixed));
  }
}

std::vector<ServerAddress> ServerPool::addresses() const {
  std::vector<ServerAddress> result;
  result.reserve(servers_.size());
  for (const auto& server : servers_) result.push_back(server->address());
  return result;
}

void ServerPool::close_connections() {
  for (auto& server : servers_) server->connections.close();
}

void ServerPool::close_blocking() {
  for (auto& server : servers_) server->blocking.close();
}

}  // namespace llmcache::detail
