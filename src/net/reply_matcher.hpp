#pragma once
// Which request a reply answers, decided once for both connection paths and without I/O.
//
// Requests are written in order and memcached answers in order, so the oldest unanswered
// request owns the next reply; the opaque the server echoes double-checks that pairing.
// A reply that does not fit (another request's opaque, an opaque nobody sent, a reply
// with nothing outstanding) means the stream can no longer be trusted: ProtocolError
// kUnexpectedReply, after which the connection must be dropped.
#include <llmcache/options.hpp>

#include "protocol/reply_parser.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace llmcache::net {

/// ERROR, CLIENT_ERROR or SERVER_ERROR. memcached may send these without the opaque (its
/// CLIENT_ERROR for a malformed request does), so they answer whichever request is oldest.
bool is_error_reply(const protocol::Reply& reply);

/// Throws ProtocolError kUnexpectedReply naming `address` unless `reply` can answer a
/// request that expects `opaque` (nullopt: a classic command, which echoes none) and, for
/// a classic command, is of a kind it `accepts` and carries items only for the keys that
/// `request` (its bytes) asked for (protocol::pair_classic_items).
void check_answers(const protocol::Reply& reply, std::optional<std::uint32_t> opaque,
                   const ServerAddress& address, protocol::Accepts accepts = 0,
                   std::string_view request = {});

/// Whether check_answers needs a request's bytes: a classic command that may be answered
/// with items (a get).
constexpr bool needs_request_bytes(std::optional<std::uint32_t> opaque, protocol::Accepts accepts) {
  return !opaque && protocol::accepted(accepts, protocol::Status::kValue);
}

/// Throws ProtocolError kUnexpectedReply: `reply` came with no request outstanding.
[[noreturn]] void unsolicited(const protocol::Reply& reply, const ServerAddress& address);

/// The requests written on one connection and not yet answered, oldest first, each with
/// what its owner needs to hand the reply on (`Waiter`).
template <class Waiter>
class ReplyMatcher {
 public:
  /// `address` names the server in errors; it must outlive the matcher.
  explicit ReplyMatcher(const ServerAddress& address) : address_(&address) {}

  void expect(std::optional<std::uint32_t> opaque, Waiter waiter) {
    queue_.push_back({opaque, 0, {}, std::move(waiter)});
  }
  /// `request`: the request's bytes, kept until it is answered when check_answers needs
  /// them (needs_request_bytes); otherwise empty.
  void expect(std::optional<std::uint32_t> opaque, protocol::Accepts accepts, std::string request,
              Waiter waiter) {
    queue_.push_back({opaque, accepts, std::move(request), std::move(waiter)});
  }

  /// The waiter of the request `reply` answers, taken off the queue; its kept bytes (see
  /// expect) are moved to `request` when given. Throws ProtocolError kUnexpectedReply (and
  /// leaves the queue as it was) when the reply answers none.
  Waiter match(const protocol::Reply& reply, std::string* request = nullptr) {
    if (queue_.empty()) unsolicited(reply, *address_);
    Entry& oldest = queue_.front();
    check_answers(reply, oldest.opaque, *address_, oldest.accepts, oldest.request);
    if (request) *request = std::move(oldest.request);
    Waiter waiter = std::move(oldest.waiter);
    queue_.pop_front();
    return waiter;
  }

  /// The newest request's kept bytes and waiter, for a connection that merges another
  /// request into it before writing it (protocol::ClassicGetMerge). Not empty().
  std::string& newest_request() { return queue_.back().request; }
  Waiter& newest() { return queue_.back().waiter; }

  bool empty() const { return queue_.empty(); }
  std::size_t size() const { return queue_.size(); }
  const Waiter& oldest() const { return queue_.front().waiter; }

  /// Every waiter, oldest first, leaving the queue empty (the connection is gone).
  std::deque<Waiter> take_all() {
    std::deque<Waiter> waiters;
    for (auto& entry : queue_) waiters.push_back(std::move(entry.waiter));
    queue_.clear();
    return waiters;
  }

 private:
  struct Entry {
    std::optional<std::uint32_t> opaque;
    protocol::Accepts accepts;
    std::string request;
    Waiter waiter;
  };
  const ServerAddress* address_;
  std::deque<Entry> queue_;
};

}  // namespace llmcache::net
