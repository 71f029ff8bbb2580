// dump and restore: a pool's LangChain entries to JSON Lines and back, byte for byte, so a
// cache survives a restart or moves to another pool.
#include "common.hpp"
#include "pipeline.hpp"
#include "progress.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

namespace llmcache::cli {
namespace {

constexpr std::size_t kBatch = 200;
constexpr std::size_t kWindow = 256;

std::vector<MetadumpEntry> metadump_with_retry(ClientBase& client, const GlobalOptions& global) {
  // One crawl runs per server at a time; another tool's crawl ends soon, so wait for it.
  for (int attempt = 0;; ++attempt) {
    try {
      return client.metadump(0);
    } catch (const ServerError& e) {
      if (e.reason() != ErrorReason::kBusy || attempt >= 50) throw;
      note(global, std::string("crawler busy, retrying: ") + e.what());
      if (!sleep_unless_interrupted(std::chrono::milliseconds(200))) throw;
    }
  }
}

struct DumpArgs {
  std::string file;
};

int run_dump(const GlobalOptions& global, const DumpArgs& args) {
  const auto servers = global.server_list();
  ClientOptions options = global.client_options().client;
  // A crawl of a big server takes longer than an ordinary request.
  options.request_timeout = std::max<std::chrono::milliseconds>(options.request_timeout, 30s);
  options.max_value_bytes = std::size_t{1} << 30;

  std::ofstream file;
  if (!args.file.empty()) {
    file.open(args.file, std::ios::binary | std::ios::trunc);
    if (!file) throw Failure(kData, "cannot write " + args.file + ": " + std::strerror(errno));
  }
  std::ostream& out = args.file.empty() ? std::cout : file;

  // Each key is read back from the server that listed it, wherever the pool would place
  // it: one cache core per server, each with this command's secret (a bad secret file is
  // a usage error before any server is asked).
  const MemcachedCacheOptions cache_options = global.cache_options();
  // With a namespace: only the entries of its current generation, and the generation key
  // itself (first), so that a restore brings the namespace back as it was.
  std::optional<CacheCore::NamespaceGeneration> generation;
  if (cache_options.namespace_)
    generation = global.make_cache_without_secret()->namespace_generation();
  struct Listed {
    std::shared_ptr<CacheCore> cache;
    std::vector<MetadumpEntry> entries;
    std::string error;
  };
  std::vector<Listed> listed;
  std::uint64_t total = 0;
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  for (const auto& server : servers) {
    Listed l;
    l.cache = std::make_shared<CacheCore>(std::make_shared<Client>(server, options), cache_options);
    try {
      for (auto& e : metadump_with_retry(l.cache->client(), global)) {
        if (generation && !e.key.starts_with(generation->entry_key_prefix)) continue;
        if (e.exptime == -1 || e.exptime > now) l.entries.push_back(std::move(e));
      }
      note(global, server.name() + " lists " + std::to_string(l.entries.size()) + " items");
    } catch (const Error& e) {
      l.error = explain(e);
    }
    total += l.entries.size();
    listed.push_back(std::move(l));
  }

  if (generation) {
    out << Json{{"key", generation->key},
                {"value", generation->value},
                {"flags", 0},
                {"exptime", 0}}
               .dump()
        << '\n';
  }
  Progress progress("dump", total, "keys");
  std::uint64_t seen = 0, written = 0, skipped = 0, unverified = 0, gone = 0;
  bool interrupted = false;
  for (std::size_t s = 0; s < listed.size() && !interrupted; ++s) {
    auto& l = listed[s];
    for (std::size_t begin = 0; begin < l.entries.size(); begin += kBatch) {
      if (g_interrupted) {
        interrupted = true;
        break;
      }
      const std::size_t end = std::min(begin + kBatch, l.entries.size());
      std::vector<std::string> keys;
      for (std::size_t i = begin; i < end; ++i) keys.push_back(l.entries[i].key);
      std::vector<std::optional<CacheCore::StoredEntry>> stored;
      try {
        stored = l.cache->inspect_many(keys);
      } catch (const Error& e) {
        l.error = explain(e);
        break;
      }
      for (std::size_t i = 0; i < stored.size(); ++i) {
        const auto& entry = stored[i];
        if (!entry) {
          ++gone;  // expired, evicted or deleted since the listing
          continue;
        }
        if (entry->state == CacheCore::EntryState::kCorruptCompressed) {
          ++skipped;  // no cache reads it back
          continue;
        }
        if (entry->state == CacheCore::EntryState::kSignatureFailed) {
          ++unverified;  // a signed pool reads it as a miss: not worth keeping
          continue;
        }
        try {
          // Signed entries are dumped as stored (restore puts the envelope back under the
          // same key, where it still verifies); without the secret they cannot be checked.
          if (entry->state == CacheCore::EntryState::kReadable) decode_generations(entry->value());
          const auto exptime = l.entries[begin + i].exptime;
          out << Json{{"key", keys[i]},
                      {"value", entry->stored},
                      {"flags", entry->flags},
                      {"exptime", exptime < 0 ? 0 : exptime}}
                     .dump()
              << '\n';
          ++written;
        } catch (const std::exception&) {
          ++skipped;  // not a LangChain value: other data sharing the pool
        }
      }
      seen += keys.size();
      progress.update(seen);
    }
  }
  progress.finish();
  out.flush();
  if (!out) throw Failure(kData, "writing the dump failed: " + std::string(std::strerror(errno)));

  std::vector<std::string> failures;
  for (std::size_t s = 0; s < listed.size(); ++s) {
    if (!listed[s].error.empty()) failures.push_back(servers[s].name() + ": " + listed[s].error);
  }
  const std::string where = args.file.empty() ? "stdout" : args.file;
  if (global.json) {
    std::cerr << Json{{"written", written},
                      {"skipped_not_langchain", skipped},
                      {"skipped_signature_failures", unverified},
                      {"vanished", gone},
                      {"servers", servers.size()},
                      {"failed_servers", failures},
                      {"interrupted", interrupted}}
                     .dump()
              << '\n';
  } else {
    std::cerr << "dumped " << written << " LangChain entries from " << servers.size()
              << (servers.size() == 1 ? " server" : " servers") << " to " << where;
    if (skipped > 0) std::cerr << "; skipped " << skipped << " items that are not LangChain's";
    if (unverified > 0) {
      std::cerr << "; skipped " << unverified
                << " entries that fail their signature check (a signed cache misses them)";
    }
    if (gone > 0) std::cerr << "; " << gone << " vanished while dumping";
    std::cerr << '\n';
    for (const auto& f : failures) std::cerr << "llmcache: could not dump " << f << '\n';
  }
  if (interrupted) return kInterrupted;
  return failures.empty() ? kOk : kServer;
}

struct RestoreArgs {
  std::string file;
};

std::uint64_t count_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::uint64_t lines = 0;
  char buffer[1 << 16];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    lines += static_cast<std::uint64_t>(std::count(buffer, buffer + in.gcount(), '\n'));
  }
  return lines;
}

