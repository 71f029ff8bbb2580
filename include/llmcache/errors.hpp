#pragma once
/// The one exception hierarchy of llmcache.
///
///   Error
///   ├── IoError            transport trouble: connect, read, write
///   │   ├── TimeoutError   a deadline passed (connect or request)
///   │   └── ClosedError    the connection or client was closed
///   ├── ProtocolError      the server sent bytes we cannot parse; the connection is dropped
///   ├── ServerError        the server answered with an error (SERVER_ERROR, CLIENT_ERROR, ERROR)
///   │   └── ValueTooLargeError  the server refused a value larger than its item limit
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
  using ServerError::ServerError;
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
