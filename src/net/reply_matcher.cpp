#include "net/reply_matcher.hpp"

#include "net/net_error.hpp"
#include "protocol/classic_requests.hpp"

#include <string>

namespace llmcache::net {
namespace {

std::string opaque_text(std::optional<std::uint32_t> opaque) {
  return opaque ? std::to_string(*opaque) : "none";
}

}  // namespace

bool is_error_reply(const protocol::Reply& reply) {
  using protocol::Status;
  return reply.status == Status::kError || reply.status == Status::kClientError ||
         reply.status == Status::kServerError;
}

void check_answers(const protocol::Reply& reply, std::optional<std::uint32_t> opaque,
                   const ServerAddress& address, protocol::Accepts accepts,
                   std::string_view request) {
  if (opaque) {
    if (reply.opaque ? *reply.opaque != *opaque : !is_error_reply(reply)) {
      throw net_error<ProtocolError>(address, ErrorReason::kUnexpectedReply,
                                     "reply out of order: expected opaque " +
                                         std::to_string(*opaque) + ", got " +
                                         opaque_text(reply.opaque));
    }
  } else if (reply.opaque) {
    throw net_error<ProtocolError>(address, ErrorReason::kUnexpectedReply,
                                   "unexpected opaque " + std::to_string(*reply.opaque));
  } else if (!protocol::accepted(accepts, reply.status) && !is_error_reply(reply)) {
    throw net_error<ProtocolError>(address, ErrorReason::kUnexpectedReply,
                                   "reply of the wrong kind (status " +
                                       std::to_string(static_cast<int>(reply.status)) +
                                       "): the stream is out of step");
  } else if (!reply.values.empty() && !protocol::pair_classic_items(request, reply.values)) {
    // A classic reply names its keys instead of echoing an opaque: an item for a key this
    // request did not ask for answers another one.
    throw net_error<ProtocolError>(address, ErrorReason::kUnexpectedReply,
                                   "VALUE for a key the request did not ask for: the stream "
                                   "is out of step");
  }
}

void unsolicited(const protocol::Reply&, const ServerAddress& address) {
  throw net_error<ProtocolError>(address, ErrorReason::kUnexpectedReply, "reply to no request");
}

}  // namespace llmcache::net
