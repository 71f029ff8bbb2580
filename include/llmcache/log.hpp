#pragma once
/// Where llmcache reports what it turned into a miss or a skipped update.
#include <functional>
#include <string_view>

namespace llmcache {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

using LogHandler = std::function<void(LogLevel level, std::string_view message)>;

/// Replaces the process-wide handler; the default prints warnings and errors to stderr.
/// An empty handler silences llmcache. Thread-safe; the handler may be called from any
/// thread, including a client's I/O thread, so it must not block for long.
void set_log_handler(LogHandler handler);

/// Sends a message to the current handler.
void log(LogLevel level, std::string_view message);

}  // namespace llmcache
