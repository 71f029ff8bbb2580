#include "net/tls_session.hpp"

#include "net/net_error.hpp"

#include <openssl/err.h>

#include <algorithm>
#include <limits>

namespace llmcache::net {
namespace {

constexpr int kMaxChunk = std::numeric_limits<int>::max();

int chunk(std::size_t size) {
  return static_cast<int>(std::min<std::size_t>(size, kMaxChunk));
}

}  // namespace

TlsSession::TlsSession(const TlsContext& context, const ServerAddress& address)
    : context_(&context), address_(&address), ssl_(::SSL_new(context.native())) {
  if (ssl_) {
    incoming_ = ::BIO_new(::BIO_s_mem());
    outgoing_ = ::BIO_new(::BIO_s_mem());
  }
  if (!ssl_ || !incoming_ || !outgoing_) {
    ::BIO_free(incoming_);
    ::BIO_free(outgoing_);
    throw net_error<IoError>(address, ErrorReason::kTlsHandshakeFailed,
                             "cannot start TLS: " + last_openssl_error("out of memory"));
  }
  // An empty BIO means "nothing yet" (retry), not end of stream: the socket's own end is
  // seen by the connection, which knows how to name it.
  ::BIO_set_mem_eof_return(incoming_, -1);
  ::SSL_set_bio(ssl_.get(), incoming_, outgoing_);  // the SSL owns both from here
  ::SSL_set_connect_state(ssl_.get());
  context.prepare(ssl_.get(), address);
}

bool TlsSession::handshake() {
  ::ERR_clear_error();
  const int rc = ::SSL_do_handshake(ssl_.get());
  if (rc == 1) return true;
  const int error = ::SSL_get_error(ssl_.get(), rc);
  if (error == SSL_ERROR_WANT_READ) return false;
  throw context_->handshake_error(ssl_.get(), *address_,
                                  last_openssl_error("TLS error " + std::to_string(error)));
}

IoError TlsSession::handshake_failed(const std::string& cause) const {
  return context_->handshake_error(ssl_.get(), *address_, cause);
}

void TlsSession::feed(std::string_view ciphertext) {
  while (!ciphertext.empty()) {
    // A memory BIO grows as needed; it fails only when memory runs out.
    const int n = ::BIO_write(incoming_, ciphertext.data(), chunk(ciphertext.size()));
    if (n <= 0) {
      throw net_error<IoError>(*address_, ErrorReason::kReadFailed,
                               "read failed: " + last_openssl_error("out of memory"));
    }
    ciphertext.remove_prefix(static_cast<std::size_t>(n));
  }
}

bool TlsSession::has_output() const {
  return ::BIO_ctrl_pending(outgoing_) > 0;
}

bool TlsSession::has_input() const {
  return ::BIO_ctrl_pending(incoming_) > 0 || ::SSL_pending(ssl_.get()) > 0;
}

void TlsSession::take_output(std::string& out) {
  const std::size_t pending = ::BIO_ctrl_pending(outgoing_);
  if (pending == 0) return;
  const std::size_t start = out.size();
  out.resize(start + pending);
  const int n = ::BIO_read(outgoing_, out.data() + start, chunk(pending));
  out.resize(start + static_cast<std::size_t>(std::max(n, 0)));
}

void TlsSession::write(std::string_view plaintext) {
  while (!plaintext.empty()) {
    ::ERR_clear_error();
    const int n = ::SSL_write(ssl_.get(), plaintext.data(), chunk(plaintext.size()));
    if (n <= 0) {
      const int error = ::SSL_get_error(ssl_.get(), n);
      throw net_error<IoError>(
          *address_, ErrorReason::kWriteFailed,
          "write failed: " + last_openssl_error("TLS error " + std::to_string(error)));
    }
    plaintext.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::size_t TlsSession::read(char* out, std::size_t size, std::string_view during) {
  ::ERR_clear_error();
  const int n = ::SSL_read(ssl_.get(), out, chunk(size));
  if (n > 0) return static_cast<std::size_t>(n);
  const int error = ::SSL_get_error(ssl_.get(), n);
  if (error == SSL_ERROR_WANT_READ) return 0;
  if (error == SSL_ERROR_ZERO_RETURN) {
    throw net_error<IoError>(*address_, ErrorReason::kClosedByServer,
                             "connection closed by the server" + std::string(during));
  }
  throw net_error<IoError>(
      *address_, ErrorReason::kReadFailed,
      "read failed: " + last_openssl_error("TLS error " + std::to_string(error)) +
          std::string(during));
}

}  // namespace llmcache::net
