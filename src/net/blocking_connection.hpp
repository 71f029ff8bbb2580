#pragma once
// The blocking fast path: one request, one reply, on the calling thread.
//
// A blocking call that went through the I/O thread paid three thread wake-ups (caller →
// I/O thread → kernel → I/O thread → caller); libmemcached pays one. So blocking calls
// check a socket out of a small per-server pool and do the round trip themselves, with
// poll() enforcing the same deadlines (after a short spin while spinning catches replies,
// see ClientOptions::blocking_spin and SpinPolicy; blocking_spin 0 never spins).
// Async calls keep using the pipelined Connection.
//
// TLS is done here too, by the same TlsSession the async path uses, its ciphertext moved
// over this non-blocking socket with poll() under the same deadlines, rather than by
// handing TLS calls to the I/O thread: that hand-off is exactly the cost this path exists
// to avoid, and TLS users pay it on every call otherwise.
#include <llmcache/options.hpp>

#include "net/close_signal.hpp"
#include "net/spin_policy.hpp"
#include "net/tls.hpp"
#include "net/tls_session.hpp"
#include "net/wire_choice.hpp"
#include "protocol/reply_parser.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace llmcache::net {

/// One request of a pipelined batch (BlockingConnection::start_pipeline): what its reply
/// must answer (check_answers) and where its bytes lie in the batch's requests.
struct PipelinedRequest {
  std::optional<std::uint32_t> opaque;
  protocol::Accepts accepts = 0;
  std::size_t offset = 0;
  std::size_t size = 0;
};

/// Takes a pipelined batch's replies as they are parsed, in request order, on the calling
/// thread. Must not throw (a throw closes the connection and ends the batch with it).
class PipelineSink {
 public:
  /// `reply` answers request `request` (error replies included); the sink may move from it.
  virtual void reply(std::size_t request, std::string_view request_bytes,
                     protocol::Reply& reply) = 0;

 protected:
  ~PipelineSink() = default;
};

class BlockingConnection {
 public:
  /// `tls` is null for plaintext. Once `closing` (optional) is raised, every wait fails
  /// with ClosedError. `wire` (optional, outlives the connection) picks the reply parser
  /// each time the connection opens; null: meta.
  BlockingConnection(const ServerAddress& address, const ClientOptions& options,
                     std::shared_ptr<const TlsContext> tls = nullptr,
                     const CloseSignal* closing = nullptr, const WireChoice* wire = nullptr);
  ~BlockingConnection();
  BlockingConnection(const BlockingConnection&) = delete;
  BlockingConnection& operator=(const BlockingConnection&) = delete;

  /// Sends `request` and returns its reply, connecting first if needed. Throws IoError,
  /// TimeoutError or ProtocolError; after a throw the socket is closed (the next call
  /// reconnects), so a late reply can never be read as the answer to another request.
  protocol::Reply round_trip(std::string_view request, std::optional<std::uint32_t> opaque,
                             protocol::Accepts accepts = 0);

  /// A batch of requests in one write, their replies read in order on the calling thread:
  /// the blocking twin of the async path's pipelining. Two halves, so that a caller with
  /// several servers writes to all of them before it waits for any.
  /// start_pipeline connects if needed and writes what the socket takes now of `requests`
  /// (which must stay alive until finish_pipeline returns); the request deadline starts
  /// here. Throws as round_trip does, the socket then closed.
  void start_pipeline(std::string_view requests);
  /// Writes the rest while reading (so that a batch larger than the socket buffers cannot
  /// deadlock against a server blocked on writing its replies), handing the reply to each
  /// of `expected` (in order, after check_answers) to `sink` as soon as it is parsed.
  /// Throws IoError, TimeoutError or ProtocolError as round_trip does; the socket is then
  /// closed and the requests not yet handed to the sink got no reply.
  void finish_pipeline(std::span<const PipelinedRequest> expected, PipelineSink& sink);

