#include <llmcache/errors.hpp>
#include <llmcache/options.hpp>

#include <sys/un.h>

#include <charconv>

namespace llmcache {
namespace {

// pymemcache's normalize_server_spec takes "/path" and "unix:<path>" as a Unix socket and
// names the node by the path alone; so do we, so that placement matches.
ServerAddress parse_unix_socket(std::string_view spec, const std::string& quoted) {
  std::string_view path = spec.substr(0, 5) == "unix:" ? spec.substr(5) : spec;
  // A relative path would name its node "path", which reads back as a host name; and it
  // would mean a different socket in each working directory.
  if (path.empty() || path.front() != '/') {
    throw InvalidArgumentError("bad server address " + quoted +
                               ": a Unix socket path must be absolute (unix:/path or /path)");
  }
  // A list separates servers by commas and whitespace, so a path holding one could not be
  // written in a list, nor read back from name().
  for (const char c : path) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f || c == ',') {
      throw InvalidArgumentError("bad server address " + quoted +
                                 ": the socket path holds a space, comma or control byte");
    }
  }
  // sockaddr_un holds the path with its terminating NUL: a longer one cannot be connected.
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    throw InvalidArgumentError("bad server address " + quoted + ": a Unix socket path is at most " +
                               std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes");
  }
  return ServerAddress::unix_socket(std::string(path));
}

}  // namespace

ServerAddress parse_server(std::string_view spec) {
  const std::string quoted = "'" + std::string(spec) + "'";
  if (spec.empty()) throw InvalidArgumentError("empty memcached server address");
  if (spec.front() == '/' || spec.substr(0, 5) == "unix:") return parse_unix_socket(spec, quoted);
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
  // Such a host would name itself "/h:1", "unix:h:1" or "unix:11211", which reads back (here
  // and in pymemcache) as a Unix socket. The fuzzer found the bare host "unix".
  if (host.front() == '/' || host == "unix" || host.substr(0, 5) == "unix:") {
    throw InvalidArgumentError("bad server address " + quoted +
                               ": a host cannot be 'unix' or start with '/' or 'unix:' (a Unix "
                               "socket is written /path or unix:/path)");
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
