#include "client/server_health.hpp"

namespace llmcache::detail {

ServerHealth::Use ServerHealth::use(Clock::time_point now) {
  switch (state_) {
    case State::kHealthy:
      return Use::kSend;
    case State::kDead:
      return Use::kRemove;
    case State::kFailing:
      break;
  }
  if (attempts_ >= rules_.retry_attempts) {
    remove(now);  // its keys move to the remaining servers
    return Use::kRemove;
  }
  // This request retries it.
  return now - failed_at_ > rules_.retry_timeout ? Use::kSend : Use::kSkip;
}

ServerHealth::Clock::duration ServerHealth::skipped_for(Clock::time_point now) const {
  return rules_.retry_timeout - (now - failed_at_);
}

void ServerHealth::record_success(std::uint64_t ticket) {
  if (ticket != ticket_ || state_ != State::kFailing) return;
  state_ = State::kHealthy;
  attempts_ = 0;
}

bool ServerHealth::record_failure(std::uint64_t ticket, Clock::time_point now) {
  if (ticket != ticket_ || state_ == State::kDead) return false;
  ++ticket_;
  if (state_ == State::kHealthy) {
    if (rules_.retry_attempts <= 0) {
      remove(now);
      return true;
    }
    state_ = State::kFailing;
    attempts_ = 0;
  } else {
    ++attempts_;
  }
  failed_at_ = now;
  return false;
}

bool ServerHealth::revive_if_due(Clock::time_point now) {
  if (state_ != State::kDead || now - dead_at_ <= rules_.dead_timeout) return false;
  state_ = State::kHealthy;
  attempts_ = 0;
  return true;
}

void ServerHealth::remove(Clock::time_point now) {
  state_ = State::kDead;
  dead_at_ = now;
  ++ticket_;
}

}  // namespace llmcache::detail
