#include "client/transport.hpp"

#include <llmcache/errors.hpp>

#include "net/auth.hpp"

#include <asio/post.hpp>

#include <algorithm>
#include <future>

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

Transport::Transport()
    : io_owner_(std::make_shared<asio::io_context>()),
      io_(*io_owner_),
      work_(asio::make_work_guard(io_)),
      thread_([io = io_owner_] { io->run(); }) {}

Transport::~Transport() {
  if (thread_.joinable()) {
    work_.reset();
    io_.stop();
    thread_.join();
  }
}

void Transport::shutdown(std::function<void()> close) {
  if (std::this_thread::get_id() == thread_.get_id()) {
    // Destroyed from one of its own callbacks: the thread cannot join itself.
    close();
    io_.stop();
    thread_.detach();
    return;
  }
  std::promise<void> closed;
  asio::post(io_, [&] {
    close();
    closed.set_value();
  });
  closed.get_future().wait();
  work_.reset();
  io_.stop();
  thread_.join();
}

}  // namespace llmcache::detail
