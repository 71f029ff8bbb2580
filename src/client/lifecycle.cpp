#include "client/lifecycle.hpp"

#include <pthread.h>

namespace llmcache::detail {
namespace {

std::atomic<std::uint64_t> g_fork_generation{0};

// Runs in the child only, right after fork(), on its only thread.
void on_fork_child() {
  g_fork_generation.fetch_add(1, std::memory_order_relaxed);
}

void watch_forks() {
  // Once per process; a child inherits the registration.
  static const bool registered = [] {
    ::pthread_atfork(nullptr, nullptr, on_fork_child);
    return true;
  }();
  (void)registered;
}

}  // namespace

std::uint64_t fork_generation() {
  return g_fork_generation.load(std::memory_order_relaxed);
}

Lifecycle::Lifecycle(Factory make_transport) : make_transport_(std::move(make_transport)) {
  watch_forks();  // before the first transport takes its generation
  transport_.store(make_transport_().release());
}

Lifecycle::~Lifecycle() {
  close();
  Transport* transport = transport_.load();
  if (transport->generation() == fork_generation()) delete transport;
  // Otherwise it is inherited and never used here: leaked, with its thread that does not
  // exist here and its locks that nobody may release.
}

Transport& Lifecycle::current() {
  Transport* transport = transport_.load(std::memory_order_acquire);
  if (transport->generation() == fork_generation()) [[likely]]
    return *transport;
  return *rebuild(transport);
}

Lifecycle::Use Lifecycle::enter() {
  Transport& transport = current();
  // Arrive, then look: with close() storing closed_ before the destructor counts the calls
  // inside (all sequentially consistent), either this call sees closed_ or the destructor
  // sees this call.
  transport.arrive();
  return Use(transport, closed_.load());
}

Lifecycle::Use Lifecycle::enter_open() {
  Use use = enter();
  if (use.closed()) std::rethrow_exception(closed_error());
  return use;
}

void Lifecycle::close() {
  closed_.store(true);
  Transport* transport = transport_.load();
  // An inherited transport is the parent's to close; a child that later calls gets a
  // fresh one, closed by rebuild().
  if (transport->generation() == fork_generation()) transport->close();
}

Transport* Lifecycle::rebuild(Transport* inherited) {
  std::unique_ptr<Transport> fresh = make_transport_();
  fresh->inherited = inherited;
  if (closed_.load()) fresh->close();
  // Threads of the child that get here together each build one; the first installed wins
  // and the others are destroyed unused.
  Transport* seen = inherited;
  if (!transport_.compare_exchange_strong(seen, fresh.get())) return seen;
  Transport* installed = fresh.release();
  // A close() that ran between the check above and the exchange saw the inherited
  // transport and left it alone: this one must be closed all the same.
  if (closed_.load()) installed->close();
  return installed;
}

}  // namespace llmcache::detail
