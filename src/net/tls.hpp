#pragma once
// TLS for both connection paths. One TlsContext per client holds the OpenSSL context
// (trust store, client certificate), loaded once; the async Connection wraps its socket in
// an asio::ssl::stream over it, the blocking path drives an SSL over its own socket. Both
// prepare each SSL and describe a failed handshake here, so the two behave the same.
#include <llmcache/errors.hpp>
#include <llmcache/options.hpp>

#include <asio/ssl/context.hpp>

#include <memory>
#include <string>
#include <string_view>

namespace llmcache::net {

class TlsContext {
 public:
  /// Loads the files named in `options`. Throws InvalidArgumentError naming the field and
  /// the file when one cannot be read or does not hold what it should.
  explicit TlsContext(const TlsOptions& options);

  /// Non-const because asio::ssl::stream takes a mutable context; it is not modified.
  asio::ssl::context& context() const { return context_; }

  /// Sets SNI and the name the certificate must carry on a new client SSL for `address`.
  void prepare(SSL* ssl, const ServerAddress& address) const;

  /// The error for a failed handshake: a certificate that could not be verified says so
  /// and why (kCertificateUnverified); anything else gets `cause` and a hint
  /// (kTlsHandshakeFailed).
  IoError handshake_error(SSL* ssl, const ServerAddress& address, const std::string& cause) const;

 private:
  mutable asio::ssl::context context_;
  TlsOptions options_;
};

/// Null when TLS is off. Throws InvalidArgumentError as TlsContext does, and for fields
/// set while TLS is off.
std::shared_ptr<const TlsContext> make_tls_context(const TlsOptions& options);

/// A BIO over a non-blocking socket that writes with MSG_NOSIGNAL: OpenSSL's own socket
/// BIO uses write(), which raises SIGPIPE (and kills the process) when the server has
/// gone. Reads and writes that would block set the retry flags, as the stock BIO does.
BIO* make_socket_bio(int fd);

/// The text of OpenSSL's most recent error on this thread (and clears the queue), or
/// `fallback` when it has none.
std::string last_openssl_error(std::string_view fallback);

}  // namespace llmcache::net
