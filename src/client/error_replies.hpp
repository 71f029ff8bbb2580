#pragma once
// The one place a server's answer becomes an exception: its error replies (ERROR,
// CLIENT_ERROR, SERVER_ERROR, BUSY) and the replies that do not answer the request. Each
// exception carries its reason and the server that answered, so no caller reads the text.
#include <llmcache/options.hpp>

#include "protocol/meta_parser.hpp"

namespace llmcache::detail {

/// Throws the ServerError (or ValueTooLargeError) that `reply` stands for; returns if it
/// is not an error reply.
void throw_if_error_reply(const protocol::Reply& reply, const ServerAddress& server);

/// Throws ProtocolError (kUnexpectedReply): `reply` is well formed but does not answer
/// `request`.
[[noreturn]] void throw_unexpected(const protocol::Reply& reply, const char* request,
                                   const ServerAddress& server);

}  // namespace llmcache::detail
