#pragma once
// What keeps a ClientBase's transport usable across close() and fork().
//
// fork(): the child inherits the parent's transport as memory only. Its I/O thread does
// not exist there, its io_context's epoll instance and its sockets are shared with the
// parent, and its mutexes may have been held by parent threads at the moment of the fork.
// So the child never uses, closes or destroys it: its first call builds a fresh transport
// (I/O thread, io_context, connections) from the same options, and the inherited one is
// left alone for good. A pthread_atfork child handler bumps a process-wide generation;
// each transport remembers the generation it was built in, and a mismatch means
// "inherited". Checking costs one relaxed load per call.
//
// What the child leaks, deliberately: the inherited transport's memory and descriptors
// (an epoll fd, two eventfds, the parent's sockets: a handful per client, once per fork).
// A plain close() of a socket fd would not hurt the parent, but finding the fds means
// walking structures a parent thread may have been changing during the fork; and every
// other way of releasing them hurts the parent: asio's close does EPOLL_CTL_DEL on the
// shared epoll instance (removing the parent's registration), SSL_shutdown writes on the
// parent's TLS session, shutdown() ends the parent's connection.
//
// close(): marks the client closed and closes its transport (Transport::close). Each call
// holds a Use from entry to return, so the destructor knows when none is left inside.
#include "client/transport.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <utility>

namespace llmcache::detail {

class Lifecycle {
 public:
  using Factory = std::function<std::unique_ptr<Transport>()>;

  /// Builds the first transport now; `make_transport` builds the next one in a child.
  explicit Lifecycle(Factory make_transport);
  /// close(), then destroys this process's transport, which waits for the calls inside.
  ~Lifecycle();
  Lifecycle(const Lifecycle&) = delete;
  Lifecycle& operator=(const Lifecycle&) = delete;

  /// One call's hold on the transport: it is not destroyed before the Use is.
  class Use {
   public:
    Use(Transport& transport, bool closed) : transport_(&transport), closed_(closed) {}
    Use(Use&& other) noexcept
        : transport_(std::exchange(other.transport_, nullptr)), closed_(other.closed_) {}
    Use& operator=(Use&&) = delete;
    ~Use() {
      if (transport_) transport_->leave();
    }
    Transport& operator*() const { return *transport_; }
    Transport* operator->() const { return transport_; }
    Transport* get() const { return transport_; }
    /// The client was closed when the call started: it must fail with ClosedError.
    bool closed() const { return closed_; }

   private:
    Transport* transport_;
    bool closed_;
  };

  /// For a call: this process's transport (built now if the process is a fork child that
  /// has not called yet), held until the Use ends.
  Use enter();
  /// enter(), throwing ClosedError when the client is closed (for blocking calls).
  Use enter_open();
  /// This process's transport, for what does no I/O (executor, servers). Not held.
  Transport& current();

  /// Thread-safe, idempotent, does not wait (see Transport::close).
  void close();

 private:
  Transport* rebuild(Transport* inherited);

  Factory make_transport_;
  std::atomic<bool> closed_{false};
  // Owned, except an inherited one (see above). Replaced only in a fork child.
  std::atomic<Transport*> transport_{nullptr};
};

}  // namespace llmcache::detail
