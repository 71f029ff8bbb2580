#pragma once
// Forking in tests: a child process that reports back, and a workload that notices a
// reply meant for another process. For the fork-safety tests of the client.
#include <llmcache/client.hpp>

#include <gtest/gtest.h>
#include <asio/use_future.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <functional>
#include <future>
#include <stdexcept>
#include <string>

#if defined(__SANITIZE_THREAD__)
#define LLMCACHE_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LLMCACHE_UNDER_TSAN 1
#endif
#endif

namespace llmcache::testing {

using namespace std::chrono_literals;

// How long the test waits for something that, broken, never happens (a child whose client
// has no I/O thread waits forever). Not a timing assertion: a healthy child is done in a
// fraction of this.
inline constexpr auto kHangBound = 30s;

template <class T>
T await_bounded(std::future<T> future, const char* what) {
  if (future.wait_for(kHangBound) != std::future_status::ready) {
    throw std::runtime_error(std::string(what) + " never completed");
  }
  return future.get();
}

// Writes and reads back keys of its own through the blocking and the async paths, checking
// every value: a reply meant for the other process (a socket shared across fork) reads as
// someone else's value, a reused opaque does not hide it. "" when every read was right.
inline std::string exercise(ClientBase& client, const std::string& who, int rounds) {
  try {
    for (int i = 0; i < rounds; ++i) {
      std::string key = who + ":" + std::to_string(i % 20);
      std::replace(key.begin(), key.end(), ' ', '_');
      const std::string value = who + " wrote " + std::to_string(i);
      if (client.set(key, value) != StoreResult::kStored) return who + ": set not stored";
      auto item = client.get(key);
      if (!item || item->value != value) {
        return who + ": get(" + key + ") read " + (item ? "'" + item->value + "'" : "a miss") +
               " after writing '" + value + "'";
      }
      const std::string async_value = value + " (async)";
      if (await_bounded(client.async_set(key, async_value, {}, asio::use_future), "async_set") !=
          StoreResult::kStored) {
        return who + ": async_set not stored";
      }
      item = await_bounded(client.async_get(key, asio::use_future), "async_get");
      if (!item || item->value != async_value) {
        return who + ": async_get(" + key + ") read " +
               (item ? "'" + item->value + "'" : "a miss") + " after writing '" + async_value + "'";
      }
    }
  } catch (const std::exception& e) {
    return who + ": " + e.what();
  }
  return {};
}

/// A forked child running `body`, which returns "" when all went well or what went wrong.
/// The child reports through a pipe and leaves with _exit: it must not run the parent's
/// destructors (gtest's, the servers').
class Child {
 public:
  explicit Child(const std::function<std::string()>& body) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::close(fds[0]);
      std::string report;
      try {
        report = body();
      } catch (const std::exception& e) {
        report = std::string("child threw: ") + e.what();
      }
      if (report.empty()) report = "ok";
      [[maybe_unused]] auto written = ::write(fds[1], report.data(), report.size());
      ::_exit(0);
    }
    ::close(fds[1]);
    fd_ = fds[0];
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0) finish();
  }

  /// The child's report, "ok" when all went well; kills a child that is still running
  /// after kHangBound and says so.
  std::string finish() {
    std::string report;
    const auto deadline = std::chrono::steady_clock::now() + kHangBound;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd pfd{fd_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&pfd, 1, static_cast<int>(left.count())) == 0) {
        ::kill(pid_, SIGKILL);
        report =
            "the child hung (killed after " + std::to_string(kHangBound.count()) + " s): " + report;
        break;
      }
      char buffer[512];
      const ssize_t n = ::read(fd_, buffer, sizeof buffer);
      if (n > 0) {
        report.append(buffer, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        break;
      }
    }
    int status = 0;
    ::waitpid(pid_, &status, 0);
    ::close(fd_);
    pid_ = -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      report += " (the child died, wait status " + std::to_string(status) + ")";
    }
    return report;
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
};

}  // namespace llmcache::testing

// TSan cannot follow a multi-threaded process across fork(): it refuses to start threads
// in the child (its die_after_fork) because its own state may be inconsistent there. That
// is TSan's limitation, not ours: glibc supports threads in a forked child, and the child
// here only uses state it builds itself (ASan and plain builds run these tests).
#ifdef LLMCACHE_UNDER_TSAN
#define SKIP_UNDER_TSAN() \
  GTEST_SKIP() << "TSan does not support threads after a multi-threaded fork"
#else
#define SKIP_UNDER_TSAN() (void)0
#endif
