#include <llmcache/errors.hpp>
#include <llmcache/key.hpp>

#include <openssl/evp.h>

#include <memory>

namespace llmcache {

namespace {

/// MD5, fetched from the default provider once: EVP_md5() makes OpenSSL 3 look the
/// algorithm up again (under its provider lock) on every EVP_DigestInit_ex, about a third
/// of a key's cost. Never freed: it lives as long as the process.
const EVP_MD* md5() {
  static const EVP_MD* const fetched = EVP_MD_fetch(nullptr, "MD5", nullptr);
  return fetched;
}

struct DigestContextFree {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};

/// One digest context per thread, kept between keys: a new one for each key cost an
/// allocation, a free and a wipe of the context (OpenSSL 3.0 still renews the provider's
/// MD5 state on each init: two allocations a key, the key string's included, were three).
/// Nothing of a key stays in it that matters (MD5 of a prompt is no secret: it is the
/// memcached key itself).
EVP_MD_CTX* digest_context() {
  thread_local const std::unique_ptr<EVP_MD_CTX, DigestContextFree> context(EVP_MD_CTX_new());
  return context.get();
}

}  // namespace

std::string langchain_key(std::string_view prompt, std::string_view llm_string) {
  // EVP_Digest keeps us on OpenSSL 3's supported API (MD5() is deprecated there).
  const EVP_MD* algorithm = md5();
  EVP_MD_CTX* context = digest_context();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  const bool ok = algorithm && context && EVP_DigestInit_ex(context, algorithm, nullptr) == 1 &&
                  EVP_DigestUpdate(context, prompt.data(), prompt.size()) == 1 &&
                  EVP_DigestUpdate(context, llm_string.data(), llm_string.size()) == 1 &&
                  EVP_DigestFinal_ex(context, digest, &length) == 1;
  if (!ok) throw Error("OpenSSL could not compute MD5 (is the default provider disabled?)");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string key(2 * length, '\0');
  for (unsigned int i = 0; i < length; ++i) {
    key[2 * i] = kHex[digest[i] >> 4];
    key[2 * i + 1] = kHex[digest[i] & 0xf];
  }
  return key;
}

}  // namespace llmcache
