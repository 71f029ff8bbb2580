// Soak worker for llmcache's C++ API (`make soak`, soak/run.py): mixed load on a
// HashClient + MemcachedCache until stdin closes or --seconds pass, while the driver
// kills, pauses and restarts the servers underneath.
//
// Two threads make the load: one does blocking lookups, updates, get_many and deletes;
// the other fires bursts of start_lookup/start_update with a bounded number in flight.
// Every hit is checked against its key (the stored text names the prompt it was written
// for); a hit holding another key's value is a mismatch, which must never happen.
// Once a second the worker prints its counters as one JSON line on stdout.
//
// Usage: llmcache_soak_worker --servers h1:p1,h2:p2 [--seconds N] [--keys N] [--seed N]
//                             [--inflight N] [--dead-timeout-ms N]
#include <llmcache/llmcache.hpp>

#include <nlohmann/json.hpp>

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <random>
#include <semaphore>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace llmcache::soak {
namespace {

using Clock = std::chrono::steady_clock;

// The model string both soak workers use: the C++ and the Python worker share keys, so
// each reads values the other wrote (C++ encoder against LangChain's decoder and back).
constexpr std::string_view kLlmString = "soak-model temperature=0";
constexpr std::size_t kMaxInflight = 1024;

// Static: the stdin watcher is detached and may set it after run() has returned.
std::atomic<bool> stop_requested{false};

struct Options {
  std::string servers;
  double seconds = 600;
  std::size_t keys = 5000;
  std::uint64_t seed = 1;
  std::size_t inflight = 64;
  long dead_timeout_ms = 5000;
};

Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view name = argv[i];
    const std::string value = argv[i + 1];
    if (name == "--servers") {
      options.servers = value;
    } else if (name == "--seconds") {
      options.seconds = std::stod(value);
    } else if (name == "--keys") {
      options.keys = std::stoul(value);
    } else if (name == "--seed") {
      options.seed = std::stoull(value);
    } else if (name == "--inflight") {
      options.inflight = std::clamp<std::size_t>(std::stoul(value), 1, kMaxInflight);
    } else if (name == "--dead-timeout-ms") {
      options.dead_timeout_ms = std::stol(value);
    } else {
      throw std::invalid_argument("unknown option " + std::string(name));
    }
  }
  if (options.servers.empty() || options.keys == 0) {
    throw std::invalid_argument("--servers is required and --keys must be positive");
  }
  return options;
}

/// Cumulative counters; both load threads and the I/O thread (callbacks) add to them.
struct Counters {
  std::atomic<std::uint64_t> requests{0};    // every operation issued
  std::atomic<std::uint64_t> errors{0};      // exceptions the worker itself caught
  std::atomic<std::uint64_t> hits{0};        // lookups and get_many keys that found a value
  std::atomic<std::uint64_t> checked{0};     // hits whose value was checked against the key
  std::atomic<std::uint64_t> mismatches{0};  // hits holding another key's value
  std::atomic<std::uint64_t> lookups{0};
  std::atomic<std::uint64_t> updates{0};
  std::atomic<std::uint64_t> async_lookups{0};
  std::atomic<std::uint64_t> async_updates{0};
  std::atomic<std::uint64_t> get_many{0};
  std::atomic<std::uint64_t> deletes{0};
  std::atomic<std::uint64_t> bursts{0};
};

std::string prompt_of(std::size_t index) {
  return "soak prompt " + std::to_string(index);
}

/// What a value written for `prompt` starts with; the rest is a version and padding.
std::string tag_of(std::string_view prompt) {
  return "soak|" + std::string(prompt) + "|";
}

/// True when every generation of a hit names `prompt`: a value can be stale (another
/// writer, a server that came back with old data) but never another key's.
bool belongs_to(const Generations& hit, std::string_view prompt) {
  const std::string tag = tag_of(prompt);
  if (hit.empty()) return false;
  return std::all_of(hit.begin(), hit.end(),
                     [&](const AnyGeneration& g) { return text_of(g).starts_with(tag); });
}

/// Thread-compatible (one per thread): picks keys and builds values of mixed sizes.
class Load {
 public:
  Load(std::uint64_t seed, std::size_t keys) : rng_(seed), keys_(keys) {}

  std::size_t percent() { return std::uniform_int_distribution<std::size_t>(0, 99)(rng_); }
  std::size_t between(std::size_t low, std::size_t high) {
    return std::uniform_int_distribution<std::size_t>(low, high)(rng_);
  }
  std::string prompt() { return prompt_of(between(0, keys_ - 1)); }

