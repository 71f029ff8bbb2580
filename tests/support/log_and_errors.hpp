#pragma once
// Small helpers the integration suites share: capturing or silencing llmcache's log, and
// looking inside the std::exception_ptr a callback receives.
#include <llmcache/errors.hpp>
#include <llmcache/log.hpp>

#include <cstddef>
#include <exception>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace llmcache::testing {

/// Captures llmcache's log for a test, and silences it again afterwards.
class CapturedLog {
 public:
  CapturedLog() {
    set_log_handler([this](LogLevel, std::string_view message) {
      std::lock_guard lock(mutex_);
      lines_.emplace_back(message);
    });
  }
  ~CapturedLog() {
    set_log_handler([](LogLevel, std::string_view) {});
  }
  CapturedLog(const CapturedLog&) = delete;
  CapturedLog& operator=(const CapturedLog&) = delete;

  std::vector<std::string> snapshot() {
    std::lock_guard lock(mutex_);
    return lines_;
  }
  std::size_t size() {
    std::lock_guard lock(mutex_);
    return lines_.size();
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> lines_;
};

/// Silences llmcache's log: the fault suites provoke thousands of expected failures.
struct QuietLog {
  QuietLog() {
    set_log_handler([](LogLevel, std::string_view) {});
  }
};

/// Whether `error` holds an exception of type E (or derived from it).
template <class E>
bool holds(const std::exception_ptr& error) {
  if (!error) return false;
  try {
    std::rethrow_exception(error);
  } catch (const E&) {
    return true;
  } catch (...) {
    return false;
  }
}

/// The message of the exception in `error`, for test failure output.
inline std::string describe(const std::exception_ptr& error) {
  if (!error) return "no error";
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

/// Runs `call` and returns what it threw, or null.
template <class F>
std::exception_ptr thrown_by(F&& call) {
  try {
    call();
  } catch (...) {
    return std::current_exception();
  }
  return nullptr;
}

/// The typed details of the llmcache::Error in `error`; empty ones for anything else.
inline ErrorDetails details_of(const std::exception_ptr& error) {
  if (!error) return {};
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    return e.details();
  } catch (...) {
    return {};
  }
}

/// The stable name of the reason in `error`, or "no llmcache error", for assertions.
inline std::string reason_of(const std::exception_ptr& error) {
  if (!holds<Error>(error)) return "no llmcache error";
  return std::string(to_string(details_of(error).reason));
}

}  // namespace llmcache::testing
