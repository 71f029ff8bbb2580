#include <llmcache/log.hpp>

#include <pthread.h>

#include <iostream>
#include <memory>
#include <mutex>
#include <string>

namespace llmcache {
namespace {

void log_to_stderr(LogLevel level, std::string_view message) {
  if (level < LogLevel::kWarning) return;
  std::string line = "llmcache: ";
  line += message;
  line += '\n';
  std::cerr << line << std::flush;
}

std::mutex handler_mutex;
std::shared_ptr<const LogHandler> handler = std::make_shared<const LogHandler>(log_to_stderr);

// fork() copies handler_mutex as it is: had another thread held it then (an I/O thread
// logging a failure), the child's first log would wait forever (gunicorn --preload forks a
// process that has served requests). Held across fork() by the forking thread, it is free
// in both processes afterwards.
const bool fork_safe = [] {
  ::pthread_atfork([] { handler_mutex.lock(); }, [] { handler_mutex.unlock(); },
                   [] { handler_mutex.unlock(); });
  return true;
}();

}  // namespace

void set_log_handler(LogHandler new_handler) {
  auto replacement = std::make_shared<const LogHandler>(std::move(new_handler));
  std::lock_guard lock(handler_mutex);
  handler = std::move(replacement);
}

void log(LogLevel level, std::string_view message) {
  std::shared_ptr<const LogHandler> current;
  {
    std::lock_guard lock(handler_mutex);
    current = handler;
  }
  if (*current) (*current)(level, message);
}

}  // namespace llmcache
