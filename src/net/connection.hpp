#pragma once
// One pipelined connection (TCP or Unix socket) to one memcached server. Lives on the client's I/O
// thread: every member function must be called there. Requests are written in order
// and their replies arrive in order, so the oldest pending request owns the next reply;
// the opaque echoed by the server double-checks that pairing.
#include <llmcache/detail/completion.hpp>
#include <llmcache/options.hpp>

#include "net/reply_matcher.hpp"
#include "net/tls.hpp"
#include "net/tls_session.hpp"
#include "net/wire_choice.hpp"
#include "protocol/classic_requests.hpp"
#include "protocol/reply_parser.hpp"

#include <asio/awaitable.hpp>
#include <asio/generic/stream_protocol.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace llmcache::net {

struct PendingRequest {
  /// The request bytes, exactly one request.
  std::string bytes;
  /// The opaque the reply must echo; nullopt for classic commands, which echo nothing.
  std::optional<std::uint32_t> opaque;
  /// Called exactly once with the reply or the error that ended the wait.
  Callback<protocol::Reply> on_reply;
  /// Classic requests: the reply kinds that answer it; 0: any (see protocol::Accepts).
  protocol::Accepts accepts = 0;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  /// `tls` is null for plaintext; it is shared by every connection of the client. `wire`
  /// (optional, outlives the connection) picks the reply parser of each session; null: meta.
  Connection(asio::io_context& io, ServerAddress address, const ClientOptions& options,
             std::shared_ptr<const TlsContext> tls = nullptr, const WireChoice* wire = nullptr);

  /// Queues the request, connecting first if needed. Fails it at once with IoError when
  /// max_in_flight requests are already waiting.
  void submit(PendingRequest request);
  /// Fails every pending request with `reason` and closes the socket. The next submit
  /// reconnects.
  void fail_all(std::exception_ptr reason);
  /// Fails everything with ClosedError and stops the deadline timer (client shutdown).
  void close();
  std::size_t in_flight() const { return requests_in_flight_; }
  const ServerAddress& address() const { return address_; }

 private:
  using Clock = std::chrono::steady_clock;

  // Everything tied to one TCP connection; a reconnect starts a new Session, and
  // handlers of an old one see that they are stale and return.
  struct Session {
    Session(asio::io_context& io, protocol::ParserLimits limits, protocol::Wire wire)
        : socket(io), parser(limits, wire) {}
    // Closing the socket aborts every operation on it. Generic: TCP or a Unix domain
    // socket, opened by the connect.
    asio::generic::stream_protocol::socket socket;
    // Set by the handshake when TLS is on: what goes over `socket` is its ciphertext.
    std::optional<TlsSession> tls;
    protocol::ReplyParser parser;
    std::string writing;
    std::vector<char> read_buffer;
    bool connected = false;
    bool writing_now = false;
  };

  struct Waiting {
    Callback<protocol::Reply> on_reply;
    Clock::time_point deadline;
    // Single-key classic gets merged into this one's request line (submit), in the order
    // of their keys after its own; each is answered as if it had been sent alone.
    std::vector<Callback<protocol::Reply>> merged;
  };

  asio::awaitable<void> run(std::shared_ptr<Session> session);
  asio::awaitable<void> connect(std::shared_ptr<Session> owner);
  asio::awaitable<void> handshake(Session& session);
  asio::awaitable<void> authenticate(Session& session);
  // Plaintext over the session (through TLS when it is on); `ec` tells how the socket
  // did, TLS errors throw. receive() leaves the bytes in session.read_buffer.
  asio::awaitable<void> send(Session& session, std::string_view plaintext, std::error_code& ec);
  asio::awaitable<std::size_t> receive(Session& session, std::error_code& ec,
                                       std::string_view during);
  void flush();
  void on_reply(protocol::Reply reply);
  void arm_deadline();
  void on_deadline();
  bool current(const std::shared_ptr<Session>& session) const { return session == session_; }

  asio::io_context& io_;
  ServerAddress address_;
  ClientOptions options_;
  std::shared_ptr<const TlsContext> tls_;
  const WireChoice* wire_;
  asio::steady_timer deadline_timer_;
  bool deadline_armed_ = false;
  std::shared_ptr<Session> session_;  // null while disconnected
  std::string outbox_;                // bytes not yet handed to the socket
  std::size_t outbox_encrypted_ = 0;  // TLS: how much of outbox_ is encrypted already
  ReplyMatcher<Waiting> pending_;     // oldest first
  // Requests submitted and not yet answered: more than pending_.size() once gets merge.
  std::size_t requests_in_flight_ = 0;
  // The newest pending request is a classic get of one key or more, still whole at the
  // end of outbox_ (no byte of it handed to the socket or TLS yet), answering `accepts`:
  // another single-key get may still join its line (open_get_).
  bool get_open_ = false;
  protocol::ClassicGetMerge open_get_;
  protocol::Accepts open_get_accepts_ = 0;
};

}  // namespace llmcache::net
