#include "support/fake_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <random>
#include <stdexcept>

namespace llmcache::testing {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count()) + 1;
}

std::vector<std::string_view> split(std::string_view line) {
  std::vector<std::string_view> tokens;
  std::size_t pos = 0;
  while (pos < line.size()) {
    std::size_t space = line.find(' ', pos);
    if (space == std::string_view::npos) space = line.size();
    if (space > pos) tokens.push_back(line.substr(pos, space - pos));
    pos = space + 1;
  }
  return tokens;
}

int listen_on_loopback(int backlog, std::uint16_t& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd, backlog) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot listen on loopback");
  }
  socklen_t length = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length);
  port = ntohs(addr.sin_port);
  return fd;
}

}  // namespace

// ---------------------------------------------------------------- FakePeer

bool FakePeer::fill(Clock::time_point deadline) {
  char chunk[16 * 1024];
  for (;;) {
    pollfd pfd{fd_, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, remaining_ms(deadline));
    if (ready == 0) return false;
    if (ready < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n > 0) {
      buffer_.append(chunk, static_cast<std::size_t>(n));
      return true;
    }
    if (n < 0 && errno == EINTR) continue;
    return false;  // closed by the client, or reset
  }
}

std::optional<FakeRequest> FakePeer::read_request(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::size_t end;
  while ((end = buffer_.find("\r\n")) == std::string::npos) {
    if (!fill(deadline)) return std::nullopt;
  }
  FakeRequest request;
  request.line = buffer_.substr(0, end);
  buffer_.erase(0, end + 2);
  const auto tokens = split(request.line);
  if (tokens.empty()) return request;
  request.command = tokens[0];
  if (tokens.size() > 1) request.key = tokens[1];
  std::size_t first_flag = 2;
  // ms <key> <length> ...; classic set/add <key> <flags> <exptime> <length>.
  const bool classic_store = (request.command == "set" || request.command == "add");
  const std::size_t length_at = classic_store ? 4 : 2;
  if ((request.command == "ms" || classic_store) && tokens.size() > length_at) {
    std::size_t length = 0;
    const auto& text = tokens[length_at];
    std::from_chars(text.data(), text.data() + text.size(), length);
    first_flag = classic_store ? tokens.size() : 3;
    while (buffer_.size() < length + 2) {
      if (!fill(deadline)) return std::nullopt;
    }
    request.value = buffer_.substr(0, length);
    buffer_.erase(0, length + 2);
  }
  for (std::size_t i = first_flag; i < tokens.size(); ++i) {
    if (tokens[i].size() > 1 && tokens[i][0] == 'O') {
      std::uint32_t opaque = 0;
      std::from_chars(tokens[i].data() + 1, tokens[i].data() + tokens[i].size(), opaque);
      request.opaque = opaque;
    }
  }
  return request;
}

bool FakePeer::send(std::string_view bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      bytes_sent_ += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return false;
    }
  }
  return true;
}

bool FakePeer::send_in_pieces(std::string_view bytes, std::size_t max_piece, std::uint32_t seed) {
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::mt19937 random(seed);
  std::uniform_int_distribution<std::size_t> piece(1, max_piece);
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    const std::size_t n = std::min(piece(random), bytes.size() - pos);
    if (!send(bytes.substr(pos, n))) return false;
    pos += n;
    // A pause lets the client read each piece on its own, most of the time.
    std::this_thread::sleep_for(100us);
  }
  return true;
}

bool FakePeer::wait_for_client_close(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  char chunk[16 * 1024];
  for (;;) {
    pollfd pfd{fd_, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, remaining_ms(deadline));
    if (ready == 0) return false;
    if (ready < 0) {
      if (errno == EINTR) continue;
      return true;
    }
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n == 0) return true;
    if (n < 0 && errno != EINTR) return true;  // reset by the client
  }
}

void FakePeer::close() {
  ::shutdown(fd_, SHUT_RDWR);
}

// ---------------------------------------------------------------- FakeServer

FakeServer::FakeServer(std::vector<Script> scripts) : scripts_(std::move(scripts)) {
  listen_fd_ = listen_on_loopback(64, port_);
  acceptor_ = std::thread([this] { accept_loop(); });
}

FakeServer::~FakeServer() {
  stopping_ = true;
  acceptor_.join();
  {
    // Unblocks every handler's read; a script blocked in one sees the client gone.
    std::lock_guard lock(mutex_);
    for (int fd : open_fds_) {
      if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
    }
  }
  for (auto& handler : handlers_) handler.join();
  ::close(listen_fd_);
}

