#include "client/transport.hpp"

#include <llmcache/errors.hpp>

#include "net/auth.hpp"

#include <asio/post.hpp>

#include <algorithm>

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
      for (auto& routed : requests) routed.request.on_reply(closed_error(), {});
      return;
    }
    dispatch(std::move(requests));
  });
}

void Transport::send_to(std::size_t index, net::PendingRequest request) {
  asio::post(io_, [this, index, request = std::move(request)]() mutable {
    if (closed_.load()) return request.on_reply(closed_error(), {});
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
  if (in_io_thread()) {
    // Destroyed from one of its own callbacks: the thread can neither wait for the calls
    // it serves nor join itself.
    io_.stop();
    thread_.detach();
    return;
  }
  // close() has woken them; each leaves as soon as its call returns.
  for (auto calls = active_calls_.load(); calls != 0; calls = active_calls_.load()) {
    active_calls_.wait(calls);
  }
  // Rather than stop(): the close, the sends queued behind it (failing with ClosedError)
  // and the completions they post must all run, so that every callback fires once. With
  // the connections closed, nothing of ours keeps the context busy for long.
  work_.reset();
  thread_.join();
}

}  // namespace llmcache::detail
