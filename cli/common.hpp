#pragma once
// What every subcommand shares: the global options, the exit codes scripts rely on, the
// one place errors become messages, and terminal detection.
#include <llmcache/llmcache.hpp>

#include <CLI/CLI.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace llmcache::cli {

/// Exit codes (docs/cli.md). Stable: scripts test them.
enum ExitCode : int {
  kOk = 0,
  kNotFound = 1,  // a miss, a key not found, a confirmation declined
  kUsage = 2,     // bad command line
  kServer = 3,    // a server is unreachable, timed out or answered an error
  kData = 4,      // input or stored data that is not what it should be
  kInterrupted = 130,
};

/// A failure the command explains itself; main() prints `message` and exits with `code`.
class Failure : public std::runtime_error {
 public:
  Failure(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

struct GlobalOptions {
  std::string servers = "127.0.0.1:11211";
  int connect_timeout_ms = 1000;
  int timeout_ms = 1000;
  bool json = false;
  bool verbose = false;
  // --protocol: auto, meta or classic (ClientOptions::protocol).
  std::string protocol = "auto";
  // TLS: --tls and its --tls-* options map onto ClientOptions::tls one-to-one.
  TlsOptions tls;
  // ASCII auth: the user from --username (or MEMCACHED_USERNAME); the password never
  // from the command line, where `ps` and shell history would show it, but from
  // MEMCACHED_PASSWORD or the first line of --password-file.
  std::string username;
  std::string password_file;
  // Signed entries (MemcachedCacheOptions::signing_secret): the secret never on the
  // command line either, but from LLMCACHE_SIGNING_SECRET or --signing-secret-file.
  std::string signing_secret_file;
  // MemcachedCacheOptions::namespace_ (--namespace or LLMCACHE_NAMESPACE): entries are
  // named, stored and cleared within it. Empty: LangChain's keys.
  std::string namespace_name;

  /// Throws Failure(kUsage) for a username without a password, or an unreadable file.
  HashClientOptions client_options() const;
  /// A Client for one server, a HashClient for several (placement as pymemcache's).
  std::shared_ptr<ClientBase> make_pool() const;
  std::vector<ServerAddress> server_list() const;
  /// The cache options of this command line: the namespace and the signing secret, if
  /// given, and strict, so that a store that fails throws why instead of only counting it. Throws
  /// Failure(kUsage) for an unreadable or empty secret file.
  MemcachedCacheOptions cache_options(std::chrono::seconds ttl = std::chrono::seconds{0}) const;
  /// The cache core (keys, TTL, signing) over make_pool(), with cache_options(ttl).
  std::shared_ptr<CacheCore> make_cache(std::chrono::seconds ttl = std::chrono::seconds{0}) const;
  /// The cache core over make_pool() for commands that neither seal nor open entries
  /// (key, delete, clear, restore): the secret is not read, so it cannot fail them. With
  /// the namespace, if one was given.
  std::shared_ptr<CacheCore> make_cache_without_secret() const;
};

/// A registered subcommand and what runs it once the command line has been parsed.
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

void add_entry_commands(CLI::App& app, const GlobalOptions& global, std::vector<Command>& out);
void add_stats_command(CLI::App& app, const GlobalOptions& global, std::vector<Command>& out);
void add_dump_commands(CLI::App& app, const GlobalOptions& global, std::vector<Command>& out);
void add_import_sqlite_command(CLI::App& app, const GlobalOptions& global,
                               std::vector<Command>& out);
void add_bench_command(CLI::App& app, const GlobalOptions& global, std::vector<Command>& out);

/// Maps the exception in flight to an exit code and prints a message that says what to
/// do about it. Call from a catch block.
int report_current_exception(const GlobalOptions& global);

/// The one way an error reaches the user: `llmcache: message` on stderr, or with --json
/// `{"error", "exit_code", "reason", "server"}` on stderr, `reason` and `server` from
/// `details` (null when unknown: usage errors, errors the command found itself).
/// Returns `code`.
int print_error(bool json, const std::string& message, int code, const ErrorDetails& details = {});

/// An llmcache error as an operator should read it: the library's message plus a hint.
std::string explain(const std::exception& error);

/// The exit code of a bulk store (restore, import-sqlite): kServer if any entry failed
/// (reported with the first error), else kInterrupted or kOk.
int store_outcome(std::size_t failed, const std::exception_ptr& first_error, bool interrupted);

bool stdin_is_terminal();
bool stdout_is_terminal();
bool stderr_is_terminal();

/// Set by SIGINT once install_interrupt_handler() ran; long loops poll it and stop.
extern std::atomic<bool> g_interrupted;
void install_interrupt_handler();
/// Sleeps up to `duration`, returning early (false) on Ctrl-C.
bool sleep_unless_interrupted(std::chrono::milliseconds duration);

/// Verbose notes go to stderr, so they never mix with output a script parses.
void note(const GlobalOptions& global, const std::string& message);

/// "12.3 ms", "850 us": a duration people can read at a glance.
std::string human_duration(std::chrono::nanoseconds d);
/// "195 B", "1.5 MiB".
std::string human_bytes(double bytes);

}  // namespace llmcache::cli
