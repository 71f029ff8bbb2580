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
//   wake-up (tens of µs): a spin that catches the reply about halves the latency, and
//   burns about the CPU the wake-up costs;
// - the reply is there before the first read (the server preempted the caller while it
//   sent): nothing to decide.
// So the policy keeps the typical wait of each way (from the first empty read until the
// reply is readable), spins only when spinning's wait is under four fifths of sleeping's,
// and then for twice that wait at most (capped). Now and then one wait tries the other way
// (probe), so that a change of state is noticed; probes that confirm the choice come ever
// rarer (up to kMaxProbeEvery waits apart), which keeps their cost small.
//
// Off when ClientOptions::blocking_spin is 0 (why the default spins: see there).
//
// A pure state machine: the connection reports how each wait went, the tests drive it
// with made-up times.
#include <algorithm>
#include <chrono>
#include <cstdint>

namespace llmcache::net {

class SpinPolicy {
 public:
  using Duration = std::chrono::nanoseconds;
  /// Waits between probes: this many after a probe that changed the choice, doubling
  /// after each that confirmed it, up to kMaxProbeEvery.
  static constexpr std::uint32_t kFirstProbeEvery = 8;
  static constexpr std::uint32_t kMaxProbeEvery = 128;

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

  /// The wait slept in poll() (at once, or when the spin ran out: `spun`) and the reply
  /// came `waited` after the first empty read.
  void slept(Duration waited, bool spun) {
    // A spin that ran out did not make the reply come sooner: that way's wait was as long.
    (spun ? spin_ : sleep_).add(waited, probing_);
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
    // Spinning must cut the wait by a fifth: a spin burns its whole wait, so a spin
    // that saves nothing is not worth its CPU. The bar was "halve the wait" until
    // measured against the slow state, where a spin's wait is about half a sleep's:
    // there the choice kept flipping, every sleep cost a second wake-up, and the spins
    // it gave up saved little CPU (a sleep's wake-up costs nearly as much). Interleaved
    // rounds on the 2-vCPU VM, slow state, halving against this bar: Python lookups on
    // memcached -t 1 at 2.4x LangChain's hits/s against 3.1-3.4x; C++ blocking lookups
    // at p50 0.74-0.80x libmemcached's against 0.51-0.56x, for CPU 1.5-1.6x
    // libmemcached's against 1.5-1.8x (see BENCHMARKS.md). What a lower bar risks: a
    // probe's sleep just after spinning may still find the server's thread on the other
    // CPU and look slow, so the connection keeps spinning where steady sleeping would be
    // quicker; the next probe that finds sleeping quick ends that.
    // Each way is learnt first: a new connection spins once, then sleeps once.
    const bool spin = cap_ > Duration::zero() &&
                      (!spin_.known || (sleep_.known && 5 * spin_.typical < 4 * sleep_.typical));
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
  Typical spin_;          // waits when spinning (a spin that ran out counts its whole wait)
  Typical sleep_;         // waits when sleeping at once
  bool spinning_ = true;  // the choice; a new connection spins first to learn that way
  bool probing_ = false;  // the next wait tries the other way
  std::uint32_t probe_every_ = kFirstProbeEvery;
  std::uint32_t until_probe_ = kFirstProbeEvery;
};

}  // namespace llmcache::net
