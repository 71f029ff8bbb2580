#pragma once
// Glue between asio completion tokens (use_awaitable, use_future, callbacks) and the
// type-erased callbacks the non-template core works with.
#include <asio/any_io_executor.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/dispatch.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <asio/system_executor.hpp>
#include <asio/use_future.hpp>

#include <exception>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

namespace llmcache {

/// The type-erased completion every asynchronous operation ends in: exactly one call,
/// with either an exception or a value. Runs on the client's I/O thread.
template <class T>
using Callback = std::function<void(std::exception_ptr, T)>;

namespace detail {

/// Executors that may run a function object on any thread: asio's system executor, and
/// use_future's, which hands work to it. A post to them goes to a thread pool asio starts
/// once per process; a fork child inherits that pool without its threads, so work posted
/// there in the child never runs.
template <class Executor>
struct runs_on_any_thread : std::false_type {};
template <class Blocking, class Relationship, class Allocator>
struct runs_on_any_thread<asio::basic_system_executor<Blocking, Relationship, Allocator>>
    : std::true_type {};
template <class T, class Blocking>
struct runs_on_any_thread<asio::detail::promise_executor<T, Blocking>> : std::true_type {};

/// Wraps an asio completion handler into a Callback that runs the handler on its
/// associated executor (`fallback` when it has none) and keeps that executor busy
/// until then, so a caller's io_context.run() does not return early.
template <class T, class Handler>
Callback<T> to_callback(Handler&& handler, const asio::any_io_executor& fallback) {
  using H = std::decay_t<Handler>;
  struct State {
    H handler;
    asio::executor_work_guard<asio::associated_executor_t<H, asio::any_io_executor>> work;
  };
  auto executor = asio::get_associated_executor(handler, fallback);
  auto state = std::make_shared<State>(
      State{std::forward<Handler>(handler), asio::make_work_guard(executor)});
  return [state](std::exception_ptr error, T value) {
    // The guard is released on this thread once the post below has returned, not inside
    // the handler: asio wakes the caller's run() after unlocking its queue, so a handler
    // that dropped the last work could let run() return and the caller destroy its
    // io_context while this thread is still signalling it.
    auto work = std::move(state->work);
    auto executor = work.get_executor();
    auto complete = [state, error, value = std::move(value)]() mutable {
      std::move(state->handler)(error, std::move(value));
    };
    if constexpr (runs_on_any_thread<decltype(executor)>::value) {
      // Run here (these handlers set a future's promise, or ask for no thread in
      // particular), which also works in a fork child: see runs_on_any_thread.
      asio::dispatch(executor, std::move(complete));
    } else {
      // post, not dispatch: a completion may fire inside the initiating call (an
      // InMemoryCache hit), and resuming a coroutine from there would re-enter it.
      asio::post(executor, std::move(complete));
    }
  };
}

template <class T, class Token, class Start>
auto initiate(Token&& token, asio::any_io_executor fallback, Start&& start) {
  return asio::async_initiate<Token, void(std::exception_ptr, T)>(
      [fallback, start = std::forward<Start>(start)](auto handler) mutable {
        start(to_callback<T>(std::move(handler), fallback));
      },
      token);
}

}  // namespace detail
}  // namespace llmcache
