#pragma once
/// The one exception hierarchy of llmcache.
///
///   Error
///   ├── IoError            transport trouble: connect, read, write
///   │   ├── TimeoutError   a deadline passed (connect or request)
///   │   └── ClosedError    the connection or client was closed
///   ├── ProtocolError      the server sent bytes we cannot parse; the connection is dropped
///   ├── ServerError        the server answered with an error (SERVER_ERROR, CLIENT_ERROR, ERROR)
///   │   └── ValueTooLargeError  a value larger than the server's item limit
///   ├── DecodeError        a stored value is not a LangChain generation list
///   └── InvalidArgumentError  the caller passed something unusable (bad key, invalid UTF-8)
///
/// A cache miss is never an error: it is an empty std::optional.
#include <stdexcept>
#include <string>

namespace llmcache {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class IoError : public Error {
 public:
  using Error::Error;
};

class TimeoutError : public IoError {
 public:
  using IoError::IoError;
};

class ClosedError : public IoError {
 public:
  using IoError::IoError;
};

class ProtocolError : public Error {
 public:
  using Error::Error;
};

class ServerError : public Error {
 public:
  using Error::Error;
};

class ValueTooLargeError : public ServerError {
 public:
  /// `reached_server` tells the two cases apart: true when memcached itself refused the
  /// value (memcached 1.6 then removes the previous value under the key), false when
  /// llmcache refused it before sending, knowing the server's limit (nothing changed).
  explicit ValueTooLargeError(const std::string& what, bool reached_server = true)
      : ServerError(what), reached_server_(reached_server) {}

  bool reached_server() const { return reached_server_; }

 private:
  bool reached_server_;
};

class DecodeError : public Error {
 public:
  using Error::Error;
};

class InvalidArgumentError : public Error {
 public:
  using Error::Error;
};

}  // namespace llmcache
