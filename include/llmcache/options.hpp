#pragma once
/// Options for the memcached clients: plain structs with a comment on every field.
/// A "host:port" list (or MEMCACHED_SERVERS) maps onto ServerAddress one-to-one.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace llmcache {

using namespace std::chrono_literals;

/// One memcached server, over TCP (`host`, `port`) or a Unix domain socket (`unix_path`).
/// `name()` is the node name pymemcache's HashClient hashes ("host:port", or the socket's
/// path), so it must be spelled the same way in every process that shares a pool.
struct ServerAddress {
  ServerAddress() = default;
  /// TCP. (Constructors rather than an aggregate, so that `{host, port}` stays complete
  /// now that there is a third field.)
  ServerAddress(std::string host_name, std::uint16_t port_number)
      : host(std::move(host_name)), port(port_number) {}
  /// A Unix domain socket at `path` (absolute; see parse_server for the checks).
  static ServerAddress unix_socket(std::string path) {
    ServerAddress address;
    address.unix_path = std::move(path);
    return address;
  }

  std::string host = "127.0.0.1";
  std::uint16_t port = 11211;
  /// Absolute path of a Unix domain socket (memcached -s). Empty: TCP to host:port. When
  /// set, host and port are not used.
  std::string unix_path;

  bool is_unix() const { return !unix_path.empty(); }
  std::string name() const { return is_unix() ? unix_path : host + ":" + std::to_string(port); }
  friend bool operator==(const ServerAddress&, const ServerAddress&) = default;
};

/// Parses "host", "host:port" or "[v6addr]:port" (port defaults to 11211), and a Unix
/// socket as "/path" or "unix:/path", as pymemcache's normalize_server_spec does. Throws
/// InvalidArgumentError, e.g. for a relative or too long socket path.
ServerAddress parse_server(std::string_view spec);

/// Parses a comma- or whitespace-separated server list. Throws InvalidArgumentError
/// on an empty list or a bad entry.
std::vector<ServerAddress> parse_servers(std::string_view specs);

/// TLS for every connection to the servers (memcached started with `-Z`). Off by
/// default; when on, the server's certificate is verified unless `verify` is false.
/// Files are read once, when the client is constructed: a missing or unreadable file, a
/// key without a certificate, or a file set while TLS is off throws InvalidArgumentError
/// there rather than at the first request.
struct TlsOptions {
  /// Speak TLS to every server. false: plaintext, and every other field must stay empty.
  bool enabled = false;
  /// Verify the server's certificate chain and name. false accepts any certificate
  /// (encryption without authentication: for tests and self-signed setups only).
  bool verify = true;
  /// PEM file of the certificate authorities to trust. Empty: the system's default store
  /// (Debian: /etc/ssl/certs).
  std::string ca_file;
  /// PEM file of the client's certificate chain, for servers that ask for one
  /// (memcached's ssl_verify_mode). Empty: present none.
  std::string cert_file;
  /// PEM file of the private key of `cert_file`. Empty: the key is inside `cert_file`.
  /// Setting it without `cert_file` is an error.
  std::string key_file;
  /// Name sent as SNI and checked against the certificate. Empty: the server's host as
  /// given in its address. An IP address is checked against the certificate's IP SANs
  /// (and not sent as SNI, which carries host names only).
  std::string server_name;
};

/// memcached's ASCII authentication (a server started with `-Y <authfile>`): each new
/// connection first sends `set` with "<username> <password>" as the value and must get
/// STORED before any request is answered. Both empty: no authentication.
struct Credentials {
  /// A user of the server's authfile. No whitespace or control characters.
  std::string username;
  /// Its password. No whitespace or control characters. Sent in the clear unless TLS
  /// is on. With a server not started with -Y the `set` is answered STORED as an item
  /// that expires at once, so no credentials are left readable in the cache.
  std::string password;
};

