#pragma once
/// Signed cache entries: an HMAC-SHA256 over the key and the value, so that entries
/// written by anyone without the secret read as misses.
///
/// Envelope (version 1), all ASCII before the value:
///
///   "llmcache-hmac-v1:" <64 lowercase hex digits of the MAC> ":" <value bytes>
///
///   MAC = HMAC-SHA256(secret, "llmcache-hmac-v1" || uint64_be(len(key)) || key || value)
///
/// The key is length-prefixed so that no (key, value) pair shares its MAC input with
/// another; the version tag in the MAC input keeps a future envelope from being replayed
/// as this one. What it protects: integrity and origin (only holders of the secret can
/// write entries that read back, and an entry cannot be moved to another key). What it
/// does not: confidentiality (the value is stored in clear), and replay of an older
/// value that was signed for the same key.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace llmcache {

/// Why a stored value did not open.
enum class SignatureFailure {
  kUnsigned,        // no envelope at all (e.g. written by LangChain or an unsigned cache)
  kUnknownVersion,  // an llmcache envelope of a version this build does not know
  kMalformed,       // the envelope is damaged (short, bad hex)
  kMismatch,        // the MAC does not match: another secret, a forgery, tampering, moved key
};

/// A short English name of `failure`, for logs and stats ("unsigned", "mismatch"...).
const char* to_string(SignatureFailure failure);

/// The result of Signer::open: the value (a view into the stored bytes), or why not.
struct OpenedValue {
  std::optional<std::string_view> value;
  SignatureFailure failure = SignatureFailure::kUnsigned;  // meaningful when !value

  explicit operator bool() const { return value.has_value(); }
};

/// Seals and opens values with one secret. Thread-safe: any number of threads may call
/// seal and open at once.
class Signer {
 public:
  /// The envelope's first bytes, by which a signed value is recognised.
  static constexpr std::string_view kPrefix = "llmcache-hmac-v1:";
  /// Bytes the envelope adds to a value.
  static constexpr std::size_t kOverhead = kPrefix.size() + 64 + 1;

  /// Throws InvalidArgumentError if `secret` is empty (an empty key signs nothing), Error
  /// if OpenSSL cannot provide HMAC-SHA256.
  explicit Signer(std::string_view secret);
  ~Signer();
  Signer(const Signer&) = delete;
  Signer& operator=(const Signer&) = delete;

  /// The bytes to store for `value` under `key`.
  std::string seal(std::string_view key, std::string_view value) const;
  /// The value sealed under `key` with this secret, or why `stored` is not one. Never
  /// throws for bad input; the MAC is compared in constant time.
  OpenedValue open(std::string_view key, std::string_view stored) const;

 private:
  std::string mac_hex(std::string_view key, std::string_view value) const;

  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace llmcache
