#include "net/blocking_connection.hpp"

#include <llmcache/errors.hpp>

#include "net/auth.hpp"
#include "net/net_error.hpp"
#include "net/reply_matcher.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

namespace llmcache::net {
namespace {

constexpr std::size_t kReadChunkBytes = 64 * 1024;

int remaining_ms(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count()) + 1;
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

// What an SSL_* call that returned `result` failed with, for a message.
std::string ssl_failure(int ssl_error, int saved_errno) {
  if (ssl_error == SSL_ERROR_SYSCALL) {
    const std::string queued = last_openssl_error("");
    if (!queued.empty()) return queued;
    return saved_errno ? std::strerror(saved_errno) : "the server closed the connection";
  }
  return last_openssl_error("TLS error " + std::to_string(ssl_error));
}

}  // namespace

BlockingConnection::BlockingConnection(const ServerAddress& address, const ClientOptions& options,
                                       std::shared_ptr<const TlsContext> tls,
                                       const CloseSignal* closing)
    : address_(address),
      options_(options),
      tls_(std::move(tls)),
      closing_(closing),
      parser_(parser_limits()) {}

protocol::ParserLimits BlockingConnection::parser_limits() const {
  protocol::ParserLimits limits;
  limits.max_value_bytes = options_.max_value_bytes;
  return limits;
}

BlockingConnection::~BlockingConnection() {
  close();
}

void BlockingConnection::close() {
  // No TLS close_notify: the socket may be broken, and memcached needs none.
  ssl_.reset();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void BlockingConnection::fail(const std::exception_ptr& error) {
  close();
  std::rethrow_exception(error);
}

void BlockingConnection::wait(short events, Clock::time_point deadline, const char* what) {
  for (;;) {
    // The close signal beside the socket (poll skips a negative fd): close() wakes us.
    pollfd pfds[2] = {{fd_, events, 0}, {closing_ ? closing_->fd() : -1, POLLIN, 0}};
    const int ready = ::poll(pfds, 2, remaining_ms(deadline));
    if (ready > 0 && pfds[1].revents != 0) {
      fail(net_failure<ClosedError>(address_, ErrorReason::kClosedByClient, "client closed"));
    }
    if (ready > 0) return;
    if (ready == 0) {
      const auto limit =
          std::string_view(what) == "request" ? options_.request_timeout : options_.connect_timeout;
      // A plaintext server reads a ClientHello as the start of a command line and waits
      // for the rest: a handshake that times out most often means that.
      const char* hint =
          std::string_view(what) == "TLS handshake" ? " (does the server speak TLS?)" : "";
      fail(net_failure<TimeoutError>(
          address_, ErrorReason::kTimedOut,
          std::string(what) + " timed out after " + std::to_string(limit.count()) + " ms" + hint));
    }
    if (errno != EINTR) {
      fail(net_failure<IoError>(
          address_, (events & POLLIN) ? ErrorReason::kReadFailed : ErrorReason::kWriteFailed,
          std::string("poll failed: ") + std::strerror(errno)));
    }
  }
}

void BlockingConnection::connect(Clock::time_point deadline) {
  open_socket(deadline);
  try {
    if (tls_) handshake(deadline);
    if (wants_auth(options_.credentials)) authenticate(deadline);
  } catch (...) {
    parser_ = protocol::MetaParser(parser_limits());
    fail(std::current_exception());
  }
}

void BlockingConnection::open_socket(Clock::time_point deadline) {
  if (address_.is_unix()) return open_unix_socket();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  AddrInfo addresses;
  const std::string port = std::to_string(address_.port);
  if (int rc = ::getaddrinfo(address_.host.c_str(), port.c_str(), &hints, &addresses.list)) {
    throw net_error<IoError>(address_, ErrorReason::kResolveFailed,
                             std::string("cannot resolve host: ") + gai_strerror(rc));
  }
  // getaddrinfo never answers an empty list; this stands for "no address" all the same.
  std::error_code last_error = std::make_error_code(std::errc::address_not_available);
  for (addrinfo* ai = addresses.list; ai; ai = ai->ai_next) {
    fd_ = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd_ < 0) {
      last_error = std::error_code(errno, std::system_category());
      continue;
    }
    if (::connect(fd_, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
      last_error = std::error_code(errno, std::system_category());
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
    last_error = std::error_code(error, std::system_category());
    close();
  }
  throw connect_error(address_, last_error);
}

void BlockingConnection::open_unix_socket() {
  sockaddr_un where{};
  where.sun_family = AF_UNIX;
  // parse_server refused paths that do not fit, with the terminating NUL.
  std::memcpy(where.sun_path, address_.unix_path.c_str(), address_.unix_path.size() + 1);
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  // A local connect completes or fails at once; Linux answers EAGAIN (rather than
  // completing later, as TCP does) when the server's listen backlog is full.
  if (fd_ >= 0 && ::connect(fd_, reinterpret_cast<const sockaddr*>(&where), sizeof where) == 0) {
    return;
  }
  const std::error_code failure(errno, std::system_category());
  close();
  throw connect_error(address_, failure);
}

void BlockingConnection::handshake(Clock::time_point deadline) {
  ssl_.reset(::SSL_new(tls_->context().native_handle()));
  BIO* bio = ssl_ ? make_socket_bio(fd_) : nullptr;
  if (!bio) {
    throw net_error<IoError>(address_, ErrorReason::kTlsHandshakeFailed,
                             "cannot start TLS: " + last_openssl_error("out of memory"));
  }
  ::SSL_set_bio(ssl_.get(), bio, bio);  // the SSL owns the BIO from here
  tls_->prepare(ssl_.get(), address_);
  for (;;) {
    ::ERR_clear_error();
    errno = 0;
    const int rc = ::SSL_connect(ssl_.get());
    if (rc == 1) return;
    const int saved_errno = errno;
    const int ssl_error = ::SSL_get_error(ssl_.get(), rc);
    if (ssl_error == SSL_ERROR_WANT_READ) {
      wait(POLLIN, deadline, "TLS handshake");
    } else if (ssl_error == SSL_ERROR_WANT_WRITE) {
      wait(POLLOUT, deadline, "TLS handshake");
    } else {
      throw tls_->handshake_error(ssl_.get(), address_, ssl_failure(ssl_error, saved_errno));
    }
  }
}

void BlockingConnection::authenticate(Clock::time_point deadline) {
  AuthExchange exchange(options_.credentials, address_);
  send_all(exchange.request(), deadline, "authentication");
  for (;;) {
    const std::size_t n = receive(deadline, "authentication", false);
    if (exchange.feed(std::string_view(buffer_.data(), n))) break;
  }
  parser_.feed(exchange.rest());
}

void BlockingConnection::send_all(std::string_view bytes, Clock::time_point deadline,
                                  const char* what) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const char* data = bytes.data() + sent;
    const std::size_t size = bytes.size() - sent;
    if (ssl_) {
      ::ERR_clear_error();
      errno = 0;
      // After WANT_* OpenSSL needs the same arguments again, which the loop passes.
      const int n = ::SSL_write(
          ssl_.get(), data,
          static_cast<int>(std::min<std::size_t>(size, std::numeric_limits<int>::max())));
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
        continue;
      }
      const int saved_errno = errno;
      const int ssl_error = ::SSL_get_error(ssl_.get(), n);
      if (ssl_error == SSL_ERROR_WANT_WRITE) {
        wait(POLLOUT, deadline, what);
      } else if (ssl_error == SSL_ERROR_WANT_READ) {
        wait(POLLIN, deadline, what);
      } else {
        throw net_error<IoError>(address_, ErrorReason::kWriteFailed,
                                 "write failed: " + ssl_failure(ssl_error, saved_errno));
      }
      continue;
    }
    const ssize_t n = ::send(fd_, data, size, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      wait(POLLOUT, deadline, what);
    } else if (n < 0 && errno != EINTR) {
      throw net_error<IoError>(address_, ErrorReason::kWriteFailed,
                               std::string("write failed: ") + std::strerror(errno));
    }
  }
}