void FakeServer::store(const std::string& key, const std::string& value) {
  std::lock_guard lock(mutex_);
  store_[key] = value;
}

std::vector<std::string> FakeServer::stored_keys() {
  std::lock_guard lock(mutex_);
  std::vector<std::string> keys;
  for (const auto& [key, value] : store_) keys.push_back(key);
  return keys;
}

bool FakeServer::wait_connection_ended(std::size_t index, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return index < ended_.size() && ended_[index]; });
}

void FakeServer::accept_loop() {
  while (!stopping_) {
    pollfd pfd{listen_fd_, POLLIN, 0};
    if (::poll(&pfd, 1, 20) <= 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard lock(mutex_);
    const std::size_t index = open_fds_.size();
    open_fds_.push_back(fd);
    ended_.push_back(false);
    ++accepted_;
    handlers_.emplace_back([this, index, fd] { serve(index, fd); });
  }
}

void FakeServer::serve(std::size_t index, int fd) {
  FakePeer peer(fd);
  if (index < scripts_.size()) {
    scripts_[index](peer);
  } else {
    behave(peer);
  }
  std::lock_guard lock(mutex_);
  ::close(fd);
  open_fds_[index] = -1;
  ended_[index] = true;
  changed_.notify_all();
}

void FakeServer::behave(FakePeer& peer) {
  while (auto request = peer.read_request(std::chrono::hours(1))) {
    if (stopping_) return;
    const std::string opaque = request->opaque ? " O" + std::to_string(*request->opaque) : "";
    std::string reply;
    {
      std::lock_guard lock(mutex_);
      if (request->command == "mg") {
        auto found = store_.find(request->key);
        reply = found == store_.end() ? "EN" + opaque + "\r\n"
                                      : "VA " + std::to_string(found->second.size()) + " f0" +
                                            opaque + "\r\n" + found->second + "\r\n";
      } else if (request->command == "ms") {
        store_[request->key] = request->value;
        reply = "HD" + opaque + "\r\n";
      } else if (request->command == "md") {
        reply = (store_.erase(request->key) ? "HD" : "NF") + opaque + "\r\n";
      } else if (request->command == "get" || request->command == "gets") {
        // Classic: every key on the line, hits only, then END.
        const auto tokens = split(request->line);
        for (std::size_t i = 1; i < tokens.size(); ++i) {
          auto found = store_.find(std::string(tokens[i]));
          if (found == store_.end()) continue;
          reply += "VALUE " + found->first + " 0 " + std::to_string(found->second.size()) +
                   (request->command == "gets" ? " 1" : "") + "\r\n" + found->second + "\r\n";
        }
        reply += "END\r\n";
      } else if (request->command == "set" || request->command == "add") {
        const bool exists = store_.count(request->key) > 0;
        if (request->command == "add" && exists) {
          reply = "NOT_STORED\r\n";
        } else {
          store_[request->key] = request->value;
          reply = "STORED\r\n";
        }
      } else if (request->command == "delete") {
        reply = store_.erase(request->key) ? "DELETED\r\n" : "NOT_FOUND\r\n";
      } else if (request->command == "flush_all") {
        if (!flush_answered_locally_) store_.clear();
        reply = "OK\r\n";
      } else if (request->command == "mn") {
        reply = "MN\r\n";
      } else if (request->command == "version") {
        reply = "VERSION 1.6.18-fake\r\n";
      } else {
        reply = "ERROR\r\n";
      }
    }
    if (!peer.send(reply)) return;
  }
}

// ---------------------------------------------------------------- UnacceptingServer

UnacceptingServer::UnacceptingServer() {
  // Backlog 0: Linux queues one connection, then drops further SYNs while nobody accepts.
  listen_fd_ = listen_on_loopback(0, port_);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port_);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < 16; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    fillers_.push_back(fd);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) continue;
    pollfd pfd{fd, POLLOUT, 0};
    // A connect that does not complete at once means the queue is full: done.
    if (::poll(&pfd, 1, 300) == 0) return;
  }
  throw std::runtime_error("could not fill the accept queue of a loopback listener");
}

UnacceptingServer::~UnacceptingServer() {
  for (int fd : fillers_) ::close(fd);
  ::close(listen_fd_);
}

}  // namespace llmcache::testing
