// Fuzzes protocol::MetaParser with the bytes a server (or anything pretending to be one)
// may send: fed whole and in fragments, the same replies or the same failure, memory
// within the limits (the input layout and the checks: reply_parser_driver.hpp).
#include "fuzz_check.hpp"
#include "protocol/meta_parser.hpp"
#include "reply_parser_driver.hpp"

namespace {

using llmcache::protocol::ParserLimits;
using llmcache::protocol::Reply;
using llmcache::protocol::Status;

// Meta replies carry a value only in a VA reply, never classic items.
void check_meta_reply(const Reply& reply, const ParserLimits&) {
  FUZZ_CHECK(reply.status == Status::kValue || reply.value.empty());
  FUZZ_CHECK(reply.values.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return llmcache::fuzz::fuzz_reply_parser<llmcache::protocol::MetaParser>(data, size,
                                                                           check_meta_reply);
}
