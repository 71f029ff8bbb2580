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
/// Every error also carries typed details, so that no caller (the CLI's hints, the Python
/// cache's counters, a user's retry policy) has to read the message text: a reason code
/// and the server it concerns. The message stays for humans and may change.
///
/// A cache miss is never an error: it is an empty std::optional.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace llmcache {

/// Why an operation failed. The names given by to_string() are stable: they are what the
/// Python exceptions expose as `reason`.
enum class ErrorReason : std::uint8_t {
  kUnspecified = 0,
  // IoError and its subclasses
  kResolveFailed,          // the host name did not resolve
  kConnectionRefused,      // nothing listens at the address
  kConnectFailed,          // any other connect failure (unreachable, reset while connecting)
  kTimedOut,               // a connect or request deadline passed
  kTlsHandshakeFailed,     // TLS could not be set up (other than an unverified certificate)
  kCertificateUnverified,  // the server's certificate could not be verified
  kAuthenticationFailed,   // the server rejected the credentials
  kClosedByServer,         // the server closed the connection
  kClosedByClient,         // close() was called, or the process forked
  kReadFailed,             // a read failed on an open connection
  kWriteFailed,            // a write failed on an open connection
  kTooManyInFlight,        // the per-connection bound on requests in flight was reached
  kServerDown,             // a HashClient skipped a server it judges dead
  kNoServerAvailable,      // a HashClient has no live server at all
  kRerouted,  // not sent: placement moved the request to a server of the other protocol
  // ServerError and ValueTooLargeError
  kNotUnderstood,     // ERROR: the server does not know the command
  kClientErrorReply,  // CLIENT_ERROR
  kServerErrorReply,  // SERVER_ERROR (other than the cases below)
  kUnauthenticated,   // the server requires authentication first
  kBusy,              // BUSY (the LRU crawler is in use)
  kTooLarge,          // the value exceeds the server's item size limit
  kFlushNotRouted,    // flush_all answered OK but flushed nothing (a proxy answering locally)
  // ProtocolError
  kMalformedReply,   // bytes that do not parse as a reply
  kUnexpectedReply,  // a well-formed reply that does not answer the request (order, opaque)
};

constexpr std::string_view to_string(ErrorReason reason) {
  switch (reason) {
    case ErrorReason::kUnspecified:
      return "unspecified";
    case ErrorReason::kResolveFailed:
      return "resolve_failed";
    case ErrorReason::kConnectionRefused:
      return "connection_refused";
    case ErrorReason::kConnectFailed:
      return "connect_failed";
    case ErrorReason::kTimedOut:
      return "timed_out";
    case ErrorReason::kTlsHandshakeFailed:
      return "tls_handshake_failed";
    case ErrorReason::kCertificateUnverified:
      return "certificate_unverified";
    case ErrorReason::kAuthenticationFailed:
      return "authentication_failed";
    case ErrorReason::kClosedByServer:
      return "closed_by_server";
    case ErrorReason::kClosedByClient:
      return "closed_by_client";
    case ErrorReason::kReadFailed:
      return "read_failed";
    case ErrorReason::kWriteFailed:
      return "write_failed";
    case ErrorReason::kTooManyInFlight:
      return "too_many_in_flight";
    case ErrorReason::kServerDown:
      return "server_down";
    case ErrorReason::kNoServerAvailable:
      return "no_server_available";
    case ErrorReason::kRerouted:
      return "rerouted";
    case ErrorReason::kNotUnderstood:
      return "not_understood";
    case ErrorReason::kClientErrorReply:
      return "client_error_reply";
    case ErrorReason::kServerErrorReply:
      return "server_error_reply";
    case ErrorReason::kUnauthenticated:
      return "unauthenticated";
    case ErrorReason::kBusy:
      return "busy";
    case ErrorReason::kTooLarge:
      return "too_large";
    case ErrorReason::kFlushNotRouted:
      return "flush_not_routed";
    case ErrorReason::kMalformedReply:
      return "malformed_reply";
    case ErrorReason::kUnexpectedReply:
      return "unexpected_reply";
  }
  return "unspecified";
}

/// What an error concerns, beyond its message.
struct ErrorDetails {
  ErrorReason reason = ErrorReason::kUnspecified;
  /// The server's name as ServerAddress::name() gives it ("host:port", "unix:/path"),
  /// empty when the error concerns no single server (a bad argument, a whole pool).
  std::string server;
};

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what, ErrorDetails details = {})
      : std::runtime_error(what), details_(std::move(details)) {}

  // Copies, not references: an error completed by the I/O thread may be released there
  // through libstdc++'s exception_ptr count, which ThreadSanitizer cannot see, so every
  // read of the details stays inside these accessors, where tests/sanitizers/tsan.supp
  // names them. Errors are the slow path; the copy costs nothing that matters.
  ErrorDetails details() const { return details_; }
  ErrorReason reason() const { return details_.reason; }
  std::string server() const { return details_.server; }

 private:
  ErrorDetails details_;
};

class IoError : public Error {
 public:
  using Error::Error;
};

class TimeoutError : public IoError {
 public:
  explicit TimeoutError(const std::string& what,
                        ErrorDetails details = {ErrorReason::kTimedOut, {}})
      : IoError(what, std::move(details)) {}
};

class ClosedError : public IoError {
 public:
  explicit ClosedError(const std::string& what,
                       ErrorDetails details = {ErrorReason::kClosedByClient, {}})
      : IoError(what, std::move(details)) {}
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
  explicit ValueTooLargeError(const std::string& what, bool reached_server = true,
                              std::string server = {})
      : ServerError(what, {ErrorReason::kTooLarge, std::move(server)}),
        reached_server_(reached_server) {}

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
