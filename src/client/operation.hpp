#pragma once
// What the operation files (reads.cpp, writes.cpp, admin.cpp) share: request arguments, and
// the two paths of a single-key request. Each single-key operation is a prepare_* (validate,
// build the bytes) and a map_* (reply to result), used by both paths.
#include <llmcache/errors.hpp>

#include "client/callbacks.hpp"
#include "client/error_replies.hpp"
#include "client/transport.hpp"
#include "protocol/classic_requests.hpp"
#include "protocol/meta_requests.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace llmcache::detail {

inline std::uint32_t seconds_count(std::chrono::seconds s) {
  if (s.count() < 0) throw InvalidArgumentError("a TTL or delay cannot be negative");
  return static_cast<std::uint32_t>(s.count());
}

/// A single-key request, ready to send: meta with its opaque, or classic without.
struct Prepared {
  std::string bytes;
  std::optional<std::uint32_t> opaque;
  protocol::Accepts accepts = 0;                // classic: the reply kinds that answer it
  protocol::Wire wire = protocol::Wire::kMeta;  // the protocol `bytes` are in
};

/// Refuses what only the meta protocol can do on a client that speaks classic.
inline void require_meta(protocol::Wire wire, const char* what) {
  if (wire == protocol::Wire::kClassic) {
    throw InvalidArgumentError(std::string(what) +
                               " needs memcached's meta protocol, and this client speaks the "
                               "classic protocol (ClientOptions::protocol, or auto-detected: "
                               "a proxy or a memcached before 1.6.10)");
  }
}

template <class T>
using MapReply = T (*)(protocol::Reply, const ServerAddress&);

/// An async call of an auto client whose key's server has not probed yet: the probe runs
/// on the I/O thread, not on the caller's (an event loop must not wait for it), then
/// `then(callback)` goes on there; a probe that fails (server unreachable, client closed)
/// fails `callback`. Call only when transport.known_wire(routing_key) is empty.
template <class T, class Then>
void after_probe(Transport& transport, std::string routing_key, Callback<T> callback, Then then) {
  asio::post(transport.executor(),
             [&transport, key = std::move(routing_key), callback = std::move(callback),
              then = std::move(then)]() mutable {
               try {
                 transport.wire(key);
               } catch (...) {
                 return callback(std::current_exception(), T{});
               }
               then(std::move(callback));
             });
}

/// after_probe for a command sent to server `index` of servers() (send_to): that server's
/// probe, on the I/O thread. Call only when transport.known_server_wire(index) is empty.
template <class T, class Then>
void after_server_probe(Transport& transport, std::size_t index, Callback<T> callback, Then then) {
  asio::post(transport.executor(),
             [&transport, index, callback = std::move(callback), then = std::move(then)]() mutable {
               try {
                 transport.server_wire(index);
               } catch (...) {
                 return callback(std::current_exception(), T{});
               }
               then(std::move(callback));
             });
}

/// The async path: prepare(key) (a caller mistake fails through the callback), then send.
/// `prepare` may run later on the I/O thread (see after_probe), so it holds what it uses.
template <class T, class Prepare>
void send_prepared(Transport& transport, std::string key, Callback<T> callback, MapReply<T> map,
                   Prepare prepare) {
  if (!transport.known_wire(key)) {
    std::string routing_key = key;
    return after_probe(transport, std::move(routing_key), std::move(callback),
                       [&transport, key = std::move(key), map,
                        prepare = std::move(prepare)](Callback<T> callback) mutable {
                         send_prepared(transport, std::move(key), std::move(callback), map,
                                       std::move(prepare));
                       });
  }
  Prepared prepared;
  try {
    prepared = prepare(key);
  } catch (...) {
    return fail_later(transport.executor(), std::move(callback), std::current_exception());
  }
  Request request{std::move(prepared.bytes), prepared.opaque, on_reply<T>(std::move(callback), map),
                  prepared.accepts, prepared.wire};
  std::vector<RoutedRequest> routed;
  routed.push_back({std::move(key), std::move(request)});
  transport.send(std::move(routed));
}

/// The blocking path: one round trip on the calling thread (the fast path in
/// net/blocking_connection.hpp); requests and replies are the same as the async ones.
template <class T>
T round_trip(Transport& transport, std::string_view key, MapReply<T> map,
             const Prepared& prepared) {
  Answer answer =
      transport.round_trip(key, prepared.bytes, prepared.opaque, prepared.accepts, prepared.wire);
  throw_if_error_reply(answer.reply, answer.server);
  return map(std::move(answer.reply), answer.server);
}

}  // namespace llmcache::detail
