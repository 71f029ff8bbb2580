#pragma once
// Where a ClientBase's requests go: its I/O thread (client/io_thread.hpp), its servers and
// their connections (client/server_pool.hpp) and the rules that pick a server for each key
// (client/router.hpp), put together with what makes close() and fork() safe.
#include <llmcache/options.hpp>

#include "client/io_thread.hpp"
#include "client/item_limits.hpp"
#include "client/request.hpp"
#include "client/router.hpp"
#include "client/server_pool.hpp"
#include "net/close_signal.hpp"
#include "net/wire_choice.hpp"

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace llmcache::detail {

/// The ClosedError every request gets once its client is closed.
std::exception_ptr closed_error();

/// The fork generation of this process: bumped in each child that fork() makes (see
/// client/lifecycle.hpp).
std::uint64_t fork_generation();

class Transport {
 public:
  /// Starts the I/O thread, then connects nothing yet: connections open on first use.
  Transport(const std::vector<ServerAddress>& servers, const ClientOptions& options,
            std::unique_ptr<Router> router);
  /// Closes, waits for the calls in progress to leave, lets the I/O thread run out of
  /// work (so every completion already queued runs) and joins it.
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  asio::any_io_executor executor() { return io_.executor(); }
  bool in_io_thread() const { return io_.is_current(); }
  std::uint32_t next_opaque() { return next_opaque_.fetch_add(1, std::memory_order_relaxed); }

  /// The protocol to build a request for `routing_key` in: the protocol of the server that
  /// holds that key now. Fixed by ClientOptions::protocol; under kAuto each server decides
  /// on its own, by a probe the first time a request for it is built (on the calling
  /// thread, through the failure rules: see decide()), and is remembered; a server never
  /// asked stays undecided. A decided pool costs one atomic load here.
  /// Throws as the request itself would when that server cannot be reached.
  protocol::Wire wire(std::string_view routing_key) {
    if (auto all = uniform_wire_.get()) return *all;
    return routed_wire(routing_key);
  }
  /// The protocol of the server that holds `routing_key` now if it is decided; nullopt
  /// while it has not been probed (or no server is available: wire() then says why).
  std::optional<protocol::Wire> known_wire(std::string_view routing_key) const;
  /// Server `index` of servers(): its protocol if decided.
  std::optional<protocol::Wire> known_server_wire(std::size_t index) const {
    return pool_.at(index).wire.get();
  }
  /// Server `index` of servers(): its protocol, probed now if undecided, bypassing
  /// placement and the failure rules as send_to() does (operator commands).
  protocol::Wire server_wire(std::size_t index);

  /// Each server's item size limit, as far as it is known. Shared with callbacks.
  const std::shared_ptr<ItemLimits>& item_limits() const { return item_limits_; }

  /// Thread-safe. Each request goes to the server that holds its routing key; a request
  /// that cannot be sent fails through its own handler, with ClosedError once closed.
  /// A request whose bytes are in the other protocol than its server speaks (placement
  /// moved its key after it was built: a server set aside or back) is not sent: it fails
  /// with IoError kRerouted (see check_wire()).
  void send(std::vector<RoutedRequest> requests);
  /// Builds the requests for the keys one server holds, in `wire`, the protocol of that
  /// server: `keys` are their indices into the routing keys given to send_grouped, in
  /// that order.
  using GroupRequests =
      std::function<std::vector<Request>(std::vector<std::size_t> keys, protocol::Wire wire)>;
  /// Thread-safe. Places each of `routing_keys` as send() places a request (on the I/O
  /// thread, the failure rules consulted once per key), then sends each server the
  /// requests `build` makes for the keys it holds, in that server's protocol (an auto
  /// server not decided yet is probed there, on the I/O thread): a request for several
  /// keys (a classic multi-key get) goes where each of its keys would have gone alone.
  /// Keys that cannot be sent (their server skipped or unreachable, none left, the client
  /// closed) are built into requests too, which fail through their handlers as send()'s
  /// would.
  void send_grouped(std::vector<std::string> routing_keys, GroupRequests build);
  /// Thread-safe. Sends to server `index` of servers(), bypassing placement and the
  /// failure rules.
  void send_to(std::size_t index, Request request);
  /// Thread-safe and blocking: sends one request from the calling thread (the fast path
  /// of blocking calls) to the server that holds `routing_key`, and returns its reply.
  /// `built_for`: the protocol `request` is written in (as wire(routing_key) said); a
  /// server that turns out to speak the other one throws IoError kRerouted, unsent.
  /// Throws the transport's errors; error replies are returned, not thrown.
  Answer round_trip(std::string_view routing_key, std::string_view request,
                    std::optional<std::uint32_t> opaque, protocol::Accepts accepts,
                    protocol::Wire built_for);
  std::vector<ServerAddress> servers() const { return pool_.addresses(); }
  /// Thread-safe. Throws IoError if no server is available.
  ServerAddress server_for(std::string_view key) const;

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

  // ------------------------------------------------------------ blocking batches
  /// One server's share of a blocking batch: its requests, one after another (one write),
  /// and what each reply must answer.
  struct BatchGroup {
    std::string requests;
    std::vector<net::PipelinedRequest> expected;
  };
  /// The caller's side of a blocking batch (round_trip_batch); runs on the calling thread.
  class BatchHandler {
   public:
    /// Builds group `group`'s requests in `wire`, the protocol of the server that holds
    /// `keys` (indices into the routing keys, in order), or for keys that share one fate
    /// without I/O (then kMeta: they fail unsent). Called once per group, first; it may
    /// throw (the group then fails with the error, see failed()).
    virtual void build(std::size_t group, std::span<const std::size_t> keys, protocol::Wire wire,
                       BatchGroup& out) = 0;
    /// Request `request` of group `group` was answered (error replies included, unthrown).
    /// Must not throw.
    virtual void reply(std::size_t group, std::size_t request, std::string_view request_bytes,
                       protocol::Reply& reply, const ServerAddress& server) = 0;
    /// Group `group`'s requests from `from` on got no reply: `error` says why (the server
    /// was skipped or unreachable, the connection failed mid-batch, build threw: then
    /// `from` is 0). `server`: null when the group went nowhere. Must not throw.
    virtual void failed(std::size_t group, std::size_t from, const std::exception_ptr& error,
                        const ServerAddress* server) = 0;

   protected:
    ~BatchHandler() = default;
  };
  /// Blocking, on the calling thread, no I/O-thread hand-off: places each routing key as
  /// round_trip() does (the failure rules consulted once per key), groups the keys by
  /// server, writes each server its group's requests in one write (to every server before
  /// reading any), then reads each server's replies in order, handing each to `handler`
  /// as it is parsed. A server's outcome is recorded once per batch, as one round trip's.
  void round_trip_batch(std::span<const std::string> routing_keys, BatchHandler& handler);

 private:
  using Clock = Router::Clock;

  /// wire() when the pool is not uniformly decided: the server that holds `routing_key`,
  /// probed (decide()) if undecided.
  protocol::Wire routed_wire(std::string_view routing_key);
  /// ClientOptions::protocol kAuto: probes the server of `route` through the failure rules
  /// (a server set aside fails as its request would, one that cannot be reached is
  /// recorded as failing; a proxy that hangs up on `mn` is an answer, not a failure).
  /// Undecided after a failure: the call fails with the error, the next one asks again.
  protocol::Wire decide(const Router::Route& route);
  /// Probes server `index` unless decided; on a classic answer drops its idle
  /// (meta-parsing) sockets. One probe per server at a time.
  protocol::Wire probe_server(std::size_t index);
  /// nullptr if a request built in `built_for` may go on `route` (its server speaks it,
  /// probed first if undecided); otherwise the error that fails it unsent: IoError
  /// kRerouted, or the probe's failure. Rebuilding the bytes is the caller's (they hold
  /// the key and the options), so the request fails, retryable, instead.
  std::exception_ptr check_wire(const Router::Route& route, protocol::Wire built_for);
  /// I/O thread: routes one request and submits it.
  void dispatch(RoutedRequest routed, Clock::time_point now);
  /// I/O thread: submits `request` on `route`, which may say to fail it without I/O.
  void submit(const Router::Route& route, Request request);
  /// The server of a route, if it names one.
  const ServerAddress* address_of(const Router::Route& route) const;

  const std::uint64_t generation_;
  net::CloseSignal close_signal_;  // raised by close(); the blocking sockets poll it
  std::atomic<bool> closed_{false};
  std::atomic<std::uint32_t> active_calls_{0};
  std::atomic<std::uint32_t> next_opaque_{1};
  const std::shared_ptr<ItemLimits> item_limits_;
  // Set once every server is decided, all alike (at once when ClientOptions::protocol
  // fixes it): then wire() needs no placement.
  net::WireChoice uniform_wire_;
  std::mutex deciding_;  // a server's decision and the uniform check, together
  IoThread io_;          // before the pool: the connections live on its context
  ServerPool pool_;
  const std::unique_ptr<Router> router_;
  const bool records_outcomes_;
};

std::unique_ptr<Transport> make_single_server_transport(ServerAddress server,
                                                        const ClientOptions& options);
std::unique_ptr<Transport> make_hash_transport(std::vector<ServerAddress> servers,
                                               const HashClientOptions& options);

}  // namespace llmcache::detail
