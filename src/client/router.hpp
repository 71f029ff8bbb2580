#pragma once
// Which server each request goes to, and what its outcome says about that server. A Client
// always uses its one server; a HashClient places keys by rendezvous hashing and applies
// pymemcache's failure rules (client/hash_router.cpp).
#include <llmcache/options.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <string_view>
#include <vector>

namespace llmcache::detail {

class Router {
 public:
  using Clock = std::chrono::steady_clock;

  struct Route {
    /// Index of the server in the pool; with `skip`, the server skipped (npos: none).
    std::size_t server = 0;
    /// Set when the request must fail without I/O.
    std::exception_ptr skip;
    /// Identifies the server's state when routed, for record_*().
    std::uint64_t ticket = 0;
  };
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  virtual ~Router() = default;

  /// Thread-safe. Where a request for `key` goes at `now`.
  virtual Route choose(std::string_view key, std::chrono::steady_clock::time_point now) = 0;
  /// Thread-safe. A request sent on `route` was answered.
  virtual void record_success(const Route& route) = 0;
  /// Thread-safe. A request sent on `route` failed with `error` at `now`.
  virtual void record_failure(const Route& route, const std::exception_ptr& error,
                              Clock::time_point now) = 0;
  /// False when the record_*() calls do nothing (a single server is never set aside),
  /// so that requests need not report back.
  virtual bool records_outcomes() const = 0;
  /// Thread-safe. The server that currently holds `key`; throws IoError
  /// (kNoServerAvailable) if none is left.
  virtual std::size_t server_for(std::string_view key) const = 0;
};

/// A Client's: every request to its one server, which is never set aside.
std::unique_ptr<Router> make_single_server_router();

/// A HashClient's, over `servers` in pool order. Throws InvalidArgumentError for an empty
/// list or a server listed twice.
std::unique_ptr<Router> make_hash_router(const std::vector<ServerAddress>& servers,
                                         const HashClientOptions& options);

}  // namespace llmcache::detail
