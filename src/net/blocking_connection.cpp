#include "net/blocking_connection.hpp"

#include <llmcache/errors.hpp>

#include "net/auth.hpp"
#include "net/endpoints.hpp"
#include "net/net_error.hpp"
#include "net/reply_matcher.hpp"
#include "net/tls_session.hpp"

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

// Something to read on a socket with no request outstanding: the server closed it (it was
// restarted while we were idle) or sent bytes nobody asked for.
bool readable_now(int fd) {
  pollfd pfd{fd, POLLIN, 0};
  return ::poll(&pfd, 1, 0) != 0;
}

}  // namespace

BlockingConnection::BlockingConnection(const ServerAddress& address, const ClientOptions& options,
                                       std::shared_ptr<const TlsContext> tls,
                                       const CloseSignal* closing, const WireChoice* wire)
    : address_(address),
      options_(options),
      tls_(std::move(tls)),
      closing_(closing),
      wire_(wire),
      spin_(options.blocking_spin),
      parser_(fresh_parser()) {}

protocol::ParserLimits BlockingConnection::parser_limits() const {
  protocol::ParserLimits limits;
  limits.max_value_bytes = options_.max_value_bytes;
  return limits;
}

protocol::ReplyParser BlockingConnection::fresh_parser() const {
  return protocol::ReplyParser(parser_limits(),
                               wire_ ? wire_->get_or_meta() : protocol::Wire::kMeta);
}

BlockingConnection::~BlockingConnection() {
  close();
}

void BlockingConnection::close() {
  // No TLS close_notify: the socket may be broken, and memcached needs none.
  tls_session_.reset();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void BlockingConnection::fail(const std::exception_ptr& error) {
  close();
  std::rethrow_exception(error);
}

void BlockingConnection::fail_request() {
  // The stream position is unknown after any failure mid-request: the socket is closed and
  // the parser starts afresh with the next connection.
  parser_ = fresh_parser();
  try {
    throw;
  } catch (const ProtocolError& e) {
    fail(std::make_exception_ptr(with_server(e, address_)));
  } catch (...) {
    fail(std::current_exception());
  }
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
  // The protocol may have been decided since this connection last opened.
  if (wire_ && parser_.wire() != wire_->get_or_meta()) parser_ = fresh_parser();
  open_socket(deadline);
  try {
    if (tls_) handshake(deadline);
    if (wants_auth(options_.credentials)) authenticate(deadline);
  } catch (...) {
    parser_ = fresh_parser();
    fail(std::current_exception());
  }
}

void BlockingConnection::open_socket(Clock::time_point deadline) {
  Connector connector(address_, resolve(address_));
  // As the async path does, waiting with poll() instead of Asio.
  while (const auto attempt = connector.next()) {
    fd_ = attempt->fd;
    if (!attempt->in_progress) return;
    wait(POLLOUT, deadline, "connect");
    if (connector.connected(*attempt)) return;
    close();
  }
  throw connector.error();
}

void BlockingConnection::handshake(Clock::time_point deadline) {
  TlsSession& tls = tls_session_.emplace(*tls_, address_);
  for (;;) {
    const bool done = tls.handshake();
    ciphertext_.clear();
    tls.take_output(ciphertext_);
    if (const int error = write_socket(ciphertext_, deadline, "TLS handshake")) {
      throw tls.handshake_failed(std::strerror(error));
    }
    if (done) return;
    const SocketRead got = read_socket(deadline, "TLS handshake", false);
    if (got.error) throw tls.handshake_failed(std::strerror(got.error));
    if (got.bytes == 0) throw tls.handshake_failed("the server closed the connection");
    tls.feed(std::string_view(buffer_.data(), got.bytes));
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

int BlockingConnection::write_socket(std::string_view bytes, Clock::time_point deadline,
                                     const char* what) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      wait(POLLOUT, deadline, what);
    } else if (n < 0 && errno != EINTR) {
      return errno;
    }
  }
  return 0;
}

