#pragma once
// Adapters between the typed callbacks of the operations (Callback<T>) and the transport's
// reply handlers, and the two ways a call ends early or waits.
#include <llmcache/client.hpp>
#include <llmcache/errors.hpp>

#include "client/error_replies.hpp"
#include "client/lifecycle.hpp"
#include "client/request.hpp"
#include "common/wait_for.hpp"

#include <asio/post.hpp>

#include <exception>
#include <utility>

namespace llmcache::detail {

/// Adapts a typed callback to a reply handler: error replies and `map` exceptions
/// reach `done` as errors. `map(reply, server)` turns a reply into the result.
template <class T, class Map>
ReplyHandler on_reply(Callback<T> done, Map map) {
  return [done = std::move(done), map = std::move(map)](
             std::exception_ptr error, protocol::Reply reply, const ServerAddress* server) mutable {
    if (error) return done(error, T{});
    T value{};
    try {
      throw_if_error_reply(reply, *server);
      value = map(std::move(reply), *server);
    } catch (...) {
      return done(std::current_exception(), T{});
    }
    done(nullptr, std::move(value));
  };
}

/// Completes `callback` with `error` on the I/O thread, where callbacks always run.
template <class T>
void fail_later(const asio::any_io_executor& executor, Callback<T> callback,
                std::exception_ptr error) {
  asio::post(executor, [callback = std::move(callback), error] { callback(error, T{}); });
}

/// True (and `callback` failed with ClosedError) when the call found the client closed.
template <class T>
bool refuse_if_closed(const Lifecycle::Use& transport, Callback<T>& callback) {
  if (!transport.closed()) return false;
  fail_later(transport->executor(), std::move(callback), closed_error());
  return true;
}

/// Runs an operation and blocks until its callback fires. The transport is held while the
/// operation starts, not while it waits: the wait needs the I/O thread, and a destructor
/// running there waits for every hold to end. The callback fires before the transport
/// goes (the destructor lets the I/O thread run out of work first).
template <class T, class Start>
T blocking_call(Lifecycle& lifecycle, Start start) {
  return wait_for<T>([&](auto callback) {
    auto transport = lifecycle.enter_open();
    if (transport->in_io_thread()) {
      throw InvalidArgumentError("blocking llmcache call from the client's own I/O thread");
    }
    start(std::move(callback));
  });
}

}  // namespace llmcache::detail
