#include <llmcache/log.hpp>

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