 private:
  using Clock = std::chrono::steady_clock;
  // An idle socket with something to read (the server closed it, or sent bytes nobody
  // asked for) cannot carry a request: closed, so that the next one starts afresh.
  void drop_if_unusable();
  // Plaintext pipelines: sends what the socket takes of pipeline_unsent_ without waiting.
  void send_available();
  // Connects, then (when configured) the TLS handshake and authentication, all within
  // `deadline`.
  void connect(Clock::time_point deadline);
  void open_socket(Clock::time_point deadline);
  void handshake(Clock::time_point deadline);
  void authenticate(Clock::time_point deadline);
  // Sends all of `bytes` (plaintext; encrypted first when TLS is on). Throws on failure.
  void send_all(std::string_view bytes, Clock::time_point deadline, const char* what);
  // The socket itself, waiting as needed. write_socket returns 0 or the errno of a failed
  // send; read_socket reads into buffer_ (bytes 0 and error 0: the server closed), when
  // `spin` after spinning for as long as spin_ allows, telling it how the wait went.
  // Both throw only for the wait (deadline, close signal), so each caller names a failure.
  struct SocketRead {
    std::size_t bytes = 0;
    int error = 0;
  };
  int write_socket(std::string_view bytes, Clock::time_point deadline, const char* what);
  SocketRead read_socket(Clock::time_point deadline, const char* what, bool spin);
  // Reads what is there into buffer_ (waiting for it, after a spin when `spin`); returns
  // the byte count, > 0. Throws on close, error or deadline.
  std::size_t receive(Clock::time_point deadline, const char* what, bool spin);
  void wait(short events, Clock::time_point deadline, const char* what);
  void close();
  [[noreturn]] void fail(const std::exception_ptr& error);
  // Inside a catch block of a request or pipeline: fail() with the error being handled,
  // a ProtocolError naming the server.
  [[noreturn]] void fail_request();
  protocol::ParserLimits parser_limits() const;
  protocol::ReplyParser fresh_parser() const;

  ServerAddress address_;
  ClientOptions options_;
  std::shared_ptr<const TlsContext> tls_;
  const CloseSignal* closing_;
  const WireChoice* wire_;
  SpinPolicy spin_;  // learnt over this connection's round trips, kept across reconnects
  std::optional<TlsSession> tls_session_;  // set while a TLS session is open on fd_
  std::string ciphertext_;                 // TLS: what goes out next, reused
  int fd_ = -1;
  protocol::ReplyParser parser_;
  std::vector<char> buffer_;
  // The pipeline in progress (start_pipeline .. finish_pipeline).
  std::string_view pipeline_requests_;
  std::string_view pipeline_unsent_;
  Clock::time_point pipeline_deadline_;
};

/// Idle blocking connections to one server. Thread-safe; a caller takes one, uses it
/// alone and gives it back, so N concurrent callers use N sockets (as a pooled client).
class BlockingPool {
 public:
  /// `closing` (optional) is the client's close signal: it wakes the connections in use.
  BlockingPool(ServerAddress address, const ClientOptions& options,
               std::shared_ptr<const TlsContext> tls = nullptr,
               const CloseSignal* closing = nullptr, const WireChoice* wire = nullptr);
  protocol::Reply round_trip(std::string_view request, std::optional<std::uint32_t> opaque,
                             protocol::Accepts accepts = 0);
  /// A connection for the caller's use alone (an idle one, or a new one, not connected
  /// yet), for the pipelined calls; give it back after a call that did not throw.
  std::unique_ptr<BlockingConnection> take();
  /// Keeps `connection` for reuse (closed if the pool was closed meanwhile, or is full).
  void give_back(std::unique_ptr<BlockingConnection> connection);
  /// Closes the idle sockets; those in use are closed as their calls end. Raise the close
  /// signal first, so that those calls end promptly.
  void close();
  /// Closes the idle sockets and goes on: the next calls open new ones.
  void drop_idle();

 private:
  // Sockets kept for reuse; more concurrent callers get fresh ones, closed after use.
  static constexpr std::size_t kMaxIdle = 8;
  ServerAddress address_;
  ClientOptions options_;
  std::shared_ptr<const TlsContext> tls_;
  const CloseSignal* closing_;
  const WireChoice* wire_;
  std::mutex mutex_;
  bool closed_ = false;  // guarded by mutex_
  std::vector<std::unique_ptr<BlockingConnection>> idle_;
};

}  // namespace llmcache::net
