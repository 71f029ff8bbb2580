#pragma once
// One server's standing under pymemcache HashClient's failure rules (README, "Failure
// rules"), as a state machine given the time: nothing here reads a clock, so every rule is
// tested with a fake one (tests/unit/server_health_test.cpp).
//
//   healthy --failure--> failing (attempts 0)
//   failing: requests are skipped without I/O until retry_timeout has passed since the last
//            failure; then one request retries it: a reply makes it healthy again, a
//            failure counts one attempt. Once attempts reach retry_attempts, the next
//            request that picks the server removes it (dead) and goes elsewhere.
//   healthy --failure, retry_attempts <= 0--> dead at once
//   dead --dead_timeout passed--> healthy (attempts 0)
//
// Requests in flight together fail together: only the first failure among requests routed
// before it counts, as pymemcache (one request at a time) would count it. Each request
// carries the ticket() it was routed with; an outcome with an older ticket is ignored.
// Not thread-safe: the owner locks.
#include <chrono>
#include <cstdint>

namespace llmcache::detail {

class ServerHealth {
 public:
  using Clock = std::chrono::steady_clock;

  struct Rules {
    /// Failures tolerated after the first (each after retry_timeout) before removal.
    int retry_attempts = 2;
    /// How long a failing server is skipped without I/O after each failure.
    Clock::duration retry_timeout = std::chrono::seconds(1);
    /// How long a removed server stays out.
    Clock::duration dead_timeout = std::chrono::seconds(60);
  };

  enum class State { kHealthy, kFailing, kDead };

  /// What a request placed on this server does.
  enum class Use {
    kSend,    // send it (healthy, or failing and due for a retry)
    kSkip,    // fail it without I/O: failing, within retry_timeout (skipped_for() says how long)
    kRemove,  // the server is dead (removed now, or before): place the key elsewhere
  };

  explicit ServerHealth(Rules rules) : rules_(rules) {}

  State state() const { return state_; }
  /// The server's current ticket, for a request routed to it now.
  std::uint64_t ticket() const { return ticket_; }

  /// A request placed on this server at `now`. May remove the server (kRemove).
  Use use(Clock::time_point now);
  /// With kSkip: how long the server is still skipped at `now`.
  Clock::duration skipped_for(Clock::time_point now) const;

  /// A request routed with `ticket` was answered: a failing server is healthy again.
  void record_success(std::uint64_t ticket);
  /// A request routed with `ticket` failed at `now` through the server's fault. Returns
  /// true if that removed the server (dead).
  bool record_failure(std::uint64_t ticket, Clock::time_point now);
  /// A dead server whose dead_timeout has passed at `now` comes back healthy. Returns true
  /// if it did (the owner puts it back in placement).
  bool revive_if_due(Clock::time_point now);

 private:
  void remove(Clock::time_point now);

  Rules rules_;
  State state_ = State::kHealthy;
  int attempts_ = 0;  // failed retries since the server started failing
  Clock::time_point failed_at_{};
  Clock::time_point dead_at_{};
  std::uint64_t ticket_ = 0;  // bumped by every counted failure and by removal
};

}  // namespace llmcache::detail
