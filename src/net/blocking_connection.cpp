#include "net/blocking_connection.hpp"

#include <llmcache/errors.hpp>

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace llmcache::net {
namespace {

constexpr std::size_t kReadChunkBytes = 64 * 1024;

int remaining_ms(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count()) + 1;
}

// Error replies may lack the opaque (memcached's CLIENT_ERROR does), as in Connection.
bool is_error_reply(const protocol::Reply& reply) {
  using protocol::Status;
  return reply.status == Status::kError || reply.status == Status::kClientError ||
         reply.status == Status::kServerError;
}

// Something to read on a socket with no request outstanding: the server closed it (it was
// restarted while we were idle) or sent bytes nobody asked for.
bool readable_now(int fd) {
  pollfd pfd{fd, POLLIN, 0};
  return ::poll(&pfd, 1, 0) != 0;
}

struct AddrInfo {
  addrinfo* list = nullptr;
  ~AddrInfo() {
    if (list) ::freeaddrinfo(list);
  }
};

}  // namespace

BlockingConnection::BlockingConnection(const ServerAddress& address, const ClientOptions& options)
    : address_(address), options_(options), parser_(parser_limits()) {}

protocol::ParserLimits BlockingConnection::parser_limits() const {
  protocol::ParserLimits limits;
  limits.max_value_bytes = options_.max_value_bytes;
  return limits;
}

BlockingConnection::~BlockingConnection() {
  close();
}

void BlockingConnection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void BlockingConnection::fail(const std::exception_ptr& error) {
  close();
  std::rethrow_exception(error);
}

void BlockingConnection::wait(short events, Clock::time_point deadline, const char* what) {
  for (;;) {
    pollfd pfd{fd_, events, 0};
    const int ready = ::poll(&pfd, 1, remaining_ms(deadline));
    if (ready > 0) return;
    if (ready == 0) {
      const auto limit =
          std::string(what) == "connect" ? options_.connect_timeout : options_.request_timeout;
      fail(std::make_exception_ptr(TimeoutError("memcached " + address_.name() + ": " + what +
                                                " timed out after " +
                                                std::to_string(limit.count()) + " ms")));
    }
    if (errno != EINTR) {
      fail(std::make_exception_ptr(
          IoError("memcached " + address_.name() + ": poll failed: " + std::strerror(errno))));
    }
  }
}

void BlockingConnection::connect(Clock::time_point deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  AddrInfo addresses;
  const std::string port = std::to_string(address_.port);
  if (int rc = ::getaddrinfo(address_.host.c_str(), port.c_str(), &hints, &addresses.list)) {
    throw IoError("memcached " + address_.name() + ": cannot resolve host: " + gai_strerror(rc));
  }
  std::string last_error = "no address";
  for (addrinfo* ai = addresses.list; ai; ai = ai->ai_next) {
    fd_ = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd_ < 0) continue;
    if (::connect(fd_, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
      last_error = std::strerror(errno);
      close();
      continue;
    }
    wait(POLLOUT, deadline, "connect");
    int error = 0;
    socklen_t length = sizeof error;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error == 0) {
      int one = 1;
      ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return;
    }
    last_error = std::strerror(error);
    close();
  }
  const bool refused = last_error == std::strerror(ECONNREFUSED);
  throw IoError("memcached " + address_.name() + ": cannot connect: " + last_error +
                (refused ? " (is memcached running there? check the server list)" : ""));
}

protocol::Reply BlockingConnection::round_trip(std::string_view request,
                                               std::optional<std::uint32_t> opaque) {
  const auto start = Clock::now();
  // An idle socket with something to read (see readable_now) cannot carry this request:
  // start afresh rather than fail it.
  if (fd_ >= 0 && (parser_.buffered() > 0 || readable_now(fd_))) {
    close();
    parser_ = protocol::MetaParser(parser_limits());
  }
  if (fd_ < 0) connect(start + options_.connect_timeout);
  const auto deadline = Clock::now() + options_.request_timeout;
  try {
    std::size_t sent = 0;
    while (sent < request.size()) {
      const ssize_t n = ::send(fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        wait(POLLOUT, deadline, "request");
      } else if (n < 0 && errno != EINTR) {
        throw IoError("memcached " + address_.name() + ": write failed: " + std::strerror(errno));
      }
    }
    if (buffer_.empty()) buffer_.resize(kReadChunkBytes);
    Clock::time_point spin_until{};
    for (;;) {
      if (auto reply = parser_.next()) {
        // A reply without our opaque is someone else's, unless it is an error reply.
        if (opaque && (reply->opaque ? *reply->opaque != *opaque : !is_error_reply(*reply))) {
          throw ProtocolError("memcached " + address_.name() + ": reply out of order");
        }
        return std::move(*reply);
      }
      const ssize_t n = ::recv(fd_, buffer_.data(), buffer_.size(), 0);
      if (n > 0) {
        parser_.feed(std::string_view(buffer_.data(), static_cast<std::size_t>(n)));
      } else if (n == 0) {
        throw IoError("memcached " + address_.name() + ": connection closed by the server");
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (spin_until == Clock::time_point{}) spin_until = Clock::now() + options_.blocking_spin;
        if (Clock::now() < spin_until) continue;
        wait(POLLIN, deadline, "request");
      } else if (errno != EINTR) {
        throw IoError("memcached " + address_.name() + ": read failed: " + std::strerror(errno));
      }
    }
  } catch (const ProtocolError& e) {
    parser_ = protocol::MetaParser(parser_limits());
    fail(std::make_exception_ptr(
        ProtocolError(std::string(e.what()).starts_with("memcached ")
                          ? e.what()
                          : "memcached " + address_.name() + ": " + e.what())));
  } catch (...) {
    parser_ = protocol::MetaParser(parser_limits());
    fail(std::current_exception());
  }
}

BlockingPool::BlockingPool(ServerAddress address, const ClientOptions& options)
    : address_(std::move(address)), options_(options) {}

protocol::Reply BlockingPool::round_trip(std::string_view request,
                                         std::optional<std::uint32_t> opaque) {
  std::unique_ptr<BlockingConnection> connection;
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      connection = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (!connection) connection = std::make_unique<BlockingConnection>(address_, options_);
  // On a throw the connection is dropped with its socket: it may hold a late reply.
  protocol::Reply reply = connection->round_trip(request, opaque);
  std::lock_guard lock(mutex_);
  if (idle_.size() < kMaxIdle) idle_.push_back(std::move(connection));
  return reply;
}

}  // namespace llmcache::net
