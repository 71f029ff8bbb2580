// Benchmark worker for the limit: libmemcached's C API on the same server and the same
// keys. No decoding: this is the raw round trip and the best batched rate a mature C
// client reaches. See worker.hpp for the protocol.
#include <libmemcached/memcached.h>
#include <llmcache/key.hpp>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <stdexcept>

#include "worker.hpp"

namespace llmcache::bench {
namespace {

struct MemcachedDeleter {
  void operator()(memcached_st* memc) const { memcached_free(memc); }
};
using Memcached = std::unique_ptr<memcached_st, MemcachedDeleter>;

Memcached connect(const std::string& server) {
  const auto colon = server.rfind(':');
  Memcached memc(memcached_create(nullptr));
  if (!memc) throw std::runtime_error("memcached_create failed");
  // TCP_NODELAY as llmcache sets it; ASCII protocol, blocking I/O: libmemcached's defaults.
  memcached_behavior_set(memc.get(), MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
  const auto rc = memcached_server_add(memc.get(), server.substr(0, colon).c_str(),
                                       static_cast<in_port_t>(std::stoi(server.substr(colon + 1))));
  if (rc != MEMCACHED_SUCCESS) throw std::runtime_error(memcached_strerror(memc.get(), rc));
  return memc;
}

struct Context {
  Dataset data;
  Memcached memc;

  /// Keys of a prompt set, hashed before any clock starts.
  std::vector<std::string> keys(const std::string& set) const {
    std::vector<std::string> out;
    for (const auto& prompt : data.set(set)) out.push_back(langchain_key(prompt, data.llm_string));
    return out;
  }
};

void check(memcached_st* memc, memcached_return_t rc) {
  if (rc != MEMCACHED_SUCCESS && rc != MEMCACHED_END && rc != MEMCACHED_NOTFOUND) {
    throw std::runtime_error(memcached_strerror(memc, rc));
  }
}

/// One memcached_mget of `keys[first..first+count)` and a fetch loop; records, for each
/// key, the time from the mget to its arrival. Returns the number of values received.
std::size_t mget(memcached_st* memc, const std::vector<std::string>& keys, std::size_t first,
                 std::size_t count, Latencies& latencies, std::size_t latency_base) {
  std::vector<const char*> ptrs(count);
  std::vector<size_t> lengths(count);
  for (std::size_t k = 0; k < count; ++k) {
    const auto& key = keys[(first + k) % keys.size()];
    ptrs[k] = key.data();
    lengths[k] = key.size();
  }
  const auto start = Clock::now();
  check(memc, memcached_mget(memc, ptrs.data(), lengths.data(), count));
  std::size_t received = 0;
  memcached_return_t rc;
  memcached_result_st* result;
  while ((result = memcached_fetch_result(memc, nullptr, &rc)) != nullptr) {
    latencies.record(latency_base + received++, start, Clock::now());
    memcached_result_free(result);
  }
  check(memc, rc);
  // Misses do not arrive: give them the whole wave's time.
  for (std::size_t k = received; k < count; ++k)
    latencies.record(latency_base + k, start, Clock::now());
  return received;
}

Handlers handlers(Context& ctx) {
  Handlers h;
  h["lmc_get"]["lookup"] = [&](const Request& r) {
    const auto keys = ctx.keys(r.set);
    Latencies latencies(r.ops);
    std::size_t hits = 0;
    const auto start = Clock::now();
    for (std::size_t i = 0; i < r.ops; ++i) {
      const auto& key = keys[i % keys.size()];
      const auto begin = Clock::now();
      size_t length = 0;
      uint32_t flags = 0;
      memcached_return_t rc;
      char* value = memcached_get(ctx.memc.get(), key.data(), key.size(), &length, &flags, &rc);
      latencies.record(i, begin, Clock::now());
      check(ctx.memc.get(), rc);
      hits += value != nullptr;
      std::free(value);
    }
    return result(r.ops, Clock::now() - start, hits, latencies, r.ops);
  };
  h["lmc_get"]["update"] = [&](const Request& r) {
    const auto keys = ctx.keys(r.set);
    const auto& value = ctx.data.update_value;
    Latencies latencies(r.ops);
    std::size_t stored = 0;
    const auto start = Clock::now();
    for (std::size_t i = 0; i < r.ops; ++i) {
      const auto& key = keys[i % keys.size()];
      const auto begin = Clock::now();
      const auto rc =
          memcached_set(ctx.memc.get(), key.data(), key.size(), value.data(), value.size(), 0, 0);
      latencies.record(i, begin, Clock::now());
      check(ctx.memc.get(), rc);
      stored += rc == MEMCACHED_SUCCESS;
    }
    return result(r.ops, Clock::now() - start, stored, latencies, r.ops);
  };
  // A batch: r.ops multi-gets of r.batch keys; latency per multi-get.
  h["lmc_mget"]["batch"] = [&](const Request& r) {
    const auto keys = ctx.keys(r.set);
    Latencies per_key(r.batch), per_batch(r.ops);
    std::size_t hits = 0;
    const auto start = Clock::now();
    for (std::size_t b = 0; b < r.ops; ++b) {
      const auto begin = Clock::now();
      hits += mget(ctx.memc.get(), keys, b * r.batch, r.batch, per_key, 0);
      per_batch.record(b, begin, Clock::now());
    }
    return result(r.ops, Clock::now() - start, hits, per_batch, r.ops);
  };
  // N in flight: multi-gets of N keys, one wave after another (libmemcached has no
  // asynchronous single get); latency per key from its wave's start.
  h["lmc_mget"]["inflight"] = [&](const Request& r) {
    const auto keys = ctx.keys(r.set);
    Latencies latencies(r.ops + r.inflight);
    std::size_t hits = 0, done = 0;
    const auto start = Clock::now();
    while (done < r.ops) {
      const std::size_t wave = std::min(r.inflight, r.ops - done);
      hits += mget(ctx.memc.get(), keys, done, wave, latencies, done);
      done += wave;
    }
    return result(r.ops, Clock::now() - start, hits, latencies, r.ops);
  };
  return h;
}

}  // namespace
}  // namespace llmcache::bench

int main(int argc, char** argv) {
  using namespace llmcache;
  try {
    auto args = bench::parse_args(argc, argv);
    bench::Context ctx{bench::Dataset::load(args.at("data")), bench::connect(args.at("server"))};
    return bench::serve(bench::handlers(ctx));
  } catch (const std::exception& e) {
    std::cerr << "libmemcached_bench_worker: " << e.what() << "\n";
    return 2;
  }
}
