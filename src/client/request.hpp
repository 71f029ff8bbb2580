#pragma once
// A request as the operations hand it to the transport, and what comes back.
#include <llmcache/options.hpp>

#include "protocol/reply_parser.hpp"

#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string>

namespace llmcache::detail {

/// Called exactly once with the reply, or the error that ended the wait, and the server the
/// request went to (null when it went nowhere: the client was closed, no server was left),
/// so that an error reply can name its server.
using ReplyHandler =
    std::function<void(std::exception_ptr, protocol::Reply, const ServerAddress* server)>;

/// One request as the client hands it to the transport.
struct Request {
  /// The request bytes, exactly one request.
  std::string bytes;
  /// The opaque the reply must echo; nullopt for classic commands, which echo nothing.
  std::optional<std::uint32_t> opaque;
  ReplyHandler on_reply;
  /// Classic requests: the reply kinds that answer it (protocol::accepts); 0: any.
  protocol::Accepts accepts = 0;
  /// The protocol `bytes` are written in, checked against the protocol of the server the
  /// request is placed on when it is dispatched (Transport::send). nullopt: bytes the same
  /// in both (version, stats, flush_all) sent to a server chosen by index (send_to).
  std::optional<protocol::Wire> wire;
};

struct RoutedRequest {
  /// The key that decides the server (ignored by a single-server client).
  std::string routing_key;
  Request request;
};

/// A blocking round trip's reply and the server that gave it.
struct Answer {
  protocol::Reply reply;
  const ServerAddress& server;
};

}  // namespace llmcache::detail
