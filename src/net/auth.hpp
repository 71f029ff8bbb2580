#pragma once
// memcached's ASCII authentication (-Y authfile), shared by both connection paths: the
// first command on a connection is a `set` whose value is "<user> <password>", answered
// STORED or CLIENT_ERROR.
#include <llmcache/options.hpp>

#include <string>
#include <string_view>

namespace llmcache::net {

/// Throws InvalidArgumentError for credentials memcached could not parse.
void validate_credentials(const Credentials& credentials);

bool wants_auth(const Credentials& credentials);

/// One authentication exchange, without I/O, the same for both paths: send request(),
/// then feed() what the server sends until it returns true. The reply is one classic text
/// line, which the meta parser does not read; nothing else is sent until it is in, so the
/// first line is the answer.
class AuthExchange {
 public:
  AuthExchange(const Credentials& credentials, const ServerAddress& address);

  /// The bytes of the authentication command.
  const std::string& request() const { return request_; }

  /// Takes reply bytes; true once the reply line is in and says STORED. Throws IoError
  /// kAuthenticationFailed when the server answers anything else, or more than a line.
  bool feed(std::string_view bytes);

  /// What the server sent after the reply line (for the reply parser; normally nothing).
  std::string_view rest() const;

 private:
  // The longest reply line accepted before the answer cannot be STORED.
  static constexpr std::size_t kMaxReplyBytes = 1024;
  const ServerAddress* address_;
  std::string request_;
  std::string reply_;
  std::size_t line_end_ = std::string::npos;
};

}  // namespace llmcache::net