/// The first line (by number) whose entry the client refused as unusable, e.g. a key
/// memcached cannot store. Completions record it from the I/O thread.
class RefusedLine {
 public:
  void record(std::uint64_t line, const std::string& why) {
    std::lock_guard lock(mutex_);
    if (line_ == 0 || line < line_) {
      line_ = line;
      why_ = why;
    }
    seen_ = true;
  }
  bool seen() const { return seen_; }
  std::uint64_t line() const {
    std::lock_guard lock(mutex_);
    return line_;
  }
  std::string why() const {
    std::lock_guard lock(mutex_);
    return why_;
  }

 private:
  mutable std::mutex mutex_;
  std::atomic<bool> seen_{false};
  std::uint64_t line_ = 0;
  std::string why_;
};

int run_restore(const GlobalOptions& global, const RestoreArgs& args) {
  std::ifstream file;
  std::optional<std::uint64_t> total;
  if (!args.file.empty()) {
    file.open(args.file, std::ios::binary);
    if (!file) throw Failure(kData, "cannot read " + args.file + ": " + std::strerror(errno));
    total = count_lines(args.file);
  }
  std::istream& in = args.file.empty() ? std::cin : file;
  const std::string source = args.file.empty() ? "stdin" : args.file;
  // Entries go back as dumped, sealed or not: no secret is needed or read.
  const auto cache = global.make_cache_without_secret();

  Progress progress("restore", total, "entries");
  Pipeline pipeline(kWindow);
  RefusedLine refused;
  std::uint64_t line_number = 0, started = 0, expired = 0;
  std::string line;
  bool interrupted = false;
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  while (std::getline(in, line)) {
    ++line_number;
    if (g_interrupted) {
      interrupted = true;
      break;
    }
    if (refused.seen()) break;  // a malformed entry stops the restore, as a malformed line does
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string key, value;
    std::uint32_t flags = 0;
    std::int64_t exptime = 0;
    try {
      const Json entry = Json::parse(line);
      key = entry.at("key").get<std::string>();
      value = entry.at("value").get<std::string>();
      if (entry.contains("flags")) flags = entry["flags"].get<std::uint32_t>();
      if (entry.contains("exptime")) exptime = entry["exptime"].get<std::int64_t>();
      if (exptime < 0) throw std::invalid_argument("exptime is negative");
    } catch (const std::exception& e) {
      pipeline.drain();
      throw Failure(kData, source + " line " + std::to_string(line_number) +
                               " is not a dump entry ({\"key\", \"value\", \"flags\", "
                               "\"exptime\"}): " +
                               e.what() + "\n" +
                               std::to_string(pipeline.completed() - pipeline.failed()) +
                               " entries before it were restored");
    }
    if (exptime > 0 && exptime <= now) {
      ++expired;
      continue;
    }
    pipeline.acquire();
    ++started;
    // The client is the one judge of what memcached can store (key length, spaces, control
    // bytes); what it refuses as an invalid argument is bad data in the dump (exit 4), not
    // a server failure (exit 3).
    cache->start_restore(std::move(key), std::move(value), flags, exptime,
                         [&pipeline, &refused, line_number](std::exception_ptr error, StoreResult) {
                           if (error) {
                             try {
                               std::rethrow_exception(error);
                             } catch (const InvalidArgumentError& e) {
                               refused.record(line_number, e.what());
                             } catch (...) {
                             }
                           }
                           pipeline.release(error);
                         });
    progress.update(line_number);
  }
  pipeline.drain();
  if (refused.seen()) {
    throw Failure(kData, source + " line " + std::to_string(refused.line()) +
                             " is not a dump entry memcached can store: " + refused.why() + "\n" +
                             std::to_string(pipeline.completed() - pipeline.failed()) +
                             " entries were restored");
  }
  progress.update(line_number);
  progress.finish();
  const std::size_t servers = cache->client().servers().size();
  const std::uint64_t failed = pipeline.failed();
  const std::uint64_t stored = started - failed;
  if (global.json) {
    std::cout << Json{{"restored", stored},
                      {"failed", failed},
                      {"expired", expired},
                      {"interrupted", interrupted}}
                     .dump()
              << '\n';
  } else {
    std::cout << "restored " << stored << " entries from " << source << " to " << servers
              << (servers == 1 ? " server" : " servers");
    if (expired > 0) std::cout << "; skipped " << expired << " already expired";
    std::cout << '\n';
  }
  return store_outcome(failed, pipeline.first_error(), interrupted);
}

}  // namespace

void add_dump_commands(CLI::App& app, const GlobalOptions& global, std::vector<Command>& out) {
  {
    auto args = std::make_shared<DumpArgs>();
    auto* command = app.add_subcommand(
        "dump", "Write every LangChain entry in the pool to JSON Lines (FILE or stdout)");
    command->add_option("FILE", args->file, "Where to write; stdout when omitted");
    out.push_back({command, [&global, args] { return run_dump(global, *args); }});
  }
  {
    auto args = std::make_shared<RestoreArgs>();
    auto* command =
        app.add_subcommand("restore", "Load a dump (FILE or stdin) into the pool, byte for byte");
    command->add_option("FILE", args->file, "The dump to read; stdin when omitted");
    out.push_back({command, [&global, args] { return run_restore(global, *args); }});
  }
}

}  // namespace llmcache::cli
