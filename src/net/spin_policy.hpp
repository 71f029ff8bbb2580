#pragma once
// Whether a blocking round trip spins on its socket before it sleeps in poll(), and how
// long (ClientOptions::blocking_spin is the cap), learnt per connection from how long its
// replies took each way.
//
// Why learnt: measured on a 2-vCPU VM against memcached, the same loop falls into one of
// a few states, decided by where the scheduler puts the server's thread, and they come
// and go between connections and over time:
// - the server's thread runs on the caller's CPU while the caller sleeps: sleeping is
//   fastest and cheapest, and a spin only keeps the server off this CPU, so that it wakes
//   on the other one and the reply takes longer (and the whole wait is burnt CPU);
// - the server runs on the other CPU and a sleeping caller waits for a slow cross-CPU
//   wake-up (tens of µs): a spin that catches the reply halves the latency, and burns
//   less CPU than the wake-up costs;
// - the reply is there before the first read (the server preempted the caller while it
//   sent): nothing to decide.
// So the policy keeps the typical wait of each way (from the first empty read until the
// reply is readable) and, now and then, the CPU a sleeping wait costs this thread (the
// poll(), the context switches and the wake-up; the connection measures it with the
// thread's CPU clock on every kCpuSampleEvery-th sleep only, since reading that clock is a
// system call). It spins only where that is CPU-first and pays: the spin's wait, all of
// it burnt, is under the CPU a sleep costs, and under half of sleeping's wait; then for
// twice that wait at most (capped). Now and then one wait tries the other way (probe), so
// that a change of state is noticed; probes that confirm the choice come ever rarer (up
// to kMaxProbeEvery waits apart), which keeps their cost small.
//
// A pure state machine: the connection reports how each wait went, the tests drive it
// with made-up times.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>

namespace llmcache::net {

class SpinPolicy {
 public:
  using Duration = std::chrono::nanoseconds;
  /// Waits between probes: this many after a probe that changed the choice, doubling
  /// after each that confirmed it, up to kMaxProbeEvery.
  static constexpr std::uint32_t kFirstProbeEvery = 8;
  static constexpr std::uint32_t kMaxProbeEvery = 128;
  /// Sleeps between two measurements of a sleep's CPU (the first sleep is measured).
  static constexpr std::uint32_t kCpuSampleEvery = 8;

  /// `cap` <= 0: never spin.
  explicit SpinPolicy(Duration cap) : cap_(std::max(cap, Duration::zero())) {}

  /// Whether it may ever spin: when not, a wait needs no timing at all.
  bool enabled() const { return cap_ > Duration::zero(); }

  /// How long the next wait may spin before it sleeps; zero: sleep at once.
  Duration budget() const {
    if (spinning_ == probing_) return Duration::zero();
    return spin_.known ? std::min(cap_, 2 * spin_.typical) : cap_;
  }

  /// The reply came during the spin, `waited` after the first empty read.
  void caught(Duration waited) {
    spin_.add(waited, probing_);
    decide();
  }

  /// Whether the wait about to sleep (without a spin first) should measure the CPU it
  /// costs and pass it to slept(); counts the sleeps between measurements.
  bool sample_sleep_cpu() {
    if (!enabled()) return false;
    if (!sleep_cpu_.known || --until_cpu_sample_ == 0) {
      until_cpu_sample_ = kCpuSampleEvery;
      return true;
    }
    return false;
  }

  /// The wait slept in poll() (at once, or when the spin ran out: `spun`) and the reply
  /// came `waited` after the first empty read; `cpu`: what the sleep cost this thread,
  /// when sample_sleep_cpu() asked for it.
  void slept(Duration waited, bool spun, std::optional<Duration> cpu = std::nullopt) {
    // A spin that ran out did not make the reply come sooner: that way's wait was as long.
    (spun ? spin_ : sleep_).add(waited, probing_);
    if (cpu && !spun) sleep_cpu_.add(*cpu, probing_);
    decide();
  }

  /// Whether the waits to come spin (probes aside): for tests and diagnostics.
  bool spinning() const { return spinning_; }

 private:
  struct Typical {
    Duration typical{};
    bool known = false;
    // A moving average over about the last eight waits; a probe's single wait counts for
    // half, since the estimate it refreshes may be old.
    void add(Duration waited, bool probe) {
      typical = known ? typical + (waited - typical) / (probe ? 2 : 8) : waited;
      known = true;
    }
  };

  void decide() {
    const bool was_probe = probing_;
    probing_ = false;
    // CPU first: a spin burns its whole wait, so it must cost less than a sleep does (on
    // a quiet VM a sleep's wake-up costs the sleeper little; on a busy one, or across
    // CPUs, it can cost more than a spin that catches the reply). And it must halve the
    // wait: a bar any lower lets a single slow sleep (a probe) pin the connection to
    // spinning while the server's thread, kept off this CPU by that spinning, wakes
    // slowly elsewhere. Each way is learnt first: a new connection spins once, then
    // sleeps once (measuring that sleep's CPU).
    const bool spin = enabled() && (!spin_.known || (sleep_.known && sleep_cpu_.known &&
                                                     spin_.typical < sleep_cpu_.typical &&
                                                     2 * spin_.typical < sleep_.typical));
    if (was_probe) {
      probe_every_ =
          spin == spinning_ ? std::min(2 * probe_every_, kMaxProbeEvery) : kFirstProbeEvery;
    }
    spinning_ = spin;
    if (--until_probe_ == 0) {
      probing_ = cap_ > Duration::zero();
      until_probe_ = probe_every_;
    }
  }

  Duration cap_;
  Typical spin_;       // waits when spinning (a spin that ran out counts its whole wait)
  Typical sleep_;      // waits when sleeping at once
  Typical sleep_cpu_;  // CPU of sleeping waits, sampled (sample_sleep_cpu)
  std::uint32_t until_cpu_sample_ = kCpuSampleEvery;
  bool spinning_ = true;  // the choice; a new connection spins first to learn that way
  bool probing_ = false;  // the next wait tries the other way
  std::uint32_t probe_every_ = kFirstProbeEvery;
  std::uint32_t until_probe_ = kFirstProbeEvery;
};

}  // namespace llmcache::net
