#include "client/protocol_probe.hpp"

#include <llmcache/errors.hpp>

#include "protocol/meta_requests.hpp"

#include <array>
#include <charconv>
#include <string>

namespace llmcache {

std::string_view to_string(Protocol protocol) {
  switch (protocol) {
    case Protocol::kAuto:
      return "auto";
    case Protocol::kMeta:
      return "meta";
    case Protocol::kClassic:
      return "classic";
  }
  return "auto";
}

Protocol parse_protocol(std::string_view name) {
  if (name == "auto") return Protocol::kAuto;
  if (name == "meta") return Protocol::kMeta;
  if (name == "classic") return Protocol::kClassic;
  throw InvalidArgumentError("protocol must be auto, meta or classic, not '" + std::string(name) +
                             "'");
}

namespace detail {

using protocol::Status;
using protocol::Wire;

std::optional<Wire> fixed_wire(Protocol protocol) {
  switch (protocol) {
    case Protocol::kMeta:
      return Wire::kMeta;
    case Protocol::kClassic:
      return Wire::kClassic;
    case Protocol::kAuto:
      break;
  }
  return std::nullopt;
}

bool is_pre_meta_memcached(std::string_view version) {
  std::array<unsigned, 3> parts{};
  const char* p = version.data();
  const char* end = p + version.size();
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto [next, ec] = std::from_chars(p, end, parts[i]);
    if (ec != std::errc{}) return false;
    p = next;
    if (i + 1 < parts.size()) {
      if (p == end || *p != '.') return false;
      ++p;
    }
  }
  // "1.6.9", "1.5.16", also "1.4.25-ubuntu": what follows the third number is ignored.
  return parts < std::array<unsigned, 3>{1, 6, 10};
}

Wire probe_wire(net::BlockingPool& server) {
  std::string request;
  protocol::append_meta_noop(request);
  protocol::Reply reply;
  try {
    reply = server.round_trip(request, std::nullopt);
  } catch (const IoError& e) {
    // twemproxy hangs up on any command it does not know.
    if (e.reason() == ErrorReason::kClosedByServer) return Wire::kClassic;
    throw;
  } catch (const ProtocolError&) {
    return Wire::kClassic;  // something that does not even answer in meta's terms
  }
  if (reply.status != Status::kNoop) return Wire::kClassic;
  request.clear();
  protocol::append_version(request);
  try {
    reply = server.round_trip(request, std::nullopt);
  } catch (const ProtocolError&) {
    return Wire::kMeta;
  }
  if (reply.status == Status::kVersion && is_pre_meta_memcached(reply.message)) {
    return Wire::kClassic;
  }
  return Wire::kMeta;
}

}  // namespace detail
}  // namespace llmcache
