#include "client/transport.hpp"

#include <llmcache/errors.hpp>

#include "net/auth.hpp"

#include <asio/post.hpp>

#include <algorithm>
#include <chrono>
#include <thread>

namespace llmcache::detail {

void validate(const ClientOptions& options) {
  if (options.connect_timeout <= std::chrono::milliseconds::zero() ||
      options.request_timeout <= std::chrono::milliseconds::zero()) {
    throw InvalidArgumentError("connect_timeout and request_timeout must be positive");
  }
  if (options.max_in_flight == 0) throw InvalidArgumentError("max_in_flight must be positive");
  net::validate_credentials(options.credentials);
}

ServerConnections::ServerConnections(asio::io_context& io, ServerAddress address,
                                     const ClientOptions& options,
                                     std::shared_ptr<const net::TlsContext> tls)
    : address_(std::move(address)) {
  validate(options);
  const std::size_t count = std::max<std::size_t>(options.connections, 1);
  for (std::size_t i = 0; i < count; ++i) {
    connections_.push_back(std::make_shared<net::Connection>(io, address_, options, tls));
  }
}

void ServerConnections::submit(Request request) {
  submit(net::PendingRequest{std::move(request.bytes), request.opaque,
                             [on_reply = std::move(request.on_reply), server = &address_](
                                 std::exception_ptr error, protocol::Reply reply) {
                               on_reply(error, std::move(reply), server);
                             }});
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

std::exception_ptr closed_error() {
  return std::make_exception_ptr(ClosedError("llmcache client closed"));
}

Transport::Transport()
    : io_owner_(std::make_shared<asio::io_context>()),
      io_(*io_owner_),
      generation_(fork_generation()),
      work_(asio::make_work_guard(io_)),
      thread_([io = io_owner_] { io->run(); }) {}

Transport::~Transport() {
  if (thread_.joinable()) {
    work_.reset();
    io_.stop();
    thread_.join();
  }
}

void Transport::send(std::vector<RoutedRequest> requests) {
  asio::post(io_, [this, requests = std::move(requests)]() mutable {
    // Checked here, on the I/O thread, as well as by the caller: a send that was on its
    // way while close() ran arrives after close_connections() and must not reconnect.
    if (closed_.load()) {
      for (auto& routed : requests) routed.request.on_reply(closed_error(), {}, nullptr);
      return;
    }
    dispatch(std::move(requests));
  });
}

void Transport::send_to(std::size_t index, Request request) {
  asio::post(io_, [this, index, request = std::move(request)]() mutable {
    if (closed_.load()) return request.on_reply(closed_error(), {}, nullptr);
    dispatch_to(index, std::move(request));
  });
}

void Transport::close() {
  if (closed_.exchange(true)) return;
  close_signal_.raise();
  close_blocking();
  if (in_io_thread()) {
    close_connections();
  } else {
    asio::post(io_, [this] { close_connections(); });
  }
}

void Transport::shutdown() {
  close();
  // close() has woken the calls inside; none waits for the I/O thread (see arrive()), so
  // each leaves within moments. Polled, not notified: a call's decrement must be its last
  // touch of the transport, which is destroyed as soon as the count reaches zero.
  for (int polls = 0; active_calls_.load() != 0; ++polls) {
    if (polls < 1000) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }
  if (in_io_thread()) {
    // Destroyed from one of its own callbacks: the thread cannot join itself.
    io_.stop();
    thread_.detach();
    return;
  }
  // Rather than stop(): the close, the sends queued behind it (failing with ClosedError)
  // and the completions they post must all run, so that every callback fires once. With
  // the connections closed, nothing of ours keeps the context busy for long.
  work_.reset();
  thread_.join();
}

}  // namespace llmcache::detail
