#pragma once
// The one thread of a client that does all socket work for async calls, and runs every
// completion. Nothing here knows about servers or requests.
#include <asio/any_io_executor.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include <memory>
#include <thread>

namespace llmcache::detail {

class IoThread {
 public:
  /// Starts the thread; it runs until finish().
  IoThread();
  /// Stops and joins the thread if finish() was not called (a constructor that threw
  /// after this one).
  ~IoThread();
  IoThread(const IoThread&) = delete;
  IoThread& operator=(const IoThread&) = delete;

  asio::io_context& context() { return *context_; }
  asio::any_io_executor executor() { return context_->get_executor(); }
  bool is_current() const { return std::this_thread::get_id() == thread_.get_id(); }

  /// Lets the thread run out of work, so that every completion already queued (and those
  /// they queue) runs, then joins it. Called on the thread itself (an owner destroyed from
  /// one of its own callbacks), stops it and detaches instead: a thread cannot join itself,
  /// and the context lives on until run() returns.
  void finish();

 private:
  // Shared with the thread, so that a detached thread keeps the context alive.
  std::shared_ptr<asio::io_context> context_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
};

}  // namespace llmcache::detail