  /// Mostly small values, some large ones: 1 in 100 is ~100 KB, so buffers grow and the
  /// soak shows whether they come back down (or at least stop growing).
  Generations value_for(std::string_view prompt) {
    const std::size_t size = percent() == 0 ? between(50'000, 150'000) : between(50, 4'000);
    std::string text = tag_of(prompt) + std::to_string(++version_) + "|";
    text.append(size, static_cast<char>('a' + version_ % 26));
    switch (percent() % 8) {
      case 0:  // a chat generation: the Python worker reads it through LangChain's loads
        return {chat_generation(text)};
      case 1:
        return {Generation{text, Json{{"writer", "cpp"}, {"version", version_}}}};
      case 2:  // several generations, all for the same prompt
        return {Generation{text, std::nullopt}, Generation{tag_of(prompt) + "second", {}}};
      default:
        return {Generation{std::move(text), std::nullopt}};
    }
  }

 private:
  std::mt19937_64 rng_;
  std::size_t keys_;
  std::uint64_t version_ = 0;
};

void check_hit(Counters& c, const std::optional<Generations>& hit, std::string_view prompt) {
  if (!hit) return;
  c.hits.fetch_add(1, std::memory_order_relaxed);
  c.checked.fetch_add(1, std::memory_order_relaxed);
  if (!belongs_to(*hit, prompt)) c.mismatches.fetch_add(1, std::memory_order_relaxed);
}

/// Blocking calls on the calling thread, as a request handler in a server would make them.
void blocking_loop(MemcachedCache& cache, Counters& c, const std::atomic<bool>& stop,
                   std::uint64_t seed, std::size_t keys) {
  Load load(seed, keys);
  std::vector<std::string> prompts, batch_keys;
  while (!stop.load()) {
    const std::size_t roll = load.percent();
    try {
      if (roll < 55) {
        const std::string p = load.prompt();
        c.requests.fetch_add(1);
        c.lookups.fetch_add(1);
        check_hit(c, cache.lookup(p, kLlmString), p);
      } else if (roll < 85) {
        const std::string p = load.prompt();
        c.requests.fetch_add(1);
        c.updates.fetch_add(1);
        cache.update(p, kLlmString, load.value_for(p));
      } else if (roll < 97) {
        // get_many goes below the cache (one pipelined batch per server), so the
        // decoding and the key check are ours.
        const std::size_t n = load.between(8, 64);
        prompts.clear();
        batch_keys.clear();
        for (std::size_t i = 0; i < n; ++i) {
          prompts.push_back(load.prompt());
          batch_keys.push_back(langchain_key(prompts.back(), kLlmString));
        }
        c.requests.fetch_add(1);
        c.get_many.fetch_add(1);
        const auto items = cache.client().get_many(batch_keys);
        for (std::size_t i = 0; i < items.size(); ++i) {
          if (!items[i]) continue;
          std::optional<Generations> hit;
          try {
            hit = decode_generations(items[i]->value);
          } catch (const DecodeError&) {
            // Only valid values are ever written: an undecodable one is corruption.
            c.mismatches.fetch_add(1);
            continue;
          }
          check_hit(c, hit, prompts[i]);
        }
      } else {
        // Deletes, never clear(): flush_all would wipe what the other worker checks.
        const std::string p = load.prompt();
        c.requests.fetch_add(1);
        c.deletes.fetch_add(1);
        cache.client().del(langchain_key(p, kLlmString));
      }
    } catch (const Error&) {
      // get_many and del throw for server trouble (lookup and update count it instead).
      c.errors.fetch_add(1);
    }
  }
}

/// Bursts of start_lookup/start_update with at most `inflight` outstanding; each burst
/// is drained before the next, as a batch job that fans out and joins would do.
void async_loop(MemcachedCache& cache, Counters& c, const std::atomic<bool>& stop,
                std::uint64_t seed, std::size_t keys, std::size_t inflight) {
  Load load(seed, keys);
  // Shared with the callbacks: the last release() may still be running on the I/O thread
  // when this thread has already taken every slot back and returned.
  auto slots = std::make_shared<std::counting_semaphore<kMaxInflight>>(
      static_cast<std::ptrdiff_t>(inflight));
  while (!stop.load()) {
    const std::size_t burst = load.between(16, 256);
    c.bursts.fetch_add(1);
    for (std::size_t i = 0; i < burst && !stop.load(); ++i) {
      slots->acquire();
      std::string p = load.prompt();
      c.requests.fetch_add(1);
      if (load.percent() < 80) {
        c.async_lookups.fetch_add(1);
        // Runs on the client's I/O thread: counts and releases, never blocks.
        cache.start_lookup(
            p, std::string(kLlmString),
            [&c, slots, p](std::exception_ptr error, std::optional<Generations> hit) {
              if (error) c.errors.fetch_add(1);
              check_hit(c, hit, p);
              slots->release();
            });
      } else {
        c.async_updates.fetch_add(1);
        auto value = load.value_for(p);
        cache.start_update(std::move(p), std::string(kLlmString), std::move(value),
                           [&c, slots](std::exception_ptr error, bool) {
                             if (error) c.errors.fetch_add(1);
                             slots->release();
                           });
      }
    }
    // Join the burst: take every slot back, then hand them out again.
    for (std::size_t i = 0; i < inflight; ++i) slots->acquire();
    slots->release(static_cast<std::ptrdiff_t>(inflight));
  }
}

/// The allocator's view, next to the RSS the driver reads: bytes in use growing means a
/// leak; only the heap (arena) growing around a flat in-use figure means fragmentation.
nlohmann::json heap() {
  const struct mallinfo2 info = ::mallinfo2();
  return {{"in_use_bytes", info.uordblks + info.hblkhd}, {"arena_bytes", info.arena + info.hblkhd}};
}

nlohmann::json snapshot(const Counters& c, const CacheStats& s, double elapsed, bool final) {
  // The cache counts lookup and update failures by cause instead of throwing them.
  const std::uint64_t cache_errors =
      s.io_errors + s.timeouts + s.server_errors + s.protocol_errors + s.decode_errors;
  return {{"worker", "cpp"},
          {"t", elapsed},
          {"final", final},
          {"requests", c.requests.load()},
          {"errors", c.errors.load() + cache_errors},
          {"hits", c.hits.load()},
          {"checked", c.checked.load()},
          {"mismatches", c.mismatches.load()},
          {"lookups", c.lookups.load()},
          {"updates", c.updates.load()},
          {"async_lookups", c.async_lookups.load()},
          {"async_updates", c.async_updates.load()},
          {"get_many", c.get_many.load()},
          {"deletes", c.deletes.load()},
          {"bursts", c.bursts.load()},
          {"heap", heap()},
          {"cache",
           {{"hits", s.hits},
            {"misses", s.misses},
            {"updates", s.updates},
            {"update_failures", s.update_failures},
            {"io_errors", s.io_errors},
            {"timeouts", s.timeouts},
            {"server_errors", s.server_errors},
            {"protocol_errors", s.protocol_errors},
            {"decode_errors", s.decode_errors},
            {"too_large", s.too_large}}}};
}

int run(const Options& options) {
  HashClientOptions client_options;
  // A short dead_timeout brings killed servers back into the ring many times per run,
  // so the revival and reconnect paths are soaked too, not only failover.
  client_options.dead_timeout = std::chrono::milliseconds(options.dead_timeout_ms);
  MemcachedCache cache(make_client(options.servers, client_options));
  Counters counters;

  // The driver closes our stdin to stop us; --seconds bounds the run if it never does.
  std::thread stdin_watch([] {
    std::string line;
    while (std::getline(std::cin, line)) {
    }
    stop_requested.store(true);
  });
  stdin_watch.detach();  // may stay blocked in read() after a --seconds stop

  const auto start = Clock::now();
  std::thread blocking(blocking_loop, std::ref(cache), std::ref(counters),
                       std::cref(stop_requested), options.seed, options.keys);
  std::thread async(async_loop, std::ref(cache), std::ref(counters), std::cref(stop_requested),
                    options.seed + 1, options.keys, options.inflight);

  const auto deadline = start + std::chrono::duration<double>(options.seconds);
  auto next_report = start + std::chrono::seconds(1);
  while (!stop_requested.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (Clock::now() >= deadline) stop_requested.store(true);
    if (Clock::now() >= next_report) {
      next_report += std::chrono::seconds(1);
      const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      std::cout << snapshot(counters, cache.stats(), elapsed, false).dump() << std::endl;
    }
  }
  blocking.join();
  async.join();  // every burst is drained, so no callback can outlive `counters`
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::cout << snapshot(counters, cache.stats(), elapsed, true).dump() << std::endl;
  return 0;
}

}  // namespace
}  // namespace llmcache::soak

int main(int argc, char** argv) {
  try {
    return llmcache::soak::run(llmcache::soak::parse_options(argc, argv));
  } catch (const std::exception& e) {
    std::cerr << "llmcache_soak_worker: " << e.what() << "\n";
    return 2;
  }
}
