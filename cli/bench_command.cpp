// bench: closed-loop load on a running pool through the LangChain cache path (key, codec,
// client), reporting throughput and latency percentiles for lookups and updates.
#include "common.hpp"
#include "pipeline.hpp"
#include "progress.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <limits>
#include <mutex>
#include <random>
#include <thread>

namespace llmcache::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct BenchArgs {
  int duration = 5;
  int concurrency = 16;
  int keys = 1000;
  double update_ratio = 0.1;
  int value_size = 1000;
  bool keep = false;
};

struct Samples {
  std::vector<std::uint32_t> nanos;  // capped at ~4.3 s, far beyond any request deadline
  std::uint64_t errors = 0;

  Json summary(double seconds) const {
    std::vector<std::uint32_t> sorted = nanos;
    std::sort(sorted.begin(), sorted.end());
    auto at = [&](double q) -> double {
      if (sorted.empty()) return 0.0;
      const auto index = static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1));
      return sorted[index] / 1e6;
    };
    return Json{{"ops", sorted.size()},
                {"ops_per_second", seconds > 0 ? static_cast<double>(sorted.size()) / seconds : 0},
                {"errors", errors},
                {"p50_ms", at(0.50)},
                {"p90_ms", at(0.90)},
                {"p99_ms", at(0.99)},
                {"max_ms", sorted.empty() ? 0.0 : sorted.back() / 1e6}};
  }
};

std::string bench_prompt(int i) {
  return "llmcache bench prompt " + std::to_string(i);
}
const char* const kBenchLlm = "llmcache-bench llm_string (safe to delete)";

// One closed loop: each completion starts the next request, so `concurrency` loops keep
// exactly that many requests in flight.
struct Load {
  Load(MemcachedCache& c, const BenchArgs& a, Generations v, Clock::time_point stop)
      : cache(c), args(a), value(std::move(v)), stop_at(stop) {}

  MemcachedCache& cache;
  const BenchArgs& args;
  Generations value;
  Clock::time_point stop_at;
  std::mutex mutex;
  Samples lookups, updates;
  std::uint64_t hits = 0;
  std::size_t running = 0;
  std::condition_variable finished;
  std::mt19937_64 rng{42};

  void next() {
    int key = 0;
    bool update = false;
    {
      std::lock_guard lock(mutex);
      if (Clock::now() >= stop_at || g_interrupted) {
        if (--running == 0) finished.notify_all();
        return;
      }
      key = static_cast<int>(rng() % static_cast<std::uint64_t>(args.keys));
      update = std::uniform_real_distribution<double>(0, 1)(rng) < args.update_ratio;
    }
    const auto t0 = Clock::now();
    if (update) {
      cache.start_update(bench_prompt(key), kBenchLlm, value,
                         [this, t0](std::exception_ptr error, bool stored) {
                           record(updates, t0, error || !stored, false);
                         });
    } else {
      cache.start_lookup(bench_prompt(key), kBenchLlm,
                         [this, t0](std::exception_ptr error, std::optional<Generations> hit) {
                           record(lookups, t0, error != nullptr, hit.has_value());
                         });
    }
  }

  void record(Samples& samples, Clock::time_point t0, bool failed, bool hit) {
    const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0);
    {
      std::lock_guard lock(mutex);
      samples.nanos.push_back(static_cast<std::uint32_t>(
          std::min<std::int64_t>(nanos.count(), std::numeric_limits<std::uint32_t>::max())));
      if (failed) ++samples.errors;
      if (hit) ++hits;
    }
    next();
  }
};

std::string ms(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f ms", value);
  return buf;
}

