#pragma once
// Where requests go: the I/O thread and the servers behind a ClientBase. Client uses
// one server as given; HashClient places each key and applies pymemcache's failure rules.
#include <llmcache/options.hpp>

#include "client/item_limits.hpp"
#include "net/blocking_connection.hpp"
#include "net/connection.hpp"

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

namespace llmcache::detail {

struct RoutedRequest {
  /// The key that decides the server (ignored by a single-server transport).
  std::string routing_key;
  net::PendingRequest request;
};

/// A server's connections; requests go to the one with the fewest in flight.
/// I/O thread only.
class ServerConnections {
 public:
  /// `tls` is null for plaintext.
  ServerConnections(asio::io_context& io, ServerAddress address, const ClientOptions& options,
                    std::shared_ptr<const net::TlsContext> tls);
  void submit(net::PendingRequest request);
  void close();
  const ServerAddress& address() const { return address_; }

 private:
  ServerAddress address_;
  std::vector<std::shared_ptr<net::Connection>> connections_;
};

class Transport {
 public:
  /// Stops the I/O thread if a derived destructor has not (a constructor that threw).
  virtual ~Transport();

  asio::any_io_executor executor() { return io_.get_executor(); }
  std::uint32_t next_opaque() { return next_opaque_.fetch_add(1, std::memory_order_relaxed); }
  bool in_io_thread() const { return std::this_thread::get_id() == thread_.get_id(); }

  /// Each server's item size limit, as far as it is known (shared with callbacks).
  const std::shared_ptr<ItemLimits> item_limits = std::make_shared<ItemLimits>();

  /// Thread-safe. Each request goes to the server that holds its routing key; a request
  /// that cannot be sent fails through its own callback.
  virtual void send(std::vector<RoutedRequest> requests) = 0;
  /// Thread-safe and blocking: sends one request from the calling thread (the fast path
  /// of blocking calls) to the server that holds `routing_key`, and returns its reply.
  /// Throws the transport's errors; error replies are returned, not thrown.
  virtual protocol::Reply round_trip(std::string_view routing_key, std::string_view request,
                                     std::optional<std::uint32_t> opaque) = 0;
  /// Thread-safe. Sends to server `index` of servers(), bypassing placement.
  virtual void send_to(std::size_t index, net::PendingRequest request) = 0;
  virtual std::vector<ServerAddress> servers() const = 0;
  /// Thread-safe. Throws IoError if no server is available.
  virtual ServerAddress server_for(std::string_view key) const = 0;

 protected:
  Transport();
  /// Runs `close` on the I/O thread, waits for it, then stops and joins the thread.
  /// Derived destructors call this first, while their members still exist.
  void shutdown(std::function<void()> close);

  // Shared with the I/O thread, so that a transport destroyed from one of its own
  // callbacks can detach the thread and leave the context alive until run() returns.
  std::shared_ptr<asio::io_context> io_owner_;
  asio::io_context& io_;

 private:
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::atomic<std::uint32_t> next_opaque_{1};
  std::thread thread_;
};

std::unique_ptr<Transport> make_single_server_transport(ServerAddress server,
                                                        const ClientOptions& options);
std::unique_ptr<Transport> make_hash_transport(std::vector<ServerAddress> servers,
                                               const HashClientOptions& options);

}  // namespace llmcache::detail
