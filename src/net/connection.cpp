#include "net/connection.hpp"

#include "net/auth.hpp"
#include "net/endpoints.hpp"
#include "net/net_error.hpp"
#include "protocol/classic_requests.hpp"

#include <llmcache/errors.hpp>

#include <netinet/in.h>
#include <unistd.h>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <algorithm>

namespace llmcache::net {
namespace {

constexpr std::size_t kReadChunkBytes = 64 * 1024;

// asio's system errors are errno values in a category of its own, which does not compare
// equal to std::errc; connect_error judges errno values, as the blocking path has them.
std::error_code as_errno(std::error_code ec) {
  return ec.category() == asio::system_category()
             ? std::error_code(ec.value(), std::system_category())
             : ec;
}

}  // namespace

Connection::Connection(asio::io_context& io, ServerAddress address, const ClientOptions& options,
                       std::shared_ptr<const TlsContext> tls, const WireChoice* wire)
    : io_(io),
      address_(std::move(address)),
      options_(options),
      tls_(std::move(tls)),
      wire_(wire),
      deadline_timer_(io),
      pending_(address_) {}

void Connection::submit(PendingRequest request) {
  if (requests_in_flight_ >= options_.max_in_flight) {
    request.on_reply(net_failure<IoError>(address_, ErrorReason::kTooManyInFlight,
                                          std::to_string(requests_in_flight_) +
                                              " requests already in flight; refusing more"),
                     {});
    return;
  }
  ++requests_in_flight_;
  const bool classic_get = needs_request_bytes(request.opaque, request.accepts);
  if (get_open_ && classic_get && request.accepts == open_get_accepts_) {
    // memcached writes its answer to each classic get on its own (a sendmsg per get,
    // where meta replies to a pipeline share one): single-key gets queued behind another
    // that is not written yet join its line, and the one reply is split per key
    // (on_reply). The line stays under the proxies' limit and holds at most
    // kClassicMergedGetKeys gets; a repeated key starts anew.
    const std::string_view key = open_get_.merge(pending_.newest_request(), request.bytes);
    if (!key.empty()) {
      const std::size_t line_end = outbox_.size() - 2;  // before the line's \r\n
      outbox_.insert(line_end, key);
      outbox_.insert(line_end, 1, ' ');
      pending_.newest().merged.push_back(std::move(request.on_reply));
      return;
    }
  }
  outbox_ += request.bytes;
  get_open_ = classic_get && open_get_.start(request.bytes);
  open_get_accepts_ = request.accepts;
  // A classic get's reply is checked against the keys it asked for: its bytes, no longer
  // needed for writing, stay with it (moved, not copied).
  std::string asked;
  if (classic_get) asked = std::move(request.bytes);
  pending_.expect(request.opaque, request.accepts, std::move(asked),
                  {std::move(request.on_reply), Clock::now() + options_.request_timeout, {}});
  arm_deadline();
  if (!session_) {
    protocol::ParserLimits limits;
    limits.max_value_bytes = options_.max_value_bytes;
    session_ = std::make_shared<Session>(io_, limits,
                                         wire_ ? wire_->get_or_meta() : protocol::Wire::kMeta);
    asio::co_spawn(io_, run(session_), asio::detached);
  } else {
    flush();
  }
}

void Connection::fail_all(std::exception_ptr reason) {
  if (session_) {
    std::error_code ignored;
    session_->socket.close(ignored);
    session_.reset();
  }
  outbox_.clear();
  outbox_encrypted_ = 0;
  get_open_ = false;
  requests_in_flight_ = 0;
  // Callbacks may submit new requests (and so reconnect): hand them a clean slate.
  auto failed = pending_.take_all();
  for (auto& waiting : failed) {
    if (waiting.on_reply) waiting.on_reply(reason, {});
    for (auto& merged : waiting.merged) {
      if (merged) merged(reason, {});
    }
  }
}

asio::awaitable<void> Connection::connect(std::shared_ptr<Session> owner) {
  Session& session = *owner;
  std::error_code ec;
  // The same endpoints as the blocking path; names resolve on Asio's resolver thread
  // rather than this one, which serves every other connection meanwhile.
  std::vector<Endpoint> endpoints;
  if (address_.is_unix()) {
    endpoints = resolve(address_);
  } else {
    asio::ip::tcp::resolver resolver(io_);
    auto resolved = co_await resolver.async_resolve(
        address_.host, std::to_string(address_.port),
        static_cast<asio::ip::resolver_base::flags>(resolver_hints().ai_flags),
        asio::redirect_error(asio::use_awaitable, ec));
    if (ec) throw resolve_error(address_, ec.message());
    for (const auto& entry : resolved) {
      endpoints.push_back(
          endpoint_of(entry.endpoint().data(), entry.endpoint().size(), IPPROTO_TCP));
    }
  }

  // One deadline for the TCP connect, the TLS handshake and authentication: to the caller
  // they are all "connecting". The timer closes the socket, which aborts whichever step
  // is running; the flag tells that apart from a failure of the step itself.
  auto timed_out = std::make_shared<bool>(false);
  asio::steady_timer timer(io_, options_.connect_timeout);
  // The expiry may already be queued when the connect fails at the same moment; by the
  // time it runs, the failed session can be gone, hence a weak reference.
  timer.async_wait([timed_out, weak = std::weak_ptr<Session>(owner)](std::error_code timer_ec) {
    if (timer_ec) return;  // cancelled: the connect finished first
    *timed_out = true;
    if (auto session = weak.lock()) {
      std::error_code ignored;
      session->socket.close(ignored);
    }
  });
  const char* step = "";
  std::exception_ptr failure;
  Connector connector(address_, std::move(endpoints));
  bool connected = false;
  // As the blocking path does, waiting with Asio instead of poll().
  while (!*timed_out) {
    const auto attempt = connector.next();
    if (!attempt) break;
    // One generic socket serves TCP and Unix servers, so everything after the connect
    // (TLS, auth, pipelining) is the same code for both.
    session.socket.assign(
        asio::generic::stream_protocol(attempt->endpoint->family, attempt->endpoint->protocol),
        attempt->fd, ec);
    if (ec) {
      ::close(attempt->fd);
      connector.failed(as_errno(ec));
      continue;
    }
    connected = !attempt->in_progress;
    if (connected) break;
    co_await session.socket.async_wait(asio::socket_base::wait_write,
                                       asio::redirect_error(asio::use_awaitable, ec));
    if (*timed_out) break;  // the timer closed the socket
    if (ec) connector.failed(as_errno(ec));
    connected = !ec && connector.connected(*attempt);
    if (connected) break;
    std::error_code ignored;
    session.socket.close(ignored);
  }
  if (connected && !*timed_out) {
    try {
      if (tls_) {
        step = " (during the TLS handshake: does the server speak TLS?)";
        co_await handshake(session);
      }
      if (wants_auth(options_.credentials)) {
        step = " (during authentication)";
        co_await authenticate(session);
      }
    } catch (const Error&) {
      failure = std::current_exception();
    }
  }
  timer.cancel();
  if (*timed_out) {
    throw net_error<TimeoutError>(address_, ErrorReason::kTimedOut,
                                  "connect timed out after " +
                                      std::to_string(options_.connect_timeout.count()) + " ms" +
                                      step);
  }
  if (failure) std::rethrow_exception(failure);
  if (!connected) throw connector.error();
}

asio::awaitable<void> Connection::handshake(Session& session) {
  TlsSession& tls = session.tls.emplace(*tls_, address_);
  std::string ciphertext;
  std::error_code ec;
  for (;;) {
    const bool done = tls.handshake();
    ciphertext.clear();
    tls.take_output(ciphertext);
    if (!ciphertext.empty()) {
      co_await asio::async_write(session.socket, asio::buffer(ciphertext),
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec) throw tls.handshake_failed(ec.message());
    }
    if (done) co_return;
    const std::size_t n = co_await session.socket.async_read_some(
        asio::buffer(session.read_buffer), asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::eof) throw tls.handshake_failed("the server closed the connection");
    if (ec) throw tls.handshake_failed(ec.message());
    tls.feed(std::string_view(session.read_buffer.data(), n));
  }
}

asio::awaitable<void> Connection::send(Session& session, std::string_view plaintext,
                                       std::error_code& ec) {
  std::string ciphertext;
  if (session.tls) {
    session.tls->write(plaintext);
    session.tls->take_output(ciphertext);
    plaintext = ciphertext;
  }
  co_await asio::async_write(session.socket, asio::buffer(plaintext),
                             asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<std::size_t> Connection::receive(Session& session, std::error_code& ec,
                                                 std::string_view during) {
  for (;;) {
    if (session.tls) {
      if (const std::size_t n =
              session.tls->read(session.read_buffer.data(), session.read_buffer.size(), during)) {
        co_return n;
      }
    }
    const std::size_t n = co_await session.socket.async_read_some(
        asio::buffer(session.read_buffer), asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !session.tls) co_return n;
    session.tls->feed(std::string_view(session.read_buffer.data(), n));
  }
}

asio::awaitable<void> Connection::authenticate(Session& session) {
  AuthExchange exchange(options_.credentials, address_);
  std::error_code ec;
  co_await send(session, exchange.request(), ec);
  if (ec) {
    throw net_error<IoError>(address_, ErrorReason::kWriteFailed,
                             "authentication failed: " + ec.message());
  }
  for (;;) {
    const std::size_t n = co_await receive(session, ec, " during authentication");
    if (ec == asio::error::eof) {
      throw net_error<IoError>(address_, ErrorReason::kClosedByServer,
                               "authentication failed: the server closed the connection");
    }
    if (ec) {
      throw net_error<IoError>(address_, ErrorReason::kReadFailed,
                               "authentication failed: " + ec.message());
    }
    if (exchange.feed(std::string_view(session.read_buffer.data(), n))) break;
  }
  session.parser.feed(exchange.rest());
}

asio::awaitable<void> Connection::run(std::shared_ptr<Session> session) {
  auto keep_alive = shared_from_this();
  try {
    session->read_buffer.resize(kReadChunkBytes);
    co_await connect(session);
    if (!current(session)) co_return;
    session->connected = true;
    flush();
    for (;;) {
      std::error_code ec;
      const std::size_t n = co_await receive(*session, ec, {});
      if (!current(session)) co_return;
      if (ec == asio::error::eof) {
        throw net_error<IoError>(address_, ErrorReason::kClosedByServer,
                                 "connection closed by the server");
      }
      if (ec) {
        throw net_error<IoError>(address_, ErrorReason::kReadFailed,
                                 "read failed: " + ec.message());
      }
      session->parser.feed(std::string_view(session->read_buffer.data(), n));
      while (auto reply = session->parser.next()) {
        on_reply(std::move(*reply));
        if (!current(session)) co_return;
      }
      // Reading can make TLS answer (a key update): it goes out with the next write.
      if (session->tls && session->tls->has_output()) flush();
    }
  } catch (const ProtocolError& e) {
    if (current(session)) fail_all(std::make_exception_ptr(with_server(e, address_)));
  } catch (const Error&) {
    if (current(session)) fail_all(std::current_exception());
  }
}

void Connection::flush() {
  auto session = session_;
  if (!session || !session->connected || session->writing_now) return;
  get_open_ = false;  // outbox_ is handed over below, at least in part
  // Everything queued since the last write goes out in one syscall: that is the pipelining.
  if (session->tls) {
    // Encrypted a piece at a time as it goes out (each write's completion sends the
    // next), so the records keep the order of the requests.
    const std::size_t piece = std::min(outbox_.size() - outbox_encrypted_, kTlsWriteChunkBytes);
    try {
      session->tls->write(std::string_view(outbox_).substr(outbox_encrypted_, piece));
    } catch (const Error&) {
      fail_all(std::current_exception());
      return;
    }
    outbox_encrypted_ += piece;
    if (outbox_encrypted_ == outbox_.size()) {
      outbox_.clear();
      outbox_encrypted_ = 0;
    }
    session->tls->take_output(session->writing);
  } else {
    session->writing.swap(outbox_);
    outbox_.clear();
  }
  if (session->writing.empty()) return;
  session->writing_now = true;
  asio::async_write(
      session->socket, asio::buffer(session->writing),
      [this, keep_alive = shared_from_this(), session](std::error_code ec, std::size_t) {
        session->writing_now = false;
        session->writing.clear();
        if (!current(session)) return;
        if (ec) {
          fail_all(net_failure<IoError>(address_, ErrorReason::kWriteFailed,
                                        "write failed: " + ec.message()));
          return;
        }
        flush();
      });
}

void Connection::on_reply(protocol::Reply reply) {
  std::string request;
  Waiting waiting = pending_.match(reply, &request);
  requests_in_flight_ -= 1 + waiting.merged.size();
  if (waiting.merged.empty()) {
    if (waiting.on_reply) waiting.on_reply(nullptr, std::move(reply));
    return;
  }
  // Gets merged in submit: each gets the reply it would have had alone. match() has
  // checked that every item answers a key of the line, so splitting cannot fail; if it
  // did, every one of them hears why and the connection is dropped.
  std::vector<protocol::Reply> replies;
  try {
    replies = protocol::split_classic_get_reply(std::move(reply), request);
    if (replies.size() != 1 + waiting.merged.size()) {
      throw net_error<ProtocolError>(address_, ErrorReason::kUnexpectedReply,
                                     "merged get answered for the wrong number of keys");
    }
  } catch (const ProtocolError& e) {
    const auto failure = std::make_exception_ptr(with_server(e, address_));
    if (waiting.on_reply) waiting.on_reply(failure, {});
    for (auto& merged : waiting.merged) {
      if (merged) merged(failure, {});
    }
    throw;
  }
  if (waiting.on_reply) waiting.on_reply(nullptr, std::move(replies[0]));
  for (std::size_t n = 0; n < waiting.merged.size(); ++n) {
    if (waiting.merged[n]) waiting.merged[n](nullptr, std::move(replies[n + 1]));
  }
}

void Connection::arm_deadline() {
  if (deadline_armed_ || pending_.empty()) return;
  deadline_armed_ = true;
  deadline_timer_.expires_at(pending_.oldest().deadline);
  deadline_timer_.async_wait([this, keep_alive = shared_from_this()](std::error_code) {
    deadline_armed_ = false;
    on_deadline();
  });
}

void Connection::on_deadline() {
  if (!pending_.empty() && pending_.oldest().deadline <= Clock::now()) {
    // The oldest reply is overdue; the stream can no longer be trusted to catch up in
    // time, so every request on this connection fails now rather than later.
    fail_all(net_failure<TimeoutError>(
        address_, ErrorReason::kTimedOut,
        "no reply within " + std::to_string(options_.request_timeout.count()) + " ms"));
  }
  arm_deadline();
}

void Connection::close() {
  fail_all(net_failure<ClosedError>(address_, ErrorReason::kClosedByClient, "client closed"));
  deadline_timer_.cancel();
}

}  // namespace llmcache::net
