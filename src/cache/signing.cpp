#include <llmcache/errors.hpp>
#include <llmcache/signing.hpp>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>

namespace llmcache {
namespace {

// The MAC input starts with the version tag, so a MAC made for another envelope version
// can never verify as this one.
constexpr std::string_view kMacTag = "llmcache-hmac-v1";
// Anything that starts like an llmcache envelope but with another version.
constexpr std::string_view kFamilyPrefix = "llmcache-hmac-v";
constexpr std::size_t kMacHexDigits = 64;

struct MacContextFree {
  void operator()(EVP_MAC_CTX* context) const { EVP_MAC_CTX_free(context); }
};
using MacContext = std::unique_ptr<EVP_MAC_CTX, MacContextFree>;

}  // namespace

const char* to_string(SignatureFailure failure) {
  switch (failure) {
    case SignatureFailure::kUnsigned:
      return "unsigned";
    case SignatureFailure::kUnknownVersion:
      return "unknown envelope version";
    case SignatureFailure::kMalformed:
      return "malformed envelope";
    case SignatureFailure::kMismatch:
      return "signature mismatch";
  }
  return "unknown";
}

// A context already keyed with the secret; each MAC works on a copy, so the secret is
// set up once and concurrent callers never share mutable OpenSSL state.
struct Signer::State {
  MacContext keyed;
};

Signer::Signer(std::string_view secret) : state_(std::make_unique<State>()) {
  if (secret.empty()) throw InvalidArgumentError("a signing secret cannot be empty");
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (!mac) throw Error("OpenSSL provides no HMAC (is the default provider disabled?)");
  state_->keyed.reset(EVP_MAC_CTX_new(mac));
  EVP_MAC_free(mac);  // the context holds its own reference
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_END};
  if (!state_->keyed ||
      EVP_MAC_init(state_->keyed.get(), reinterpret_cast<const unsigned char*>(secret.data()),
                   secret.size(), params) != 1) {
    throw Error("OpenSSL could not set up HMAC-SHA256");
  }
}

Signer::~Signer() = default;

std::string Signer::mac_hex(std::string_view key, std::string_view value) const {
  MacContext context(EVP_MAC_CTX_dup(state_->keyed.get()));
  std::array<unsigned char, 8> length{};
  for (std::size_t i = 0; i < length.size(); ++i) {
    length[i] = static_cast<unsigned char>(static_cast<std::uint64_t>(key.size()) >> (56 - 8 * i));
  }
  auto update = [&](const void* data, std::size_t size) {
    return EVP_MAC_update(context.get(), static_cast<const unsigned char*>(data), size) == 1;
  };
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  std::size_t mac_size = 0;
  const bool ok = context && update(kMacTag.data(), kMacTag.size()) &&
                  update(length.data(), length.size()) && update(key.data(), key.size()) &&
                  update(value.data(), value.size()) &&
                  EVP_MAC_final(context.get(), mac.data(), &mac_size, mac.size()) == 1 &&
                  mac_size * 2 == kMacHexDigits;
  if (!ok) throw Error("OpenSSL could not compute HMAC-SHA256");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(kMacHexDigits, '\0');
  for (std::size_t i = 0; i < mac_size; ++i) {
    hex[2 * i] = kHex[mac[i] >> 4];
    hex[2 * i + 1] = kHex[mac[i] & 0xf];
  }
  return hex;
}

std::string Signer::seal(std::string_view key, std::string_view value) const {
  const std::string mac = mac_hex(key, value);
  std::string stored;
  stored.reserve(kOverhead + value.size());
  stored += kPrefix;
  stored += mac;
  stored += ':';
  stored += value;
  return stored;
}

OpenedValue Signer::open(std::string_view key, std::string_view stored) const {
  if (!stored.starts_with(kPrefix)) {
    return {std::nullopt, stored.starts_with(kFamilyPrefix) ? SignatureFailure::kUnknownVersion
                                                            : SignatureFailure::kUnsigned};
  }
  if (stored.size() < kOverhead || stored[kOverhead - 1] != ':') {
    return {std::nullopt, SignatureFailure::kMalformed};
  }
  const std::string_view claimed = stored.substr(kPrefix.size(), kMacHexDigits);
  const std::string_view value = stored.substr(kOverhead);
  std::string expected;
  try {
    expected = mac_hex(key, value);
  } catch (const Error&) {
    // Reading never throws: a MAC we cannot compute is a MAC we cannot trust.
    return {std::nullopt, SignatureFailure::kMismatch};
  }
  // Constant time, so that the time to reject a forgery says nothing about the right MAC.
  if (CRYPTO_memcmp(expected.data(), claimed.data(), kMacHexDigits) != 0) {
    return {std::nullopt, SignatureFailure::kMismatch};
  }
  return {value, SignatureFailure::kUnsigned};
}

}  // namespace llmcache
