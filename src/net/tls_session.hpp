#pragma once
// The one TLS engine of both connection paths: a client TLS session that does no I/O.
// OpenSSL reads the server's ciphertext from a memory BIO that feed() fills and writes its
// own into one that take_output() drains; the connection moves those bytes over its plain
// socket however it waits (the blocking path with poll(), the async one with Asio). So
// the handshake, encryption, and the explanation of a failure are written once.
#include <llmcache/errors.hpp>
#include <llmcache/options.hpp>

#include "net/tls.hpp"

#include <openssl/ssl.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace llmcache::net {

/// The most plaintext either path encrypts before sending it: the ciphertext held at once
/// (in OpenSSL's buffer and the connection's) stays this small whatever the value size.
inline constexpr std::size_t kTlsWriteChunkBytes = 64 * 1024;

class TlsSession {
 public:
  /// A session to `address` (SNI and the name to verify are set from it). Throws IoError
  /// kTlsHandshakeFailed when OpenSSL cannot make one.
  TlsSession(const TlsContext& context, const ServerAddress& address);

  /// Advances the handshake; true once it is complete. After each call, send what
  /// take_output() gives; while false, feed() what the server sends next and call again.
  /// Throws the handshake error (kCertificateUnverified or kTlsHandshakeFailed).
  bool handshake();
  /// The error for a handshake the transport ended (the server closed, a socket error):
  /// `cause` says what happened.
  IoError handshake_failed(const std::string& cause) const;

  /// Ciphertext the server sent.
  void feed(std::string_view ciphertext);
  /// Appends the ciphertext waiting to be sent to `out`.
  void take_output(std::string& out);
  bool has_output() const;
  /// Whether ciphertext or plaintext fed in is still unread.
  bool has_input() const;

  /// Encrypts all of `plaintext`; the ciphertext waits in take_output(). Throws IoError
  /// kWriteFailed.
  void write(std::string_view plaintext);
  /// Decrypts into `out` what the ciphertext fed so far holds: the byte count, 0 when more
  /// ciphertext is needed (feed it, then call again). Throws IoError kClosedByServer when
  /// the server ended the session, kReadFailed on a TLS error; `during` ends the message.
  std::size_t read(char* out, std::size_t size, std::string_view during = {});

 private:
  struct SslFree {
    void operator()(SSL* ssl) const { ::SSL_free(ssl); }
  };
  const TlsContext* context_;
  const ServerAddress* address_;
  std::unique_ptr<SSL, SslFree> ssl_;
  BIO* incoming_ = nullptr;  // owned by ssl_: the server's ciphertext, for OpenSSL to read
  BIO* outgoing_ = nullptr;  // owned by ssl_: OpenSSL's ciphertext, for the socket
};

}  // namespace llmcache::net
