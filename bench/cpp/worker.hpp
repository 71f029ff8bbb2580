#pragma once
// The side of a benchmark worker process that is the same for every C++ contender:
// the data set the harness wrote, the request loop on stdin/stdout, and timing.
//
// Protocol (one JSON object per line): the harness writes a request
//   {"contender": "...", "workload": "lookup|update|inflight|batch|rss",
//    "set": "<prompt set>", "ops": N, "inflight": N, "batch": N}
// and the worker answers with one line: {"ops", "seconds", "hits", "latencies_us": [...]}
// (rss: {"ops", "seconds", "rss_before_kb", "rss_after_kb"}), or {"error": "..."}.
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace llmcache::bench {

using Clock = std::chrono::steady_clock;

/// What bench/harness/dataset.py wrote: prompts by set name, the model string, and the
/// stored value (LangChain's bytes) that update workloads write.
struct Dataset {
  std::string llm_string;
  std::map<std::string, std::vector<std::string>> prompts;
  std::string update_value;

  static Dataset load(const std::string& manifest_path);
  const std::vector<std::string>& set(const std::string& name) const;
};

struct Request {
  std::string contender;
  std::string workload;
  std::string set;
  std::size_t ops = 0;
  std::size_t inflight = 1;
  std::size_t batch = 100;
};

/// Per-operation latencies, preallocated so that recording never allocates.
class Latencies {
 public:
  explicit Latencies(std::size_t capacity) : us_(capacity, 0.0) {}
  void record(std::size_t index, Clock::time_point start, Clock::time_point end) {
    us_[index] = std::chrono::duration<double, std::micro>(end - start).count();
  }
  nlohmann::json to_json(std::size_t count) const;

 private:
  std::vector<double> us_;
};

/// The usual answer: operation count, wall time, hits (so the harness can check that a
/// hit set hit and a miss set missed) and the latencies.
nlohmann::json result(std::size_t ops, Clock::duration elapsed, std::size_t hits,
                      const Latencies& latencies, std::size_t latency_count);

/// Resident set size of this process, in KiB (/proc/self/statm).
long rss_kb();

using Handler = std::function<nlohmann::json(const Request&)>;
/// contender -> workload -> handler.
using Handlers = std::map<std::string, std::map<std::string, Handler>>;

/// Answers requests from stdin until it closes. Returns the process exit code.
int serve(const Handlers& handlers);

/// Parses `--name value` pairs; throws std::invalid_argument on a missing value.
std::map<std::string, std::string> parse_args(int argc, char** argv);

}  // namespace llmcache::bench
