// stats: is each server up, how fast does it answer, and is the cache hitting.
#include "common.hpp"

#include <cstdio>
#include <ctime>
#include <future>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

namespace llmcache::cli {
namespace {

struct ServerHealth {
  std::string name;
  bool alive = false;
  std::string error;
  std::chrono::nanoseconds rtt{0};
  std::string version;
  std::map<std::string, std::string> stats;

  std::uint64_t number(const std::string& key) const {
    const auto it = stats.find(key);
    if (it == stats.end()) return 0;
    try {
      return std::stoull(it->second);
    } catch (const std::exception&) {
      return 0;
    }
  }
};

template <class T>
std::future<T> start(std::function<void(Callback<T>)> begin) {
  auto promise = std::make_shared<std::promise<T>>();
  auto future = promise->get_future();
  begin([promise](std::exception_ptr error, T value) {
    if (error) {
      promise->set_exception(error);
    } else {
      promise->set_value(std::move(value));
    }
  });
  return future;
}

std::string error_text(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "unknown error";
}

/// Asks every server at once, so a dead one costs one connect timeout, not one each.
std::vector<ServerHealth> probe(ClientBase& pool) {
  const auto servers = pool.servers();
  using Clock = std::chrono::steady_clock;
  std::vector<ServerHealth> health(servers.size());
  // The first request also connects; the round trip is timed on a second one.
  std::vector<std::future<std::string>> warmups;
  for (std::size_t i = 0; i < servers.size(); ++i) {
    health[i].name = servers[i].name();
    warmups.push_back(start<std::string>(
        [&pool, i](Callback<std::string> cb) { pool.start_version(i, std::move(cb)); }));
  }
  for (std::size_t i = 0; i < servers.size(); ++i) {
    try {
      health[i].version = warmups[i].get();
      health[i].alive = true;
    } catch (...) {
      health[i].error = error_text(std::current_exception());
    }
  }
  std::vector<std::future<ServerStats>> stats(servers.size());
  for (std::size_t i = 0; i < servers.size(); ++i) {
    if (!health[i].alive) continue;
    const auto t0 = Clock::now();
    try {
      pool.version(i);
      health[i].rtt = Clock::now() - t0;
    } catch (...) {
      health[i].alive = false;
      health[i].error = error_text(std::current_exception());
      continue;
    }
    stats[i] = start<ServerStats>(
        [&pool, i](Callback<ServerStats> cb) { pool.start_server_stats(i, std::move(cb)); });
  }
  for (std::size_t i = 0; i < servers.size(); ++i) {
    if (!health[i].alive) continue;
    try {
      for (auto& [name, value] : stats[i].get()) health[i].stats[name] = value;
    } catch (const ServerError& e) {
      // A proxy without `stats` (twemproxy) answered version: alive, with nothing to tell.
      if (e.reason() != ErrorReason::kNotUnderstood) {
        health[i].alive = false;
        health[i].error = error_text(std::current_exception());
      }
    } catch (...) {
      health[i].alive = false;
      health[i].error = error_text(std::current_exception());
    }
  }
  return health;
}

std::optional<double> hit_ratio(std::uint64_t hits, std::uint64_t misses) {
  if (hits + misses == 0) return std::nullopt;
  return static_cast<double>(hits) / static_cast<double>(hits + misses);
}

std::string percent(std::optional<double> ratio) {
  if (!ratio) return "-";
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.1f%%", *ratio * 100);
  return buf;
}

Json to_json(const std::vector<ServerHealth>& health) {
  Json servers = Json::array();
  std::uint64_t items = 0, bytes = 0, evictions = 0, hits = 0, misses = 0;
  std::size_t alive = 0;
  for (const auto& h : health) {
    Json s{{"server", h.name}, {"alive", h.alive}};
    if (!h.alive) {
      s["error"] = h.error;
      servers.push_back(std::move(s));
      continue;
    }
    ++alive;
    s["rtt_ms"] = std::chrono::duration<double, std::milli>(h.rtt).count();
    s["version"] = h.version;
    for (const char* key : {"uptime", "curr_connections", "curr_items", "bytes", "limit_maxbytes",
                            "evictions", "get_hits", "get_misses", "cmd_get", "cmd_set"}) {
      s[key] = h.number(key);
    }
    const auto ratio = hit_ratio(h.number("get_hits"), h.number("get_misses"));
    s["hit_ratio"] = ratio ? Json(*ratio) : Json(nullptr);
    items += h.number("curr_items");
    bytes += h.number("bytes");
    evictions += h.number("evictions");
    hits += h.number("get_hits");
    misses += h.number("get_misses");
    servers.push_back(std::move(s));
  }
  const auto ratio = hit_ratio(hits, misses);
  return Json{{"time", static_cast<std::int64_t>(std::time(nullptr))},
              {"servers", servers},
              {"alive", alive},
              {"dead", health.size() - alive},
              {"total",
               {{"curr_items", items},
                {"bytes", bytes},
                {"evictions", evictions},
                {"get_hits", hits},
                {"get_misses", misses},
                {"hit_ratio", ratio ? Json(*ratio) : Json(nullptr)}}}};
}

void print_table(const std::vector<ServerHealth>& health, std::ostream& out) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"SERVER", "STATUS", "RTT", "VERSION", "ITEMS", "MEMORY", "EVICTIONS", "HITS",
                  "MISSES", "HIT RATIO"});
  std::uint64_t items = 0, bytes = 0, evictions = 0, hits = 0, misses = 0;
  std::size_t alive = 0;
  std::vector<std::string> errors;
  for (const auto& h : health) {
    if (!h.alive) {
      rows.push_back({h.name, "DEAD", "-", "-", "-", "-", "-", "-", "-", "-"});
      errors.push_back(h.error);
      continue;
    }
    ++alive;
    items += h.number("curr_items");
    bytes += h.number("bytes");
    evictions += h.number("evictions");
    hits += h.number("get_hits");
    misses += h.number("get_misses");
    rows.push_back({h.name, "alive", human_duration(h.rtt), h.version,
                    std::to_string(h.number("curr_items")),
                    human_bytes(static_cast<double>(h.number("bytes"))) + " / " +
                        human_bytes(static_cast<double>(h.number("limit_maxbytes"))),
                    std::to_string(h.number("evictions")), std::to_string(h.number("get_hits")),
                    std::to_string(h.number("get_misses")),
                    percent(hit_ratio(h.number("get_hits"), h.number("get_misses")))});
  }
  if (health.size() > 1) {
    rows.push_back({"total", std::to_string(alive) + "/" + std::to_string(health.size()) + " up",
                    "", "", std::to_string(items), human_bytes(static_cast<double>(bytes)),
                    std::to_string(evictions), std::to_string(hits), std::to_string(misses),
                    percent(hit_ratio(hits, misses))});
  }
  std::vector<std::size_t> width(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      // Text columns align left, numbers right, as people scan them.
      const bool left = c <= 1 || c == 3;
      const std::string pad(width[c] - row[c].size(), ' ');
      line += left ? row[c] + pad : pad + row[c];
      if (c + 1 < row.size()) line += "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << '\n';
  }
  for (const auto& error : errors) out << "DEAD: " << explain(IoError(error)) << '\n';
}

}  // namespace