int run_bench(const GlobalOptions& global, const BenchArgs& args) {
  auto pool = global.make_pool();
  MemcachedCache cache(pool);
  const std::string text(static_cast<std::size_t>(args.value_size), 'x');
  Generations value{Generation{text, std::nullopt}};

  // Warm every key first, so lookups measure hits rather than an empty cache. Strict, so a
  // pool that is down fails here with the reason rather than as a count of failures.
  {
    MemcachedCacheOptions strict_options;
    strict_options.strict = true;
    MemcachedCache warm(pool, strict_options);
    Pipeline pipeline(256);
    Progress progress("bench: warming", static_cast<std::uint64_t>(args.keys), "keys");
    for (int i = 0; i < args.keys && !g_interrupted; ++i) {
      pipeline.acquire();
      warm.start_update(
          bench_prompt(i), kBenchLlm, value, [&pipeline](std::exception_ptr error, bool stored) {
            pipeline.release(error    ? error
                             : stored ? nullptr
                                      : std::make_exception_ptr(Error("update not stored")));
          });
      progress.update(static_cast<std::uint64_t>(i + 1));
    }
    pipeline.drain();
    if (pipeline.failed() == static_cast<std::uint64_t>(args.keys)) {
      // Nothing could be written: the pool is down. Say why instead of timing failures.
      std::rethrow_exception(pipeline.first_error());
    }
  }

  Load load(cache, args, value, Clock::now() + std::chrono::seconds(args.duration));
  const auto start = Clock::now();
  {
    Progress progress("bench", static_cast<std::uint64_t>(args.duration), "s");
    load.running = static_cast<std::size_t>(args.concurrency);
    for (int i = 0; i < args.concurrency; ++i) load.next();
    std::unique_lock lock(load.mutex);
    while (load.running > 0) {
      load.finished.wait_for(lock, std::chrono::milliseconds(200));
      const auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - start);
      lock.unlock();
      progress.update(
          static_cast<std::uint64_t>(std::min<std::int64_t>(elapsed.count(), args.duration)));
      lock.lock();
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();

  if (!args.keep) {
    Pipeline pipeline(256);
    for (int i = 0; i < args.keys; ++i) {
      pipeline.acquire();
      pool->start_del(cache.core()->key(bench_prompt(i), kBenchLlm), false,
                      [&pipeline](std::exception_ptr, bool) { pipeline.release(nullptr); });
    }
    pipeline.drain();
  }

  const Json lookups = load.lookups.summary(seconds);
  const Json updates = load.updates.summary(seconds);
  const auto total_ops = load.lookups.nanos.size() + load.updates.nanos.size();
  const auto total_errors = load.lookups.errors + load.updates.errors;
  const double hit_ratio =
      load.lookups.nanos.empty()
          ? 0.0
          : static_cast<double>(load.hits) / static_cast<double>(load.lookups.nanos.size());
  if (global.json) {
    std::cout << Json{{"servers", pool->servers().size()},
                      {"seconds", seconds},
                      {"concurrency", args.concurrency},
                      {"keys", args.keys},
                      {"update_ratio", args.update_ratio},
                      {"value_chars", args.value_size},
                      {"ops", total_ops},
                      {"ops_per_second", static_cast<double>(total_ops) / seconds},
                      {"errors", total_errors},
                      {"hit_ratio", hit_ratio},
                      {"lookup", lookups},
                      {"update", updates}}
                     .dump()
              << '\n';
  } else {
    char head[256];
    std::snprintf(head, sizeof head,
                  "%zu server(s), %.1f s, concurrency %d, %d keys, %.0f%% updates, "
                  "%d-char values\n",
                  pool->servers().size(), seconds, args.concurrency, args.keys,
                  args.update_ratio * 100, args.value_size);
    std::cout << head;
    std::printf("%-8s %10s %12s %10s %10s %10s %10s %8s\n", "", "ops", "ops/s", "p50", "p90", "p99",
                "max", "errors");
    for (const auto& [name, s] : {std::pair{"lookup", &lookups}, std::pair{"update", &updates}}) {
      std::printf("%-8s %10llu %12.0f %10s %10s %10s %10s %8llu\n", name,
                  static_cast<unsigned long long>((*s)["ops"].get<std::uint64_t>()),
                  (*s)["ops_per_second"].get<double>(), ms((*s)["p50_ms"]).c_str(),
                  ms((*s)["p90_ms"]).c_str(), ms((*s)["p99_ms"]).c_str(),
                  ms((*s)["max_ms"]).c_str(),
                  static_cast<unsigned long long>((*s)["errors"].get<std::uint64_t>()));
    }
    std::printf("total    %10zu %12.0f   hit ratio %.1f%%\n", total_ops,
                static_cast<double>(total_ops) / seconds, hit_ratio * 100);
    std::fflush(stdout);
  }
  if (total_ops > 0 && total_errors == total_ops) {
    throw Failure(kServer, "every request failed; is the pool up? (llmcache stats)");
  }
  return g_interrupted ? kInterrupted : kOk;
}

}  // namespace

void add_bench_command(CLI::App& app, const GlobalOptions& global, std::vector<Command>& out) {
  auto args = std::make_shared<BenchArgs>();
  auto* command = app.add_subcommand(
      "bench", "Load the pool with lookups and updates; report throughput and latency");
  command->add_option("-d,--duration", args->duration, "Seconds of load (1-3600)")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  command->add_option("-c,--concurrency", args->concurrency, "Requests in flight (1-4096)")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  command->add_option("-k,--keys", args->keys, "Distinct entries used (1-1000000)")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  command->add_option("--update-ratio", args->update_ratio, "Fraction of requests that update")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  command->add_option("--value-size", args->value_size, "Characters of generated text per entry")
      ->check(CLI::Range(0, 1 << 20))
      ->capture_default_str();
  command->add_flag("--keep", args->keep, "Leave the bench entries in the pool afterwards");
  out.push_back({command, [&global, args] { return run_bench(global, *args); }});
}

}  // namespace llmcache::cli
