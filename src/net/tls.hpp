#pragma once
// TLS for both connection paths. One TlsContext per client holds the OpenSSL context
// (trust store, client certificate), loaded once; each connection runs a TlsSession over
// it (net/tls_session.hpp), the one TLS engine both paths drive.
#include <llmcache/errors.hpp>
#include <llmcache/options.hpp>

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>

namespace llmcache::net {

class TlsContext {
 public:
  /// Loads the files named in `options`. Throws InvalidArgumentError naming the field and
  /// the file when one cannot be read or does not hold what it should.
  explicit TlsContext(const TlsOptions& options);

  SSL_CTX* native() const { return context_.get(); }

  /// Sets SNI and the name the certificate must carry on a new client SSL for `address`.
  void prepare(SSL* ssl, const ServerAddress& address) const;

  /// The error for a failed handshake: a certificate that could not be verified says so
  /// and why (kCertificateUnverified); anything else gets `cause` and a hint
  /// (kTlsHandshakeFailed).
  IoError handshake_error(SSL* ssl, const ServerAddress& address, const std::string& cause) const;

 private:
  struct CtxFree {
    void operator()(SSL_CTX* ctx) const { ::SSL_CTX_free(ctx); }
  };
  std::unique_ptr<SSL_CTX, CtxFree> context_;
  TlsOptions options_;
};

/// Null when TLS is off. Throws InvalidArgumentError as TlsContext does, and for fields
/// set while TLS is off.
std::shared_ptr<const TlsContext> make_tls_context(const TlsOptions& options);

/// The text of OpenSSL's most recent error on this thread (and clears the queue), or
/// `fallback` when it has none.
std::string last_openssl_error(std::string_view fallback);

}  // namespace llmcache::net
