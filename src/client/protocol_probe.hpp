#pragma once
// ClientOptions::protocol kAuto: which protocol a server speaks, asked once per client.
#include <llmcache/options.hpp>

#include "net/blocking_connection.hpp"
#include "protocol/reply_parser.hpp"

#include <optional>
#include <string_view>

namespace llmcache::detail {

/// The protocol a fixed ClientOptions::protocol means; nullopt for kAuto.
std::optional<protocol::Wire> fixed_wire(Protocol protocol);

/// Asks the server behind `server` with `mn`, then `version`:
///   - the connection closed on `mn` (twemproxy), ERROR (memcached before meta) or
///     CLIENT_ERROR (mcrouter) -> classic;
///   - MN, and `version` names a memcached before 1.6.10 (whose meta syntax differs) -> classic;
///   - MN otherwise (1.6.10+, or a version that is not memcached's, such as memcached's
///     own proxy or a managed service's) -> meta.
/// Throws the transport's error when the server cannot be reached or does not answer.
protocol::Wire probe_wire(net::BlockingPool& server);

/// true when `version` (the text after VERSION) is a memcached release before 1.6.10;
/// false for later ones and for text that is no memcached version number.
bool is_pre_meta_memcached(std::string_view version);

}  // namespace llmcache::detail
