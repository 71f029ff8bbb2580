#pragma once
// "This client is closing", as something poll() can wait on: an eventfd that becomes
// readable for good when raised. A blocking call polls it next to its socket, so close()
// wakes a call that waits for a reply without touching that call's socket. (shutdown() on
// the socket would wake it too, but only with a lock around every fd change, since its
// owner may close the fd and the number be reused at any moment; and after fork() a
// socket can be shared with another process, which shutdown() would disturb.)
namespace llmcache::net {

class CloseSignal {
 public:
  /// Throws IoError when no descriptor is available.
  CloseSignal();
  ~CloseSignal();
  CloseSignal(const CloseSignal&) = delete;
  CloseSignal& operator=(const CloseSignal&) = delete;

  /// Readable once raised.
  int fd() const { return fd_; }
  /// Thread-safe; raising again changes nothing.
  void raise();

 private:
  int fd_;
};

}  // namespace llmcache::net