void add_stats_command(CLI::App& app, const GlobalOptions& global, std::vector<Command>& out) {
  struct Args {
    int watch = 0;
    int count = 0;
  };
  auto args = std::make_shared<Args>();
  auto* command = app.add_subcommand(
      "stats", "Per-server health, round-trip time, items, memory, evictions and hit ratio");
  auto* watch = command
                    ->add_option("-w,--watch", args->watch,
                                 "Refresh every N seconds (1-3600) until Ctrl-C or --count")
                    ->check(CLI::Range(1, 3600));
  // A count without a refresh interval would be silently ignored (one snapshot either way):
  // a usage error says the command line does not mean what its author thought.
  command->add_option("--count", args->count, "With --watch, stop after this many refreshes")
      ->check(CLI::Range(1, 1000000))
      ->needs(watch);
  out.push_back({command, [&global, args] {
                   auto pool = global.make_pool();
                   int code = kOk;
                   for (int round = 1;; ++round) {
                     const auto health = probe(*pool);
                     code = kOk;
                     for (const auto& h : health) {
                       if (!h.alive) code = kServer;
                     }
                     if (global.json) {
                       std::cout << to_json(health).dump() << std::endl;
                     } else {
                       std::ostringstream text;
                       print_table(health, text);
                       if (args->watch > 0 && stdout_is_terminal()) {
                         // Home and clear: each refresh replaces the last one on screen.
                         std::cout << "\x1b[H\x1b[2J";
                       }
                       if (args->watch > 0) {
                         const std::time_t now = std::time(nullptr);
                         std::cout << "every " << args->watch << " s, "
                                   << std::put_time(std::localtime(&now), "%F %T")
                                   << " (Ctrl-C to stop)\n";
                       }
                       std::cout << text.str() << std::flush;
                     }
                     if (args->watch == 0 || (args->count > 0 && round >= args->count)) break;
                     if (!sleep_unless_interrupted(std::chrono::seconds(args->watch))) break;
                     if (!global.json && !stdout_is_terminal()) std::cout << '\n';
                   }
                   return code;
                 }});
}

}  // namespace llmcache::cli
