#pragma once
// memcached's ASCII authentication (-Y authfile), shared by both connection paths: the
// first command on a connection is a `set` whose value is "<user> <password>", answered
// STORED or CLIENT_ERROR. It is classic text protocol, which the meta parser does not
// read, and it is one line, so each path reads that line itself before any request.
#include <llmcache/options.hpp>

#include <string>
#include <string_view>

namespace llmcache::net {

/// Throws InvalidArgumentError for credentials memcached could not parse.
void validate_credentials(const Credentials& credentials);

bool wants_auth(const Credentials& credentials);

/// The bytes of the authentication command.
std::string auth_request(const Credentials& credentials);

/// The longest reply line accepted before it is a protocol error.
inline constexpr std::size_t kMaxAuthReplyBytes = 1024;

/// Checks the reply line (without "\r\n"); throws IoError naming authentication unless
/// it is STORED.
void check_auth_reply(std::string_view line, const ServerAddress& address);

}  // namespace llmcache::net
