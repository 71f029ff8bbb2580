// The llmcache command: look into, fill, back up and load-test a LangChain cache on
// memcached. Exit codes are documented in docs/cli.md and in `llmcache --help`.
#include "common.hpp"

#include <iostream>
#include <string_view>

#ifndef LLMCACHE_VERSION
#define LLMCACHE_VERSION "unknown"
#endif

namespace {

// Whether --json was asked for, read from the raw arguments: a command line CLI11 refuses
// may stop parsing before the flag is ever stored, yet a script that asked for JSON must
// get its usage error as JSON too. Arguments after "--" are data, not options.
bool json_requested(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg == "--json") return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace llmcache::cli;
  CLI::App app{"llmcache: a LangChain-compatible LLM response cache on memcached", "llmcache"};
  app.footer(
      "Exit codes: 0 ok, 1 miss / not found / declined, 2 usage error, 3 server or connection "
      "error, 4 data error, 130 interrupted.\nServers: --servers, else MEMCACHED_SERVERS, else "
      "127.0.0.1:11211. Spell them as every other process does (pymemcache hashes the names).");
  app.set_version_flag("--version", std::string("llmcache ") + LLMCACHE_VERSION);
  app.require_subcommand(1);

  GlobalOptions global;
  app.add_option("-s,--servers", global.servers,
                 "Comma-separated host:port list (env MEMCACHED_SERVERS)")
      ->envname("MEMCACHED_SERVERS")
      ->capture_default_str();
  app.add_option("--connect-timeout", global.connect_timeout_ms, "Connect timeout, milliseconds")
      ->check(CLI::Range(1, 600000))
      ->capture_default_str();
  app.add_option("--timeout", global.timeout_ms, "Per-request timeout, milliseconds")
      ->check(CLI::Range(1, 600000))
      ->capture_default_str();
  auto* tls = app.add_flag("--tls", global.tls.enabled,
                           "Speak TLS (memcached -Z); the server's certificate is verified");
  app.add_option("--tls-ca-file", global.tls.ca_file,
                 "PEM file of the CAs to trust (default: the system's store)")
      ->check(CLI::ExistingFile)
      ->needs(tls);
  app.add_option("--tls-cert", global.tls.cert_file,
                 "PEM client certificate, for servers that require one")
      ->check(CLI::ExistingFile)
      ->needs(tls);
  app.add_option("--tls-key", global.tls.key_file, "PEM private key of --tls-cert")
      ->check(CLI::ExistingFile)
      ->needs(tls);
  app.add_option("--tls-server-name", global.tls.server_name,
                 "Name the server's certificate must carry (default: the host in --servers)")
      ->needs(tls);
  app.add_flag(
         "--tls-no-verify", [&global](std::int64_t) { global.tls.verify = false; },
         "Accept any server certificate (tests only)")
      ->needs(tls);
  app.add_option("--username", global.username,
                 "memcached ASCII-auth user (env MEMCACHED_USERNAME); the password comes from "
                 "MEMCACHED_PASSWORD or --password-file")
      ->envname("MEMCACHED_USERNAME");
  app.add_option("--password-file", global.password_file,
                 "File whose first line is the password for --username")
      ->check(CLI::ExistingFile);
  app.add_option("--signing-secret-file", global.signing_secret_file,
                 "File holding the secret of a signed pool (or env LLMCACHE_SIGNING_SECRET): "
                 "get/dump check entries with it, put/import-sqlite sign them")
      ->check(CLI::ExistingFile);
  app.add_option("--protocol", global.protocol,
                 "memcached protocol: auto (probe each pool once), meta (memcached 1.6.10+) or "
                 "classic (twemproxy, mcrouter, older memcached)")
      ->check(CLI::IsMember({"auto", "meta", "classic"}))
      ->capture_default_str();
  app.add_option("--namespace", global.namespace_name,
                 "Work inside this cache namespace (env LLMCACHE_NAMESPACE), as a "
                 "MemcachedCache(namespace=...) does: get/key/put/delete/dump/import-sqlite "
                 "name its entries, clear empties only it")
      ->envname("LLMCACHE_NAMESPACE");
  app.add_flag("--json", global.json, "Machine-readable output (JSON)");
  app.add_flag("-v,--verbose", global.verbose, "Explain what is being done, on stderr");
  // Options given before or after the subcommand mean the same thing.
  app.fallthrough();

  std::vector<Command> commands;
  add_entry_commands(app, global, commands);
  add_stats_command(app, global, commands);
  add_dump_commands(app, global, commands);
  add_import_sqlite_command(app, global, commands);
  add_bench_command(app, global, commands);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (global.json || json_requested(argc, argv)) return print_error(true, e.what(), kUsage);
    app.exit(e);
    return kUsage;
  }

  // The library's own warnings repeat what the command reports; show them on request.
  if (!global.verbose) llmcache::set_log_handler({});
  install_interrupt_handler();
  for (const auto& command : commands) {
    if (!command.app->parsed()) continue;
    try {
      return command.run();
    } catch (...) {
      return report_current_exception(global);
    }
  }
  return kUsage;
}
