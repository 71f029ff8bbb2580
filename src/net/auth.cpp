#include "net/auth.hpp"

#include <llmcache/errors.hpp>

#include "net/net_error.hpp"

#include <algorithm>

namespace llmcache::net {
namespace {

bool is_token(std::string_view text) {
  return std::none_of(text.begin(), text.end(),
                      [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == '\x7f'; });
}

}  // namespace

void validate_credentials(const Credentials& credentials) {
  if (credentials.username.empty() && credentials.password.empty()) return;
  if (credentials.username.empty()) {
    throw InvalidArgumentError("credentials: a password is set without a username");
  }
  // memcached splits the value at the first space and reads up to the line end.
  if (!is_token(credentials.username) || !is_token(credentials.password)) {
    throw InvalidArgumentError(
        "credentials: username and password cannot hold spaces or control characters");
  }
}

bool wants_auth(const Credentials& credentials) {
  return !credentials.username.empty();
}

AuthExchange::AuthExchange(const Credentials& credentials, const ServerAddress& address)
    : address_(&address) {
  const std::string value = credentials.username + " " + credentials.password;
  // exptime -1: a server without -Y stores this as an ordinary item; already expired,
  // it can never be read back, so the password does not sit in the cache.
  request_ = "set llmcache-auth 0 -1 " + std::to_string(value.size()) + "\r\n" + value + "\r\n";
}

bool AuthExchange::feed(std::string_view bytes) {
  reply_.append(bytes);
  line_end_ = reply_.find("\r\n");
  if (line_end_ == std::string::npos) {
    if (reply_.size() > kMaxReplyBytes) {
      throw net_error<IoError>(*address_, ErrorReason::kAuthenticationFailed,
                               "authentication failed: the reply is longer than a line");
    }
    return false;
  }
  const std::string_view line = std::string_view(reply_).substr(0, line_end_);
  if (line == "STORED") return true;
  throw net_error<IoError>(*address_, ErrorReason::kAuthenticationFailed,
                           "authentication failed: the server answered '" + std::string(line) +
                               "' (check the username and password)");
}

std::string_view AuthExchange::rest() const {
  if (line_end_ == std::string::npos) return {};
  return std::string_view(reply_).substr(line_end_ + 2);
}

}  // namespace llmcache::net