std::size_t BlockingConnection::receive(Clock::time_point deadline, const char* what, bool spin) {
  if (buffer_.empty()) buffer_.resize(kReadChunkBytes);
  const std::string during =
      std::string_view(what) == "request" ? std::string() : std::string(" during ") + what;
  Clock::time_point spin_until{};
  for (;;) {
    short events = POLLIN;
    if (ssl_) {
      ::ERR_clear_error();
      errno = 0;
      const int n = ::SSL_read(ssl_.get(), buffer_.data(), static_cast<int>(buffer_.size()));
      if (n > 0) return static_cast<std::size_t>(n);
      const int saved_errno = errno;
      const int ssl_error = ::SSL_get_error(ssl_.get(), n);
      if (ssl_error == SSL_ERROR_ZERO_RETURN) {
        throw net_error<IoError>(address_, ErrorReason::kClosedByServer,
                                 "connection closed by the server" + during);
      }
      if (ssl_error == SSL_ERROR_WANT_WRITE) {
        events = POLLOUT;
      } else if (ssl_error != SSL_ERROR_WANT_READ) {
        throw net_error<IoError>(address_, ErrorReason::kReadFailed,
                                 "read failed: " + ssl_failure(ssl_error, saved_errno) + during);
      }
    } else {
      const ssize_t n = ::recv(fd_, buffer_.data(), buffer_.size(), 0);
      if (n > 0) return static_cast<std::size_t>(n);
      if (n == 0) {
        throw net_error<IoError>(address_, ErrorReason::kClosedByServer,
                                 "connection closed by the server" + during);
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        throw net_error<IoError>(address_, ErrorReason::kReadFailed,
                                 std::string("read failed: ") + std::strerror(errno) + during);
      }
    }
    if (spin && events == POLLIN) {
      if (spin_until == Clock::time_point{}) spin_until = Clock::now() + options_.blocking_spin;
      if (Clock::now() < spin_until) continue;
    }
    wait(events, deadline, what);
  }
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
    send_all(request, deadline, "request");
    for (;;) {
      if (auto reply = parser_.next()) {
        check_answers(*reply, opaque, address_);
        return std::move(*reply);
      }
      const std::size_t n = receive(deadline, "request", true);
      parser_.feed(std::string_view(buffer_.data(), n));
    }
  } catch (const ProtocolError& e) {
    parser_ = protocol::MetaParser(parser_limits());
    fail(std::make_exception_ptr(with_server(e, address_)));
  } catch (...) {
    parser_ = protocol::MetaParser(parser_limits());
    fail(std::current_exception());
  }
}

BlockingPool::BlockingPool(ServerAddress address, const ClientOptions& options,
                           std::shared_ptr<const TlsContext> tls, const CloseSignal* closing)
    : address_(std::move(address)), options_(options), tls_(std::move(tls)), closing_(closing) {}

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
  if (!connection) {
    connection = std::make_unique<BlockingConnection>(address_, options_, tls_, closing_);
  }
  // On a throw the connection is dropped with its socket: it may hold a late reply.
  protocol::Reply reply = connection->round_trip(request, opaque);
  std::lock_guard lock(mutex_);
  if (!closed_ && idle_.size() < kMaxIdle) idle_.push_back(std::move(connection));
  return reply;
}

void BlockingPool::close() {
  std::vector<std::unique_ptr<BlockingConnection>> idle;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    idle.swap(idle_);
  }
  // Destroyed here, outside the lock; each closes its socket.
}

}  // namespace llmcache::net
