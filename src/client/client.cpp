// ClientBase's construction and introspection, and the two clients' option checks. The
// operations live by family: reads.cpp, writes.cpp, admin.cpp.
#include <llmcache/client.hpp>
#include <llmcache/errors.hpp>

#include "client/lifecycle.hpp"
#include "client/operation.hpp"
#include "client/transport.hpp"
#include "protocol/keys.hpp"

namespace llmcache {
namespace {

// pymemcache applies key_prefix to every key it sends (check_key_helper): refuse at
// construction a prefix that would make every key invalid, rather than fail each request.
void check_key_prefix(const std::string& prefix) {
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    const auto c = static_cast<unsigned char>(prefix[i]);
    if (c <= 0x20 || c == 0x7f) {
      throw InvalidArgumentError("key_prefix has a space or control byte at offset " +
                                 std::to_string(i) + "; memcached keys cannot hold one");
    }
  }
  if (prefix.size() >= protocol::kMaxKeyBytes) {
    throw InvalidArgumentError("key_prefix is " + std::to_string(prefix.size()) +
                               " bytes; with a key it must fit memcached's " +
                               std::to_string(protocol::kMaxKeyBytes) + "-byte limit");
  }
}

// memcached speaks TLS on its TCP listeners only, and a certificate names a host, which a
// socket path is not: rather than connect in the clear to a caller who asked for TLS,
// refuse the combination when the client is made.
void check_tls_over_unix(const ServerAddress& server, const ClientOptions& options) {
  if (options.tls.enabled && server.is_unix()) {
    throw InvalidArgumentError("memcached " + server.name() +
                               ": TLS is not available over a Unix socket (memcached serves "
                               "TLS on TCP only); turn TLS off for this server or use TCP");
  }
}

// The options checks that need no I/O, run before the transport (and its thread) exists.
ServerAddress checked(ServerAddress server, const ClientOptions& options) {
  check_key_prefix(options.key_prefix);
  check_tls_over_unix(server, options);
  return server;
}

std::vector<ServerAddress> checked(std::vector<ServerAddress> servers,
                                   const ClientOptions& options) {
  check_key_prefix(options.key_prefix);
  for (const auto& server : servers) check_tls_over_unix(server, options);
  return servers;
}

}  // namespace

// Every call holds its transport (lifecycle_->enter()) while it works on it: that is what
// lets close() and the destructor run while other threads call, and a fork child swap in
// its own transport (client/lifecycle.hpp).

ClientBase::ClientBase(std::function<std::unique_ptr<detail::Transport>()> make_transport,
                       std::string key_prefix)
    : lifecycle_(std::make_unique<detail::Lifecycle>(std::move(make_transport))),
      key_prefix_(std::move(key_prefix)) {}

std::string ClientBase::wire_key(std::string_view key) const {
  std::string wire;
  wire.reserve(key_prefix_.size() + key.size());
  return wire.append(key_prefix_).append(key);
}

ClientBase::~ClientBase() = default;

void ClientBase::close() {
  lifecycle_->close();
}

asio::any_io_executor ClientBase::executor() const {
  return lifecycle_->current().executor();
}

namespace {

Protocol as_protocol(protocol::Wire wire) {
  return wire == protocol::Wire::kClassic ? Protocol::kClassic : Protocol::kMeta;
}

}  // namespace

Protocol ClientBase::protocol(std::string_view key) {
  return as_protocol(lifecycle_->enter_open()->wire(key));
}

void ClientBase::start_protocol(std::string key, Callback<Protocol> callback) {
  auto transport = lifecycle_->enter();
  if (detail::refuse_if_closed(transport, callback)) return;
  if (auto known = transport->known_wire(key)) return callback(nullptr, as_protocol(*known));
  std::string routing_key = key;
  detail::after_probe(
      *transport, std::move(routing_key), std::move(callback),
      [transport = transport.get(), key = std::move(key)](Callback<Protocol> callback) {
        callback(nullptr, as_protocol(transport->wire(key)));
      });
}

std::vector<ServerAddress> ClientBase::servers() const {
  return lifecycle_->enter()->servers();
}

bool ClientBase::on_io_thread() const {
  return lifecycle_->current().in_io_thread();
}

ServerAddress ClientBase::server_for(std::string_view key) const {
  return lifecycle_->enter()->server_for(key);
}

Client::Client(ServerAddress server, ClientOptions options)
    : ClientBase([server = checked(std::move(server), options),
                  options] { return detail::make_single_server_transport(server, options); },
                 options.key_prefix) {}

Client::Client(std::string_view server, ClientOptions options)
    : Client(parse_server(server), options) {}

HashClient::HashClient(std::vector<ServerAddress> servers, HashClientOptions options)
    : ClientBase([servers = checked(std::move(servers), options.client),
                  options] { return detail::make_hash_transport(servers, options); },
                 options.client.key_prefix) {}

HashClient::HashClient(std::string_view servers, HashClientOptions options)
    : HashClient(parse_servers(servers), options) {}

}  // namespace llmcache
