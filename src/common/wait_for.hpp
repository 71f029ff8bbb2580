#pragma once
// Turns a callback-style operation into a blocking call.
#include <exception>
#include <future>
#include <utility>

namespace llmcache::detail {

/// Calls `start(callback)` and blocks until the callback has fired, then returns its
/// value or rethrows its error. Must not be called on the thread that fires the callback.
template <class T, class Start>
T wait_for(Start&& start) {
  std::promise<T> promise;
  auto result = promise.get_future();
  std::forward<Start>(start)([&promise](std::exception_ptr error, T value) {
    if (error) {
      promise.set_exception(error);
    } else {
      promise.set_value(std::move(value));
    }
  });
  return result.get();
}

}  // namespace llmcache::detail
