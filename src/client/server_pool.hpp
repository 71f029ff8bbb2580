#pragma once
// The servers behind a client and their connections: for each server, the protocol it
// speaks, pipelined connections on the I/O thread (async calls) and a pool of blocking
// sockets (blocking calls, on the caller's thread). Which server a request goes to is
// decided elsewhere (client/router.hpp).
#include <llmcache/options.hpp>

#include "client/request.hpp"
#include "net/blocking_connection.hpp"
#include "net/close_signal.hpp"
#include "net/connection.hpp"

#include <asio/io_context.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace llmcache::detail {

/// A server's async connections; requests go to the one with the fewest in flight.
/// I/O thread only.
class ServerConnections {
 public:
  /// `tls` is null for plaintext.
  ServerConnections(asio::io_context& io, ServerAddress address, const ClientOptions& options,
                    std::shared_ptr<const net::TlsContext> tls, const net::WireChoice& wire);
  /// The reply handler is also given this server.
  void submit(Request request);
  void submit(net::PendingRequest request);
  void close();
  const ServerAddress& address() const { return address_; }

 private:
  ServerAddress address_;
  std::vector<std::shared_ptr<net::Connection>> connections_;
};

/// One server's protocol and its two ways in.
struct PooledServer {
  /// `fixed`: ClientOptions::protocol when it names one; nullopt (auto): undecided until
  /// this server's own probe (client/transport.hpp).
  PooledServer(asio::io_context& io, const ServerAddress& address, const ClientOptions& options,
               const std::shared_ptr<const net::TlsContext>& tls, const net::CloseSignal& closing,
               std::optional<protocol::Wire> fixed);
  const ServerAddress& address() const { return connections.address(); }

  // Before the connections: each of them reads it when it opens, to pick its reply parser.
  net::WireChoice wire;           // thread-safe; set once
  std::mutex probing;             // one probe of this server at a time
  ServerConnections connections;  // I/O thread only
  net::BlockingPool blocking;     // thread-safe
};

class ServerPool {
 public:
  /// Validates `options` and builds one TLS context (trust store, client certificate) for
  /// every server and both paths. `closing` wakes the blocking sockets in use; `fixed` is
  /// the protocol every server speaks, or nullopt when each is probed (auto).
  ServerPool(asio::io_context& io, const std::vector<ServerAddress>& servers,
             const ClientOptions& options, const net::CloseSignal& closing,
             std::optional<protocol::Wire> fixed);

  std::size_t size() const { return servers_.size(); }
  PooledServer& at(std::size_t index) { return *servers_.at(index); }
  const PooledServer& at(std::size_t index) const { return *servers_.at(index); }
  const ServerAddress& address(std::size_t index) const { return servers_.at(index)->address(); }
  /// In the order given.
  std::vector<ServerAddress> addresses() const;

  /// I/O thread: fails every pending async request with ClosedError, closes the sockets.
  void close_connections();
  /// Any thread: drops the idle blocking sockets, and those handed back later.
  void close_blocking();

 private:
  // Stable addresses: reply handlers hold a pointer to their server's address.
  std::vector<std::unique_ptr<PooledServer>> servers_;
};

}  // namespace llmcache::detail
