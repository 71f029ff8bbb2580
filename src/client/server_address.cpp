#include <llmcache/errors.hpp>
#include <llmcache/options.hpp>

#include <charconv>

namespace llmcache {

ServerAddress parse_server(std::string_view spec) {
  const std::string quoted = "'" + std::string(spec) + "'";
  if (spec.empty()) throw InvalidArgumentError("empty memcached server address");
  ServerAddress address;
  std::string_view host = spec;
  std::string_view port;
  if (spec.front() == '[') {
    // "[v6addr]" or "[v6addr]:port"
    const auto close = spec.find(']');
    if (close == std::string_view::npos) {
      throw InvalidArgumentError("bad server address " + quoted + ": missing ']'");
    }
    host = spec.substr(1, close - 1);
    std::string_view rest = spec.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        throw InvalidArgumentError("bad server address " + quoted + ": expected ':' after ']'");
      }
      port = rest.substr(1);
    }
  } else if (const auto colon = spec.rfind(':'); colon != std::string_view::npos) {
    host = spec.substr(0, colon);
    port = spec.substr(colon + 1);
  }
  if (host.empty()) throw InvalidArgumentError("bad server address " + quoted + ": empty host");
  // No host name or address holds these, and name() must parse back to this address,
  // alone and in a list: separators and brackets inside the host would split or
  // re-bracket it ("[[h]" would name itself "[h:11211").
  for (const char c : host) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f || c == ',' || c == '[' || c == ']') {
      throw InvalidArgumentError("bad server address " + quoted +
                                 ": the host holds a space, comma, bracket or control byte");
    }
  }
  address.host = std::string(host);
  if (!port.empty() || spec.back() == ':') {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      throw InvalidArgumentError("bad server address " + quoted + ": port must be 1-65535");
    }
    address.port = static_cast<std::uint16_t>(value);
  }
  return address;
}

std::vector<ServerAddress> parse_servers(std::string_view specs) {
  std::vector<ServerAddress> servers;
  std::size_t start = 0;
  while (start <= specs.size()) {
    const auto end = specs.find_first_of(", \t\n", start);
    const auto piece = specs.substr(start, end == std::string_view::npos ? end : end - start);
    if (!piece.empty()) servers.push_back(parse_server(piece));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  if (servers.empty()) throw InvalidArgumentError("no memcached servers given");
  return servers;
}

}  // namespace llmcache
