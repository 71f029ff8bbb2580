#include "cache/namespaces.hpp"

#include <llmcache/errors.hpp>

#include <openssl/evp.h>

#include <random>

namespace llmcache::detail {
namespace {

constexpr std::string_view kNamespaceKeyStart = "llmcache:ns:";
constexpr std::size_t kNameIdDigits = 32;
constexpr std::size_t kGenerationDigits = 16;
// 12 + 32 + 1 + 16 + 3 + 128 = 192 bytes at most.
constexpr std::size_t kMaxInlineKey = 128;
// 12 + 32 + 1 + 16 + 3 + 32 + 1 + 16 + 3 + 76 = 192 bytes at most.
constexpr std::size_t kMaxInlineSubKey = 76;
// Sub-namespaces whose generation this process keeps before it forgets them all.
constexpr std::size_t kMaxRememberedSubs = 4096;

std::string hex(const unsigned char* bytes, std::size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * size, '\0');
  for (std::size_t i = 0; i < size; ++i) {
    out[2 * i] = kHex[bytes[i] >> 4];
    out[2 * i + 1] = kHex[bytes[i] & 0xf];
  }
  return out;
}

/// A key memcached takes as is: printable ASCII, no space (anything else is hashed, so a
/// binary key works rather than being refused).
bool inline_key(std::string_view key, std::size_t limit) {
  if (key.size() > limit) return false;
  for (const char c : key) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

void append_key(std::string& stored, std::string_view key, std::size_t limit) {
  if (inline_key(key, limit)) {
    stored += ":k:";
    stored += key;
  } else {
    stored += ":h:";
    stored += sha256_hex(key);
  }
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    throw Error("OpenSSL could not compute SHA-256 (is the default provider disabled?)");
  }
  return hex(digest, length);
}

std::string random_generation() {
  std::random_device device;  // the kernel's generator: fine after fork, unlike a seeded PRNG
  const std::uint64_t value = (std::uint64_t{device()} << 32) ^ device();
  unsigned char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(value >> (8 * i));
  return hex(bytes, sizeof bytes);
}

bool is_generation(std::string_view value) {
  return value.size() == kGenerationDigits &&
         value.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// ---------------------------------------------------------------- Generation

Generation::Snapshot Generation::snapshot() const {
  std::lock_guard lock(mutex_);
  Snapshot snap;
  snap.now = Clock::now();
  snap.epoch = epoch_;
  // Counted from when the read began, so the bound includes the read's own time.
  if (!generation_.empty() && snap.now - read_at_ < refresh_) snap.fresh = generation_;
  return snap;
}

std::string Generation::install(const std::string& generation, const Snapshot& began) {
  std::lock_guard lock(mutex_);
  if (began.epoch != epoch_) return generation_;
  generation_ = generation;
  read_at_ = began.now;
  return generation;
}

void Generation::cleared(const std::string& generation) {
  std::lock_guard lock(mutex_);
  ++epoch_;
  generation_ = generation;
  read_at_ = Clock::now();
}

// ---------------------------------------------------------------- Namespaces

Namespaces::Namespaces(std::string_view name, std::chrono::milliseconds refresh)
    : prefix_(std::string(kNamespaceKeyStart) + sha256_hex(name).substr(0, kNameIdDigits) + ":"),
      refresh_(refresh),
      root_(std::make_shared<Generation>(prefix_ + "generation", refresh)) {}

std::string Namespaces::sub_id(std::string_view name) {
  return sha256_hex(name).substr(0, kNameIdDigits);
}

std::shared_ptr<Generation> Namespaces::sub(std::string_view name) {
  std::lock_guard lock(subs_mutex_);
  if (auto found = subs_.find(name); found != subs_.end()) return found->second;
  // Forgetting is safe: the generation is read again from memcached, where this process's
  // own clears already are (a clear waits for its set).
  if (subs_.size() >= kMaxRememberedSubs) subs_.clear();
  auto made = std::make_shared<Generation>(prefix_ + "s:" + sub_id(name) + ":generation", refresh_);
  subs_.emplace(std::string(name), made);
  return made;
}

std::string Namespaces::entry_key_prefix(std::string_view generation) const {
  std::string prefix = prefix_;
  prefix += generation;
  prefix += ':';
  return prefix;
}

bool Namespaces::is_plain_entry_key(std::string_view stored, std::string_view generation) const {
  const std::string prefix = entry_key_prefix(generation);
  if (!stored.starts_with(prefix)) return false;
  const std::string_view rest = stored.substr(prefix.size());
  return rest.starts_with("k:") || rest.starts_with("h:");
}

std::string Namespaces::entry_key(std::string_view generation, std::string_view key) const {
  std::string stored = prefix_;
  stored += generation;
  append_key(stored, key, kMaxInlineKey);
  return stored;
}

std::string Namespaces::sub_entry_key(std::string_view generation, std::string_view sub,
                                      std::string_view sub_generation, std::string_view key) const {
  std::string stored = prefix_;
  stored += generation;
  stored += ":s:";
  stored += sub;
  stored += ':';
  stored += sub_generation;
  append_key(stored, key, kMaxInlineSubKey);
  return stored;
}

}  // namespace llmcache::detail
