#include "net/close_signal.hpp"

#include <llmcache/errors.hpp>

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

namespace llmcache::net {

CloseSignal::CloseSignal() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (fd_ < 0) throw IoError(std::string("cannot create an eventfd: ") + std::strerror(errno));
}

CloseSignal::~CloseSignal() {
  ::close(fd_);
}

void CloseSignal::raise() {
  // The counter only grows and nobody reads it, so the fd stays readable; a write can
  // only fail on overflow, which 2^64 raises would take.
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto written = ::write(fd_, &one, sizeof one);
}

}  // namespace llmcache::net
