#pragma once
// Starting a server process for a test and waiting until it listens: the one fork/exec/poll
// loop behind MemcachedServer and TwemproxyServer.
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace llmcache::testing {

/// True when something accepts a TCP connection on 127.0.0.1:`port`.
bool accepts_connections(std::uint16_t port);
/// True when something accepts a connection on the Unix socket `socket_path`.
bool accepts_connections(const std::string& socket_path);

/// Runs `args` (args[0] looked up on the PATH unless it holds a '/') in a child process that
/// dies with the calling thread (PR_SET_PDEATHSIG: call it from a thread that outlives the
/// server), then polls `listening` for up to 5 s. Returns the child's pid once `listening`
/// is true; -1 when the child exited first (its port taken, bad arguments) or did not listen
/// in time (then it is killed and reaped), so the caller may retry on another port.
pid_t spawn_until_listening(std::vector<std::string> args, const std::function<bool()>& listening);

}  // namespace llmcache::testing
