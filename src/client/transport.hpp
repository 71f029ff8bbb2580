#pragma once
// Where requests go: the I/O thread and the servers behind a ClientBase. Client uses
// one server as given; HashClient places each key and applies pymemcache's failure rules.
#include <llmcache/options.hpp>

#include "client/item_limits.hpp"
#include "net/blocking_connection.hpp"
#include "net/close_signal.hpp"
#include "net/connection.hpp"

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

namespace llmcache::detail {

/// Called exactly once with the reply, or the error that ended the wait, and the server the
/// request went to (null when it went nowhere: the client was closed), so that an error
/// reply can name its server.
using ReplyHandler =
    std::function<void(std::exception_ptr, protocol::Reply, const ServerAddress* server)>;

/// One request as the client hands it to the transport.
struct Request {
  /// The request bytes, exactly one request.
  std::string bytes;
  /// The opaque the reply must echo; nullopt for classic commands, which echo nothing.
  std::optional<std::uint32_t> opaque;
  ReplyHandler on_reply;
};

struct RoutedRequest {
  /// The key that decides the server (ignored by a single-server transport).
  std::string routing_key;
  Request request;
};

/// A blocking round trip's reply and the server that gave it.
struct Answer {
  protocol::Reply reply;
  const ServerAddress& server;
};

/// A server's connections; requests go to the one with the fewest in flight.
/// I/O thread only.
class ServerConnections {
 public:
  /// `tls` is null for plaintext.
  ServerConnections(asio::io_context& io, ServerAddress address, const ClientOptions& options,
                    std::shared_ptr<const net::TlsContext> tls);
  void submit(Request request);
  void submit(net::PendingRequest request);
  void close();
  const ServerAddress& address() const { return address_; }

 private:
  ServerAddress address_;
  std::vector<std::shared_ptr<net::Connection>> connections_;
};

/// The ClosedError every request gets once its client is closed.
std::exception_ptr closed_error();

/// The fork generation of this process: bumped in each child that fork() makes (see
/// client/lifecycle.hpp).
std::uint64_t fork_generation();

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
  /// that cannot be sent fails through its own callback, with ClosedError once closed.
  void send(std::vector<RoutedRequest> requests);
  /// Thread-safe. Sends to server `index` of servers(), bypassing placement.
  void send_to(std::size_t index, Request request);
  /// Thread-safe and blocking: sends one request from the calling thread (the fast path
  /// of blocking calls) to the server that holds `routing_key`, and returns its reply.
  /// Throws the transport's errors; error replies are returned, not thrown.
  virtual Answer round_trip(std::string_view routing_key, std::string_view request,
                            std::optional<std::uint32_t> opaque) = 0;
  virtual std::vector<ServerAddress> servers() const = 0;
  /// Thread-safe. Throws IoError if no server is available.
  virtual ServerAddress server_for(std::string_view key) const = 0;

  /// Thread-safe, idempotent, does not wait. Blocking round trips waiting on a socket wake
  /// and fail with ClosedError; pending requests fail with ClosedError on the I/O thread;
  /// later sends fail so too. The I/O thread runs on until destruction, because the
  /// completions of those failures run there.
  void close();

  /// A call in progress, between the two: the destructor waits for it to leave. arrive()
  /// must be followed by a check that the client is not closed (see Lifecycle::enter).
  /// A call that holds the transport must not wait for the I/O thread (a destructor on
  /// that thread waits for it).
  void arrive() noexcept { active_calls_.fetch_add(1); }
  /// The call's last touch: the transport may be destroyed the moment after.
  void leave() noexcept { active_calls_.fetch_sub(1); }

  /// fork_generation() when this transport was built: another one means it was
  /// inherited across fork() and must not be used, closed or destroyed.
  std::uint64_t generation() const { return generation_; }
  /// On a transport built in a forked child: the inherited one it replaced, kept here
  /// (never destroyed) so that it stays reachable.
  Transport* inherited = nullptr;

 protected:
  Transport();
  /// Closes, waits for the calls in progress to leave, lets the I/O thread run out of
  /// work (so every completion already queued runs) and joins it. Derived destructors
  /// call this first, while their members still exist.
  void shutdown();

  /// Raised by close(); the blocking pools poll it.
  const net::CloseSignal& close_signal() const { return close_signal_; }

  /// I/O thread: gives each request to the server that holds its routing key.
  virtual void dispatch(std::vector<RoutedRequest> requests) = 0;
  /// I/O thread: gives the request to server `index`.
  virtual void dispatch_to(std::size_t index, Request request) = 0;
  /// I/O thread: fails every pending request with ClosedError and closes the connections.
  virtual void close_connections() = 0;
  /// Any thread: drops the idle blocking sockets, and those handed back later.
  virtual void close_blocking() = 0;

  // Shared with the I/O thread, so that a transport destroyed from one of its own
  // callbacks can detach the thread and leave the context alive until run() returns.
  std::shared_ptr<asio::io_context> io_owner_;
  asio::io_context& io_;

 private:
  const std::uint64_t generation_;
  net::CloseSignal close_signal_;
  std::atomic<bool> closed_{false};
  std::atomic<std::uint32_t> active_calls_{0};
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::atomic<std::uint32_t> next_opaque_{1};
  std::thread thread_;
};

std::unique_ptr<Transport> make_single_server_transport(ServerAddress server,
                                                        const ClientOptions& options);
std::unique_ptr<Transport> make_hash_transport(std::vector<ServerAddress> servers,
                                               const HashClientOptions& options);

}  // namespace llmcache::detail
