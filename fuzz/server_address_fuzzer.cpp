// Fuzzes parse_servers() and parse_server() with what users type: command-line
// arguments, MEMCACHED_SERVERS, Python strings. InvalidArgumentError is the expected
// failure. ServerAddress::name() is what placement hashes and what tools print, so a
// parsed address must parse back from its name to the same address, on its own and
// in a list.
#include <llmcache/errors.hpp>
#include <llmcache/options.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"

namespace {

void check_round_trip(const llmcache::ServerAddress& address) {
  FUZZ_CHECK(!address.host.empty());
  FUZZ_CHECK(address.port != 0);
  const std::string name = address.name();
  FUZZ_CHECK(llmcache::parse_server(name) == address);
  const std::vector<llmcache::ServerAddress> listed = llmcache::parse_servers(name);
  FUZZ_CHECK(listed.size() == 1 && listed.front() == address);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // Only the parse of the input may throw; a name that fails to parse back is a crash.
  std::optional<llmcache::ServerAddress> single;
  try {
    single = llmcache::parse_server(text);
  } catch (const llmcache::InvalidArgumentError&) {
  }
  if (single) check_round_trip(*single);
  std::vector<llmcache::ServerAddress> servers;
  try {
    servers = llmcache::parse_servers(text);
  } catch (const llmcache::InvalidArgumentError&) {
    return 0;
  }
  FUZZ_CHECK(!servers.empty());
  std::string joined;
  for (const auto& server : servers) {
    check_round_trip(server);
    joined += (joined.empty() ? "" : ",") + server.name();
  }
  FUZZ_CHECK(llmcache::parse_servers(joined) == servers);
  return 0;
}
