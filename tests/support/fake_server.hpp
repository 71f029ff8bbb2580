#pragma once
// A scripted fake memcached on a loopback port, for the one kind of test where a real
// server is wrong: replies no real memcached sends (hostile, truncated, out of order).
//
// Connection i (in accept order) runs scripts[i]; connections past the scripts are served
// by a small well-behaved imitation of memcached's meta protocol (mg/ms/md/mn/version) and
// of the classic commands (get/gets/set/add/delete, flush_all), so a
// test can check that the client carries on over a fresh connection after a hostile one.
// Plain blocking sockets, one thread per connection; everything is stopped and joined in
// the destructor.
#include <llmcache/options.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace llmcache::testing {

/// One request as the fake read it.
struct FakeRequest {
  std::string line;     // the request line, without \r\n
  std::string command;  // "mg", "ms", "md", "mn", "version", "get", "set", ...
  std::string key;
  std::optional<std::uint32_t> opaque;  // O<n>, when sent
  std::string value;                    // ms, set, add: the data block
};

/// The server side of one accepted connection, handed to a script.
class FakePeer {
 public:
  explicit FakePeer(int fd) : fd_(fd) {}

  /// Reads one request (with its data block for ms); nullopt if the client closed the
  /// connection or nothing arrived within `timeout`.
  std::optional<FakeRequest> read_request(std::chrono::milliseconds timeout = std::chrono::seconds{
                                              10});
  /// Writes all of `bytes`; false if the client has closed the connection.
  bool send(std::string_view bytes);
  /// Writes `bytes` in pieces of 1..max_piece bytes, each its own segment (TCP_NODELAY and
  /// a short pause between them), so the client sees replies split at every offset.
  bool send_in_pieces(std::string_view bytes, std::size_t max_piece, std::uint32_t seed);
  /// Reads and discards until the client closes the connection; true if it did within
  /// `timeout`.
  bool wait_for_client_close(std::chrono::milliseconds timeout);
  /// Closes the server side.
  void close();
  std::size_t bytes_sent() const { return bytes_sent_; }

 private:
  bool fill(std::chrono::steady_clock::time_point deadline);
  int fd_;
  std::string buffer_;
  std::size_t bytes_sent_ = 0;
};

class FakeServer {
 public:
  using Script = std::function<void(FakePeer&)>;

  explicit FakeServer(std::vector<Script> scripts = {});
  ~FakeServer();
  FakeServer(const FakeServer&) = delete;
  FakeServer& operator=(const FakeServer&) = delete;

  std::uint16_t port() const { return port_; }
  ServerAddress address() const { return {"127.0.0.1", port_}; }

  /// Seeds the well-behaved imitation's store.
  void store(const std::string& key, const std::string& value);
  /// The keys in the imitation's store now.
  std::vector<std::string> stored_keys();
  /// From now on the imitation answers `flush_all` with OK and flushes nothing, as a proxy
  /// that answers it from its own store does (memcached's built-in proxy, 1.6.23+).
  /// Until then `flush_all` empties the store and answers OK.
  void answer_flush_all_locally() { flush_answered_locally_ = true; }
  /// Connections accepted so far.
  std::size_t accepted() const { return accepted_.load(); }
  /// Waits until connection `index` has ended (script done and socket closed by either
  /// side); true if it did within `timeout`.
  bool wait_connection_ended(std::size_t index, std::chrono::milliseconds timeout);

 private:
  void accept_loop();
  void serve(std::size_t index, int fd);
  void behave(FakePeer& peer);

  std::vector<Script> scripts_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> accepted_{0};
  std::thread acceptor_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::thread> handlers_;
  std::vector<int> open_fds_;
  std::vector<bool> ended_;
  std::map<std::string, std::string> store_;
  std::atomic<bool> flush_answered_locally_{false};
};

/// A loopback listener that never accepts, with its accept queue already full: a client's
/// SYN is dropped, so its connect hangs (until the client's own deadline).
class UnacceptingServer {
 public:
  UnacceptingServer();
  ~UnacceptingServer();
  UnacceptingServer(const UnacceptingServer&) = delete;
  UnacceptingServer& operator=(const UnacceptingServer&) = delete;
  ServerAddress address() const { return {"127.0.0.1", port_}; }

 private:
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::vector<int> fillers_;
};

}  // namespace llmcache::testing
