#include "common.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <thread>

namespace llmcache::cli {

std::atomic<bool> g_interrupted{false};

HashClientOptions GlobalOptions::client_options() const {
  HashClientOptions options;
  options.client.connect_timeout = std::chrono::milliseconds(connect_timeout_ms);
  options.client.request_timeout = std::chrono::milliseconds(timeout_ms);
  options.client.tls = tls;
  options.client.protocol = parse_protocol(protocol);
  if (!username.empty()) {
    options.client.credentials.username = username;
    if (!password_file.empty()) {
      std::ifstream file(password_file);
      if (!file || !std::getline(file, options.client.credentials.password)) {
        throw Failure(kUsage, "cannot read a password from --password-file " + password_file);
      }
    } else if (const char* password = std::getenv("MEMCACHED_PASSWORD")) {
      options.client.credentials.password = password;
    } else {
      throw Failure(kUsage,
                    "--username needs a password: set MEMCACHED_PASSWORD or --password-file");
    }
  }
  return options;
}

namespace {

MemcachedCacheOptions options_without_secret(const std::string& namespace_name) {
  MemcachedCacheOptions options;
  if (!namespace_name.empty()) options.namespace_ = namespace_name;
  return options;
}

}  // namespace

MemcachedCacheOptions GlobalOptions::cache_options(std::chrono::seconds ttl) const {
  MemcachedCacheOptions options = options_without_secret(namespace_name);
  options.ttl = ttl;
  options.strict = true;
  if (!signing_secret_file.empty()) {
    // The whole file is the secret (it may be binary), less one trailing newline that
    // editors and `echo` add.
    std::ifstream file(signing_secret_file, std::ios::binary);
    std::string secret(std::istreambuf_iterator<char>(file), {});
    if (!file.good() && !file.eof()) {
      throw Failure(kUsage, "cannot read --signing-secret-file " + signing_secret_file);
    }
    if (secret.ends_with('\n')) secret.pop_back();
    if (secret.empty())
      throw Failure(kUsage, "--signing-secret-file " + signing_secret_file + " is empty");
    options.signing_secret = std::move(secret);
  } else if (const char* env = std::getenv("LLMCACHE_SIGNING_SECRET"); env && *env) {
    options.signing_secret = env;
  }
  return options;
}

std::shared_ptr<CacheCore> GlobalOptions::make_cache(std::chrono::seconds ttl) const {
  // The secret first: a bad secret file is a usage error whatever the servers say.
  auto options = cache_options(ttl);
  return std::make_shared<CacheCore>(make_pool(), std::move(options));
}

std::shared_ptr<CacheCore> GlobalOptions::make_cache_without_secret() const {
  return std::make_shared<CacheCore>(make_pool(), options_without_secret(namespace_name));
}

std::vector<ServerAddress> GlobalOptions::server_list() const {
  try {
    return parse_servers(servers);
  } catch (const InvalidArgumentError& e) {
    throw Failure(kUsage, std::string("bad --servers / MEMCACHED_SERVERS: ") + e.what());
  }
}

std::shared_ptr<ClientBase> GlobalOptions::make_pool() const {
  server_list();  // a bad list is a usage error, reported before any connection
  return make_client(servers, client_options());
}

namespace {

/// What an operator can do about an error, by its reason; empty when there is no advice.
std::string_view hint_for(ErrorReason reason) {
  switch (reason) {
    case ErrorReason::kTimedOut:
      return "the server did not answer in time; check that it is up and reachable, or raise "
             "--timeout / --connect-timeout (milliseconds)";
    case ErrorReason::kConnectionRefused:
      return "nothing listens there. Start memcached on that address, or point --servers (or "
             "MEMCACHED_SERVERS) at your pool, e.g. --servers 10.0.0.5:11211";
    case ErrorReason::kNoServerAvailable:
      return "check the server list (--servers or MEMCACHED_SERVERS)";
    case ErrorReason::kCertificateUnverified:
      return "trust the server's CA with --tls-ca-file, name the host its certificate carries "
             "with --tls-server-name, or (tests only) --tls-no-verify";
    case ErrorReason::kAuthenticationFailed:
      return "check --username and MEMCACHED_PASSWORD / --password-file";
    case ErrorReason::kUnauthenticated:
      return "the server requires authentication: --username, with MEMCACHED_PASSWORD or "
             "--password-file";
    case ErrorReason::kNotUnderstood:
      return "the server does not know this command: a proxy (twemproxy, mcrouter) or a "
             "memcached before 1.6.10. Use --protocol classic (or auto), and run flush_all or "
             "stats against each memcached behind a proxy directly";
    case ErrorReason::kTooLarge:
      return "start memcached with a larger item size (-I 2m), or store less";
    case ErrorReason::kFlushNotRouted:
      return "a proxy answered flush_all without flushing (such as memcached's built-in "
             "proxy). Clear a cache namespace instead (--namespace), or run clear against "
             "each memcached behind the proxy directly";
    case ErrorReason::kRerouted:
      return "a server was set aside or came back while the request was on its way; run the "
             "command again";
    default:
      return {};
  }
}

}  // namespace

std::string explain(const std::exception& error) {
  std::string message = error.what();
  const auto* llmcache_error = dynamic_cast<const Error*>(&error);
  if (!llmcache_error) return message;
  // A TimeoutError is a timeout whatever reason its thrower gave it.
  const ErrorReason reason = dynamic_cast<const TimeoutError*>(&error) != nullptr
                                 ? ErrorReason::kTimedOut
                                 : llmcache_error->reason();
  if (const auto hint = hint_for(reason); !hint.empty()) {
    message += "\nhint: ";
    message += hint;
  }
  return message;
}

int report_current_exception(const GlobalOptions& global) {
  int code = kServer;
  std::string message;
  ErrorDetails details;
  try {
    throw;
  } catch (const Failure& e) {
    code = e.code();
    message = e.what();
  } catch (const IoError& e) {
    message = explain(e);
    details = e.details();
  } catch (const ProtocolError& e) {
    message = explain(e);
    details = e.details();
  } catch (const ServerError& e) {
    message = explain(e);
    details = e.details();
  } catch (const Error& e) {
    // DecodeError, InvalidArgumentError: the data, not the server.
    code = kData;
    message = e.what();
    details = e.details();
  } catch (const std::exception& e) {
    code = kData;
    message = e.what();
  }
  return print_error(global.json, message, code, details);
}

int print_error(bool json, const std::string& message, int code, const ErrorDetails& details) {
  if (json) {
    // Scripts branch on `reason` (stable names) and `server`, never on the message.
    const Json reason = details.reason == ErrorReason::kUnspecified
                            ? Json(nullptr)
                            : Json(std::string(to_string(details.reason)));
    const Json server = details.server.empty() ? Json(nullptr) : Json(details.server);
    std::cerr << Json{{"error", message},
                      {"exit_code", code},
                      {"reason", reason},
                      {"server", server}}
                     .dump()
              << '\n';
  } else {
    std::cerr << "llmcache: " << message << '\n';
  }
  return code;
}

bool stdin_is_terminal() {
  return ::isatty(STDIN_FILENO) == 1;
}
bool stdout_is_terminal() {
  return ::isatty(STDOUT_FILENO) == 1;
}
bool stderr_is_terminal() {
  return ::isatty(STDERR_FILENO) == 1;
}

namespace {
void on_sigint(int) {
  // A second Ctrl-C while a command is still winding down ends the process at once.
  if (g_interrupted.exchange(true)) std::_Exit(kInterrupted);
}
}  // namespace

void install_interrupt_handler() {
  struct sigaction action {};
  action.sa_handler = on_sigint;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
}

bool sleep_unless_interrupted(std::chrono::milliseconds duration) {
  const auto until = std::chrono::steady_clock::now() + duration;
  while (!g_interrupted.load()) {
    const auto left = until - std::chrono::steady_clock::now();
    if (left <= std::chrono::nanoseconds::zero()) return true;
    std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(left, 50ms));
  }
  return false;
}

void note(const GlobalOptions& global, const std::string& message) {
  if (global.verbose) std::cerr << "llmcache: " << message << '\n';
}

std::string human_duration(std::chrono::nanoseconds d) {
  char buf[32];
  const double ns = static_cast<double>(d.count());
  if (ns < 1e3) {
    std::snprintf(buf, sizeof buf, "%.0f ns", ns);
  } else if (ns < 1e6) {
    std::snprintf(buf, sizeof buf, "%.0f us", ns / 1e3);
  } else if (ns < 1e9) {
    std::snprintf(buf, sizeof buf, "%.2f ms", ns / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f s", ns / 1e9);
  }
  return buf;
}

std::string human_bytes(double bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, unit == 0 ? "%.0f %s" : "%.1f %s", bytes, kUnits[unit]);
  return buf;
}

int store_outcome(std::size_t failed, const std::exception_ptr& first_error, bool interrupted) {
  if (failed > 0) {
    try {
      std::rethrow_exception(first_error);
    } catch (const std::exception& e) {
      std::cerr << "llmcache: " << failed << " entries were not stored; first error: " << explain(e)
                << '\n';
    }
    return kServer;
  }
  return interrupted ? kInterrupted : kOk;
}

}  // namespace llmcache::cli
