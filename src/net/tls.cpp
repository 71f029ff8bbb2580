#include "net/tls.hpp"

#include <llmcache/errors.hpp>

#include "net/net_error.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>

namespace llmcache::net {
namespace {

bool is_ip_address(const std::string& host) {
  unsigned char buffer[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, host.c_str(), buffer) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

// An option as each face spells it: the C++ field, the Python keyword, the command-line
// option. Messages name all three, so the Python package and the CLI pass them on as they
// are and each user finds the name they typed, with no face rewriting (or matching) text.
struct OptionName {
  const char* cxx;
  const char* python;
  const char* cli;
};
constexpr OptionName kCaFile{"tls.ca_file", "tls_ca_file", "--tls-ca-file"};
constexpr OptionName kCertFile{"tls.cert_file", "tls_cert_file", "--tls-cert"};
constexpr OptionName kKeyFile{"tls.key_file", "tls_key_file", "--tls-key"};
constexpr OptionName kServerName{"tls.server_name", "tls_server_name", "--tls-server-name"};
constexpr OptionName kTlsOn{"tls.enabled = true", "tls=True", "--tls"};
constexpr OptionName kVerifyOff{"tls.verify = false", "tls_verify=False", "--tls-no-verify"};

std::string named(const OptionName& option) {
  return std::string(option.cxx) + " (Python " + option.python + ", command line " + option.cli +
         ")";
}

// Checked before OpenSSL sees the file: its own errors ("system library") do not say
// which option or which file was wrong.
void require_readable(const std::string& path, const OptionName& option) {
  std::ifstream file(path);
  if (!file) {
    throw InvalidArgumentError(named(option) + ": cannot read '" + path +
                               "': " + std::strerror(errno));
  }
}

[[noreturn]] void bad_file(const std::string& path, const OptionName& option,
                           const std::string& expected) {
  throw InvalidArgumentError(named(option) + ": '" + path + "' " + expected + ": " +
                             last_openssl_error("unknown error"));
}

}  // namespace

std::string last_openssl_error(std::string_view fallback) {
  // The most recent error is the most specific one; older ones are context.
  unsigned long code = 0;
  unsigned long last = 0;
  while ((code = ::ERR_get_error()) != 0) last = code;
  if (last == 0) return std::string(fallback);
  char text[256];
  ::ERR_error_string_n(last, text, sizeof text);
  // Drop OpenSSL's "error:0A000086:SSL routines::" prefix: users need the reason.
  std::string message = text;
  if (const char* reason = ::ERR_reason_error_string(last)) message = reason;
  return message;
}

TlsContext::TlsContext(const TlsOptions& options)
    : context_(::SSL_CTX_new(::TLS_client_method())), options_(options) {
  SSL_CTX* ctx = context_.get();
  if (!ctx) {
    throw InvalidArgumentError("tls: cannot create a TLS context: " +
                               last_openssl_error("out of memory"));
  }
  ::ERR_clear_error();
  // memcached supports TLS 1.2 and 1.3; older versions have known weaknesses.
  ::SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // A server that closes without close_notify is an ordinary close to us: memcached's
  // replies carry their own lengths, so a truncated one is caught by the parser anyway.
  // No compression: it leaks secrets through sizes (CRIME), and memcached gains nothing.
  ::SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
  if (!options.cert_file.empty()) {
    require_readable(options.cert_file, kCertFile);
    if (::SSL_CTX_use_certificate_chain_file(ctx, options.cert_file.c_str()) != 1) {
      bad_file(options.cert_file, kCertFile, "holds no usable PEM certificate");
    }
    const std::string& key = options.key_file.empty() ? options.cert_file : options.key_file;
    const OptionName& key_option = options.key_file.empty() ? kCertFile : kKeyFile;
    const std::string mismatch_text = "does not match the certificate of " + named(kCertFile);
    require_readable(key, key_option);
    if (::SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
      const bool mismatch = ERR_GET_REASON(::ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
      bad_file(key, key_option, mismatch ? mismatch_text : "holds no usable PEM private key");
    }
    if (::SSL_CTX_check_private_key(ctx) != 1) bad_file(key, key_option, mismatch_text);
  }
  if (options.verify) {
    if (options.ca_file.empty()) {
      if (::SSL_CTX_set_default_verify_paths(ctx) != 1) {
        throw InvalidArgumentError("tls: cannot load the system's trusted certificates: " +
                                   last_openssl_error("unknown error"));
      }
    } else {
      require_readable(options.ca_file, kCaFile);
      if (::SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr) != 1) {
        bad_file(options.ca_file, kCaFile, "holds no usable PEM certificate");
      }
    }
  }
  ::SSL_CTX_set_verify(ctx, options.verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
}

void TlsContext::prepare(SSL* ssl, const ServerAddress& address) const {
  const std::string& name = options_.server_name.empty() ? address.host : options_.server_name;
  const bool ip = is_ip_address(name);
  if (!ip) ::SSL_set_tlsext_host_name(ssl, name.c_str());
  if (!options_.verify) return;
  // Without this OpenSSL checks the chain only, and any certificate the CA ever signed
  // (for any host) would be accepted.
  X509_VERIFY_PARAM* param = ::SSL_get0_param(ssl);
  if (ip) {
    ::X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
  } else {
    ::X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    ::X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
  }
}

IoError TlsContext::handshake_error(SSL* ssl, const ServerAddress& address,
                                    const std::string& cause) const {
  const long verdict = ::SSL_get_verify_result(ssl);
  if (options_.verify && verdict != X509_V_OK) {
    return net_error<IoError>(
        address, ErrorReason::kCertificateUnverified,
        std::string("TLS handshake failed: the server's certificate could not be verified: ") +
            ::X509_verify_cert_error_string(verdict) + " (check the CA file, " + named(kCaFile) +
            ", and the name the certificate must carry, " + named(kServerName) +
            "; or, for tests only, " + named(kVerifyOff) + ")");
  }
  return net_error<IoError>(
      address, ErrorReason::kTlsHandshakeFailed,
      "TLS handshake failed: " + cause + " (is the server started with TLS, memcached -Z?)");
}

std::shared_ptr<const TlsContext> make_tls_context(const TlsOptions& options) {
  if (!options.enabled) {
    const OptionName* set = !options.ca_file.empty()       ? &kCaFile
                            : !options.cert_file.empty()   ? &kCertFile
                            : !options.key_file.empty()    ? &kKeyFile
                            : !options.server_name.empty() ? &kServerName
                                                           : nullptr;
    if (set) {
      throw InvalidArgumentError(named(*set) +
                                 " is set but TLS is off (turn it on: " + named(kTlsOn) + ")");
    }
    return nullptr;
  }
  if (!options.key_file.empty() && options.cert_file.empty()) {
    throw InvalidArgumentError(named(kKeyFile) + " is set without " + named(kCertFile));
  }
  return std::make_shared<const TlsContext>(options);
}

}  // namespace llmcache::net
