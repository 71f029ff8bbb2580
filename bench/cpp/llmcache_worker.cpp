// Benchmark worker for llmcache's C++ API ("ours"): blocking calls, coroutines,
// callbacks with many lookups in flight, and batches. See worker.hpp for the protocol.
#include <llmcache/llmcache.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <future>
#include <iostream>
#include <latch>
#include <memory>

#include "worker.hpp"

namespace llmcache::bench {
namespace {

struct Context {
  Dataset data;
  MemcachedCache cache;
  Generations update_value;
  /// The same server through the classic text protocol: the *_classic contenders run the
  /// meta ones' loops on it, so the two protocols compare in the same run.
  MemcachedCache classic;
};

/// The cache a contender looks up through, and the model string.
struct Target {
  MemcachedCache& cache;
  const std::string& llm_string;
};

/// One lookup after another on the calling thread. Returns the number of hits.
std::size_t sequential_lookups(Target t, const std::vector<std::string>& prompts, std::size_t ops,
                               Latencies* latencies) {
  std::size_t hits = 0;
  for (std::size_t i = 0; i < ops; ++i) {
    const auto start = Clock::now();
    hits += t.cache.lookup(prompts[i % prompts.size()], t.llm_string).has_value();
    if (latencies) latencies->record(i, start, Clock::now());
  }
  return hits;
}

/// `inflight` chains of start_lookup callbacks: each completion (on the client's I/O
/// thread) starts the next lookup, so exactly `inflight` are outstanding until the end.
std::size_t callback_lookups(Target t, const std::vector<std::string>& prompts, std::size_t ops,
                             std::size_t inflight, Latencies* latencies) {
  struct Loop {
    Target t;
    const std::vector<std::string>& prompts;
    std::size_t ops;
    Latencies* latencies;
    std::atomic<std::size_t> next{0}, done{0}, hits{0};
    std::promise<void> finished;

    void start() {
      const std::size_t i = next.fetch_add(1);
      if (i >= ops) return;
      const auto begin = Clock::now();
      t.cache.start_lookup(prompts[i % prompts.size()], t.llm_string,
                           [this, i, begin](std::exception_ptr, std::optional<Generations> hit) {
                             if (latencies) latencies->record(i, begin, Clock::now());
                             if (hit) hits.fetch_add(1, std::memory_order_relaxed);
                             if (done.fetch_add(1) + 1 == ops) return finished.set_value();
                             start();
                           });
    }
  };
  Loop loop{t, prompts, ops, latencies, {0}, {0}, {0}, {}};
  auto finished = loop.finished.get_future();
  for (std::size_t w = 0; w < std::min(inflight, ops); ++w) loop.start();
  finished.wait();
  return loop.hits.load();
}

/// `inflight` coroutines on the caller's own io_context, each awaiting one lookup after
/// another: completions are posted from the I/O thread to this thread.
std::size_t coroutine_lookups(Context& ctx, const std::vector<std::string>& prompts,
                              std::size_t ops, std::size_t inflight, Latencies& latencies) {
  asio::io_context io(1);
  std::size_t next = 0, hits = 0;
  auto worker = [&]() -> asio::awaitable<void> {
    for (std::size_t i = next++; i < ops; i = next++) {
      const auto begin = Clock::now();
      auto hit = co_await ctx.cache.async_lookup(prompts[i % prompts.size()], ctx.data.llm_string,
                                                 asio::use_awaitable);
      latencies.record(i, begin, Clock::now());
      hits += hit.has_value();
    }
  };
  for (std::size_t w = 0; w < inflight; ++w) asio::co_spawn(io, worker(), asio::detached);
  io.run();
  return hits;
}

/// `ops` batches of `batch` prompts through the client's get_many, with the key hashing
/// and the decoding a cache lookup does; latency per batch.
std::size_t get_many_batches(Target t, const std::vector<std::string>& prompts, std::size_t ops,
                             std::size_t batch, Latencies& latencies) {
  std::size_t hits = 0;
  std::vector<std::string> keys(batch);
  for (std::size_t b = 0; b < ops; ++b) {
    const auto start = Clock::now();
    for (std::size_t k = 0; k < batch; ++k) {
      keys[k] = langchain_key(prompts[(b * batch + k) % prompts.size()], t.llm_string);
    }
    for (auto& item : t.cache.client().get_many(keys)) {
      if (item && !decode_generations(item->value).empty()) ++hits;
    }
    latencies.record(b, start, Clock::now());
  }
  return hits;
}

/// `ops` batches of `batch` prompts through MemcachedCache::lookup_many: keys, one write
/// per server and decoding on this thread as each reply arrives; latency per batch.
std::size_t lookup_many_batches(Target t, const std::vector<std::string>& prompts, std::size_t ops,
                                std::size_t batch, Latencies& latencies) {
  // The prompts as the caller holds them, made before the clock starts (mget's keys too).
  std::vector<std::vector<std::pair<std::string, std::string>>> batches(ops);
  for (std::size_t b = 0; b < ops; ++b) {
    for (std::size_t k = 0; k < batch; ++k) {
      batches[b].emplace_back(prompts[(b * batch + k) % prompts.size()], t.llm_string);
    }
  }
  std::size_t hits = 0;
  for (std::size_t b = 0; b < ops; ++b) {
    const auto start = Clock::now();
    for (const auto& generations : t.cache.lookup_many(batches[b])) hits += generations.has_value();
    latencies.record(b, start, Clock::now());
  }
  return hits;
}

nlohmann::json timed(const Request& r, const std::function<std::size_t(Latencies&)>& body,
                     std::size_t latency_count) {
  Latencies latencies(latency_count);
  const auto start = Clock::now();
  const std::size_t hits = body(latencies);
  return result(r.ops, Clock::now() - start, hits, latencies, latency_count);
}

nlohmann::json rss(const Request& r, const std::function<void(std::size_t)>& run) {
  run(std::min<std::size_t>(r.ops / 10, 50000));  // warm up: pools, buffers, allocator arenas
  const long before = rss_kb();
  const auto start = Clock::now();
  run(r.ops);
  return {{"ops", r.ops},
          {"seconds", std::chrono::duration<double>(Clock::now() - start).count()},
          {"rss_before_kb", before},
          {"rss_after_kb", rss_kb()}};
}

Handlers handlers(Context& ctx) {
  auto prompts = [&ctx](const Request& r) -> const auto& {
    return ctx.data.set(r.set);
  };
  const Target meta{ctx.cache, ctx.data.llm_string};
  Handlers h;
  h["cpp_sync"]["lookup"] = [&](const Request& r) {
    return timed(
        r, [&](Latencies& l) { return sequential_lookups(meta, prompts(r), r.ops, &l); }, r.ops);
  };
  // The client alone, for the same raw round trip as libmemcached's memcached_get: keys
  // hashed before the clock starts and the value not decoded. Beside cpp_sync (the whole
  // lookup) it splits a lookup's CPU into the client's and the cache's (key and decoding).
  h["cpp_get"]["lookup"] = [&](const Request& r) {
    std::vector<std::string> keys;
    for (const auto& prompt : prompts(r))
      keys.push_back(langchain_key(prompt, ctx.data.llm_string));
    return timed(
        r,
        [&](Latencies& l) {
          std::size_t hits = 0;
          for (std::size_t i = 0; i < r.ops; ++i) {
            const auto start = Clock::now();
            hits += ctx.cache.client().get(keys[i % keys.size()]).has_value();
            l.record(i, start, Clock::now());
          }
          return hits;
        },
        r.ops);
  };
  h["cpp_sync"]["update"] = [&](const Request& r) {
    return timed(
        r,
        [&](Latencies& l) {
          const auto& p = prompts(r);
          std::size_t stored = 0;
          for (std::size_t i = 0; i < r.ops; ++i) {
            const auto start = Clock::now();
            stored += ctx.cache.update(p[i % p.size()], ctx.data.llm_string, ctx.update_value);
            l.record(i, start, Clock::now());
          }
          return stored;
        },
        r.ops);
  };
  h["cpp_sync"]["rss"] = [&](const Request& r) {
    return rss(r, [&](std::size_t n) { sequential_lookups(meta, prompts(r), n, nullptr); });
  };
  h["cpp_callbacks"]["inflight"] = [&](const Request& r) {
    return timed(
        r, [&](Latencies& l) { return callback_lookups(meta, prompts(r), r.ops, r.inflight, &l); },
        r.ops);
  };
  h["cpp_callbacks"]["rss"] = [&](const Request& r) {
    return rss(r,
               [&](std::size_t n) { callback_lookups(meta, prompts(r), n, r.inflight, nullptr); });
  };
  h["cpp_coro"]["inflight"] = [&](const Request& r) {
    return timed(
        r, [&](Latencies& l) { return coroutine_lookups(ctx, prompts(r), r.ops, r.inflight, l); },
        r.ops);
  };
  // A batch: r.ops batches of r.batch prompts, all started at once; latency per batch.
  h["cpp_batch"]["batch"] = [&](const Request& r) {
    return timed(
        r,
        [&](Latencies& l) {
          const auto& p = prompts(r);
          std::atomic<std::size_t> hits{0};
          for (std::size_t b = 0; b < r.ops; ++b) {
            std::latch done(static_cast<std::ptrdiff_t>(r.batch));
            const auto start = Clock::now();
            for (std::size_t k = 0; k < r.batch; ++k) {
              ctx.cache.start_lookup(p[(b * r.batch + k) % p.size()], ctx.data.llm_string,
                                     [&](std::exception_ptr, std::optional<Generations> hit) {
                                       if (hit) hits.fetch_add(1, std::memory_order_relaxed);
                                       done.count_down();
                                     });
            }
            done.wait();
            l.record(b, start, Clock::now());
          }
          return hits.load();
        },
        r.ops);
  };
  // The same batch through the client's get_many (one pipelined request per server),
  // with the key hashing and the decoding a cache lookup does.
  h["cpp_get_many"]["batch"] = [&](const Request& r) {
    return timed(
        r, [&](Latencies& l) { return get_many_batches(meta, prompts(r), r.ops, r.batch, l); },
        r.ops);
  };
  // The same batch through MemcachedCache::lookup_many (issue 16, target 1).
  h["cpp_lookup_many"]["batch"] = [&](const Request& r) {
    return timed(
        r, [&](Latencies& l) { return lookup_many_batches(meta, prompts(r), r.ops, r.batch, l); },
        r.ops);
  };

  // Classic against meta on the same server (issue 12): the loops above, through a client
  // that speaks the classic text protocol.
  const Target classic{ctx.classic, ctx.data.llm_string};
  h["cpp_sync_classic"]["lookup"] = [&, classic](const Request& r) {
    return timed(
        r, [&](Latencies& l) { return sequential_lookups(classic, prompts(r), r.ops, &l); }, r.ops);
  };
  h["cpp_callbacks_classic"]["inflight"] = [&, classic](const Request& r) {
    return timed(
        r,
        [&](Latencies& l) { return callback_lookups(classic, prompts(r), r.ops, r.inflight, &l); },
        r.ops);
  };
  h["cpp_get_many_classic"]["batch"] = [&, classic](const Request& r) {
    return timed(
        r, [&](Latencies& l) { return get_many_batches(classic, prompts(r), r.ops, r.batch, l); },
        r.ops);
  };
  return h;
}

}  // namespace
}  // namespace llmcache::bench

int main(int argc, char** argv) {
  using namespace llmcache;
  try {
    auto args = bench::parse_args(argc, argv);
    auto data = bench::Dataset::load(args.at("data"));
    auto update_value = decode_generations(data.update_value);
    HashClientOptions classic;
    classic.client.protocol = Protocol::kClassic;
    bench::Context ctx{std::move(data), MemcachedCache(make_client(args.at("server"))),
                       std::move(update_value),
                       MemcachedCache(make_client(args.at("server"), classic))};
    return bench::serve(bench::handlers(ctx));
  } catch (const std::exception& e) {
    std::cerr << "llmcache_bench_worker: " << e.what() << "\n";
    return 2;
  }
}
