// Fuzzes protocol::ClassicParser (the classic text protocol's replies) with the bytes a
// server (or anything pretending to be one) may send: fed whole and in fragments, the same
// replies or the same failure, memory within the limits (the input layout and the checks:
// reply_parser_driver.hpp).
#include <cstddef>

#include "fuzz_check.hpp"
#include "protocol/classic_parser.hpp"
#include "protocol/keys.hpp"
#include "reply_parser_driver.hpp"

namespace {

using llmcache::protocol::ParserLimits;
using llmcache::protocol::Reply;
using llmcache::protocol::Status;

// Classic replies carry items in `values` only, and never an opaque or meta flags; the
// items of one get reply stay within max_value_bytes together.
void check_classic_reply(const Reply& reply, const ParserLimits& limits) {
  FUZZ_CHECK(reply.value.empty() && !reply.opaque && !reply.ttl && !reply.won);
  FUZZ_CHECK(reply.status == Status::kValue ? !reply.values.empty() : reply.values.empty());
  std::size_t value_bytes = 0;
  for (const auto& item : reply.values) {
    FUZZ_CHECK(!item.key.empty() && item.key.size() <= llmcache::protocol::kMaxKeyBytes);
    value_bytes += item.data.size();
  }
  FUZZ_CHECK(value_bytes <= limits.max_value_bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return llmcache::fuzz::fuzz_reply_parser<llmcache::protocol::ClassicParser>(data, size,
                                                                              check_classic_reply);
}
