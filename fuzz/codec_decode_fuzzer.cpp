// Fuzzes decode_generations() with arbitrary stored values: anyone who can write to the
// memcached pool decides these bytes. DecodeError is the expected failure. A value that
// decodes must survive a round trip: the codec promises to reject what it could not
// write back, so encode_generations() must accept the result, and decoding its bytes
// must give the same generations (and encoding those, the same bytes).
//
// The input is tried twice: as a stored value, and as one serialized generation inside
// a stored value (quoted into `["..."]`). simdjson is not instrumented, so without the
// second form the fuzzer would have to discover the string escaping of the outer level
// before any mutation of a generation's own JSON could reach the decoder.
#include <llmcache/codec.hpp>
#include <llmcache/errors.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"

namespace {

// `["<text as a JSON string>"]`: non-ASCII bytes are kept, so invalid UTF-8 stays invalid.
std::string as_stored_value(std::string_view text) {
  constexpr char kHex[] = "0123456789abcdef";
  std::string out = "[\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20) {
      out += "\\u00";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += c;
    }
  }
  out += "\"]";
  return out;
}

void check_round_trip(std::string_view value) {
  llmcache::Generations generations;
  try {
    generations = llmcache::decode_generations(value);
  } catch (const llmcache::DecodeError&) {
    return;
  }
  // Any exception from here on escapes, and libFuzzer reports it as a crash.
  const std::string encoded = llmcache::encode_generations(generations);
  const llmcache::Generations again = llmcache::decode_generations(encoded);
  FUZZ_CHECK(again == generations);
  FUZZ_CHECK(llmcache::encode_generations(again) == encoded);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_round_trip(text);
  check_round_trip(as_stored_value(text));
  return 0;
}
