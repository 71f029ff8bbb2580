#include "worker.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <stdexcept>

namespace llmcache::bench {

Dataset Dataset::load(const std::string& manifest_path) {
  std::ifstream in(manifest_path);
  if (!in) throw std::runtime_error("cannot read " + manifest_path);
  const auto manifest = nlohmann::json::parse(in);
  Dataset data;
  data.llm_string = manifest.at("llm_string").get<std::string>();
  data.update_value = manifest.at("update_value").get<std::string>();
  for (const auto& [name, prompts] : manifest.at("prompts").items()) {
    data.prompts[name] = prompts.get<std::vector<std::string>>();
  }
  return data;
}

const std::vector<std::string>& Dataset::set(const std::string& name) const {
  auto found = prompts.find(name);
  if (found == prompts.end() || found->second.empty()) {
    throw std::invalid_argument("no prompt set " + name);
  }
  return found->second;
}

nlohmann::json Latencies::to_json(std::size_t count) const {
  auto out = nlohmann::json::array();
  for (std::size_t i = 0; i < count && i < us_.size(); ++i) {
    out.push_back(std::round(us_[i] * 100.0) / 100.0);
  }
  return out;
}

nlohmann::json result(std::size_t ops, Clock::duration elapsed, std::size_t hits,
                      const Latencies& latencies, std::size_t latency_count) {
  return {{"ops", ops},
          {"seconds", std::chrono::duration<double>(elapsed).count()},
          {"hits", hits},
          {"latencies_us", latencies.to_json(latency_count)}};
}

long rss_kb() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  statm >> size >> resident;
  return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

int serve(const Handlers& handlers) {
  std::string line;
  while (std::getline(std::cin, line)) {
    nlohmann::json answer;
    try {
      const auto j = nlohmann::json::parse(line);
      Request request{j.at("contender"),
                      j.at("workload"),
                      j.value("set", "hit"),
                      j.at("ops"),
                      j.value("inflight", std::size_t{1}),
                      j.value("batch", std::size_t{100})};
      auto contender = handlers.find(request.contender);
      if (contender == handlers.end())
        throw std::invalid_argument("no contender " + request.contender);
      auto handler = contender->second.find(request.workload);
      if (handler == contender->second.end()) {
        throw std::invalid_argument(request.contender + " has no workload " + request.workload);
      }
      answer = handler->second(request);
    } catch (const std::exception& e) {
      answer = {{"error", e.what()}};
    }
    std::cout << answer.dump() << std::endl;
  }
  return 0;
}

std::map<std::string, std::string> parse_args(int argc, char** argv) {
  std::map<std::string, std::string> args;
  for (int i = 1; i < argc; i += 2) {
    std::string name = argv[i];
    if (name.rfind("--", 0) != 0 || i + 1 >= argc) {
      throw std::invalid_argument("usage: --server HOST:PORT --data MANIFEST.json");
    }
    args[name.substr(2)] = argv[i + 1];
  }
  return args;
}

}  // namespace llmcache::bench
