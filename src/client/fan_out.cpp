#include "client/fan_out.hpp"

#include <llmcache/errors.hpp>

#include <utility>

namespace llmcache::detail {

GetManyJoin::GetManyJoin(std::size_t keys, Callback<Results> done)
    : results_(keys), remaining_(keys), done_(std::move(done)) {}

void GetManyJoin::arrive(std::size_t index, std::exception_ptr error, std::optional<Item> item) {
  if (error) {
    if (!error_) error_ = error;
  } else {
    results_[index] = std::move(item);
  }
  if (--remaining_ > 0) return;
  if (error_) {
    done_(error_, {});
  } else {
    done_(nullptr, std::move(results_));
  }
}

FlushJoin::FlushJoin(std::size_t servers, Callback<std::size_t> done)
    : remaining_(servers), done_(std::move(done)) {}

void FlushJoin::arrive(const std::string& name, std::exception_ptr error) {
  if (error) {
    if (!first_error_) first_error_ = error;
    ++failed_;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      failures_ += (failures_.empty() ? "" : "; ") + name + ": " + e.what();
    }
  } else {
    ++flushed_;
  }
  if (--remaining_ > 0 || !done_) return;
  if (failures_.empty()) return done_(nullptr, flushed_);
  done_(joined_error(), 0);
}

std::exception_ptr FlushJoin::joined_error() const {
  // Keep the class and reason of the first failure (timeout, I/O...) but name every
  // server in the message; the details name a server when it alone failed.
  ErrorDetails details;
  bool io = false;
  try {
    std::rethrow_exception(first_error_);
  } catch (const IoError& e) {
    io = true;
    details = e.details();
  } catch (const Error& e) {
    details = e.details();
  } catch (...) {
  }
  if (failed_ > 1) details.server.clear();
  const std::string what = "flush_all failed on " + failures_;
  return io ? std::make_exception_ptr(IoError(what, std::move(details)))
            : std::make_exception_ptr(ServerError(what, std::move(details)));
}

}  // namespace llmcache::detail