/// Which memcached protocol a client speaks.
enum class Protocol : std::uint8_t {
  /// Decided on first use by a probe (see docs/compatibility.md): `mn` then `version`; a
  /// server that answers MN and is memcached 1.6.10 or later (or does not say which
  /// memcached it is) gets meta; one that closes the connection, answers ERROR or
  /// CLIENT_ERROR to `mn`, or is an older memcached gets classic. Asked of each server
  /// once, on its first use, and remembered for the life of the client, so one pool may
  /// mix servers of both kinds.
  kAuto,
  /// memcached's meta protocol (memcached 1.6.10 and later): opaque-checked replies,
  /// stampede protection (vivify, recache), invalidation.
  kMeta,
  /// The classic text protocol (get/set/add/delete/touch), for twemproxy, mcrouter and
  /// memcached before 1.6.10. Compare-and-swap, invalidation and the meta-only flags of
  /// meta_get are refused with InvalidArgumentError.
  kClassic,
};

/// "auto", "meta" or "classic".
std::string_view to_string(Protocol protocol);
/// Parses "auto", "meta" or "classic"; throws InvalidArgumentError otherwise.
Protocol parse_protocol(std::string_view name);

/// Options of one server's connections (Client, and each server of a HashClient).
struct ClientOptions {
  /// Prepended to every key on the wire, exactly as pymemcache's `key_prefix`: the
  /// 250-byte limit counts it, and a HashClient places a key by the key without it (as
  /// pymemcache's HashClient does), so both clients share a prefixed pool. Empty: none.
  /// It must hold no whitespace or control bytes (InvalidArgumentError at construction).
  /// metadump() lists keys as memcached holds them, prefix included.
  std::string key_prefix;
  /// How long a connect may take. Must be > 0.
  std::chrono::milliseconds connect_timeout = 1000ms;
  /// How long a request may wait for its reply, counted from when it is submitted
  /// (including time spent waiting for a connection). Must be > 0: no wait is forever.
  std::chrono::milliseconds request_timeout = 1000ms;
  /// Connections per server; requests are pipelined on each. 1 is enough for most loads.
  std::size_t connections = 1;
  /// Largest value the client accepts in a reply; a larger one is a protocol error.
  std::size_t max_value_bytes = 64u << 20;
  /// The item size limit (memcached -I) assumed for a server that does not tell its own:
  /// one spoken to in the classic protocol (proxies and older servers are never asked
  /// `stats settings`) or one that refuses to say (ElastiCache Serverless). A value whose
  /// item cannot fit is refused without being sent (ValueTooLargeError, reached_server
  /// false), so a proxy's backend never drops the previous entry for it. The default is
  /// memcached's own default; a server started with a larger -I behind a proxy needs this
  /// raised to match. 0: assume nothing, send every value and let the server judge.
  std::size_t item_size_max = 1u << 20;
  /// The longest a blocking call may keep polling its socket for the reply before it
  /// sleeps in poll(); 0 never spins. Each pooled connection learns whether spinning pays:
  /// it spins only while spinning catches replies in under 4/5 of the time sleeping does (on
  /// virtual machines a sleeping thread can take tens of microseconds to wake, more than a
  /// loopback round trip), and then for about twice the usual wait, at most this long;
  /// otherwise it sleeps at once, and tries the other way now and then. Why the default
  /// spins: measured against libmemcached in the same rounds on a 2-vCPU VM (BENCHMARKS.md),
  /// never spinning cost as much CPU per lookup (a sleep's wake-up is CPU too) for about
  /// 30 % more latency.
  std::chrono::microseconds blocking_spin{50};
  /// Requests allowed in flight per connection; more fail at once with IoError
  /// rather than queue without bound.
  std::size_t max_in_flight = 65536;
  /// TLS for every connection; off by default. See TlsOptions. Not available over a
  /// Unix socket (InvalidArgumentError at construction).
  TlsOptions tls;
  /// ASCII-auth credentials sent first on every connection; empty: none. The
  /// authentication round trip counts against connect_timeout.
  Credentials credentials;
  /// The protocol spoken to the servers; kAuto (the default) probes on first use.
  Protocol protocol = Protocol::kAuto;
};

/// Placement and failure rules of HashClient, with pymemcache HashClient's defaults.
struct HashClientOptions {
  ClientOptions client;
  /// Failures tolerated (each after retry_timeout) before a server is removed and its
  /// keys move to the others. 0 removes a server at its first failure.
  int retry_attempts = 2;
  /// While a server is failing, requests for its keys miss without I/O until this passes.
  std::chrono::milliseconds retry_timeout = 1000ms;
  /// A removed server is tried again after this long.
  std::chrono::milliseconds dead_timeout = 60000ms;
};

}  // namespace llmcache
