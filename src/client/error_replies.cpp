#include "client/error_replies.hpp"

#include <llmcache/errors.hpp>

#include <string>

namespace llmcache::detail {

using protocol::Reply;
using protocol::Status;

void throw_if_error_reply(const Reply& reply, const ServerAddress& server) {
  switch (reply.status) {
    case Status::kError:
      throw ServerError("memcached " + server.name() +
                            " answered ERROR (command not understood): a proxy or a memcached "
                            "before 1.6.10 does not know meta commands; use protocol auto or "
                            "classic",
                        {ErrorReason::kNotUnderstood, server.name()});
    case Status::kClientError:
      // memcached started with -Y answers every request of a connection that has not
      // authenticated yet this way.
      if (reply.message.starts_with("unauthenticated")) {
        throw ServerError("memcached answered CLIENT_ERROR " + reply.message,
                          {ErrorReason::kUnauthenticated, server.name()});
      }
      throw ServerError("memcached answered CLIENT_ERROR " + reply.message,
                        {ErrorReason::kClientErrorReply, server.name()});
    case Status::kServerError:
      if (reply.message.find("too large") != std::string::npos) {
        // Only a store is answered this way, and memcached 1.6 unlinks the item under the
        // key before it refuses: the caller must know the old value is gone too.
        throw ValueTooLargeError("memcached refused the value: SERVER_ERROR " + reply.message +
                                     "; memcached also removed the previous value under this key"
                                     " (raise memcached's -I item size limit, or store less)",
                                 true, server.name());
      }
      throw ServerError("memcached answered SERVER_ERROR " + reply.message,
                        {ErrorReason::kServerErrorReply, server.name()});
    case Status::kBusy:
      // Only lru_crawler answers BUSY: one crawl runs per server at a time.
      throw ServerError("memcached answered BUSY " + reply.message +
                            " (another lru_crawler run is in progress; retry shortly)",
                        {ErrorReason::kBusy, server.name()});
    default:
      return;
  }
}

void throw_unexpected(const Reply& reply, const char* request, const ServerAddress& server) {
  throw ProtocolError(std::string("unexpected reply to ") + request + " (status " +
                          std::to_string(static_cast<int>(reply.status)) + ")",
                      {ErrorReason::kUnexpectedReply, server.name()});
}

}  // namespace llmcache::detail
