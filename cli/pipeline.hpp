#pragma once
// Keeps a bounded number of asynchronous requests in flight: enough to pipeline, never an
// unbounded queue in memory. Completions may run on any thread.
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <string>

namespace llmcache::cli {

class Pipeline {
 public:
  explicit Pipeline(std::size_t window) : window_(window) {}

  /// Blocks until a slot is free; call before starting each request.
  void acquire() {
    std::unique_lock lock(mutex_);
    free_.wait(lock, [&] { return in_flight_ < window_; });
    ++in_flight_;
  }
  /// Called from each request's completion exactly once.
  void release(std::exception_ptr error) {
    std::lock_guard lock(mutex_);
    --in_flight_;
    ++completed_;
    if (error) {
      ++failed_;
      if (!first_error_) first_error_ = error;
    }
    free_.notify_all();
  }
  /// Blocks until every started request has completed.
  void drain() {
    std::unique_lock lock(mutex_);
    free_.wait(lock, [&] { return in_flight_ == 0; });
  }
  std::uint64_t completed() const {
    std::lock_guard lock(mutex_);
    return completed_;
  }
  std::uint64_t failed() const {
    std::lock_guard lock(mutex_);
    return failed_;
  }
  std::exception_ptr first_error() const {
    std::lock_guard lock(mutex_);
    return first_error_;
  }

 private:
  const std::size_t window_;
  mutable std::mutex mutex_;
  std::condition_variable free_;
  std::size_t in_flight_ = 0;
  std::uint64_t completed_ = 0;
  std::uint64_t failed_ = 0;
  std::exception_ptr first_error_;
};

}  // namespace llmcache::cli