BlockingConnection::SocketRead BlockingConnection::read_socket(Clock::time_point deadline,
                                                               const char* what, bool spin) {
  if (buffer_.empty()) buffer_.resize(kReadChunkBytes);
  // The clock is read only once the socket has nothing: a reply already there (the server
  // ran on this CPU while we sent) costs no time call and teaches the policy nothing.
  Clock::time_point waiting_since{};
  SpinPolicy::Duration budget{};
  bool spun = false;
  spin = spin && spin_.enabled();  // never spinning (blocking_spin 0): no clock reads either
  for (;;) {
    const ssize_t n = ::recv(fd_, buffer_.data(), buffer_.size(), 0);
    if (n >= 0) {
      if (waiting_since != Clock::time_point{}) {
        const auto waited = Clock::now() - waiting_since;
        if (budget > SpinPolicy::Duration::zero()) {
          spin_.caught(waited);
        } else {
          spin_.slept(waited, spun);
        }
      }
      return {static_cast<std::size_t>(n), 0};
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return {0, errno};
    if (spin) {
      const auto now = Clock::now();
      if (waiting_since == Clock::time_point{}) {
        waiting_since = now;
        budget = spin_.budget();
      }
      if (now - waiting_since < budget) continue;
      // Spent (or none): sleep below; the policy hears how long the reply took.
      spun = budget > SpinPolicy::Duration::zero();
      budget = SpinPolicy::Duration::zero();
      spin = false;
    }
    wait(POLLIN, deadline, what);
  }
}

void BlockingConnection::send_all(std::string_view bytes, Clock::time_point deadline,
                                  const char* what) {
  const auto write_all = [&](std::string_view out) {
    if (const int error = write_socket(out, deadline, what)) {
      throw net_error<IoError>(address_, ErrorReason::kWriteFailed,
                               std::string("write failed: ") + std::strerror(error));
    }
  };
  if (!tls_session_) return write_all(bytes);
  // A piece at a time; at least once, so that what TLS has waiting goes out even when
  // `bytes` is empty.
  do {
    const std::string_view piece = bytes.substr(0, kTlsWriteChunkBytes);
    bytes.remove_prefix(piece.size());
    ciphertext_.clear();
    tls_session_->write(piece);
    tls_session_->take_output(ciphertext_);
    write_all(ciphertext_);
  } while (!bytes.empty());
}

std::size_t BlockingConnection::receive(Clock::time_point deadline, const char* what, bool spin) {
  if (buffer_.empty()) buffer_.resize(kReadChunkBytes);
  const std::string during =
      std::string_view(what) == "request" ? std::string() : std::string(" during ") + what;
  for (;;) {
    if (tls_session_) {
      if (const std::size_t n = tls_session_->read(buffer_.data(), buffer_.size(), during)) {
        return n;
      }
      // Reading can make TLS answer (a key update); it must go out before we wait.
      if (tls_session_->has_output()) send_all({}, deadline, what);
    }
    const SocketRead got = read_socket(deadline, what, spin);
    if (got.error) {
      throw net_error<IoError>(address_, ErrorReason::kReadFailed,
                               std::string("read failed: ") + std::strerror(got.error) + during);
    }
    if (got.bytes == 0) {
      throw net_error<IoError>(address_, ErrorReason::kClosedByServer,
                               "connection closed by the server" + during);
    }
    if (!tls_session_) return got.bytes;
    tls_session_->feed(std::string_view(buffer_.data(), got.bytes));
  }
}

protocol::Reply BlockingConnection::round_trip(std::string_view request,
                                               std::optional<std::uint32_t> opaque,
                                               protocol::Accepts accepts) {
  const auto start = Clock::now();
  drop_if_unusable();
  bool connected = false;
  if (fd_ < 0) {
    connect(start + options_.connect_timeout);
    connected = true;
  }
  const auto deadline = (connected ? Clock::now() : start) + options_.request_timeout;
  try {
    send_all(request, deadline, "request");
    for (;;) {
      if (auto reply = parser_.next()) {
        check_answers(*reply, opaque, address_, accepts, request);
        return std::move(*reply);
      }
      const std::size_t n = receive(deadline, "request", true);
      parser_.feed(std::string_view(buffer_.data(), n));
    }
  } catch (...) {
    fail_request();
  }
}

void BlockingConnection::drop_if_unusable() {
  // An idle socket with something to read (see readable_now) cannot carry this request:
  // start afresh rather than fail it. Asked before every request, though it costs a
  // system call (about a tenth of a loopback round trip's CPU): bytes a server sent
  // after its last reply (a buggy or hostile server, or a proxy) would otherwise be read
  // as the answer to this request, and an opaque or key check cannot tell when they echo
  // the next one (tests/integration/hostile_test.cpp, UnsolicitedReply).
  if (fd_ >= 0 && (parser_.buffered() > 0 || (tls_session_ && tls_session_->has_input()) ||
                   readable_now(fd_))) {
    close();
    parser_ = fresh_parser();
  }
}

void BlockingConnection::send_available() {
  while (!pipeline_unsent_.empty()) {
    const ssize_t n =
        ::send(fd_, pipeline_unsent_.data(), pipeline_unsent_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      pipeline_unsent_.remove_prefix(static_cast<std::size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return;
    } else if (n < 0 && errno != EINTR) {
      throw net_error<IoError>(address_, ErrorReason::kWriteFailed,
                               std::string("write failed: ") + std::strerror(errno));
    }
  }
}

void BlockingConnection::start_pipeline(std::string_view requests) {
  const auto start = Clock::now();
  drop_if_unusable();
  if (fd_ < 0) connect(start + options_.connect_timeout);
  pipeline_deadline_ = Clock::now() + options_.request_timeout;
  pipeline_requests_ = requests;
  pipeline_unsent_ = {};
  try {
    if (tls_session_) {
      // TLS records must go out in order, and reading may make the session write (see
      // receive): the batch is written whole first, as round_trip writes its request.
      send_all(requests, pipeline_deadline_, "request");
    } else {
      pipeline_unsent_ = requests;
      send_available();
    }
  } catch (...) {
    parser_ = fresh_parser();
    fail(std::current_exception());
  }
}

void BlockingConnection::finish_pipeline(std::span<const PipelinedRequest> expected,
                                         PipelineSink& sink) {
  try {
    for (std::size_t next = 0; next < expected.size();) {
      if (auto reply = parser_.next()) {
        const PipelinedRequest& request = expected[next];
        const std::string_view bytes = pipeline_requests_.substr(request.offset, request.size);
        check_answers(*reply, request.opaque, address_, request.accepts, bytes);
        sink.reply(next++, bytes, *reply);
        continue;
      }
      if (pipeline_unsent_.empty()) {
        const std::size_t n = receive(pipeline_deadline_, "request", true);
        parser_.feed(std::string_view(buffer_.data(), n));
        continue;
      }
      // Still writing: take what the server has answered so far (it may be blocked on
      // writing to us), then wait until either way can move.
      send_available();
      if (pipeline_unsent_.empty()) continue;
      if (buffer_.empty()) buffer_.resize(kReadChunkBytes);
      const ssize_t n = ::recv(fd_, buffer_.data(), buffer_.size(), MSG_DONTWAIT);
      if (n > 0) {
        parser_.feed(std::string_view(buffer_.data(), static_cast<std::size_t>(n)));
      } else if (n == 0) {
        throw net_error<IoError>(address_, ErrorReason::kClosedByServer,
                                 "connection closed by the server");
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        wait(POLLIN | POLLOUT, pipeline_deadline_, "request");
      } else if (errno != EINTR) {
        throw net_error<IoError>(address_, ErrorReason::kReadFailed,
                                 std::string("read failed: ") + std::strerror(errno));
      }
    }
  } catch (...) {
    fail_request();
  }
  pipeline_requests_ = pipeline_unsent_ = {};
}

BlockingPool::BlockingPool(ServerAddress address, const ClientOptions& options,
                           std::shared_ptr<const TlsContext> tls, const CloseSignal* closing,
                           const WireChoice* wire)
    : address_(std::move(address)),
      options_(options),
      tls_(std::move(tls)),
      closing_(closing),
      wire_(wire) {}

protocol::Reply BlockingPool::round_trip(std::string_view request,
                                         std::optional<std::uint32_t> opaque,
                                         protocol::Accepts accepts) {
  std::unique_ptr<BlockingConnection> connection = take();
  // On a throw the connection is dropped with its socket: it may hold a late reply.
  protocol::Reply reply = connection->round_trip(request, opaque, accepts);
  give_back(std::move(connection));
  return reply;
}

std::unique_ptr<BlockingConnection> BlockingPool::take() {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      auto connection = std::move(idle_.back());
      idle_.pop_back();
      return connection;
    }
  }
  return std::make_unique<BlockingConnection>(address_, options_, tls_, closing_, wire_);
}

void BlockingPool::give_back(std::unique_ptr<BlockingConnection> connection) {
  std::lock_guard lock(mutex_);
  if (!closed_ && idle_.size() < kMaxIdle) idle_.push_back(std::move(connection));
}

void BlockingPool::drop_idle() {
  std::vector<std::unique_ptr<BlockingConnection>> idle;
  {
    std::lock_guard lock(mutex_);
    idle.swap(idle_);
  }
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
