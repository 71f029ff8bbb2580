// Fuzzes decode_generations() with arbitrary stored values: anyone who can write to the
// memcached pool decides these bytes. DecodeError is the expected failure. A value that
// decodes must survive a round trip: the codec promises to reject what it could not
// write back, so encode_generations() must accept the result, and decoding its bytes
// must give the same generations (and encoding those, the same bytes).
#include <llmcache/codec.hpp>
#include <llmcache/errors.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view value(reinterpret_cast<const char*>(data), size);
  llmcache::Generations generations;
  try {
    generations = llmcache::decode_generations(value);
  } catch (const llmcache::DecodeError&) {
    return 0;
  }
  // Any exception from here on escapes, and libFuzzer reports it as a crash.
  const std::string encoded = llmcache::encode_generations(generations);
  const llmcache::Generations again = llmcache::decode_generations(encoded);
  FUZZ_CHECK(again == generations);
  FUZZ_CHECK(llmcache::encode_generations(again) == encoded);
  return 0;
}
